"""The fixed-point log-Mel frontend: int16 PCM in, int16 dB (Q7) Mel frames out.

Stages, each in its own module with the same name as its C twin in
``firmware_bridge/frontend/``: :mod:`~edgeser.frontend.window`,
:mod:`~edgeser.frontend.spectrum`, :mod:`~edgeser.frontend.filterbank`,
:mod:`~edgeser.frontend.log_scale`, the optional :mod:`~edgeser.frontend.periodicity` (its
columns follow the Mel bands) and :mod:`~edgeser.frontend.requantize` towards a model.

Framing: frame t covers samples [t * hop, t * hop + window); only whole windows make frames
(no padding, no centring), so N samples give ``1 + (N - window) // hop`` frames (0 when
N < window). The streaming form gives exactly the frames of the whole-clip call, whatever the
chunking.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edgeser.blas import single_threaded_blas
from edgeser.frontend import filterbank, log_scale, periodicity, spectrum, window
from edgeser.frontend.config import FrontendConfig

BLOCK_FRAMES = 64
"""Frames processed together: large enough for BLAS, small enough to stay in cache."""


@dataclass(frozen=True)
class _Plan:
    window_scaled: np.ndarray
    """(A, B, 1) float64 Q15 window times 2**-15, zero-padded to A * B samples."""
    spectrum: spectrum.SpectrumPlan
    mel_matrix: np.ndarray
    """Filterbank weights with columns in the spectrum's (group, slot) order."""
    periodicity: periodicity.PeriodicityTables | None
    correlation_matrix: np.ndarray | None
    """Periodicity cosines c[L, k] (lags, slots) then a last row of 512 (r0), slot order."""


@lru_cache(maxsize=16)
def _plan(config: FrontendConfig) -> _Plan:
    spec = spectrum.spectrum_plan(config)
    padded = np.zeros(spec.a_count * spec.stride)
    padded[: config.window_samples] = window.window_q15(config) * 2.0**-window.WINDOW_BITS
    dense = filterbank.weight_matrix(filterbank.filterbank_tables(config))
    slots = spec.bin_of_slot.reshape(-1)
    mel = np.where(slots >= 0, dense[:, np.maximum(slots, 0)], 0.0)
    tables, correlation = None, None
    if config.periodicity_bands:
        tables = periodicity.periodicity_tables(config)
        dense = np.zeros((tables.cos_q9.shape[0] + 1, config.num_bins))
        used = slice(tables.first_bin, tables.first_bin + tables.num_bins)
        dense[:-1, used] = tables.cos_q9
        dense[-1, used] = 2**periodicity.COS_BITS
        in_slots = np.where(slots >= 0, dense[:, np.maximum(slots, 0)], 0.0)
        correlation = np.ascontiguousarray(in_slots)
    return _Plan(
        padded.reshape(spec.a_count, spec.stride, 1),
        spec,
        np.ascontiguousarray(mel),
        tables,
        correlation,
    )


def check_pcm(pcm: object, what: str = "pcm") -> np.ndarray:
    """Return ``pcm`` as a 1-D int16 array, or raise ValueError saying what was expected.

    Float audio is never cast silently: convert it with :func:`edgeser.audio.to_pcm16`.
    """
    if not isinstance(pcm, np.ndarray):
        raise ValueError(f"{what} must be a 1-D numpy int16 array, got {type(pcm).__name__}")
    if pcm.dtype != np.int16:
        hint = (
            " (float audio: convert with edgeser.audio.to_pcm16)" if pcm.dtype.kind == "f" else ""
        )
        raise ValueError(f"{what} must be int16 PCM, got dtype {pcm.dtype}{hint}")
    if pcm.ndim != 1:
        raise ValueError(f"{what} must be 1-D (mono samples), got shape {pcm.shape}")
    return pcm


