"""The embedded default model loads, is int8, and matches its metadata."""

import numpy as np

from edgeser import Frontend
from edgeser.audio import load_pcm16
from edgeser.examples import example_path
from edgeser.model import EmotionModel, default_model_path


def test_default_model_loads_and_predicts():
    model = EmotionModel()
    meta = model.meta
    assert default_model_path().stat().st_size == meta.tflite_bytes <= 256 * 1024
    assert meta.input.dtype == "int8" and meta.output.dtype == "int8"
    assert {"neutral", "happiness", "sadness", "anger", "fear", "disgust", "boredom"} <= set(
        model.labels
    )
    assert meta.metrics["int8"]["uar"] > 0.5
    frames = Frontend(meta.frontend).compute(load_pcm16(example_path()))
    mean = np.round(frames.mean(axis=0)).astype(np.int64)
    probs = model.predict(frames[: meta.window_frames], session_mean_q7=mean)
    assert probs.shape == (1, len(model.labels))
    assert abs(probs.sum() - 1) < 0.05
