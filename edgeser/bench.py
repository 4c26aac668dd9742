"""``edgeser bench``: latency, resource use and accuracy of the runtime on the device itself.

Stages, each timed call by call with :func:`time.perf_counter` after a warm-up, summarised as
min, p50, p90, p99 and max (numpy's linear percentiles, so min <= p50 <= p90 <= p99 <= max)
and a real-time factor (``rtf`` = median processing time / audio duration, lower is better;
``x_real_time`` = its inverse):

``frontend_hop``
    ``Frontend().stream().process`` on one 10 ms hop of samples (audio per call: one hop).
``model_input``
    ``EmotionModel.model_input``: normalisation and requantisation of one model window.
``invoke``
    the interpreter's ``invoke()`` alone, on a window already set as its input.
``predict``
    ``EmotionModel.predict`` on one window: input preparation, ``set_tensor``, ``invoke``,
    dequantised output. Audio per call for these three: the model's window (2 s for the
    default model); the streaming recognizer scores one window per hop (0.5 s), so its load is
    the ``recognizer_1s`` stage's.
``recognizer_1s``
    ``Recognizer.feed`` end to end (frontend, voice gate, session mean, model, smoothing),
    audio fed in ``chunk_ms`` chunks; one sample is the total time of the feeds of one second
    of audio (audio per sample: 1 s).

Windows for the model stages are real frontend output of the input audio (cycled), with the
session mean of its voiced frames. The input is synthetic speech-like audio
(:func:`edgeser.synth.speech_like`, 60 s cycled for longer runs) unless a file is given
(cycled to ``seconds``).

Resources per configuration: model file size, the RSS added by loading the model, CPU time
(process time, all threads) per second of audio in the recognizer stage, and the arena size:
the Python interpreter APIs (LiteRT, tflite-runtime, TensorFlow) do not report it, so it is
``None`` ("n/a"). Per run (one process, every configuration together): peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``), the RSS once every configuration is loaded
and warmed up and again after all the stages (``seconds`` of audio through each recognizer;
run long, this is the steady-state memory check), and the wall time of ``import edgeser`` /
``import edgeser.recognizer`` in a fresh interpreter (minus the bare interpreter's start-up;
best of three).

Compute: MACs per window come from the model metadata (``meta.macs``); achieved MAC/s is
``macs / invoke p50``, set against the estimated peak of the cores used
(:func:`edgeser.machine.peak_macs_per_s`; int8 or fp32 by the model's input type).

Configurations: one model/backend/threads/delegate combination each; ``--compare`` measures
several in one process, so their ratios come from the same machine at the same time: the
stages run in ``rounds`` (default 5) interleaved rounds, each round running a fifth of every
stage of configuration 1, then 2, ..., so a change of machine load falls on all of them alike.

A ``.tflite`` file without its own ``.json`` (the float32 twin that ``edgeser quantize``
writes beside the int8 model) borrows the int8 model's metadata: labels, frontend,
normalisation, window and MACs are the int8 model's, the tensor types and quantisation are
read from the file itself, and the hash and size are the file's (a temporary copy with that
metadata is loaded, so the usual checks still run).

Accuracy (``--data``): every labelled clip whose label the model knows is scored with
:func:`edgeser.scoring.score_recordings` (``session`` per speaker by default); UAR, WA,
per-class recall and the confusion matrix come from :mod:`edgeser.datasets`. With a reference
(float) model, both are scored on the same clips and their top-1 agreement is reported.

The JSON result (``--json``; :data:`FORMAT`), times in seconds, sizes in bytes:

``format``; ``options`` (the command's options); ``machine`` (:func:`edgeser.machine.describe`:
``date``, ``edgeser``, ``cpu``, ``cpu_id``, ``cores``, ``cores_usable``, ``simd``,
``governor``, ``load_average``, ``load_average_end``, ``python``, ``numpy``, ``backends``,
``peak``); ``input`` (``kind``, ``source``, ``seconds``, ``repeats``, ``chunk_ms``,
``rounds``); ``configs``, one per configuration: ``label``, ``model`` {``path``, ``name``,
``dtype``, ``bytes``, ``sha256``, ``metadata``}, ``backend``, ``backend_version``,
``threads``, ``delegate``, ``stages`` {stage: {``n``, ``min``, ``p50``, ``p90``, ``p99``,
``max``, ``mean``, ``audio_s``, ``rtf``, ``x_real_time``, ``round_p50`` (each round's
median), ``round_spread`` (largest over smallest round median, minus 1; None with one round
or rounds under 5 samples)}}, ``resources`` {``model_bytes``,
``load_rss_bytes``, ``arena_bytes``, ``cpu_s_per_audio_s``, ``windows_scored``, ...},
``compute`` {``macs_per_window``, ``achieved_macs_per_s``, ``peak_macs_per_s``,
``fraction_of_peak``}; ``steadiness`` (:func:`steadiness`: the largest ``round_spread``,
its stage and configuration, the 10% ``limit`` and ``steady``); ``resources``
(``peak_rss_bytes``, ``rss_start_bytes``, ``rss_end_bytes``, ``import_s``); ``accuracy``
(None without ``--data``; else ``model`` and ``reference`` {``uar``, ``wa``,
``per_class_recall``, ``labels``, ``confusion``}, ``top1_agreement``, ``clips``, ``speakers``,
``session``); with ``--against``, ``against`` (:func:`against`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeser.errors import DataError, EdgeserError

FORMAT = "edgeser-bench/1"
STAGES = ("frontend_hop", "model_input", "invoke", "predict", "recognizer_1s")
STAGE_TITLES = {
    "frontend_hop": "frontend, per 10 ms hop",
    "model_input": "model input prep, per window",
    "invoke": "interpreter invoke, per window",
    "predict": "EmotionModel.predict, per window",
    "recognizer_1s": "Recognizer.feed, per 1 s of audio",
}
STAT_KEYS = ("min", "p50", "p90", "p99", "max")
SYNTH_CYCLE_S = 60.0
WARMUP_CALLS = 20
Progress = Callable[[float], None]


class BenchError(EdgeserError, ValueError):
    """A benchmark option or input that cannot be used."""


# ---------------------------------------------------------------------------
# Statistics and memory


def summarise(samples_s: Sequence[float], audio_s: float) -> dict[str, float | int]:
    """min, p50, p90, p99, max, mean (seconds) of ``samples_s`` and the real-time factor for
    ``audio_s`` seconds of audio per sample."""
    x = np.asarray(samples_s, dtype=np.float64)
    if x.size == 0:
        raise BenchError("no timed samples (increase --repeats or --seconds)")
    p50, p90, p99 = np.percentile(x, [50, 90, 99])
    out: dict[str, float | int] = {
        "n": int(x.size),
        "min": float(x.min()),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(x.max()),
        "mean": float(x.mean()),
        "audio_s": float(audio_s),
    }
    out["rtf"] = out["p50"] / audio_s
    out["x_real_time"] = audio_s / out["p50"] if out["p50"] > 0 else float("inf")
    return out


def rss_bytes() -> int | None:
    """Current resident set size of this process (Linux ``/proc/self/statm``), else None."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (``ru_maxrss``: KiB on Linux, bytes on
    macOS), and never below the current RSS: the kernel's high-water mark can lag the
    current size by a few pages."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = int(peak) if sys.platform == "darwin" else int(peak) * 1024
    return max(peak, rss_bytes() or 0)


