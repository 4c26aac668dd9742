"""Whole-recording classification: per-window results and an utterance-level decision.

Unlike the streaming :class:`~edgeser.recognizer.Recognizer`, the whole recording is known:
the ``"session"`` normalisation uses the per-band mean of all its voiced frames, windows start
every hop from the first frame and one more window is aligned with the end when at least
half a hop is left over. The utterance decision is the mean of the voiced windows' class
probabilities (no smoothing, no threshold).

:func:`classify_files` with ``shared_session=True`` treats the recordings as one speaker's:
the session mean is taken over the voiced frames of all of them (each gated on its own), as
the benchmarks' *speaker sessions*; a session-normalised model scores better that way once it
has more than one utterance of the person.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeser.audio import load_pcm16
from edgeser.errors import AudioError
from edgeser.events import EmotionEvent
from edgeser.frontend import Frontend
from edgeser.model import EmotionModel
from edgeser.recognizer import RecognizerSettings, WindowPlan, _load
from edgeser.vad import gated_session, voiced_flags


@dataclass(frozen=True)
class Classification:
    """The result for one recording.

    windows: one event per voiced model window (unsmoothed), in time order.
    decision: the utterance-level event over all voiced windows, or None when no window had
        enough voice (``no speech``).
    """

    source: str
    duration_s: float
    windows: list[EmotionEvent]
    decision: EmotionEvent | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "duration_s": round(self.duration_s, 6),
            "decision": self.decision.to_dict() if self.decision else None,
            "windows": [w.to_dict() for w in self.windows],
        }


def window_starts(num_frames: int, window_frames: int, hop_frames: int) -> list[int]:
    """First frames of the windows of a recording of ``num_frames`` frames: every
    ``hop_frames`` from 0, plus one aligned with the end when at least half a hop is left."""
    if num_frames < window_frames:
        return []
    starts = list(range(0, num_frames - window_frames + 1, hop_frames))
    tail = num_frames - window_frames - starts[-1]
    if tail >= max(1, hop_frames // 2):
        starts.append(num_frames - window_frames)
    return starts


def classify_pcm(
    pcm: np.ndarray,
    model: EmotionModel | str | os.PathLike[str] | None = None,
    settings: RecognizerSettings | None = None,
    source: str = "<pcm>",
    session_mean_q7: np.ndarray | None = None,
    session_std_q7: np.ndarray | None = None,
) -> Classification:
    """Classify int16 mono PCM at the model's sample rate. ``session_mean_q7`` and
    ``session_std_q7``: the per-band session mean and deviation (dB, Q7;
    :class:`edgeser.vad.SessionMean`) to normalise with; None: this recording's own. Raises
    :class:`AudioError` when the audio is shorter than the model's window, and
    :class:`~edgeser.errors.ConfigError` when a ``session_std`` model is given a mean without
    a deviation."""
    emotion_model = _load(model)
    settings = settings if settings is not None else RecognizerSettings()
    recording = _Recording.of(pcm, emotion_model, settings, source)
    if session_mean_q7 is None:
        stats = _session_stats([recording])
    else:
        stats = (session_mean_q7, session_std_q7)
    return _classify(recording, emotion_model, settings, stats)


@dataclass(frozen=True)
class _Recording:
    """A recording's frames (dB Q7) and voiced flags, checked to hold one model window."""

    source: str
    duration_s: float
    frames: np.ndarray
    voiced: np.ndarray

    @classmethod
    def of(
        cls, pcm: np.ndarray, model: EmotionModel, settings: RecognizerSettings, source: str
    ) -> _Recording:
        plan = WindowPlan(model, settings)
        frames = Frontend(model.meta.frontend).compute(pcm)
        duration = np.asarray(pcm).shape[0] / plan.rate
        if frames.shape[0] < plan.model_frames:
            raise AudioError(
                f"{source}: audio is {duration:.2f} s long, shorter than the model's "
                f"{plan.model_seconds:.2f} s window"
            )
        mel = model.meta.frontend.num_bands
        return cls(source, duration, frames, voiced_flags(frames, settings.vad, mel))


