"""Spectrum stage: fixed-point N-point DFT of the windowed frame, then integer power.

Specification (spec version 1). N = ``fft_size``, A = ``FIRST_PASS_SIZE``, B = N / A,
H = A / 2, and one Q15 twiddle table::

    tw[j] = round(32768 * exp(-2i * pi * j / N))        j = 0 .. N-1  (int32 re and im parts)

The DFT is computed in two passes (Cooley-Tukey with the inter-pass twiddles folded into the
second pass). ``rshift_rne(v, k)`` is ``v / 2**k`` rounded half to even, applied to real and
imaginary parts separately (see :func:`edgeser.frontend.window.rshift_rne`).

1. Pass 1, A-point DFTs over ``a`` of the real input (sample n = B*a + b), exact sums::

       Y[b, k1]  = sum_a x_w[B*a + b] * tw[(B * a * k1) mod N]      k1 = 0 .. H
       Yr[b, k1] = rshift_rne(Y[b, k1], 7)                          Q8, int32
       Yr[b, k1] = conj(Yr[b, A - k1])                              k1 = H+1 .. A-1

2. Pass 2, B-point DFTs over ``b`` (bin k = k1 + A*k2), exact sums::

       S[k] = sum_b Yr[b, k mod A] * tw[(b * k) mod N]              k = 0 .. N/2
       X[k] = rshift_rne(S[k], 23)                                  Q0, int32

3. Power, in units of 2**6 squared DFT units::

       P[k] = rshift_rne(Re(X[k])**2 + Im(X[k])**2, 6)              int64

Bounds (|x_w| < 2**15, N <= 512): |Y| < 2**35, |Yr| < 2**28, |S| < 2**48, |X| < 2**25,
``Re**2 + Im**2 < 2**49`` and the one-sided sum of P over a frame < 2**42. The sums are exact,
so any summation order gives the same integers. That lets the NumPy code evaluate both passes
with float64 BLAS: the matrices are pre-scaled by 2**-7 and 2**-23 (exact), every partial
sum is then a multiple of a power of two that float64 holds exactly, and ``np.rint`` rounds
half to even. The C twin is ``firmware_bridge/frontend/ef_spectrum.c``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edgeser.frontend.config import FIRST_PASS_SIZE, FrontendConfig
from edgeser.frontend.window import rshift_rne

TWIDDLE_BITS = 15
PASS1_SHIFT = 7
"""Right shift after pass 1: Q15 twiddles in, Q8 out."""
PASS2_SHIFT = 23
"""Right shift after pass 2: Q8 x Q15 in, Q0 out."""
POWER_SHIFT = 6
"""Right shift of the power: P is in units of 2**6 squared DFT units."""


def twiddle_q15(fft_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The twiddle table: (real, imaginary) int32 arrays of length fft_size, Q15 in
    [-32768, 32768], ``round(32768 * exp(-2i*pi*j/N))``."""
    angle = 2.0 * np.pi * np.arange(fft_size, dtype=np.float64) / fft_size
    real = np.round(32768.0 * np.cos(angle)).astype(np.int32)
    imag = np.round(-32768.0 * np.sin(angle)).astype(np.int32)
    return real, imag


@dataclass(frozen=True)
class SpectrumPlan:
    """Matrices that evaluate the two passes with BLAS, built once per config.

    Attributes:
        a_count: pass-1 inputs that can be non-zero (ceil(window_samples / B)).
        stride: B = fft_size / A.
        slots: output bins per pass-2 group.
        pass1: (2 (H+1), a_count) float64, twiddles times 2**-7; row 2 k1 gives Re Yr[k1],
            row 2 k1 + 1 gives Im Yr[k1] (before rounding).
        pass2: (H+1, 2 slots, 2 B) float64, twiddles times 2**-23; group g reads
            (Re Yr[:, g], Im Yr[:, g]) and yields bins k = g + A k2 and A - g + A k2: real
            parts in rows 0..slots-1, imaginary parts in rows slots..2 slots-1.
        bin_of_slot: (H+1, slots) int, the bin each (group, slot) holds, -1 for unused slots.
    """

    a_count: int
    stride: int
    slots: int
    pass1: np.ndarray
    pass2: np.ndarray
    bin_of_slot: np.ndarray


