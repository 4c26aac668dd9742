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
    session so far (device: a running mean, reset with the session), in Q7.

The int8 path (:meth:`Normalisation.to_int8`) subtracts the integer offset and requantises
with an int32 multiplier and shift (:class:`~edgeser.frontend.Requantizer`); the float path
(:meth:`Normalisation.to_float`) computes the same affine map in float32 for training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgeser.errors import ConfigError
from edgeser.frontend import Requantizer

MODES = ("fixed", "window", "session")


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

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(
                f"normalisation mode must be one of {', '.join(MODES)}: {self.mode!r}"
            )
        if not self.scale_db > 0:
            raise ConfigError(f"normalisation scale_db must be positive, got {self.scale_db}")

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

    def to_float(
        self, window_q7: np.ndarray, session_mean_q7: np.ndarray | None = None
    ) -> np.ndarray:
        """float32 model input (training and float models)."""
        centred = window_q7.astype(np.int64) - self.offset_q7(window_q7, session_mean_q7)
        return (centred / (128.0 * self.scale_db)).astype(np.float32)

    def requantizer(self, scale: float, zero_point: int) -> Requantizer:
        """Integer requantisation to an int8 input with ``scale`` and ``zero_point``."""
        return Requantizer.for_input(scale, zero_point, gain=1.0 / self.scale_db)

    def to_int8(
        self,
        window_q7: np.ndarray,
        requantizer: Requantizer,
        session_mean_q7: np.ndarray | None = None,
    ) -> np.ndarray:
        """int8 model input, integer-only (the device path)."""
        centred = window_q7.astype(np.int64) - self.offset_q7(window_q7, session_mean_q7)
        return requantizer.apply(centred)
