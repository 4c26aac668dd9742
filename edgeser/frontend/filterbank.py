"""Filterbank stage: HTK Mel triangles with Q10 weights over the integer power spectrum.

Specification (spec version 1). M = ``num_bands``. Mel points are equally spaced on the HTK
Mel scale, ``mel(f) = 2595 * log10(1 + f / 700)``::

    p[j] = mel^-1(mel(lower_hz) + j * (mel(upper_hz) - mel(lower_hz)) / (M + 1))   j = 0 .. M+1

Band m (0-based) rises from p[m] to p[m+1] and falls to p[m+2] (peak 1, no area
normalisation; the same triangles as ``librosa.filters.mel(htk=True, norm=None)``). Bin k sits
at f[k] = k * sample_rate / fft_size. A bin with p[j] <= f[k] < p[j+1] belongs to segment j;
its rising weight is::

    w[k] = round(1024 * (f[k] - p[j]) / (p[j+1] - p[j]))      (Q10, 0 .. 1024)

It adds ``w[k] * P[k]`` to band j (if j < M) and ``(1024 - w[k]) * P[k]`` to band j - 1 (if
j >= 1). Bins outside [p[0], p[M+1]) add nothing. So::

    E[m] = sum_{k in seg m} w[k] P[k] + sum_{k in seg m+1} (1024 - w[k]) P[k]     (Q10)

Segments are contiguous bin ranges ``[seg_start[j], seg_start[j+1])``. ``E`` is below 2**52:
the one-sided sum of ``P`` is below 2**42 (see the spectrum stage), times 2**10.

The C twin is ``firmware_bridge/frontend/ef_filterbank.c``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edgeser.frontend.config import FrontendConfig

WEIGHT_BITS = 10


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK Mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse HTK Mel scale."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@dataclass(frozen=True)
class FilterbankTables:
    """Integer tables of the filterbank.

    Attributes:
        seg_start: int32 (M + 2,) first bin of each segment j = 0..M+1; segment j spans
            ``[seg_start[j], seg_start[j+1])``, with ``seg_start[M+1]`` the end of the last one.
        weights: uint16 (N/2 + 1,) rising weight of each bin, Q10 (0 for bins outside).
    """

    seg_start: np.ndarray
    weights: np.ndarray


@lru_cache(maxsize=16)
def filterbank_tables(config: FrontendConfig) -> FilterbankTables:
    """Build the filterbank tables for ``config`` (cached)."""
    m = config.num_bands
    mel_lo, mel_hi = hz_to_mel(config.lower_hz), hz_to_mel(config.upper_hz)
    points = mel_to_hz(mel_lo + np.arange(m + 2) * (mel_hi - mel_lo) / (m + 1))
    freqs = np.arange(config.num_bins) * config.sample_rate / config.fft_size
    # Segment of each bin: j with points[j] <= f < points[j+1]; -1 / M+1 outside.
    seg = np.searchsorted(points, freqs, side="right") - 1
    inside = (seg >= 0) & (seg <= m)
    weights = np.zeros(config.num_bins, dtype=np.uint16)
    j = seg[inside]
    rise = (freqs[inside] - points[j]) / (points[j + 1] - points[j])
    weights[inside] = np.round(rise * 1024.0).astype(np.uint16)
    seg_start = np.searchsorted(seg, np.arange(m + 2), side="left").astype(np.int32)
    # Bins at or above points[M+1] (segment M+1) are outside: the last segment ends there.
    seg_start[m + 1] = np.searchsorted(seg, m + 1, side="left")
    return FilterbankTables(seg_start=seg_start, weights=weights)


def band_energies(power: np.ndarray, matrix: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Fast path: Mel band energies of a block of frames.

    Args:
        power: float64 (..., F) exact integer powers, bins in any order along the leading axes.
        matrix: (M, bins) float64 weights, e.g. :func:`weight_matrix` with its columns put in
            the order of ``power``'s bins.
        out: float64 (M, F) destination.

    Returns:
        ``out`` holding the exact integers ``E[m]`` (every partial sum is an integer below
        2**53, so BLAS computes them exactly).
    """
    frames = power.shape[-1]
    return np.matmul(matrix, power.reshape(matrix.shape[1], frames), out=out)


def band_energies_reference(power: np.ndarray, tables: FilterbankTables) -> np.ndarray:
    """Reference (one frame, Python integers): (N/2 + 1,) power -> (M,) int64 energies."""
    starts = [int(s) for s in tables.seg_start]
    m = len(starts) - 2
    out = [0] * m
    for j in range(m + 1):
        for k in range(starts[j], starts[j + 1]):
            p, w = int(power[k]), int(tables.weights[k])
            if j < m:
                out[j] += w * p
            if j >= 1:
                out[j - 1] += (1024 - w) * p
    return np.array(out, dtype=np.int64)


def weight_matrix(tables: FilterbankTables) -> np.ndarray:
    """The filterbank as a dense (M, N/2 + 1) float64 matrix of the Q10 integer weights."""
    starts = tables.seg_start
    m = starts.shape[0] - 2
    matrix = np.zeros((m, tables.weights.shape[0]))
    for j in range(m + 1):
        k = np.arange(starts[j], starts[j + 1])
        w = tables.weights[k].astype(np.float64)
        if j < m:
            matrix[j, k] = w
        if j >= 1:
            matrix[j - 1, k] = 1024.0 - w
    return matrix
