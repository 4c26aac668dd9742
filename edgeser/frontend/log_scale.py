"""Log-scale stage: integer log2 through a 65-entry table, output in dB as Q7 int16.

Specification (spec version 1), for each band energy ``E`` (integer, 0 <= E < 2**53, from the
filterbank) of a frame whose spectrum used block shift ``s``::

    if E == 0: out = 0
    e      = floor(log2(E))                 bit position of the leading one, 0 .. 52
    m      = E << (30 - e)  if e <= 30  else  E >> (e - 30)        m in [2**30, 2**31)
    frac   = m - 2**30                       Q30
    i, r   = frac >> 24, frac & (2**24 - 1)  table index 0..63, remainder Q24
    L2     = e * 2**16 + T[i] + (((T[i+1] - T[i]) * r + 2**23) >> 24)      log2(E), Q16
    rel    = max(0, L2 - (4 + 2 * s) * 2**16)
    out    = (rel * K + 2**23) >> 24                                       dB, Q7

with ``T[i] = round(65536 * log2(1 + i / 64))`` (i = 0..64) and
``K = round(10 * log10(2) * 2**15) = 98642``. The ``4 + 2 s`` removes the scalings of the
earlier stages (P in units of 2**11, Q15 weights, the block shift s applied to the samples), so
``out / 128`` is ``10 * log10(E_true)`` dB with ``E_true`` the Mel band power in units of
squared DFT amplitude of the int16 PCM (windowed by the Q15 Hann window), floored at 0 dB.
A full-scale sine gives about 130 dB in its band; the largest possible value is below 145 dB
(18560 in Q7). Table interpolation error is below 2e-4 dB, the rounding of K adds below
1e-3 dB at 145 dB; the Q7 step is 0.0078 dB.

The C twin is ``firmware_bridge/frontend/ef_log_scale.c``.
"""

from __future__ import annotations

import numpy as np

OUTPUT_FRAC_BITS = 7
"""The output is dB in Q7 (value / 128 = dB)."""
LOG_TABLE_BITS = 6
SCALE_BITS = 4
"""log2 of the stages' fixed scaling: POWER_SHIFT (11) - filterbank WEIGHT_BITS (15)."""
DB_MULTIPLIER = round(10.0 * np.log10(2.0) * 2**15)  # 98642
LOG2_TABLE = np.round(65536.0 * np.log2(1.0 + np.arange(65) / 64.0)).astype(np.int64)


_TABLE_STEP = np.diff(LOG2_TABLE)
_MANTISSA_BITS = 52
_EXPONENT_BIAS = 1023


def log_scale(energy: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Fast path: band energies -> int16 dB in Q7.

    Args:
        energy: float64 (M, F) exact integers below 2**53; overwritten (used as work space).
        shift: (F,) int block shifts of the frames.

    Returns:
        int16 (M, F). Each energy is a float64 holding an integer E < 2**53 exactly, so its
        IEEE-754 bits give the specification's quantities directly: the exponent field is
        ``e + 1023`` and the 52-bit fraction field is ``(E / 2**e - 1) * 2**52``, whose top 30
        bits are ``frac``. Everything after that is int64 arithmetic, as in the C reference.
    """
    zero = energy == 0
    bits = np.maximum(energy, 1.0, out=energy).view(np.int64)
    idx = np.right_shift(bits, _MANTISSA_BITS - LOG_TABLE_BITS)
    idx &= (1 << LOG_TABLE_BITS) - 1
    acc = np.right_shift(bits, _MANTISSA_BITS - 30)  # frac, then log2(E) in Q16
    acc &= (1 << 24) - 1  # rem
    acc *= _TABLE_STEP[idx]
    acc += 1 << 23
    acc >>= 24
    acc += LOG2_TABLE[idx]
    bits >>= _MANTISSA_BITS - 16  # exponent field, in Q16
    bits &= -(1 << 16)
    acc += bits
    acc -= (SCALE_BITS + _EXPONENT_BIAS + 2 * shift.astype(np.int64)) << 16
    np.maximum(acc, 0, out=acc)
    acc *= DB_MULTIPLIER
    acc += 1 << 23
    acc >>= 24
    acc[zero] = 0
    return acc.astype(np.int16)


def log_scale_reference(energy: int, shift: int) -> int:
    """Reference for one value (Python integers), straight from the specification."""
    energy = int(energy)
    if energy == 0:
        return 0
    msb = energy.bit_length() - 1
    mant = energy << (30 - msb) if msb <= 30 else energy >> (msb - 30)
    frac = mant - (1 << 30)
    idx, rem = frac >> 24, frac & ((1 << 24) - 1)
    table = [int(v) for v in LOG2_TABLE]
    log2_q16 = (msb << 16) + table[idx] + (((table[idx + 1] - table[idx]) * rem + (1 << 23)) >> 24)
    rel = max(0, log2_q16 - ((SCALE_BITS + 2 * shift) << 16))
    return (rel * DB_MULTIPLIER + (1 << 23)) >> 24
