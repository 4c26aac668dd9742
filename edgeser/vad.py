"""Voice-activity gate and per-session band statistics on the frontend's dB frames.

Integer-only, frame by frame, so the device, the training pipeline and firmware agree.
Frames are the frontend's int16 dB values in Q7 (value / 128 = dB), shape (frames, bands);
with periodicity columns after the Mel bands (``FrontendConfig.periodicity_bands``), the frame
level averages the ``mel_bands`` Mel columns only, and the session statistics cover every column.

Per frame:

    level  = floor(sum(frame[:mel_bands]) / mel_bands)       frame level, dB Q7
    floor  = level                       if level < floor    noise floor: follows dips at once,
           = floor + ((level - floor) >> rise_shift)  else   rises slowly (time constant
                                                             2**rise_shift frames)
    voiced = level >= absolute_db and level >= floor + margin_db

The noise floor starts at the first frame's level. :class:`SessionMean` keeps the per-band
mean of the voiced frames so far (Q7, rounded half to even) and their deviation (Q7, integer
square root): the statistics that ``"session"`` normalisation (:mod:`edgeser.normalisation`)
subtracts, and with ``session_std`` divides by. Training computes a speaker's statistics with
the same gate (:func:`voiced_stats`), the device running statistics of the session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgeser.errors import ConfigError


@dataclass(frozen=True)
class VadConfig:
    """Thresholds of the voice-activity gate.

    absolute_db: lowest level that counts as voice, dB (the frontend's scale: int16 PCM full
        scale is about 118 dB; white noise of RMS 30 LSB is about 57 dB).
    margin_db: how far above the running noise floor a voiced frame must be, dB.
    rise_shift: the noise floor rises by 1/2**rise_shift of the gap per frame.
    """

    absolute_db: float = 35.0
    margin_db: float = 12.0
    rise_shift: int = 8

    def __post_init__(self) -> None:
        if not 0 <= self.rise_shift <= 16:
            raise ConfigError(f"vad rise_shift must be in 0..16, got {self.rise_shift}")
        if self.margin_db < 0:
            raise ConfigError(f"vad margin_db must be >= 0, got {self.margin_db}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VadConfig:
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"bad vad config: {exc}") from None


class VoiceGate:
    """Streaming voice-activity gate (see the module docstring); ``reset()`` starts over."""

    def __init__(self, config: VadConfig | None = None, mel_bands: int | None = None) -> None:
        """``mel_bands``: how many leading columns of a frame are Mel bands (the frame level's
        columns); None: all of them (frames without periodicity columns)."""
        self.config = config if config is not None else VadConfig()
        self.mel_bands = mel_bands
        self._absolute = round(self.config.absolute_db * 128)
        self._margin = round(self.config.margin_db * 128)
        self.noise_floor_q7: int | None = None

    def reset(self) -> None:
        self.noise_floor_q7 = None

    def process(self, frames_q7: np.ndarray) -> np.ndarray:
        """Voiced flags (bool, (n,)) for dB Q7 frames (n, bands), updating the noise floor."""
        frames = np.asarray(frames_q7)
        if frames.ndim != 2:
            raise ValueError(f"frames must be (n, bands), got shape {frames.shape}")
        levels = frame_levels_q7(frames if self.mel_bands is None else frames[:, : self.mel_bands])
        voiced = np.zeros(levels.shape[0], dtype=bool)
        floor = self.noise_floor_q7
        shift, absolute, margin = self.config.rise_shift, self._absolute, self._margin
        for i, level in enumerate(levels.tolist()):
            if floor is None or level < floor:
                floor = level
            else:
                floor += (level - floor) >> shift
            voiced[i] = level >= absolute and level >= floor + margin
        self.noise_floor_q7 = floor
        return voiced


def frame_levels_q7(frames_q7: np.ndarray) -> np.ndarray:
    """Frame levels ``floor(sum / bands)``, dB Q7 int64, shape (n,)."""
    frames = np.asarray(frames_q7, dtype=np.int64)
    return frames.sum(axis=1) // frames.shape[1]


def voiced_flags(
    frames_q7: np.ndarray, config: VadConfig | None = None, mel_bands: int | None = None
) -> np.ndarray:
    """Voiced flags of one recording's frames, with a fresh gate (``mel_bands``: as
    :class:`VoiceGate`)."""
    return VoiceGate(config, mel_bands).process(frames_q7)


class SessionMean:
    """Running per-band mean and deviation of voiced frames, dB Q7 (the ``"session"``
    normalisation's m and s); int64 sums of the values and of their squares."""

    def __init__(self, num_bands: int, deviation: bool = True) -> None:
        """``deviation``: also keep the sums of squares (:meth:`std_q7`); the streaming
        recognizer of a mean-only model leaves them out (they cost a third of :meth:`add`)."""
        self.num_bands = num_bands
        self.deviation = deviation
        self.reset()

    def reset(self) -> None:
        self._sum = np.zeros(self.num_bands, dtype=np.int64)
        self._sum_squares = np.zeros(self.num_bands, dtype=np.int64)
        self.count = 0

    def add(self, frames_q7: np.ndarray, voiced: np.ndarray) -> None:
        """Add the voiced rows of ``frames_q7`` (n, bands)."""
        chosen = np.asarray(frames_q7)[np.asarray(voiced, dtype=bool)]
        if chosen.size:
            wide = chosen.astype(np.int64)
            self._sum += wide.sum(axis=0)
            if self.deviation:
                self._sum_squares += (wide * wide).sum(axis=0)
            self.count += chosen.shape[0]

    def mean_q7(self) -> np.ndarray | None:
        """Per-band mean (int64, Q7) rounded half to even, or None before any voiced frame."""
        if self.count == 0:
            return None
        q, r = np.divmod(self._sum, self.count)
        twice = 2 * r
        return q + ((twice > self.count) | ((twice == self.count) & (q % 2 == 1)))

    def std_q7(self) -> np.ndarray | None:
        """Per-band standard deviation (int64, Q7) of the voiced frames so far, or None.

        With m the rounded mean (:meth:`mean_q7`) and n frames, the variance about m is
        ``var_q14 = floor((sum_squares - 2 m sum + n m**2) / n)`` (exact in int64: every term
        is below n * 2**29 for frames under 2**14), and the deviation is ``isqrt(var_q14)``. It
        differs from the exact deviation by less than 1 Q7 unit."""
        if not self.deviation:
            raise ConfigError("this SessionMean keeps no deviation (deviation=False)")
        mean = self.mean_q7()
        if mean is None:
            return None
        n = self.count
        spread = self._sum_squares - 2 * mean * self._sum + n * mean * mean
        return isqrt(spread // n)

    def stats_q7(self) -> np.ndarray | None:
        """``[mean_q7, std_q7]`` stacked, (2, bands) int64, or None before any voiced frame."""
        mean = self.mean_q7()
        return None if mean is None else np.stack((mean, self.std_q7()))


def isqrt(values: np.ndarray) -> np.ndarray:
    """Integer square root ``floor(sqrt(v))`` of non-negative int64 values below 2**52."""
    v = np.asarray(values, dtype=np.int64)
    root = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    root -= root * root > v
    root += (root + 1) * (root + 1) <= v
    return root


def gated_session(
    recordings_q7: Sequence[np.ndarray], voiced: Sequence[np.ndarray]
) -> SessionMean | None:
    """The :class:`SessionMean` of recordings whose voiced flags are already known (one flag
    array per recording); None for no recordings."""
    if not recordings_q7:
        return None
    session = SessionMean(np.asarray(recordings_q7[0]).shape[1])
    for frames, flags in zip(recordings_q7, voiced, strict=True):
        session.add(frames, flags)
    return session


def voiced_session(
    recordings_q7: Sequence[np.ndarray],
    config: VadConfig | None = None,
    mel_bands: int | None = None,
) -> SessionMean | None:
    """The :class:`SessionMean` of the voiced frames of several recordings of one speaker or
    session, each gated with a fresh :class:`VoiceGate`; None for no recordings."""
    flags = [voiced_flags(f, config, mel_bands) for f in recordings_q7]
    return gated_session(recordings_q7, flags)


def voiced_mean(
    recordings_q7: list[np.ndarray], config: VadConfig | None = None, mel_bands: int | None = None
) -> np.ndarray | None:
    """Per-band mean (Q7) of the voiced frames of the recordings (:func:`voiced_session`);
    None when nothing is voiced."""
    session = voiced_session(recordings_q7, config, mel_bands)
    return None if session is None else session.mean_q7()


def voiced_stats(
    recordings_q7: list[np.ndarray], config: VadConfig | None = None, mel_bands: int | None = None
) -> np.ndarray | None:
    """As :func:`voiced_mean`, with the deviation: ``[mean_q7, std_q7]`` (2, bands) int64."""
    session = voiced_session(recordings_q7, config, mel_bands)
    return None if session is None else session.stats_q7()
