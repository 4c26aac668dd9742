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
(18560 in Q7). Table interpolation error is below 2e-4 dB; the Q7 step is 0.0078 dB.

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
_TABLE_F = LOG2_TABLE.astype(np.float64)


def log_scale(energy: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Fast path: band energies -> int16 dB in Q7.

    Args:
        energy: float64 (M, F) exact integers below 2**53.
        shift: (F,) block shifts of the frames.

    Returns:
        int16 (M, F). Every float64 operation below acts on exact integers below 2**53 (or
        scales by powers of two), so the result is the integer specification's, bit for bit.
    """
    e = np.maximum(energy, 1.0)
    msb = np.frexp(e)[1] - 1
    mant = np.floor(np.ldexp(e, 30 - msb))
    frac = mant - 2.0**30
    idx = np.floor(frac * 2.0**-24)
    rem = frac - idx * 2.0**24
    idx = idx.astype(np.intp)
    base = _TABLE_F[idx]
    step = _TABLE_F[idx + 1] - base
    log2_q16 = msb * 65536.0 + base + np.floor((step * rem + 2.0**23) * 2.0**-24)
    rel = log2_q16 - (SCALE_BITS + 2.0 * shift) * 65536.0
    np.maximum(rel, 0.0, out=rel)
    out = np.floor((rel * DB_MULTIPLIER + 2.0**23) * 2.0**-24)
    out[energy == 0] = 0
    return out.astype(np.int16)


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