@lru_cache(maxsize=16)
def spectrum_plan(config: FrontendConfig) -> SpectrumPlan:
    """Build the :class:`SpectrumPlan` for ``config`` (cached)."""
    n, a_total = config.fft_size, FIRST_PASS_SIZE
    half, stride = a_total // 2, n // a_total
    a_count = -(-config.window_samples // stride)
    tw_re, tw_im = (t.astype(np.float64) for t in twiddle_q15(n))

    pass1 = np.zeros((2 * (half + 1), a_count))
    for k1 in range(half + 1):
        idx = (stride * np.arange(a_count) * k1) % n
        pass1[2 * k1], pass1[2 * k1 + 1] = tw_re[idx], tw_im[idx]
    pass1 *= 2.0**-PASS1_SHIFT

    slots = n // a_total
    pass2 = np.zeros((half + 1, 2 * slots, 2 * stride))
    bin_of_slot = np.full((half + 1, slots), -1, dtype=np.intp)
    b = np.arange(stride)
    for g in range(half + 1):
        slot = 0
        # Bins fed by Yr[:, g] directly, then those fed by conj(Yr[:, g]) (k1 = A - g).
        for k1, sign in ((g, 1.0), (a_total - g, -1.0)):
            if sign < 0 and g in (0, half):
                continue
            for k in range(k1, n // 2 + 1, a_total):
                cr, ci = tw_re[(b * k) % n], tw_im[(b * k) % n]
                # Re X = Re Y * Re T - (sign Im Y) * Im T ; Im X = Re Y * Im T + (sign Im Y) * Re T
                pass2[g, slot, :stride], pass2[g, slot, stride:] = cr, -sign * ci
                pass2[g, slots + slot, :stride], pass2[g, slots + slot, stride:] = ci, sign * cr
                bin_of_slot[g, slot] = k
                slot += 1
    pass2 *= 2.0**-PASS2_SHIFT
    assert np.array_equal(np.sort(bin_of_slot[bin_of_slot >= 0]), np.arange(n // 2 + 1))
    return SpectrumPlan(a_count, stride, slots, pass1, pass2, bin_of_slot)


def power_spectrum_grouped(
    xw: np.ndarray,
    plan: SpectrumPlan,
    pass1_out: np.ndarray,
    pass2_out: np.ndarray,
    power_out: np.ndarray,
) -> np.ndarray:
    """Fast path: the power spectra of a block of frames, bins in (group, slot) order.

    Args:
        xw: windowed frames from :func:`edgeser.frontend.window.windowed_frames`, float64
            (a_count, B, F) of exact integers.
        plan: the config's :class:`SpectrumPlan`.
        pass1_out: float64 work buffer of shape (2 (H+1), B * F).
        pass2_out: float64 work buffer of shape (H+1, 2 slots, F).
        power_out: float64 destination of shape (H+1, slots, F).

    Returns:
        ``power_out`` holding the exact integer powers ``P``; ``plan.bin_of_slot`` says which
        bin each row holds (unused slots hold 0).
    """
    a_count, stride, frames = xw.shape
    y = np.matmul(plan.pass1, xw.reshape(a_count, stride * frames), out=pass1_out)
    np.rint(y, out=y)
    s = np.matmul(plan.pass2, y.reshape(plan.pass2.shape[0], 2 * stride, frames), out=pass2_out)
    np.rint(s, out=s)
    np.square(s, out=s)
    power = np.add(s[:, : plan.slots], s[:, plan.slots :], out=power_out)
    power *= 2.0**-POWER_SHIFT
    return np.rint(power, out=power)


def power_spectrum_reference(frame_w: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Reference for one frame in Python integers, straight from the specification above.

    Args:
        frame_w: int16 windowed frame x_w, shape (window_samples,).

    Returns:
        int64 P, shape (N/2 + 1,). Slow; used by the tests.
    """
    n, a_total = config.fft_size, FIRST_PASS_SIZE
    half, stride = a_total // 2, n // a_total
    tw_re, tw_im = (t.tolist() for t in twiddle_q15(n))
    x = [int(v) for v in frame_w] + [0] * (n - len(frame_w))
    yr: list[list[tuple[int, int]]] = []
    for b in range(stride):
        row: list[tuple[int, int]] = []
        for k1 in range(half + 1):
            re = sum(x[stride * a + b] * tw_re[(stride * a * k1) % n] for a in range(a_total))
            im = sum(x[stride * a + b] * tw_im[(stride * a * k1) % n] for a in range(a_total))
            row.append((rshift_rne(re, PASS1_SHIFT), rshift_rne(im, PASS1_SHIFT)))
        row += [(row[a_total - k1][0], -row[a_total - k1][1]) for k1 in range(half + 1, a_total)]
        yr.append(row)
    out = np.zeros(n // 2 + 1, dtype=np.int64)
    for k in range(n // 2 + 1):
        sr = si = 0
        for b in range(stride):
            yre, yim = yr[b][k % a_total]
            cr, ci = tw_re[(b * k) % n], tw_im[(b * k) % n]
            sr += yre * cr - yim * ci
            si += yre * ci + yim * cr
        xr, xi = rshift_rne(sr, PASS2_SHIFT), rshift_rne(si, PASS2_SHIFT)
        out[k] = rshift_rne(xr * xr + xi * xi, POWER_SHIFT)
    return out
