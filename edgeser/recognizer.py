"""The streaming emotion recognizer: int16 PCM in, :class:`EmotionEvent` out.

    from edgeser import Recognizer
    rec = Recognizer()                  # the embedded default model
    for chunk in microphone_chunks:     # int16 mono PCM at 16 kHz, chunks of any size
        for event in rec.feed(chunk):
            print(event.label, event.confidence, event.arousal)

Per hop (default 0.5 s) the recognizer scores the model's window (2.0 s for the default model)
ending at the newest frame, if the voice-activity gate (:mod:`edgeser.vad`) passed at least
``min_voiced`` of its frames. Each sample goes through the frontend once. A decision window
longer than the model's (``window_s``) averages the model windows inside it; ``smoothing``
then blends each decision with the previous one (exponential moving average); an event is
emitted when its confidence reaches ``threshold``.

Normalisation is the model's own (its metadata): for ``"session"`` models the per-band mean of
the voiced frames heard so far in this session, reset by :meth:`Recognizer.reset`.

Events do not depend on how the stream is cut into chunks.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from edgeser.errors import ConfigError
from edgeser.events import EmotionEvent
from edgeser.frontend import Frontend
from edgeser.frontend.frontend import check_pcm
from edgeser.model import EmotionModel
from edgeser.vad import SessionMean, VadConfig, VoiceGate


@dataclass(frozen=True)
class RecognizerSettings:
    """How the recognizer turns model outputs into events.

    hop_s: seconds between decisions (rounded to whole frontend hops).
    window_s: seconds of audio per decision; None means the model's window. Longer windows
        average the model windows (every ``hop_s``) that fit inside.
    threshold: lowest confidence (0..1) of an emitted event.
    smoothing: weight (0..1) of the previous decision in the moving average; 0 = none.
    min_voiced: fraction of a model window's frames that must be voiced for it to be scored.
    vad: the voice-activity gate's thresholds.
    session_idle_s: seconds without a voiced frame after which the session mean (the
        ``"session"`` normalisation's) starts over at the next voiced frame, as when a new
        person steps up to a kiosk; None: only :meth:`Recognizer.reset` starts a new session.
    """

    hop_s: float = 0.5
    window_s: float | None = None
    threshold: float = 0.0
    smoothing: float = 0.5
    min_voiced: float = 0.25
    vad: VadConfig = field(default_factory=VadConfig)
    session_idle_s: float | None = None

    def __post_init__(self) -> None:
        if not self.hop_s > 0:
            raise ConfigError(f"hop_s must be positive, got {self.hop_s}")
        if self.session_idle_s is not None and not self.session_idle_s > 0:
            raise ConfigError(f"session_idle_s must be positive, got {self.session_idle_s}")
        for name in ("threshold", "min_voiced"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.smoothing < 1.0:
            raise ConfigError(f"smoothing must be in [0, 1), got {self.smoothing}")

    def replace(self, **changes: object) -> RecognizerSettings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _load(model: EmotionModel | str | os.PathLike[str] | None) -> EmotionModel:
    return model if isinstance(model, EmotionModel) else EmotionModel(model)


class WindowPlan:
    """Frame arithmetic shared by the streaming and the whole-file paths."""

    def __init__(self, model: EmotionModel, settings: RecognizerSettings) -> None:
        cfg = model.meta.frontend
        self.rate = cfg.sample_rate
        self.hop_samples = cfg.hop_samples
        self.window_samples = cfg.window_samples
        self.model_frames = model.meta.window_frames
        self.hop_frames = max(1, round(settings.hop_s * cfg.sample_rate / cfg.hop_samples))
        idle = settings.session_idle_s
        #: a voiced frame more than this many frames after the previous voiced frame starts a
        #: new session (None: never)
        self.session_idle_frames = (
            None if idle is None else max(1, round(idle * cfg.sample_rate / cfg.hop_samples))
        )
        model_s = self.end_s(0, self.model_frames)
        window_s = settings.window_s if settings.window_s is not None else model_s
        if window_s < model_s - 1e-9:
            raise ConfigError(
                f"window_s {window_s:g} s is shorter than the model's window ({model_s:g} s)"
            )
        decision_frames = round((window_s * self.rate - self.window_samples) / self.hop_samples) + 1
        self.windows_per_decision = (
            1 + max(0, decision_frames - self.model_frames) // self.hop_frames
        )

    def start_s(self, frame: int) -> float:
        return frame * self.hop_samples / self.rate

    def end_s(self, first: int, count: int) -> float:
        return ((first + count - 1) * self.hop_samples + self.window_samples) / self.rate

    @property
    def model_seconds(self) -> float:
        return self.end_s(0, self.model_frames)


class Recognizer:
    """Streaming recognizer on an emotion model (default: the embedded one).

    ``model`` is an :class:`EmotionModel` (choose its backend, threads or Edge TPU delegate
    there), a path to a ``.tflite`` model, or None for the default model.

    ``windows_scored``, ``windows_unvoiced`` and ``sessions_started`` count since the last
    :meth:`reset` (``sessions_started`` is 1 until ``session_idle_s`` starts another).
    """

    def __init__(
        self,
        model: EmotionModel | str | os.PathLike[str] | None = None,
        settings: RecognizerSettings | None = None,
    ) -> None:
        self.model = _load(model)
        self.settings = settings if settings is not None else RecognizerSettings()
        self.labels = self.model.labels
        self.plan = WindowPlan(self.model, self.settings)
        self._stream = Frontend(self.model.meta.frontend).stream()
        fe = self.model.meta.frontend
        self._gate = VoiceGate(self.settings.vad, mel_bands=fe.num_bands)
        self._session = SessionMean(
            fe.num_features, deviation=self.model.meta.normalisation.session_std
        )
        self.reset()

    def reset(self) -> None:
        """Start a new session: forget audio, noise floor, session mean and smoothing."""
        self._stream.reset()
        self._buffered: list[np.ndarray] = []
        self._samples = 0
        self._gate.reset()
        self._session.reset()
        self._last_voiced: int | None = None  # stream index of the last voiced frame
        self.sessions_started = 1
        bands = self.model.meta.frontend.num_features
        self._frames = np.zeros((0, bands), dtype=np.int16)
        self._voiced = np.zeros(0, dtype=bool)
        self._base = 0  # stream index of self._frames[0]
        self._count = 0  # frames seen
        self._next_due = self.plan.model_frames
        self._last_scored_end = 0
        self._recent: deque[tuple[int, np.ndarray]] = deque()
        self._smoothed: np.ndarray | None = None
        self.windows_scored = 0
        self.windows_unvoiced = 0

    @property
    def stream_seconds(self) -> float:
        """Seconds of audio fed since the last reset."""
        return self._samples / self.plan.rate

    def feed(self, pcm: np.ndarray) -> list[EmotionEvent]:
        """Append int16 mono PCM (any length) and return the events that became due.

        Audio is buffered until the next decision is due, then framed in one go: the result is
        the same, and small chunks do not pay the frontend's per-call cost."""
        pcm = check_pcm(pcm)
        if pcm.shape[0]:
            self._buffered.append(pcm)
            self._samples += pcm.shape[0]
        if self.model.meta.frontend.num_frames(self._samples) < self._next_due:
            return []
        return self._process()

    def _process(self) -> list[EmotionEvent]:
        chunk = np.concatenate(self._buffered) if len(self._buffered) > 1 else self._buffered[0]
        self._buffered = []
        frames = self._stream.process(chunk)
        if frames.shape[0] == 0:
            return []
        voiced = self._gate.process(frames)
        self._frames = np.concatenate((self._frames, frames))
        self._voiced = np.concatenate((self._voiced, voiced))
        events: list[EmotionEvent] = []
        added = self._count
        self._count += frames.shape[0]
        while self._next_due <= self._count:
            self._add_session(added, self._next_due)
            added = self._next_due
            event = self._score(self._next_due)
            if event is not None:
                events.append(event)
            self._next_due += self.plan.hop_frames
        self._add_session(added, self._count)
        self._trim()
        return events

    def flush(self) -> list[EmotionEvent]:
        """Score the stream's tail: the model window ending at the last frame, if at least
        half a hop of audio came after the last decision. Call at the end of a stream."""
        events = self._process() if self._buffered else []
        tail = self._count - self._last_scored_end
        if self._count < self.plan.model_frames or tail < max(1, self.plan.hop_frames // 2):
            return events
        event = self._score(self._count)
        self._next_due = self._count + self.plan.hop_frames
        return events + ([event] if event is not None else [])

    def _add_session(self, start: int, stop: int) -> None:
        """Add frames ``start:stop`` (stream indices) to the session mean; with
        ``session_idle_s``, a voiced frame after a long enough unvoiced gap starts a new
        session first (the last such frame in the range, so chunking does not matter)."""
        if stop <= start:
            return
        a, b = start - self._base, stop - self._base
        voiced = self._voiced[a:b]
        heard = np.flatnonzero(voiced) + start
        idle = self.plan.session_idle_frames
        if idle is not None and heard.size:
            previous = np.concatenate(
                ([heard[0] if self._last_voiced is None else self._last_voiced], heard[:-1])
            )
            gaps = np.flatnonzero(heard - previous > idle)
            if gaps.size:
                self._session.reset()
                self.sessions_started += int(gaps.size)
                a += int(heard[gaps[-1]]) - start
        if heard.size:
            self._last_voiced = int(heard[-1])
        self._session.add(self._frames[a:b], self._voiced[a:b])

    def _trim(self) -> None:
        keep = self.plan.model_frames
        extra = self._frames.shape[0] - keep
        if extra > 0:
            self._frames = self._frames[extra:]
            self._voiced = self._voiced[extra:]
            self._base += extra

    def _score(self, end: int) -> EmotionEvent | None:
        plan, settings = self.plan, self.settings
        first = end - plan.model_frames
        a, b = first - self._base, end - self._base
        self._last_scored_end = end
        voiced = float(self._voiced[a:b].mean())
        while (
            self._recent
            and self._recent[0][0] < end - (plan.windows_per_decision - 1) * plan.hop_frames
        ):
            self._recent.popleft()
        if voiced < settings.min_voiced:
            self.windows_unvoiced += 1
            return None
        session = self._session
        std = session.std_q7() if session.deviation else None
        probs = self.model.predict(self._frames[a:b], session.mean_q7(), std)[0]
        self.windows_scored += 1
        self._recent.append((end, probs))
        decision = np.mean([p for _, p in self._recent], axis=0)
        if self._smoothed is None or settings.smoothing == 0.0:
            self._smoothed = decision
        else:
            self._smoothed = (
                settings.smoothing * self._smoothed + (1 - settings.smoothing) * decision
            )
        if float(self._smoothed.max()) < settings.threshold:
            return None
        earliest = self._recent[0][0] - plan.model_frames
        return EmotionEvent.from_probabilities(
            self.labels,
            self._smoothed,
            plan.start_s(earliest),
            plan.end_s(first, plan.model_frames),
            voiced,
        )
