"""Recognizer speed: ``Recognizer.feed`` end to end (frontend, voice gate, session mean, model,
smoothing) on a continuous stream of synthetic speech-like audio, 10 s per round, with the
default int8 model and its float32 twin, one interpreter thread, in one process.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m pytest benchmarks/test_recognizer_speed.py \
        --benchmark-json benchmarks/results/bench_recognizer_speed.json

Each round feeds the next 10 s of the stream (the recognizer is warmed up first and never
reset), in 100 ms chunks (a microphone's buffer) or in 1 s chunks.
"""

from __future__ import annotations

import pytest

from edgeser import bench
from edgeser.model import EmotionModel, default_model_path
from edgeser.recognizer import Recognizer

INT8 = default_model_path()
TWIN = bench.twin_path(INT8)
ROUND_S = 10
SOURCE = bench.synthetic_source(60.0, 16000)


def _stream_bench(benchmark, model: EmotionModel, chunk_ms: int) -> None:
    rec = Recognizer(model)
    chunk = 16000 * chunk_ms // 1000
    per_round = ROUND_S * 1000 // chunk_ms
    state = {"offset": 0, "events": 0}

    def feed_round(count: int) -> None:
        pieces = [SOURCE.take(state["offset"] + k * chunk, chunk) for k in range(count)]
        state["offset"] += count * chunk
        for piece in pieces:
            state["events"] += len(rec.feed(piece))

    feed_round(3 * 1000 // chunk_ms)  # warm-up: 3 s, past the first model window
    chunks = []

    def setup():
        pieces = [SOURCE.take(state["offset"] + k * chunk, chunk) for k in range(per_round)]
        state["offset"] += per_round * chunk
        chunks[:] = pieces
        return (), {}

    def run():
        for piece in chunks:
            state["events"] += len(rec.feed(piece))

    benchmark.group = f"Recognizer.feed, {ROUND_S} s of audio per round, 1 thread"
    benchmark.extra_info["audio_seconds"] = float(ROUND_S)
    benchmark.extra_info["chunk_ms"] = chunk_ms
    benchmark.pedantic(run, setup=setup, rounds=40, warmup_rounds=2)
    assert rec.windows_scored > 0 and state["events"] > 0


@pytest.fixture(scope="module")
def float_model():
    if not TWIN.is_file():
        pytest.skip(f"no float32 twin {TWIN.name} beside the default model")
    return EmotionModel(TWIN, num_threads=1, metadata_from=INT8)


def test_int8_100ms_chunks(benchmark):
    _stream_bench(benchmark, EmotionModel(INT8, num_threads=1), 100)


def test_int8_1s_chunks(benchmark):
    _stream_bench(benchmark, EmotionModel(INT8, num_threads=1), 1000)


def test_float32_100ms_chunks(benchmark, float_model):
    _stream_bench(benchmark, float_model, 100)