def _session_stats(recordings: list[_Recording]) -> np.ndarray | None:
    """Per-band ``[mean_q7, std_q7]`` (2, bands) of the recordings' voiced frames, from the flags
    they already hold (:func:`edgeser.vad.voiced_stats` without gating them again); None when
    nothing is voiced."""
    session = gated_session([r.frames for r in recordings], [r.voiced for r in recordings])
    return session.stats_q7()


def _classify(
    recording: _Recording,
    emotion_model: EmotionModel,
    settings: RecognizerSettings,
    stats: np.ndarray | tuple | None,
) -> Classification:
    """``stats``: the session's ``(mean_q7, std_q7)``, or None when nothing was voiced (then no
    window is voiced enough to be scored)."""
    plan = WindowPlan(emotion_model, settings)
    frames, voiced = recording.frames, recording.voiced
    starts = window_starts(frames.shape[0], plan.model_frames, plan.hop_frames)
    chosen = [s for s in starts if voiced[s : s + plan.model_frames].mean() >= settings.min_voiced]
    windows: list[EmotionEvent] = []
    decision = None
    if chosen:
        batch = np.stack([frames[s : s + plan.model_frames] for s in chosen])
        mean, std = (None, None) if stats is None else stats
        probs = emotion_model.predict(batch, mean, std)
        for s, p in zip(chosen, probs, strict=True):
            windows.append(
                EmotionEvent.from_probabilities(
                    emotion_model.labels,
                    p,
                    plan.start_s(s),
                    plan.end_s(s, plan.model_frames),
                    float(voiced[s : s + plan.model_frames].mean()),
                )
            )
        decision = EmotionEvent.from_probabilities(
            emotion_model.labels,
            probs.mean(axis=0),
            windows[0].start_s,
            windows[-1].end_s,
            float(voiced.mean()),
        )
    return Classification(recording.source, recording.duration_s, windows, decision)


def classify_file(
    path: str | os.PathLike[str],
    model: EmotionModel | str | os.PathLike[str] | None = None,
    settings: RecognizerSettings | None = None,
) -> Classification:
    """Classify a WAV file (any rate, width, channel count; resampled to the model's rate).
    Raises :class:`AudioError` for unreadable, empty or too-short audio."""
    emotion_model = _load(model)
    pcm = load_pcm16(path, emotion_model.meta.frontend.sample_rate)
    return classify_pcm(pcm, emotion_model, settings, source=str(Path(path)))


def classify_files(
    paths: list[str | os.PathLike[str]],
    model: EmotionModel | str | os.PathLike[str] | None = None,
    settings: RecognizerSettings | None = None,
    shared_session: bool = False,
) -> list[Classification | AudioError]:
    """Classify several WAV files; one entry per path, in order: its :class:`Classification`,
    or the :class:`AudioError` that it raised (the others are still classified).

    ``shared_session``: the files are one speaker's, and the session statistics are taken over the
    voiced frames of all the readable ones; False: each file's own (as :func:`classify_file`).
    """
    emotion_model = _load(model)
    settings = settings if settings is not None else RecognizerSettings()
    rate = emotion_model.meta.frontend.sample_rate

    def read(path: str | os.PathLike[str]) -> _Recording | AudioError:
        try:
            pcm = load_pcm16(path, rate)
            return _Recording.of(pcm, emotion_model, settings, str(Path(path)))
        except AudioError as exc:
            return exc

    if not shared_session:  # one file at a time: nothing is kept but the results
        return [
            r
            if isinstance(r, AudioError)
            else _classify(r, emotion_model, settings, _session_stats([r]))
            for r in map(read, paths)
        ]
    recordings = [read(path) for path in paths]
    readable = [r for r in recordings if isinstance(r, _Recording)]
    shared = _session_stats(readable) if readable else None
    return [
        r if isinstance(r, AudioError) else _classify(r, emotion_model, settings, shared)
        for r in recordings
    ]
