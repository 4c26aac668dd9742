"""The frontend's integer tables for one config, as the C reference frontend takes them.

The tables are generated here, by the same stage modules the NumPy frontend uses, so that
firmware needs no libm and both implementations read identical numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeser.frontend import FrontendConfig
from edgeser.frontend.config import FIRST_PASS_SIZE
from edgeser.frontend.filterbank import filterbank_tables
from edgeser.frontend.log_scale import LOG2_TABLE
from edgeser.frontend.spectrum import twiddle_q15
from edgeser.frontend.window import window_q15


@dataclass(frozen=True)
class FrontendTables:
    """The arrays of the C ``ef_tables`` struct, with the C element types."""

    window_q15: np.ndarray  # int16 [window_samples]
    twiddle_re: np.ndarray  # int32 [fft_size]
    twiddle_im: np.ndarray  # int32 [fft_size]
    seg_start: np.ndarray  # int16 [num_bands + 2]
    weights_q10: np.ndarray  # uint16 [fft_size / 2 + 1]
    log2_q16: np.ndarray  # int32 [65]


def frontend_tables(config: FrontendConfig) -> FrontendTables:
    """All tables of ``config``, contiguous, in the C element types."""
    tw_re, tw_im = twiddle_q15(config.fft_size)
    fb = filterbank_tables(config)
    return FrontendTables(
        window_q15=np.ascontiguousarray(window_q15(config), dtype=np.int16),
        twiddle_re=np.ascontiguousarray(tw_re, dtype=np.int32),
        twiddle_im=np.ascontiguousarray(tw_im, dtype=np.int32),
        seg_start=np.ascontiguousarray(fb.seg_start, dtype=np.int16),
        weights_q10=np.ascontiguousarray(fb.weights, dtype=np.uint16),
        log2_q16=np.ascontiguousarray(LOG2_TABLE, dtype=np.int32),
    )


def c_config_fields(config: FrontendConfig) -> dict[str, int]:
    """The integer fields of the C ``ef_config`` struct."""
    return {
        "sample_rate": config.sample_rate,
        "window_samples": config.window_samples,
        "hop_samples": config.hop_samples,
        "fft_size": config.fft_size,
        "num_bands": config.num_bands,
        "first_pass_size": FIRST_PASS_SIZE,
    }
