"""Model speed: the default model's int8 TFLite file against its float32 twin (and the Keras
model it was converted from, when a ``.keras`` file is at hand), one 2 s window, one thread
each, in one process, so the ratios come from one run.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m pytest benchmarks/test_model_speed.py \
        --benchmark-json benchmarks/results/bench_model_speed.json

The Keras leg looks for ``$EDGESER_KERAS``, then ``default.keras`` beside the default model,
then ``models/default.keras``; it is skipped, saying so, when none exists (the embedded model
ships without its Keras source). The inputs are real frontend windows of synthetic speech-like
audio with their session statistics (:func:`edgeser.bench.model_windows`), cycled.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from edgeser import bench
from edgeser.model import EmotionModel, default_model_path

INT8 = default_model_path()
TWIN = bench.twin_path(INT8)
SOURCE = bench.synthetic_source(20.0, 16000)


def _window_seconds(model: EmotionModel) -> float:
    cfg = model.meta.frontend
    return ((model.meta.window_frames - 1) * cfg.hop_samples + cfg.window_samples) / cfg.sample_rate


@pytest.fixture(scope="module")
def int8_model():
    return EmotionModel(INT8, num_threads=1)


@pytest.fixture(scope="module")
def float_model():
    if not TWIN.is_file():
        pytest.skip(f"no float32 twin {TWIN.name} beside the default model")
    return EmotionModel(TWIN, num_threads=1, metadata_from=INT8)


def _keras_path() -> Path | None:
    candidates = [
        os.environ.get("EDGESER_KERAS", ""),
        str(INT8.with_suffix(".keras")),
        str(Path(__file__).resolve().parents[1] / "models" / "default.keras"),
    ]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


def _invoke_bench(benchmark, model: EmotionModel, group: str) -> None:
    benchmark.group = group
    benchmark.extra_info["audio_seconds"] = _window_seconds(model)
    benchmark.extra_info["macs"] = model.meta.macs
    windows, session = bench.model_windows(model, SOURCE, 16)
    inputs = itertools.cycle([model.model_input(w[None], *session) for w in windows])
    interpreter = model.interpreter
    index = interpreter.get_input_details()[0]["index"]

    def run():
        interpreter.set_tensor(index, next(inputs))
        interpreter.invoke()

    benchmark(run)


def _predict_bench(benchmark, model: EmotionModel) -> np.ndarray:
    benchmark.group = "EmotionModel.predict, one 2 s window, 1 thread"
    benchmark.extra_info["audio_seconds"] = _window_seconds(model)
    windows, session = bench.model_windows(model, SOURCE, 16)
    cycle = itertools.cycle(windows)
    return benchmark(lambda: model.predict(next(cycle), *session))


INVOKE = "model forward pass (set_tensor + invoke), one 2 s window, 1 thread"


def test_int8_tflite_invoke(benchmark, int8_model):
    _invoke_bench(benchmark, int8_model, INVOKE)


def test_float32_tflite_invoke(benchmark, float_model):
    _invoke_bench(benchmark, float_model, INVOKE)


def test_keras_float_predict_on_batch(benchmark, float_model):
    path = _keras_path()
    if path is None:
        pytest.skip(
            "no Keras model: set EDGESER_KERAS or put default.keras beside the default model "
            "(the embedded model ships without its Keras source)"
        )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    model = keras.models.load_model(path)
    benchmark.group = INVOKE
    benchmark.extra_info["audio_seconds"] = _window_seconds(float_model)
    windows, session = bench.model_windows(float_model, SOURCE, 16)
    inputs = itertools.cycle([float_model.model_input(w[None], *session) for w in windows])
    benchmark(lambda: model.predict_on_batch(next(inputs)))


def test_int8_predict(benchmark, int8_model):
    probs = _predict_bench(benchmark, int8_model)
    assert probs.shape == (1, len(int8_model.labels))


def test_float32_predict(benchmark, float_model):
    probs = _predict_bench(benchmark, float_model)
    assert probs.shape == (1, len(float_model.labels))
