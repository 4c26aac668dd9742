"""Periodicity stage: how periodic a frame is at each pitch-period range, r(L) / r(0) in Q11.

An optional stage (``FrontendConfig.periodicity_bands`` > 0) that gives the model the voice's
pitch, which 40 Mel bands barely resolve: it appends ``B = periodicity_bands`` columns to each
frame, after the Mel bands.

Specification (spec version 1). From the same integer power spectrum ``P`` as the filterbank
(one-sided, bins k = 0 .. N/2, block-scaled; the scaling cancels in the ratio)::

    K        = bins k with lower_hz <= k * sample_rate / N <= UPPER_HZ (2000 Hz)
    lags     = L_min .. L_max, L_min = round(sample_rate / MAX_PITCH_HZ) (400 Hz -> 40 samples
               at 16 kHz), L_max = round(sample_rate / MIN_PITCH_HZ) (80 Hz -> 200 samples)
    c[L, k]  = round(512 * cos(2 pi k L / N))                          Q9, |c| <= 512
    r(L)     = sum_{k in K} c[L, k] * P[k]                             autocorrelation, Q9
    r0       = sum_{k in K} 512 * P[k]                                 r(0), Q9
    e[j]     = round(L_min * (L_max / L_min) ** (j / B))   j = 0 .. B - 1, e[B] = L_max + 1
    m[j]     = max_{e[j] <= L < e[j+1]} r(L)                          column j's lag range
    out[j]   = floor((m[j] * 2**11 + floor(r0 / 2)) / r0)   if r0 > 0, else 0

``r(L) / r0`` is the band-limited (``lower_hz`` .. 2 kHz) autocorrelation of the windowed frame
at lag L samples, normalised by its energy (the frame's ``r(0)``), so ``out[j] / 2048`` is the
frame's periodicity in -1 .. 1 at the pitch periods of column j. A voiced frame with
fundamental F0 peaks in the column whose lag range holds ``sample_rate / F0``; noise and
silence stay near 0. Lags are circular over the N-point DFT; with N - window_samples >= L the
lag is exact, beyond it the windowed frame's taper keeps the wrapped part small.

Bounds: ``r0`` is below 2**51 (the one-sided sum of P is below 2**42, see the spectrum
stage), ``|r(L)| <= r0`` since ``|c| <= 512`` and P >= 0, so ``m * 2**11 + r0 / 2`` is below
2**63 and ``out`` is in -2048 .. 2048. The floor division rounds half up. ``e`` must increase
strictly (the config is rejected otherwise).

The C twin is ``firmware_bridge/frontend/ef_periodicity.c``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edgeser.frontend.config import FrontendConfig

OUTPUT_FRAC_BITS = 11
"""The output is r(L) / r(0) in Q11 (value / 2048)."""
COS_BITS = 9
"""The cosine table is Q9."""
UPPER_HZ = 2000.0
"""Highest bin frequency that enters the autocorrelation, Hz."""
MIN_PITCH_HZ = 80.0
MAX_PITCH_HZ = 400.0


@dataclass(frozen=True)
class PeriodicityTables:
    """Integer tables of the periodicity stage.

    Attributes:
        first_bin: first bin of K.
        cos_q9: int16 (lags, bins of K) ``c[L, k]``, lags ``L_min ..`` in order.
        lag_edges: int32 (B + 1,) ``e[j]`` in samples.
    """

    first_bin: int
    cos_q9: np.ndarray
    lag_edges: np.ndarray

    @property
    def min_lag(self) -> int:
        return int(self.lag_edges[0])

    @property
    def num_bins(self) -> int:
        return int(self.cos_q9.shape[1])

    @property
    def column_starts(self) -> np.ndarray:
        """Row of ``cos_q9`` where each column's lag range starts (B,)."""
        return (self.lag_edges[:-1] - self.lag_edges[0]).astype(np.intp)


def lag_edges(sample_rate: int, columns: int) -> np.ndarray:
    """``e[0 .. B]`` (module docstring), int32; not checked for strict increase."""
    low, high = round(sample_rate / MAX_PITCH_HZ), round(sample_rate / MIN_PITCH_HZ)
    edges = np.round(low * (high / low) ** (np.arange(columns + 1) / columns)).astype(np.int32)
    edges[-1] = high + 1
    return edges


@lru_cache(maxsize=16)
def periodicity_tables(config: FrontendConfig) -> PeriodicityTables:
    """The tables for ``config`` (which has ``periodicity_bands`` > 0)."""
    n = config.fft_size
    freqs = np.arange(n // 2 + 1) * config.sample_rate / n
    bins = np.nonzero((freqs >= config.lower_hz) & (freqs <= UPPER_HZ))[0]
    edges = lag_edges(config.sample_rate, config.periodicity_bands)
    lags = np.arange(edges[0], edges[-1])
    cos = np.round(2**COS_BITS * np.cos(2.0 * np.pi * np.outer(lags, bins) / n))
    return PeriodicityTables(int(bins[0]), cos.astype(np.int16), edges)


def periodicity_values(
    correlation: np.ndarray, energy: np.ndarray, tables: PeriodicityTables
) -> np.ndarray:
    """``out`` (B, frames) int16 from ``r`` (lags, frames) and ``r0`` (frames,), both exact
    integers (any numeric dtype)."""
    peak = np.maximum.reduceat(correlation, tables.column_starts, axis=0).astype(np.int64)
    r0 = np.asarray(energy).astype(np.int64)
    safe = np.maximum(r0, 1)
    out = ((peak << OUTPUT_FRAC_BITS) + (safe >> 1)) // safe
    return np.where(r0 > 0, out, 0).astype(np.int16)


def periodicity_reference(power: np.ndarray, tables: PeriodicityTables) -> list[int]:
    """One frame's columns in Python integers, straight from the specification.

    Args:
        power: the frame's integer power spectrum, bins 0 .. N/2 (any integer dtype).
    """
    k0, bins = tables.first_bin, tables.num_bins
    p = [int(v) for v in power[k0 : k0 + bins]]
    r0 = sum(p) << COS_BITS
    out = []
    for j in range(len(tables.lag_edges) - 1):
        rows = range(tables.lag_edges[j] - tables.min_lag, tables.lag_edges[j + 1] - tables.min_lag)
        peak = max(
            sum(int(c) * v for c, v in zip(tables.cos_q9[row], p, strict=True)) for row in rows
        )
        out.append((peak * 2**OUTPUT_FRAC_BITS + r0 // 2) // r0 if r0 > 0 else 0)
    return out
