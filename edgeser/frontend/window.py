"""Window stage: block scaling and the Q15 periodic Hann window, int16 PCM in, int16 out.

Specification (spec version 1), for one frame ``pcm[0 .. W-1]`` (``W = window_samples``)::

    w_q15[n] = min(32767, round(32768 * (0.5 - 0.5 * cos(2 * pi * n / W))))   n = 0 .. W-1
    peak     = max |pcm[n]|
    shift    = 0 if peak == 0 else clamp(14 - floor(log2(peak)), 0, 14)
    x_w[n]   = rshift_rne(pcm[n] * w_q15[n], 15 - shift)

``rshift_rne(v, k)`` divides by 2**k rounding half to even (:func:`rshift_rne`). ``shift``
is the frame's block-floating-point exponent: quiet frames are windowed at up to 14 more bits
of precision, and the log stage takes ``shift`` back out. |x_w| < 2**15, so x_w is int16; it
is zero-padded to ``fft_size`` samples for the spectrum stage.

The C twin is ``firmware_bridge/frontend/ef_window.c``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from edgeser.frontend.config import FrontendConfig

WINDOW_BITS = 15
"""Fractional bits of the window coefficients (Q15)."""


def window_q15(config: FrontendConfig) -> np.ndarray:
    """The window table: int16 Q15 periodic Hann coefficients, shape (window_samples,)."""
    n = np.arange(config.window_samples, dtype=np.float64)
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / config.window_samples)
    return np.minimum(np.round(hann * 32768.0), 32767).astype(np.int16)


MAX_SHIFT = 14
"""Largest block-scaling shift."""


def rshift_rne(value: np.ndarray | int, bits: int) -> np.ndarray | int:
    """Integer ``value / 2**bits`` rounded half to even (bits >= 1), as the C reference does:
    ``(v + 2**(bits-1) - 1 + ((v >> bits) & 1)) >> bits`` with arithmetic shifts."""
    return (value + (1 << (bits - 1)) - 1 + ((value >> bits) & 1)) >> bits


def block_shift(peak: np.ndarray) -> np.ndarray:
    """Block-scaling shifts for frame peaks ``max |pcm|``: 14 - floor(log2(peak)) clamped to
    0..14, and 0 for silent frames. int64 array."""
    peak = np.asarray(peak, dtype=np.float64)
    msb = np.frexp(np.maximum(peak, 1.0))[1] - 1
    shift = np.clip(MAX_SHIFT - msb, 0, MAX_SHIFT)
    return np.where(peak > 0, shift, 0).astype(np.int64)


def apply_window(frame: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, int]:
    """Reference (one frame, integer arithmetic): int16 PCM frame -> (int16 x_w, shift)."""
    peak = int(np.abs(frame.astype(np.int32)).max()) if frame.size else 0
    shift = int(block_shift(np.array([peak]))[0])
    product = frame.astype(np.int64) * window.astype(np.int64)
    return rshift_rne(product, WINDOW_BITS - shift).astype(np.int16), shift


def frame_peaks(pcm: np.ndarray, num_frames: int, hop: int, window_samples: int) -> np.ndarray:
    """``max |pcm|`` over each frame's window, (F,) float64, from per-hop block maxima."""
    whole, part = divmod(window_samples, hop)
    blocks = num_frames + whole
    mag = np.abs(pcm[: blocks * hop].astype(np.int32))
    if mag.shape[0] < blocks * hop:
        mag = np.concatenate((mag, np.zeros(blocks * hop - mag.shape[0], dtype=np.int32)))
    mag = mag.reshape(blocks, hop)
    full = mag.max(axis=1)
    peak = full[:num_frames].copy()
    for j in range(1, whole):
        np.maximum(peak, full[j : j + num_frames], out=peak)
    if part:
        np.maximum(peak, mag[whole : whole + num_frames, :part].max(axis=1), out=peak)
    return peak.astype(np.float64)


def windowed_frames(
    pcm: np.ndarray, hop: int, window_scaled: np.ndarray, scale: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """Fast path: window a block of frames at once, in the layout the spectrum's first pass reads.

    Args:
        pcm: int16 PCM starting at the block's first frame, long enough that every frame has
            ``window_scaled.size`` samples (zeros past the real signal meet zero coefficients).
        hop: frame hop in samples.
        window_scaled: float64 (A, B, 1): the Q15 window times 2**-15, zero-padded to A * B
            samples; frame sample n = B*a + b.
        scale: (F,) float64 ``2**shift`` of each frame (:func:`block_shift`).
        out: float64 (A, B, F) buffer for the result.

    Returns:
        ``out`` holding ``x_w[f, B*a + b]`` at ``[a, b, f]``, exact integers. float64 carries
        every integer below 2**53 exactly, which lets the spectrum use BLAS and stay bit-exact
        with the C reference; ``np.rint`` rounds half to even like :func:`rshift_rne`.
    """
    a_count, stride, frames = out.shape
    item = pcm.strides[0]
    view = as_strided(
        pcm,
        shape=(a_count, stride, frames),
        strides=(stride * item, item, hop * item),
        writeable=False,
    )
    np.multiply(view, window_scaled, out=out)
    out *= scale
    return np.rint(out, out=out)