def import_seconds(modules: Sequence[str] = ("edgeser", "edgeser.recognizer")) -> dict[str, float]:
    """Wall time of importing each module in a fresh interpreter, minus a bare interpreter's
    start-up; best of three."""
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")

    def best(code: str) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", code], env=env, check=True, capture_output=True, cwd=root
            )
            times.append(time.perf_counter() - start)
        return min(times)

    try:
        bare = best("pass")
        return {m: max(0.0, best(f"import {m}") - bare) for m in modules}
    except (OSError, subprocess.CalledProcessError):
        return {}


# ---------------------------------------------------------------------------
# Models and configurations


@dataclasses.dataclass(frozen=True)
class Config:
    """One measured combination. ``meta_from``: the model whose metadata a model without its
    own ``.json`` borrows (see the module docstring)."""

    model: Path
    backend: str = "auto"
    threads: int = 1
    delegate: str | None = None
    meta_from: Path | None = None


def twin_path(model: Path) -> Path:
    """The float32 twin ``NAME.float32.tflite`` beside ``NAME.tflite``."""
    return model.with_name(model.stem + ".float32.tflite")


def check_model_file(path: Path, meta_from: Path | None) -> None:
    """Raise a one-line ModelError for a missing model or missing metadata, before any
    interpreter is created."""
    from edgeser.model import ModelError, meta_path, read_meta

    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    if meta_path(path).is_file():
        read_meta(path)
    elif meta_from is None:
        raise ModelError(f"{path}: metadata {meta_path(path).name} is missing beside the model")
    else:
        read_meta(meta_from)


def load_model(config: Config) -> Any:
    """An :class:`~edgeser.model.EmotionModel` for ``config``; a model without its own metadata
    borrows ``config.meta_from``'s (``EmotionModel(..., metadata_from=...)``)."""
    from edgeser.model import EmotionModel

    return EmotionModel(
        config.model,
        num_threads=config.threads,
        backend=config.backend,
        delegate=config.delegate,
        metadata_from=config.meta_from,
    )


def borrowed_meta(config: Config) -> bool:
    """Whether ``config.model`` is loaded with metadata borrowed from ``config.meta_from``."""
    from edgeser.model import meta_path

    return config.meta_from is not None and not meta_path(config.model).is_file()


def model_kind(model: Any) -> str:
    return "int8" if model.meta.input.dtype == "int8" else model.meta.input.dtype


# ---------------------------------------------------------------------------
# Input audio


class AudioSource:
    """Int16 PCM cycled endlessly: ``take(offset, n)`` returns samples offset..offset+n."""

    def __init__(self, pcm: np.ndarray, description: str, kind: str) -> None:
        if pcm.size == 0:
            raise BenchError(f"{description}: no audio samples")
        self.pcm = pcm
        self.description = description
        self.kind = kind

    def take(self, offset: int, n: int) -> np.ndarray:
        start = offset % self.pcm.shape[0]
        if start + n <= self.pcm.shape[0]:
            return self.pcm[start : start + n]
        return np.take(self.pcm, np.arange(start, start + n), mode="wrap")


def synthetic_source(seconds: float, rate: int) -> AudioSource:
    from edgeser.synth import speech_like

    cycle = min(max(seconds, 4.0), SYNTH_CYCLE_S)
    # 10 s pieces: one 60 s call would need ~100 MB of float64 temporaries, which would then
    # be the process's peak RSS instead of the runtime's.
    pieces = [min(10.0, cycle - start) for start in np.arange(0.0, cycle, 10.0)]
    pcm = np.concatenate([
        speech_like(piece, rate=rate, seed=3 + k, level=0.3) for k, piece in enumerate(pieces)
    ])  # fmt: skip
    return AudioSource(pcm, f"synthetic speech-like audio ({cycle:g} s, cycled)", "synthetic")


