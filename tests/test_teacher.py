"""The auxiliary teacher head: openSMILE functionals as training-only regression targets."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from click.testing import CliRunner

from converters.teacher import fold_teacher_targets, peer_targets, teacher_targets
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


def _speaker_corpus(seed: int = 0):
    """Functionals of 6 speakers x 3 classes x 8 clips: a class signal in a few features, a
    large per-speaker offset on every feature (what per-speaker z-scoring removes)."""
    rng = np.random.default_rng(seed)
    labels, speakers, rows = [], [], []
    class_dirs = rng.standard_normal((3, 30))
    for s in range(6):
        offset = rng.standard_normal(30) * 5
        for c in range(3):
            for _ in range(8):
                rows.append(offset + class_dirs[c] + rng.standard_normal(30) * 0.8)
                labels.append(c)
                speakers.append(f"spk{s}")
    return np.array(rows), np.array(labels), speakers


def test_peer_targets_are_cross_fitted_decision_values():
    features, labels, speakers = _speaker_corpus()
    t = peer_targets(features, labels, speakers, groups=3, c=1.0)
    assert t.shape == (len(labels), 3) and t.dtype == np.float32
    np.testing.assert_allclose(t.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(t.std(axis=0), 1, atol=1e-4)
    assert np.mean(t.argmax(axis=1) == labels) > 0.8  # the peer's opinion tracks the classes
    # Cross-fitted: a group's own labels never reach its targets. Relabel speaker spk0 (group
    # 0 of 3 holds spk0 and spk3) at random: the raw decision values of group 0 stay as they
    # were (the columns are restandardised, so compare up to that affine map).
    relabelled = labels.copy()
    rows0 = np.array([s == "spk0" for s in speakers])
    relabelled[rows0] = np.random.default_rng(5).permutation(labels[rows0])
    t2 = peer_targets(features, relabelled, speakers, groups=3, c=1.0)
    group0 = np.array([s in ("spk0", "spk3") for s in speakers])
    for col in range(3):
        a, b = t[group0, col], t2[group0, col]
        assert abs(np.corrcoef(a, b)[0, 1]) > 0.999
    # The other groups' models saw the change: their targets moved.
    assert not np.allclose(t[~group0], t2[~group0], atol=1e-3)
    both = fold_teacher_targets("pca+peer", features, 4, labels, speakers)
    assert both.shape == (len(labels), 7)
    with pytest.raises(ValueError, match="teacher kind"):
        fold_teacher_targets("lda", features, 4, labels, speakers)
    with pytest.raises(ValueError, match="two speakers"):
        peer_targets(features[:24], labels[:24], speakers[:24])


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
        fit(train, None, cfg, fixed_epochs=2, teacher=targets[:-1])
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
