"""Feature normalisation between the frontend's dB frames and a model's input.

One definition, used by training (float input) and by the device (int8 input, integer-only),
so both see the same numbers. Frames are the frontend's int16 dB values in Q7; a window is
(frames, bands).

Modes (:class:`Normalisation.mode`):

``"fixed"``
    x = (dB - offset_db) / scale_db.
``"window"``
    x = (dB - m) / scale_db, where m is the window's mean over all frames and bands, computed
    in Q7 as ``round_half_even(sum(v) / count)``: removes the recording level, keeps the
    spectral shape and the dynamics within the window.
``"session"``
    x = (dB - m[band]) / scale_db with m the per-band mean of the speaker (training) or of the
    session so far (device: a running mean, reset with the session), in Q7. With
    ``session_std`` the scale is the session's per-band deviation instead (a per-speaker
    z-score, the openSMILE peer's standardisation): x = (v - m[band]) / max(s[band], 128),
    with v, m and s in Q7 and s from :meth:`edgeser.vad.SessionMean.std_q7` (floored at 1 dB).

The int8 path (:meth:`Normalisation.to_int8`) subtracts the integer offset and requantises
with an int32 multiplier and shift (:class:`~edgeser.frontend.Requantizer`); the float path
(:meth:`Normalisation.to_float`) computes the same affine map in float32 for training. With
``session_std`` each band gets its own multiplier, derived from the input's base requantiser
(real factor 1 / scale) and the band's deviation s, integer-only (:func:`band_requantizers`):

    q = (M0 * 2**32 + s // 2) // s                 round half up, < 2**63
    b = bit_length(q) - 31                         so that M = q / 2**b is in [2**30, 2**31)
    M = (q + 2**(b-1)) >> b;  shift = s0 + 32 - b   (M = 2**31: M /= 2, b += 1)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgeser.errors import ConfigError
from edgeser.frontend import Requantizer

MODES = ("fixed", "window", "session")
NAMES = (*MODES, "session-std")  # what :meth:`Normalisation.named` accepts
MIN_STD_Q7 = 128  # 1 dB: the smallest session deviation a band is divided by


def _div_round_half_even(total: np.ndarray, count: int) -> np.ndarray:
    """Integer ``total / count`` rounded half to even (numpy int64, any shape)."""
    q, r = np.divmod(total, count)
    twice = 2 * r
    up = (twice > count) | ((twice == count) & (q % 2 == 1))
    return q + up


@dataclass(frozen=True)
class Normalisation:
    """How dB frames become model input; stored in every model's metadata."""

    mode: str = "window"
    scale_db: float = 20.0
    offset_db: float = 60.0
    session_std: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(
                f"normalisation mode must be one of {', '.join(MODES)}: {self.mode!r}"
            )
        if not self.scale_db > 0:
            raise ConfigError(f"normalisation scale_db must be positive, got {self.scale_db}")
        if self.session_std and self.mode != "session":
            raise ConfigError("session_std normalisation needs mode 'session'")

    @classmethod
    def named(cls, name: str) -> Normalisation:
        """The normalisation a command line names: a mode, or ``"session-std"`` (session mode
        with ``session_std``)."""
        if name == "session-std":
            return cls("session", session_std=True)
        return cls(name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalisation:
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"bad normalisation in model metadata: {exc}") from None

    def offset_q7(
        self, window_q7: np.ndarray, session_mean_q7: np.ndarray | None = None
    ) -> np.ndarray:
        """The integer Q7 offset subtracted from ``window_q7`` (..., frames, bands): a scalar
        per window (fixed, window) or a per-band vector (session), broadcastable."""
        if self.mode == "fixed":
            return np.full((*window_q7.shape[:-2], 1, 1), round(self.offset_db * 128), np.int64)
        if self.mode == "window":
            total = window_q7.astype(np.int64).sum(axis=(-2, -1), keepdims=True)
            return _div_round_half_even(total, window_q7.shape[-2] * window_q7.shape[-1])
        if session_mean_q7 is None:
            raise ConfigError("session normalisation needs the session's per-band mean (Q7)")
        return np.asarray(session_mean_q7, dtype=np.int64).reshape(
            (1,) * (window_q7.ndim - 1) + (-1,)
        )

    def _std_q7(self, session_std_q7: np.ndarray | None, ndim: int) -> np.ndarray:
        """The per-band divisor max(s, MIN_STD_Q7), int64, broadcastable to the window."""
        if session_std_q7 is None:
            raise ConfigError("session_std normalisation needs the session's per-band deviation")
        std = np.maximum(np.asarray(session_std_q7, dtype=np.int64), MIN_STD_Q7)
        return std.reshape((1,) * (ndim - 1) + (-1,))

    def to_float(
        self,
        window_q7: np.ndarray,
        session_mean_q7: np.ndarray | None = None,
        session_std_q7: np.ndarray | None = None,
    ) -> np.ndarray:
        """float32 model input (training and float models)."""
        centred = window_q7.astype(np.int64) - self.offset_q7(window_q7, session_mean_q7)
        if self.session_std:
            return (centred / self._std_q7(session_std_q7, window_q7.ndim)).astype(np.float32)
        return (centred / (128.0 * self.scale_db)).astype(np.float32)

    def requantizer(self, scale: float, zero_point: int) -> Requantizer:
        """Integer requantisation to an int8 input with ``scale`` and ``zero_point``; with
        ``session_std``, the base requantiser (real factor 1 / scale) that
        :func:`band_requantizers` divides per band."""
        if self.session_std:
            return Requantizer.for_input(scale, zero_point, gain=128.0)
        return Requantizer.for_input(scale, zero_point, gain=1.0 / self.scale_db)

    def to_int8(
        self,
        window_q7: np.ndarray,
        requantizer: Requantizer,
        session_mean_q7: np.ndarray | None = None,
        session_std_q7: np.ndarray | None = None,
    ) -> np.ndarray:
        """int8 model input, integer-only (the device path)."""
        centred = window_q7.astype(np.int64) - self.offset_q7(window_q7, session_mean_q7)
        if not self.session_std:
            return requantizer.apply(centred)
        std = self._std_q7(session_std_q7, 1)
        multiplier, shift = band_requantizers(requantizer, std)
        q = (centred * multiplier + (np.int64(1) << (shift - 1))) >> shift
        return np.clip(q + requantizer.zero_point, -128, 127).astype(np.int8)


def band_requantizers(base: Requantizer, std_q7: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band int32 multipliers and shifts (int64 arrays) for the real factors
    ``base_real / s`` with s = ``std_q7`` (>= 1), integer-only (module docstring)."""
    s = np.asarray(std_q7, dtype=np.int64)
    if np.any(s < 1):
        raise ConfigError("band deviations must be at least 1 (Q7)")
    q = ((np.int64(base.multiplier) << 32) + s // 2) // s
    b = np.array([int(v).bit_length() - 31 for v in q.tolist()], dtype=np.int64)
    multiplier = (q + (np.int64(1) << (b - 1))) >> b
    carry = multiplier == 2**31
    multiplier = np.where(carry, multiplier >> 1, multiplier)
    b = b + carry
    return multiplier, base.shift + 32 - b