def file_source(path: str, rate: int) -> AudioSource:
    from edgeser.audio import load_pcm16

    pcm = load_pcm16(path, rate=rate)
    return AudioSource(pcm, f"{path} ({pcm.shape[0] / rate:.2f} s, cycled)", "file")


# ---------------------------------------------------------------------------
# Stages


def model_windows(model: Any, source: AudioSource, count: int = 64) -> tuple[np.ndarray, Any]:
    """Up to ``count`` model windows of frontend frames from ``source`` and the session
    statistics of their voiced frames (``[mean_q7, std_q7]``, (2, bands)), or ``(None, None)``
    for models without session normalisation: pass them on as ``model.predict(w, *session)``."""
    from edgeser.frontend import Frontend
    from edgeser.scoring import no_session_stats
    from edgeser.vad import voiced_stats

    cfg = model.meta.frontend
    frames_needed = model.meta.window_frames + 50 * (count - 1)
    samples = (frames_needed - 1) * cfg.hop_samples + cfg.window_samples
    frames = Frontend(cfg).compute(source.take(0, samples))
    wf = model.meta.window_frames
    windows = np.stack([frames[s : s + wf] for s in range(0, frames.shape[0] - wf + 1, 50)])
    session: Any = (None, None)
    if model.meta.normalisation.mode == "session":
        session = voiced_stats([frames], mel_bands=cfg.num_bands)
        if session is None:
            session = no_session_stats(cfg.num_features)
    return windows[:count], session


def window_seconds(model: Any) -> float:
    """Seconds of audio in one model window."""
    cfg = model.meta.frontend
    return ((model.meta.window_frames - 1) * cfg.hop_samples + cfg.window_samples) / cfg.sample_rate


class _Samples:
    """Timed samples per stage in preallocated float64 arrays (so that a long run does not
    grow the process: the RSS check measures the runtime, not the benchmark's bookkeeping).
    :meth:`reserve` sizes a stage before the run; :meth:`recorder` appends."""

    def __init__(self) -> None:
        self._data: dict[str, np.ndarray] = {s: np.full(0, np.nan) for s in STAGES}
        self._count: dict[str, int] = dict.fromkeys(STAGES, 0)
        self._marks: list[dict[str, int]] = []

    def mark_round(self) -> None:
        """End a round: :meth:`by_round` splits each stage's samples here."""
        self._marks.append(dict(self._count))

    def reserve(self, stage: str, total: int) -> None:
        self._data[stage] = np.full(total, np.nan)  # np.full touches every page now

    def recorder(self, stage: str, count: int) -> Callable[[float], None]:
        data, start = self._data[stage], self._count[stage]
        if start + count > data.shape[0]:
            grown = np.full(start + count, np.nan)
            grown[:start] = data[:start]
            self._data[stage] = data = grown
        self._count[stage] = start + count
        position = iter(range(start, start + count))

        def record(value: float) -> None:
            data[next(position)] = value

        return record

    def get(self, stage: str) -> np.ndarray:
        values = self._data[stage][: self._count[stage]]
        return values[~np.isnan(values)]

    def by_round(self, stage: str) -> list[np.ndarray]:
        """The stage's samples of each round (those after the last mark form one more)."""
        ends = [m[stage] for m in self._marks]
        if not ends or ends[-1] < self._count[stage]:
            ends.append(self._count[stage])
        parts, start = [], 0
        for end in ends:
            values = self._data[stage][start:end]
            parts.append(values[~np.isnan(values)])
            start = end
        return [p for p in parts if p.size]


