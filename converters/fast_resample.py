"""Training-time resampling: :func:`edgeser.audio.resample`'s output, bit for bit, in C.

Speed perturbation (``converters.train._augment_pcm``) resamples each training window's clip
in every epoch, to one of a dozen rates near 16 kHz (ratios such as 27/25). With those ratios
the filter's window rows overlap (``down < taps``), so NumPy's matmul in
:func:`edgeser.audio.resample` takes its non-BLAS loop: one sequential sum of rounded products
per output sample. That loop was a quarter of the training time (py-spy on a with-other
EMO-DB fold, 2026-12-03). ``csrc/resample_sum.c`` does the same operations in the same order,
built with ``-ffp-contract=off``, so the samples are identical and training stays
reproducible run for run; it only runs faster.

Every other case (equal rates, ratios whose rows do not overlap, which NumPy sends to BLAS,
fewer than two outputs per phase, whose one-row products NumPy also sends to BLAS, more than
2048 phases, bad input, or no C compiler) goes to :func:`edgeser.audio.resample` itself.
The device runtime never imports this module.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from edgeser import audio
from firmware_bridge.cbuild import BuildError, build_shared

SOURCE = Path(__file__).resolve().parent / "csrc" / "resample_sum.c"
C_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-ffp-contract=off", "-fno-fast-math")

_LIBRARY: ctypes.CDLL | None = None
_UNAVAILABLE = False


def _library() -> ctypes.CDLL | None:
    """The built kernel, or None when it cannot be built here (then NumPy is used)."""
    global _LIBRARY, _UNAVAILABLE
    if _LIBRARY is None and not _UNAVAILABLE:
        try:
            lib = ctypes.CDLL(
                str(build_shared("edgeser_resample", [SOURCE], [], C_FLAGS, "the resampler"))
            )
        except (BuildError, OSError):
            _UNAVAILABLE = True
            return None
        lib.ef_resample_sums.argtypes = [
            ctypes.c_void_p,
            ctypes.c_long,
            ctypes.c_long,
            ctypes.c_long,
            ctypes.c_long,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.ef_resample_sums.restype = None
        _LIBRARY = lib
    return _LIBRARY


def _c_ratio(rate_in: int, rate_out: int) -> tuple[int, int, int] | None:
    """``(up, down, half)`` when NumPy would take its sequential loop and C is built, else None."""
    if rate_in == rate_out or rate_in <= 0 or rate_out <= 0:
        return None
    up, down = audio._ratio(rate_in, rate_out)
    half = audio._design(up, down)[0]
    if up > audio._MAX_PHASES or down >= 2 * half or _library() is None:
        return None
    return up, down, half


def uses_c(rate_in: int, rate_out: int) -> bool:
    """Whether :func:`resample` runs the C kernel for this rate pair (for an input long enough
    to give every phase two outputs; else NumPy)."""
    return _c_ratio(rate_in, rate_out) is not None


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """:func:`edgeser.audio.resample` (1-D float audio, Hz to Hz; float64 out), bit-identical."""
    arr = np.asarray(x)
    plan = (
        _c_ratio(rate_in, rate_out)
        if isinstance(rate_in, int) and isinstance(rate_out, int)
        else None
    )
    if (
        plan is None
        or arr.ndim != 1
        or not np.issubdtype(arr.dtype, np.floating)
        or not np.isfinite(arr).all()
    ):
        return audio.resample(x, rate_in, rate_out)
    up, down, half = plan
    n_out = -(-len(arr) * up // down)
    if n_out < 2 * up:
        # A phase with a single output is a vector dot product, which NumPy sends to BLAS.
        return audio.resample(x, rate_in, rate_out)
    xp = audio._padded(arr.astype(np.float64), half)
    table = np.ascontiguousarray(audio._phase_table(up, down), dtype=np.float64)
    y = np.empty(n_out)
    _library().ef_resample_sums(
        xp.ctypes.data, n_out, up, down, 2 * half, table.ctypes.data, y.ctypes.data
    )
    return y
