"""The auxiliary teacher head: openSMILE functionals as training-only regression targets."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from click.testing import CliRunner

from converters.teacher import teacher_targets
from converters.train import TrainConfig, fit, with_teacher_head
from edgeser.audio import write_wav_pcm16
from edgeser.cli import main
from edgeser.model import EmotionModel
from edgeser.normalisation import Normalisation
from tests.test_pipeline_int8 import synthetic_clips


def test_teacher_targets_are_whitened_components_of_the_given_rows():
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((50, 3))
    features = latent @ rng.standard_normal((3, 40)) * 100 + 5  # rank 3, large scale
    features[:, 7] = 1.0  # a constant feature is ignored, not a division by zero
    t = teacher_targets(features, 3)
    assert t.shape == (50, 3) and t.dtype == np.float32
    np.testing.assert_allclose(t.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(t.std(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(t.T @ t / 50, np.eye(3), atol=1e-4)  # uncorrelated
    # The three components span the latent factors (up to rotation).
    _, res, *_ = np.linalg.lstsq(np.c_[t, np.ones(50)], latent, rcond=None)
    assert np.all(res < 1e-6 * np.sum((latent - latent.mean(0)) ** 2, axis=0))
    with pytest.raises(ValueError, match="more than 3 rows"):
        teacher_targets(features[:3], 3)


def test_fit_with_teacher_trains_the_shared_layers_and_returns_the_single_output_model():
    train = synthetic_clips(4, seed=11)
    cfg = TrainConfig(
        filters=(4,),
        lstm_units=4,
        dense_units=4,
        epochs=2,
        batch_size=4,
        augment=False,
        teacher_weight=0.5,
        teacher_dims=2,
        normalisation=Normalisation("window"),
    )
    targets = np.random.default_rng(1).standard_normal((len(train.clips), 2)).astype(np.float32)
    with pytest.raises(ValueError, match="teacher targets of shape"):
        fit(train, None, cfg, fixed_epochs=2, teacher=targets[:, :1])
    result = fit(train, None, cfg, fixed_epochs=2, teacher=targets)
    assert len(result.model.outputs) == 1 and result.model.outputs[0].shape[-1] == 3
    trainer = with_teacher_head(result.model, 2)
    assert [tuple(o.shape) for o in trainer.outputs] == [(None, 3), (None, 2)]
    # The teacher loss changes what the shared layers learn: the same run with other targets
    # (same seed, same layers, same random draws) ends with other conv weights.
    other = fit(train, None, cfg, fixed_epochs=2, teacher=-targets)
    conv = next(w for w in result.model.get_weights() if w.ndim == 4)
    assert not np.array_equal(conv, next(w for w in other.model.get_weights() if w.ndim == 4))


def test_cli_train_with_teacher_then_quantize(tmp_path, monkeypatch):
    pytest.importorskip("opensmile")
    from edgeser.synth import speech_like

    monkeypatch.setenv("EDGESER_CACHE", str(tmp_path / "cache"))
    rows = ["path,label,speaker"]
    for speaker in range(3):
        for k, (label, level) in enumerate((("neutral", 0.1), ("anger", 0.8))):
            for take in range(3):
                name = f"s{speaker}_{label}{take}.wav"
                pcm = speech_like(2.0, rate=16000, seed=100 * speaker + 10 * k + take, level=level)
                write_wav_pcm16(tmp_path / name, pcm, 16000)
                rows.append(f"{name},{label},spk{speaker}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    keras_path = tmp_path / "t.keras"
    args = ["train", "--data", str(tmp_path / "manifest.csv"), "--corpus", "auto"]
    args += ["-o", str(keras_path), "--epochs", "1", "--filters", "4", "--lstm", "4"]
    args += ["--dense", "4", "--all-speakers", "--norm", "window", "--teacher", "0.5"]
    runner = CliRunner()
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # Too few clips for the 16 teacher components: one line, exit 2, no traceback.
    short = tmp_path / "short.csv"
    short.write_text("\n".join(rows[:13]) + "\n")
    bad = runner.invoke(
        main, [a if a != str(tmp_path / "manifest.csv") else str(short) for a in args]
    )
    assert bad.exit_code == 2 and "more than 16 training clips, got 12" in bad.output
    assert "Traceback" not in bad.output
    record = json.loads(keras_path.with_suffix(".train.json").read_text())
    assert record["train_config"]["teacher_weight"] == 0.5
    assert list((tmp_path / "cache" / "peer").glob("*.npz"))  # functionals cached there
    args = ["quantize", str(keras_path), "--data", str(tmp_path / "manifest.csv")]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    model = EmotionModel(keras_path.with_suffix(".tflite"))
    assert model.interpreter.get_output_details()[0]["shape"].tolist() == [1, 2]