class StageRunner:
    """The stages of one loaded configuration, run a slice at a time so that several
    configurations can take turns (rounds) and share any change of machine load alike.

    State persists between slices: the frontend stream and the recognizer keep streaming the
    cycled input, and the timed samples accumulate until :meth:`result`."""

    def __init__(self, model: Any, config: Config, source: AudioSource, chunk_ms: int) -> None:
        from edgeser.frontend import Frontend
        from edgeser.recognizer import Recognizer

        self.model, self.config, self.source, self.chunk_ms = model, config, source, chunk_ms
        self.samples = _Samples()
        cfg = model.meta.frontend
        self.hop = cfg.hop_samples
        self.rate = cfg.sample_rate
        # frontend, per hop
        self.stream = Frontend(cfg).stream()
        self.stream_offset = 0
        for _ in range(max(WARMUP_CALLS, cfg.window_samples // self.hop + 1)):
            self._hop()
        # model
        self.windows, self.session = model_windows(model, source)
        n = self.windows.shape[0]
        self.inputs = [model.model_input(self.windows[i : i + 1], *self.session) for i in range(n)]
        self.index = model.interpreter.get_input_details()[0]["index"]
        self.calls = 0
        for _ in range(WARMUP_CALLS):
            self._model_call()
        # recognizer
        self.rec = Recognizer(model)
        self.chunk = self.rate * chunk_ms // 1000
        self.per_second = 1000 // chunk_ms
        self.rec_offset = 0
        self.events = 0
        for _ in range(int(np.ceil(self.rec.plan.model_seconds)) + 1):
            self._second()
        self.rec_seconds = 0
        self.rec_cpu = 0.0
        self.rec_wall = 0.0
        self.events = 0  # after the warm-up
        self.scored0, self.unvoiced0 = self.rec.windows_scored, self.rec.windows_unvoiced

    def _hop(self) -> float:
        chunk = self.source.take(self.stream_offset, self.hop)
        self.stream_offset += self.hop
        start = time.perf_counter()
        self.stream.process(chunk)
        return time.perf_counter() - start

    def frontend(self, hops: int) -> None:
        record = self.samples.recorder("frontend_hop", hops)
        for _ in range(hops):
            record(self._hop())

    def _model_call(self) -> tuple[float, float, float]:
        """One timed model_input, one timed invoke, one timed predict (different windows)."""
        model, n, clock = self.model, self.windows.shape[0], time.perf_counter
        k = self.calls
        self.calls += 1
        window = self.windows[k % n]
        start = clock()
        model.model_input(window[None], *self.session)
        prep = clock() - start
        model.interpreter.set_tensor(self.index, self.inputs[(k + 1) % n])
        start = clock()
        model.interpreter.invoke()
        invoke = clock() - start
        window = self.windows[(k + 2) % n]
        start = clock()
        model.predict(window, *self.session)
        return prep, invoke, clock() - start

    def model_calls(self, count: int) -> None:
        prep = self.samples.recorder("model_input", count)
        invoke = self.samples.recorder("invoke", count)
        predict = self.samples.recorder("predict", count)
        for _ in range(count):
            a, b, c = self._model_call()
            prep(a)
            invoke(b)
            predict(c)

    def _second(self) -> float:
        pieces = [
            self.source.take(self.rec_offset + k * self.chunk, self.chunk)
            for k in range(self.per_second)
        ]
        self.rec_offset += self.per_second * self.chunk
        total = 0.0
        clock = time.perf_counter
        for piece in pieces:
            start = clock()
            self.events += len(self.rec.feed(piece))
            total += clock() - start
        return total

    def recognizer(self, seconds: int) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        record = self.samples.recorder("recognizer_1s", seconds)
        for _ in range(seconds):
            record(self._second())
        self.rec_cpu += time.process_time() - cpu
        self.rec_wall += time.perf_counter() - wall
        self.rec_seconds += seconds

    def result(self, machine: dict[str, Any], load_rss: int | None) -> dict[str, Any]:
        """Every stage and resource figure of this configuration (the JSON ``configs`` item)."""
        gc.collect()
        config, model = self.config, self.model
        audio = {
            "frontend_hop": self.hop / self.rate,
            "model_input": window_seconds(model),
            "invoke": window_seconds(model),
            "predict": window_seconds(model),
            "recognizer_1s": 1.0,
        }
        stages = {stage: summarise(self.samples.get(stage), audio[stage]) for stage in STAGES}
        for stage in STAGES:
            stages[stage].update(round_figures(self.samples.by_round(stage)))
        seconds = max(1, self.rec_seconds)
        size = config.model.stat().st_size
        return {
            "label": "",
            "model": {
                "path": str(config.model),
                "name": model.meta.name,
                "dtype": model_kind(model),
                "bytes": size,
                "sha256": model.meta.tflite_sha256,
                "metadata": (
                    f"borrowed from {config.meta_from}" if borrowed_meta(config) else "own"
                ),
            },
            "backend": model.backend.name,
            "backend_version": model.backend.version,
            "threads": config.threads,
            "delegate": config.delegate,
            "stages": stages,
            "resources": {
                "model_bytes": size,
                "load_rss_bytes": load_rss,
                "arena_bytes": None,
                "arena_note": "n/a: the Python interpreter API does not report the arena size",
                "seconds_of_audio": self.rec_seconds,
                "chunk_ms": self.chunk_ms,
                "cpu_s_per_audio_s": self.rec_cpu / seconds,
                "wall_s_per_audio_s": self.rec_wall / seconds,
                "windows_scored": self.rec.windows_scored - self.scored0,
                "windows_unvoiced": self.rec.windows_unvoiced - self.unvoiced0,
                "events": self.events,
            },
            "compute": compute_figures(model, stages["invoke"]["p50"], machine, config),
        }


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` near-equal whole slices (largest first)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


STEADY_SPREAD = 0.10
"""Round medians of one stage further apart than this (max / min - 1) mean the machine's speed
changed during the run (issue 5's bound for repeated runs: medians within 10%)."""
MIN_ROUND_SAMPLES = 5
"""Rounds with fewer timed samples of a stage than this are too noisy to judge steadiness."""


def round_figures(rounds: Sequence[np.ndarray]) -> dict[str, Any]:
    """``round_p50``: the median of each round's samples (seconds); ``round_spread``: the
    largest over the smallest of them, minus 1 (None with fewer than two rounds, or when a
    round has fewer than :data:`MIN_ROUND_SAMPLES` samples)."""
    p50s = [float(np.median(r)) for r in rounds]
    judged = len(p50s) >= 2 and min(r.size for r in rounds) >= MIN_ROUND_SAMPLES
    spread = max(p50s) / min(p50s) - 1 if judged and min(p50s) > 0 else None
    return {"round_p50": p50s, "round_spread": spread}


def steadiness(configs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The largest ``round_spread`` over every configuration and stage: ``spread`` (None when
    no stage could be judged), its ``stage`` and ``config`` label, the ``limit``
    (:data:`STEADY_SPREAD`) and ``steady`` (spread within the limit; None when not judged)."""
    worst: dict[str, Any] = {"spread": None, "stage": None, "config": None}
    for cfg in configs:
        for stage in STAGES:
            spread = cfg["stages"][stage].get("round_spread")
            if spread is not None and (worst["spread"] is None or spread > worst["spread"]):
                worst = {"spread": spread, "stage": stage, "config": cfg["label"]}
    judged = worst["spread"] is not None
    return {
        **worst,
        "limit": STEADY_SPREAD,
        "steady": worst["spread"] <= STEADY_SPREAD if judged else None,
    }


def compute_figures(
    model: Any, invoke_p50: float, machine: dict[str, Any], config: Config
) -> dict[str, Any]:
    from edgeser.machine import peak_macs_per_s

    macs = int(model.meta.macs)
    achieved = macs / invoke_p50 if macs and invoke_p50 > 0 else None
    dtype = "int8" if model_kind(model) == "int8" else "fp32"
    peak = peak_macs_per_s(machine, config.threads, dtype, config.delegate)
    return {
        "macs_per_window": macs or None,
        "achieved_macs_per_s": achieved,
        "peak_macs_per_s": peak,
        "peak_kind": "edgetpu" if config.delegate == "edgetpu" else dtype,
        "fraction_of_peak": achieved / peak if achieved and peak else None,
    }


def stage_counts(runner: StageRunner, seconds: float, repeats: int) -> dict[str, int]:
    """Timed samples per stage for ``seconds`` of audio and ``repeats`` model calls."""
    return {
        "frontend_hop": max(1, int(seconds * runner.rate) // runner.hop),
        "model_input": repeats,
        "invoke": repeats,
        "predict": repeats,
        "recognizer_1s": max(1, round(seconds)),
    }


def measure_all(
    runners: Sequence[StageRunner],
    *,
    seconds: float,
    repeats: int,
    rounds: int = 5,
    progress: Progress | None = None,
) -> None:
    """Run every stage of every configuration in ``rounds`` interleaved rounds: round r runs
    1/rounds of each stage for configuration 1, then 2, ..."""
    counts = stage_counts(runners[0], seconds, repeats)
    hops_total, secs_total = counts["frontend_hop"], counts["recognizer_1s"]
    rounds = max(1, min(rounds, repeats, secs_total))
    plan = list(
        zip(
            split(hops_total, rounds),
            split(repeats, rounds),
            split(secs_total, rounds),
            strict=True,
        )
    )
    # progress weights: time shares as measured on a desktop (frontend 20%, model 40%, rest)
    share = 1.0 / (rounds * len(runners))
    for hops, calls, secs in plan:
        for runner in runners:
            runner.frontend(hops)
            if progress is not None:
                progress(0.2 * share)
            runner.model_calls(calls)
            if progress is not None:
                progress(0.4 * share)
            runner.recognizer(secs)
            if progress is not None:
                progress(0.4 * share)
        for runner in runners:
            runner.samples.mark_round()


# ---------------------------------------------------------------------------
# Accuracy


@contextlib.contextmanager
def _quiet_dataset_log(messages: list[str]) -> Iterator[None]:
    """Collect the corpus readers' warnings instead of letting them reach stderr."""

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    log = logging.getLogger("edgeser.datasets")
    handler, propagate = Collect(), log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


def read_labelled(path: str, labels: Sequence[str]) -> tuple[list[Any], dict[str, Any]]:
    """Clips of a corpus folder or manifest whose label is in ``labels``; raises DataError when
    there are none. Returns the clips and a note of what was left out."""
    from edgeser.datasets import read_corpus

    skipped: list[Path] = []
    messages: list[str] = []
    with _quiet_dataset_log(messages):
        clips = read_corpus(path, skipped=skipped)
    known = [c for c in clips if c.label in labels]
    other = sorted({c.label for c in clips if c.label not in labels})
    if not known:
        raise DataError(
            f"{path}: none of its {len(clips)} labelled clips has a label the model knows "
            f"({', '.join(labels)})"
        )
    return known, {
        "clips_read": len(clips),
        "clips_scored": len(known),
        "clips_other_labels": len(clips) - len(known),
        "other_labels": other,
        "files_skipped": len(skipped),
    }


def score_accuracy(
    model: Any,
    clips: Sequence[Any],
    session: str = "speaker",
    reference: Any | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """UAR, WA, per-class recall and confusion of ``model`` (and ``reference``) on ``clips``."""
    from edgeser.audio import load_pcm16
    from edgeser.datasets import accuracy, confusion_matrix, per_class_recall, uar
    from edgeser.scoring import score_recordings

    rate = model.meta.frontend.sample_rate
    n = len(clips)
    models = [model] + ([reference] if reference is not None else [])
    share = 1.0 / (1 + len(models))
    pcm = []
    for clip in clips:
        pcm.append(load_pcm16(clip.path, rate=rate))
        if progress is not None:
            progress(share / n)
    speakers = [c.speaker for c in clips]
    truth = [c.label for c in clips]

    def tick(_count: int) -> None:
        if progress is not None:
            progress(share / n)

    results = {}
    predictions = []
    for role, m in zip(("model", "reference"), models, strict=False):
        probs = score_recordings(m, pcm, speakers, session, progress=tick)
        labels = list(m.labels)
        pred = [labels[i] for i in probs.argmax(axis=1)]
        predictions.append(pred)
        present = [lab for lab in labels if lab in set(truth)]
        results[role] = {
            "path": str(m.path),
            "dtype": model_kind(m),
            "uar": uar(truth, pred, present),
            "wa": accuracy(truth, pred),
            "per_class_recall": per_class_recall(truth, pred, present),
            "labels": present,
            "confusion": confusion_matrix(truth, pred, present).tolist(),
        }
    out: dict[str, Any] = {
        "session": session,
        "clips": n,
        "speakers": len(set(speakers)),
        **results,
    }
    if len(predictions) == 2:
        out["top1_agreement"] = float(
            np.mean([a == b for a, b in zip(predictions[0], predictions[1], strict=True)])
        )
    return out


# ---------------------------------------------------------------------------
# Comparing with an earlier result


def against(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """Medians (and accuracy) of ``new`` against ``old``: for each configuration present in
    both (matched by label; a single configuration on each side always matches) and each stage,
    old and new p50, the ratio new/old and the change in percent; ``old_steady`` and
    ``new_steady``, each run's ``steadiness`` verdict (None when not recorded or not judged)."""
    old_configs = {c["label"]: c for c in old.get("configs", [])}
    pairs = []
    for cfg in new.get("configs", []):
        match = old_configs.get(cfg["label"])
        if match is None and len(new["configs"]) == 1 and len(old_configs) == 1:
            match = next(iter(old_configs.values()))
        if match is not None:
            pairs.append((cfg, match))
    rows = []
    for cfg, match in pairs:
        for stage in STAGES:
            a = match.get("stages", {}).get(stage, {}).get("p50")
            b = cfg.get("stages", {}).get(stage, {}).get("p50")
            if a and b:
                rows.append({
                    "config": cfg["label"],
                    "old_config": match["label"],
                    "stage": stage,
                    "old_p50": a,
                    "new_p50": b,
                    "ratio": b / a,
                    "change_percent": 100.0 * (b / a - 1.0),
                })  # fmt: skip
    acc = {}
    for role in ("model", "reference"):
        a = (old.get("accuracy") or {}).get(role)
        b = (new.get("accuracy") or {}).get(role)
        if a and b:
            acc[role] = {k: {"old": a[k], "new": b[k], "diff": b[k] - a[k]} for k in ("uar", "wa")}
    return {
        "old_date": old.get("machine", {}).get("date"),
        "old_cpu": old.get("machine", {}).get("cpu"),
        "old_edgeser": old.get("machine", {}).get("edgeser"),
        "stages": rows,
        "accuracy": acc,
        "unmatched": [c["label"] for c in new.get("configs", []) if c not in [p[0] for p in pairs]],
        # None for a result written before steadiness was measured, or one not judged
        "old_steady": (old.get("steadiness") or {}).get("steady"),
        "new_steady": (new.get("steadiness") or {}).get("steady"),
    }


# ---------------------------------------------------------------------------
# The whole run


@dataclasses.dataclass
class BenchOptions:
    configs: list[Config]
    seconds: float = 60.0
    repeats: int = 1000
    chunk_ms: int = 100
    audio: str | None = None
    data: str | None = None
    reference: Path | None = None
    session: str = "speaker"
    import_time: bool = True
    rounds: int = 5


def validate(options: BenchOptions) -> None:
    """Check every option that can be checked before an interpreter is created (so that a bad
    option fails with one line and no interpreter log output)."""
    from edgeser.backends import BACKENDS, get_backend

    if not options.configs:
        raise BenchError("nothing to measure")
    if not options.seconds >= 1:
        raise BenchError(f"--seconds must be at least 1, got {options.seconds:g}")
    if options.repeats < 1:
        raise BenchError(f"--repeats must be at least 1, got {options.repeats}")
    if options.rounds < 1:
        raise BenchError(f"--rounds must be at least 1, got {options.rounds}")
    if options.chunk_ms < 1 or 1000 % options.chunk_ms:
        raise BenchError(f"--chunk-ms must divide 1000, got {options.chunk_ms}")
    for cfg in options.configs:
        if cfg.threads < 1:
            raise BenchError(f"threads must be at least 1, got {cfg.threads}")
        if cfg.backend != "auto" and cfg.backend not in BACKENDS:
            raise BenchError(f"unknown backend {cfg.backend!r}: choose auto, {', '.join(BACKENDS)}")
        if cfg.delegate not in (None, "edgetpu"):
            raise BenchError(f"unknown delegate {cfg.delegate!r}: the only one is edgetpu")
        check_model_file(cfg.model, cfg.meta_from)
    if options.reference is not None:
        check_model_file(options.reference, options.configs[0].model)
    for name in dict.fromkeys(cfg.backend for cfg in options.configs):
        get_backend(name)
    if options.audio is not None and not Path(options.audio).is_file():
        raise BenchError(f"{options.audio}: no such audio file")


def label_configs(results: list[dict[str, Any]]) -> None:
    """Readable, unique labels: ``int8 litert 1t`` (+ ``edgetpu``); when two configurations
    would share a label, each of those is prefixed with as much of its model path as tells
    them apart (``default.tflite``, then ``v4/default.tflite``, ...), and a configuration
    repeated exactly is numbered (``#2``)."""
    base = []
    for r in results:
        text = f"{r['model']['dtype']} {r['backend']} {r['threads']}t"
        if r["delegate"]:
            text += f" {r['delegate']}"
        base.append(text)
    labels = list(base)
    for text in dict.fromkeys(base):
        group = [i for i, b in enumerate(base) if b == text]
        if len(group) < 2:
            continue
        parts = [Path(results[i]["model"]["path"]).parts for i in group]
        depth = 1
        while depth < max(len(p) for p in parts):
            if len({p[-depth:] for p in parts}) == len(set(parts)):
                break
            depth += 1
        prefixes = [Path(*p[-depth:]).as_posix() for p in parts]
        for i, prefix in zip(group, prefixes, strict=True):
            labels[i] = f"{prefix} {text}"
    unique = [
        f"{label} #{labels[: i + 1].count(label)}" if labels.count(label) > 1 else label
        for i, label in enumerate(labels)
    ]
    for r, label in zip(results, unique, strict=True):
        r["label"] = label


def run(options: BenchOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Measure every configuration (and accuracy, with ``data``); the JSON-ready result."""
    from edgeser import machine as machine_mod

    validate(options)
    first = options.configs[0]
    clips, data_note = None, None
    if options.data is not None:
        from edgeser.model import read_meta

        labels = read_meta(first.model if first.meta_from is None else first.meta_from).labels
        clips, data_note = read_labelled(options.data, labels)
    machine = machine_mod.describe()
    weight_acc = 0.3 if clips else 0.0

    def scaled(weight: float) -> Progress | None:
        return None if progress is None else (lambda fraction: progress(fraction * weight))

    loaded = []
    for cfg in options.configs:
        before = rss_bytes()
        model = load_model(cfg)
        after = rss_bytes()
        loaded.append((cfg, model, after - before if before and after else None))
    rate = loaded[0][1].meta.frontend.sample_rate
    source = (
        file_source(options.audio, rate)
        if options.audio is not None
        else synthetic_source(options.seconds, rate)
    )
    runners = [StageRunner(model, cfg, source, options.chunk_ms) for cfg, model, _ in loaded]
    for runner in runners:
        for stage, count in stage_counts(runner, options.seconds, options.repeats).items():
            runner.samples.reserve(stage, count)
    gc.collect()
    rss_start = rss_bytes()
    measure_all(
        runners,
        seconds=options.seconds,
        repeats=options.repeats,
        rounds=options.rounds,
        progress=scaled(1.0 - weight_acc),
    )
    gc.collect()
    rss_end = rss_bytes()
    results = [
        runner.result(machine, load_rss)
        for runner, (_, _, load_rss) in zip(runners, loaded, strict=True)
    ]
    accuracy = None
    if clips:
        reference = None
        if options.reference is not None:
            reference = load_model(
                Config(options.reference, first.backend, first.threads, None, first.model)
            )
        accuracy = score_accuracy(
            loaded[0][1], clips, options.session, reference, scaled(weight_acc)
        )
        accuracy.update(data_note or {})
        accuracy["data"] = options.data
    label_configs(results)
    try:
        machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        machine["load_average_end"] = None
    return {
        "format": FORMAT,
        "machine": machine,
        "input": {
            "kind": source.kind,
            "source": source.description,
            "seconds": round(options.seconds),
            "repeats": options.repeats,
            "chunk_ms": options.chunk_ms,
            "rounds": max(1, min(options.rounds, options.repeats, round(options.seconds))),
        },
        "configs": results,
        "steadiness": steadiness(results),
        "resources": {
            "peak_rss_bytes": peak_rss_bytes(),
            "rss_start_bytes": rss_start,
            "rss_end_bytes": rss_end,
            "audio_s_per_config": round(options.seconds),
            "import_s": import_seconds() if options.import_time else {},
        },
        "accuracy": accuracy,
    }


# ---------------------------------------------------------------------------
# The readable report


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds * 1e3:.3f}" if seconds < 10 else f"{seconds * 1e3:.0f}"


def _mib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:.1f} MiB"


def _factor(x: float) -> str:
    return f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 10 else f"{x:.2f}x"


def format_report(result: dict[str, Any]) -> str:
    """The tables ``edgeser bench`` prints."""
    from edgeser.machine import summary

    lines = []
    m = result["machine"]
    lines.append(f"edgeser {m['edgeser']} bench, {m['date']}")
    lines.append(f"machine  {summary(m)}")
    inp = result["input"]
    lines.append(
        f"input    {inp['source']}; {inp['seconds']} s through the frontend and the recognizer "
        f"({inp['chunk_ms']} ms chunks), {inp['repeats']} timed model calls per stage"
    )
    for cfg in result["configs"]:
        mod = cfg["model"]
        macs = cfg["compute"]["macs_per_window"]
        lines.append(
            f"model    [{cfg['label']}] {mod['path']} ({mod['bytes']:,} bytes, {mod['dtype']}, "
            f"{macs / 1e6:.2f} M MACs/window, metadata {mod['metadata']})"
            if macs
            else f"model    [{cfg['label']}] {mod['path']} ({mod['bytes']:,} bytes, {mod['dtype']})"
        )
    loads = [x for x in (m.get("load_average"), m.get("load_average_end")) if x]
    busiest = max((x[0] for x in loads), default=0.0)
    if busiest > (m.get("cores_usable") or 1) - 0.5:
        lines.append(
            f"note     1-minute load average up to {busiest:.2f} on {m.get('cores_usable')} cores "
            "during this run: other processes compete for the CPU, so medians and tails are "
            "inflated (min is the least affected)"
        )
    lines.append("")
    width = max(len(c["label"]) for c in result["configs"])
    head = f"{'stage':34s} {'config':{width}s} " + " ".join(f"{k:>8s}" for k in STAT_KEYS)
    head += f" {'(ms)':5s} {'x real time':>11s}"
    if len(result["configs"]) > 1:
        head += f" {'p50 vs 1st':>10s}"
    lines.append(head)
    lines.append("-" * len(head))
    for stage in STAGES:
        first_p50 = result["configs"][0]["stages"][stage]["p50"]
        for k, cfg in enumerate(result["configs"]):
            s = cfg["stages"][stage]
            row = f"{STAGE_TITLES[stage] if k == 0 else '':34s} {cfg['label']:{width}s} "
            row += " ".join(f"{_ms(s[key]):>8s}" for key in STAT_KEYS)
            row += f" {'':5s} {_factor(s['x_real_time']):>11s}"
            if len(result["configs"]) > 1:
                row += f" {s['p50'] / first_p50:>9.2f}x"
            lines.append(row)
    lines.append("")
    head = (
        f"{'config':{width}s} {'load RSS':>9s} {'arena':>6s} {'CPU ms/audio s':>14s} "
        f"{'GMAC/s':>7s} {'peak est.':>11s} {'of peak':>8s}"
    )
    lines.append(head)
    lines.append("-" * len(head))
    for cfg in result["configs"]:
        r, c = cfg["resources"], cfg["compute"]
        achieved = c["achieved_macs_per_s"]
        peak = c["peak_macs_per_s"]
        frac = c["fraction_of_peak"]
        peak_text = f"{peak / 1e9:.0f} {c['peak_kind']}" if peak else "n/a"
        lines.append(
            f"{cfg['label']:{width}s} {_mib(r['load_rss_bytes']):>9s} "
            f"{'n/a' if r['arena_bytes'] is None else _mib(r['arena_bytes']):>6s} "
            f"{r['cpu_s_per_audio_s'] * 1e3:>14.2f} "
            f"{'n/a' if achieved is None else f'{achieved / 1e9:.1f}':>7s} {peak_text:>11s} "
            f"{'n/a' if frac is None else f'{100 * frac:.1f}%':>8s}"
        )
    res = result["resources"]
    imports = ", ".join(f"import {k} {v * 1e3:.0f} ms" for k, v in res.get("import_s", {}).items())
    lines.append(
        f"process RSS {_mib(res['rss_start_bytes'])} after set-up -> "
        f"{_mib(res['rss_end_bytes'])} after {res['audio_s_per_config']} s of audio per "
        f"configuration; peak {_mib(res['peak_rss_bytes'])}"
    )
    if imports:
        lines.append(f"{imports} (fresh interpreter, best of 3)")
    lines.append(format_steadiness(result.get("steadiness"), result["input"].get("rounds")))
    rec0 = result["configs"][0]["resources"]
    lines.append(
        f"recognizer: {rec0['windows_scored']} windows scored, {rec0['windows_unvoiced']} "
        f"skipped as unvoiced, {rec0['events']} events in {rec0['seconds_of_audio']} s "
        f"[{result['configs'][0]['label']}]"
    )
    acc = result.get("accuracy")
    if acc:
        lines.append("")
        lines.append(
            f"accuracy on {acc['data']}: {acc['clips']} clips, {acc['speakers']} speakers, "
            f"session per {acc['session']}"
            + (
                f" ({acc['clips_other_labels']} clips with labels the model lacks left out)"
                if acc.get("clips_other_labels")
                else ""
            )
        )
        roles = [r for r in ("model", "reference") if r in acc]
        labels = acc["model"]["labels"]
        lines.append(
            f"{'model':10s} {'UAR':>6s} {'WA':>6s}  " + " ".join(f"{lab[:9]:>9s}" for lab in labels)
        )
        for role in roles:
            a = acc[role]
            lines.append(
                f"{a['dtype']:10s} {100 * a['uar']:5.1f}% {100 * a['wa']:5.1f}%  "
                + " ".join(f"{100 * a['per_class_recall'][lab]:8.1f}%" for lab in labels)
            )
        if "top1_agreement" in acc:
            lines.append(f"top-1 agreement model vs reference: {100 * acc['top1_agreement']:.1f}%")
    return "\n".join(lines)


def format_steadiness(steady: dict[str, Any] | None, rounds: int | None) -> str:
    """One line: how far apart the rounds' medians were, and a warning past the limit."""
    if not steady or steady.get("spread") is None:
        return (
            f"steadiness: not judged ({rounds or 1} round(s); needs 2 or more with at least "
            f"{MIN_ROUND_SAMPLES} timed samples of a stage each)"
        )
    where = f"{STAGE_TITLES[steady['stage']].split(',')[0]}, {steady['config']}"
    text = f"{100 * steady['spread']:.1f}% ({where})"
    if steady["steady"]:
        return f"steadiness: the {rounds} rounds' medians agree within {text}"
    return (
        f"warning: the {rounds} rounds' medians differ by up to {text}: the machine's speed "
        f"changed during the run (limit {100 * steady['limit']:.0f}%), so these medians may "
        "not repeat; rerun on an idle machine"
    )


def format_against(diff: dict[str, Any]) -> str:
    lines = [
        f"against {diff.get('old_date')} ({diff.get('old_cpu')}, edgeser {diff.get('old_edgeser')})"
    ]
    if not diff["stages"]:
        lines.append("  no configuration in common")
    else:
        width = max(len(r["config"]) for r in diff["stages"])
        lines.append(
            f"{'stage':14s} {'config':{width}s} {'old p50 ms':>11s} {'new p50 ms':>11s} "
            f"{'new/old':>8s} {'change':>8s}"
        )
        for r in diff["stages"]:
            lines.append(
                f"{r['stage']:14s} {r['config']:{width}s} {_ms(r['old_p50']):>11s} "
                f"{_ms(r['new_p50']):>11s} {r['ratio']:>7.2f}x {r['change_percent']:>+7.1f}%"
            )
    for role, figures in diff.get("accuracy", {}).items():
        lines.append(
            f"accuracy {role}: "
            + ", ".join(
                f"{k.upper()} {100 * v['old']:.1f}% -> {100 * v['new']:.1f}% "
                f"({100 * v['diff']:+.1f} points)"
                for k, v in figures.items()
            )
        )
    if diff.get("unmatched"):
        lines.append(f"not in the earlier result: {', '.join(diff['unmatched'])}")
    unsteady = [
        name for name, key in (("earlier", "old_steady"), ("this", "new_steady"))
        if diff.get(key) is False
    ]  # fmt: skip
    if unsteady:
        lines.append(
            f"note: the {' and the '.join(unsteady)} run's rounds disagreed by more than "
            f"{100 * STEADY_SPREAD:.0f}%, so these ratios include the machine's changes of speed"
        )
    return "\n".join(lines)
