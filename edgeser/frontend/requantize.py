"""Requantisation stage: int16 dB (Q7) log-Mel -> a model's int8 input, integer-only.

A model's int8 input tensor has a float ``scale`` and an int ``zero_point`` (real value =
scale * (q - zero_point)). If the model was trained on ``(dB - offset_db) * gain`` (a fixed
normalisation), the int8 input for a Q7 frame value ``v`` is::

    q = clamp(zero_point + round((v - offset_q7) * gain / (128 * scale)), -128, 127)

Following TFLite, the real factor ``gain / (128 * scale)`` becomes an int32 multiplier ``M`` in
[2**30, 2**31) and a right shift ``s``, computed once when the model loads::

    q = clamp(zero_point + (((v - offset_q7) * M + 2**(s-1)) >> s), -128, 127)

The product is int64 and the shift arithmetic (round half up). No float is touched per frame.
The C twin is ``firmware_bridge/frontend/ef_requantize.c``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeser.errors import ConfigError


@dataclass(frozen=True)
class Requantizer:
    """Integer parameters of the requantisation (see the module docstring).

    Attributes:
        multiplier: M, int32 in [2**30, 2**31).
        shift: s, right shift in bits (1..62).
        offset_q7: offset subtracted from the Q7 dB value first.
        zero_point: the model input's int8 zero point.
    """

    multiplier: int
    shift: int
    offset_q7: int
    zero_point: int

    @classmethod
    def for_input(
        cls, scale: float, zero_point: int, *, offset_db: float = 0.0, gain: float = 1.0
    ) -> Requantizer:
        """Integer parameters for an int8 input with ``scale``/``zero_point`` whose model saw
        ``(dB - offset_db) * gain`` in float."""
        if not (math.isfinite(scale) and scale > 0):
            raise ConfigError(f"input scale must be a positive finite number, got {scale!r}")
        if not (math.isfinite(gain) and gain > 0 and math.isfinite(offset_db)):
            raise ConfigError(
                f"normalisation gain/offset must be finite, gain > 0: {gain}, {offset_db}"
            )
        if not -128 <= int(zero_point) <= 127:
            raise ConfigError(f"int8 zero point must be in -128..127, got {zero_point}")
        real = gain / (128.0 * scale)
        mantissa, exponent = math.frexp(real)  # real = mantissa * 2**exponent, mantissa in [0.5, 1)
        multiplier = round(mantissa * 2**31)
        if multiplier == 2**31:
            multiplier //= 2
            exponent += 1
        shift = 31 - exponent
        if not 1 <= shift <= 62:
            raise ConfigError(f"input scale {scale!r} is outside the range requantisation supports")
        return cls(multiplier, shift, round(offset_db * 128.0), int(zero_point))

    def apply(self, frames_q7: np.ndarray) -> np.ndarray:
        """int16 Q7 dB frames (any shape) -> int8 model input of the same shape."""
        v = frames_q7.astype(np.int64) - self.offset_q7
        q = ((v * self.multiplier + (1 << (self.shift - 1))) >> self.shift) + self.zero_point
        return np.clip(q, -128, 127).astype(np.int8)
