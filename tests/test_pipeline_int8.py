"""End to end on a tiny model: train a few steps, convert to int8, run the device path.

Synthetic labelled clips (so it runs anywhere); the real-corpus training is a benchmark.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from converters.export import export_model
from converters.train import ClipSet, TrainConfig, fit, window_inputs
from edgeser.datasets import Clip
from edgeser.frontend import Frontend, FrontendConfig
from edgeser.model import EmotionModel, ModelError, read_meta
from edgeser.normalisation import Normalisation
from edgeser.synth import speech_like

LABELS = ["neutral", "anger", "sadness"]


def synthetic_clips(n_per_class: int, seed: int) -> ClipSet:
    """Three 'emotions' that differ in level and brightness, enough to learn in a few steps."""
    rng = np.random.default_rng(seed)
    clips, pcm, labels = [], [], []
    for k, label in enumerate(LABELS):
        for i in range(n_per_class):
            x = speech_like(2.0, seed=int(rng.integers(1 << 30)), level=(0.1, 0.8, 0.03)[k])
            if label == "anger":  # brighter: emphasise highs
                x = np.clip(np.diff(x.astype(np.int32), prepend=0) * 3, -32768, 32767)
                x = x.astype(np.int16)
            clips.append(Clip(f"synthetic/{label}{i}.wav", label, f"spk{i % 3}", "synthetic"))
            pcm.append(x)
            labels.append(k)
    return ClipSet(clips, pcm, np.array(labels), LABELS)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cfg = TrainConfig(
        filters=(4, 8),
        lstm_units=8,
        dense_units=8,
        epochs=3,
        patience=3,
        batch_size=8,
        augment=False,
        normalisation=Normalisation("fixed"),
    )
    train, val = synthetic_clips(6, seed=1), synthetic_clips(2, seed=2)
    result = fit(train, val, cfg)
    frontend = Frontend()
    rep = window_inputs(frontend, train, cfg, rng=None)
    out = tmp_path_factory.mktemp("model") / "tiny.tflite"
    meta = export_model(
        result.model,
        out,
        name="tiny",
        labels=LABELS,
        frontend=frontend.config,
        normalisation=cfg.normalisation,
        window_frames=cfg.window_frames,
        representative=rep,
        training={"clips": len(train.clips)},
    )
    x_val = window_inputs(frontend, val, cfg, rng=None)
    return out, meta, result.model, val, x_val, cfg


def test_int8_model_and_metadata(exported):
    out, meta, *_ = exported
    assert meta.input.dtype == "int8" and meta.output.dtype == "int8"
    assert meta.labels == tuple(LABELS) and meta.frontend == FrontendConfig()
    assert read_meta(out) == meta
    assert (out.parent / "tiny.float32.tflite").exists()


def test_int8_path_agrees_with_float_model(exported):
    out, _, keras_model, val, x_val, cfg = exported
    model = EmotionModel(out)
    frontend = Frontend()
    windows = np.stack([frontend.compute(p)[: cfg.window_frames] for p in val.pcm])
    int8_probs = model.predict(windows)
    float_probs = keras_model.predict(x_val, verbose=0)
    assert int8_probs.shape == float_probs.shape == (len(val.clips), 3)
    assert np.abs(int8_probs - float_probs).max() < 0.1
    assert np.mean(int8_probs.argmax(1) == float_probs.argmax(1)) >= 0.8


def test_tampered_or_mismatched_model_is_refused(exported, tmp_path):
    out, meta, *_ = exported
    bad = tmp_path / "bad.tflite"
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    (tmp_path / "bad.json").write_text(meta.to_json())
    with pytest.raises(ModelError, match="sha256"):
        EmotionModel(bad)
    with pytest.raises(ModelError, match="frontend"):
        EmotionModel(out, frontend=FrontendConfig(num_bands=32))
    (tmp_path / "nometa.tflite").write_bytes(out.read_bytes())
    with pytest.raises(ModelError, match="metadata"):
        EmotionModel(tmp_path / "nometa.tflite")