class Frontend:
    """Fixed-point log-Mel frontend.

    >>> fe = Frontend()                      # 16 kHz, 25 ms / 10 ms, 512-point, 40 bands
    >>> frames = fe.compute(pcm)             # int16 (frames, 40), dB in Q7 (value / 128 = dB)
    >>> stream = fe.stream()
    >>> for chunk in chunks: frames = stream.process(chunk)

    Instances hold no mutable state and may be shared between threads (calls are serialised
    while OpenBLAS is held on one thread, see :mod:`edgeser.blas`); each
    :class:`FrontendStream` belongs to one producer.
    """

    def __init__(self, config: FrontendConfig | None = None) -> None:
        self.config = config if config is not None else FrontendConfig()
        self._plan = _plan(self.config)

    def compute(self, pcm: np.ndarray) -> np.ndarray:
        """All frames of a whole clip.

        Args:
            pcm: mono int16 PCM at ``config.sample_rate``, shape (samples,).

        Returns:
            int16 array (frames, num_features): Mel band power in dB, Q7; then, with
            ``periodicity_bands``, the periodicity columns r(L)/r(0) in Q11.
        """
        pcm = check_pcm(pcm)
        return self._frames(pcm, self.config.num_frames(pcm.shape[0]))

    def stream(self) -> FrontendStream:
        """A new streaming state over this frontend."""
        return FrontendStream(self)

    def _frames(self, pcm: np.ndarray, count: int) -> np.ndarray:
        """Frames 0..count-1 of ``pcm`` (frame t starts at t * hop)."""
        with single_threaded_blas():
            return self._frames_unlocked(pcm, count)

    def _frames_unlocked(self, pcm: np.ndarray, count: int) -> np.ndarray:
        cfg, plan = self.config, self._plan
        spec = plan.spectrum
        if count == 0:
            return np.zeros((0, cfg.num_features), dtype=np.int16)
        hop = cfg.hop_samples
        span = (count - 1) * hop + spec.a_count * spec.stride
        if pcm.shape[0] < span or not pcm.flags.c_contiguous:
            padded = np.zeros(span, dtype=np.int16)
            used = min(pcm.shape[0], span)
            padded[:used] = pcm[:used]
            pcm = padded
        shift = window.block_shift(window.frame_peaks(pcm, count, hop, cfg.window_samples))
        scale = np.ldexp(1.0, shift)
        block = min(BLOCK_FRAMES, count)
        groups, a_count, stride = spec.pass2.shape[0], spec.a_count, spec.stride
        # Work buffers, sliced per block; small enough to stay in cache and to be reused.
        xw_buf = np.empty(a_count * stride * block)
        y_buf = np.empty(2 * groups * stride * block)
        s_buf = np.empty(groups * 2 * spec.slots * block)
        p_buf = np.empty(groups * spec.slots * block)
        energy = np.empty((cfg.num_bands, count))
        if plan.correlation_matrix is not None:
            correlation = np.empty((plan.correlation_matrix.shape[0], count))
        for first in range(0, count, block):
            n = min(block, count - first)
            xw = window.windowed_frames(
                pcm[first * hop :],
                hop,
                plan.window_scaled,
                scale[first : first + n],
                xw_buf[: a_count * stride * n].reshape(a_count, stride, n),
            )
            power = spectrum.power_spectrum_grouped(
                xw,
                spec,
                y_buf[: 2 * groups * stride * n].reshape(2 * groups, stride * n),
                s_buf[: groups * 2 * spec.slots * n].reshape(groups, 2 * spec.slots, n),
                p_buf[: groups * spec.slots * n].reshape(groups, spec.slots, n),
            )
            filterbank.band_energies(power, plan.mel_matrix, energy[:, first : first + n])
            if plan.correlation_matrix is not None:
                # Exact: every partial sum is an integer below 2**51 (periodicity docstring).
                np.matmul(
                    plan.correlation_matrix,
                    power.reshape(-1, n),
                    out=correlation[:, first : first + n],
                )
        mel = log_scale.log_scale(energy, shift).T
        if plan.periodicity is None:
            return np.ascontiguousarray(mel)
        columns = periodicity.periodicity_values(
            correlation[:-1], correlation[-1], plan.periodicity
        )
        return np.ascontiguousarray(np.concatenate((mel, columns.T), axis=1))


class FrontendStream:
    """Streaming form of a :class:`Frontend`: feed chunks of any size, get the frames that
    became complete. Each sample is processed once; the output equals ``compute`` on the
    concatenated input."""

    def __init__(self, frontend: Frontend) -> None:
        self.frontend = frontend
        self._pending = np.zeros(0, dtype=np.int16)
        self.frames_emitted = 0
        """Frames returned so far; the next frame starts at sample frames_emitted * hop."""

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Append int16 samples; return the newly complete frames, int16 (n, num_features)."""
        chunk = check_pcm(chunk, "chunk")
        cfg = self.frontend.config
        buf = np.concatenate((self._pending, chunk)) if self._pending.size else chunk
        count = cfg.num_frames(buf.shape[0])
        frames = self.frontend._frames(buf, count)
        self._pending = buf[count * cfg.hop_samples :].copy()
        self.frames_emitted += count
        return frames

    def reset(self) -> None:
        """Forget buffered samples; the next sample is the start of a new stream."""
        self._pending = np.zeros(0, dtype=np.int16)
        self.frames_emitted = 0
