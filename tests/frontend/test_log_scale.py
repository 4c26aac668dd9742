import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edgeser.frontend import log_scale

EDGES = [0, 1, 2, 3, 2**15 - 1, 2**15, 2**30 - 1, 2**30, 2**30 + 1, 2**31, 2**52, 2**53 - 1]


def _fast(values, shifts):
    e = np.array(values, dtype=np.float64).reshape(-1, 1)
    return log_scale.log_scale(e, np.array(shifts, dtype=np.int64))[:, 0]


def test_edges_match_reference():
    for shift in (0, 3, 14):
        fast = _fast(EDGES, [shift])
        assert fast.tolist() == [log_scale.log_scale_reference(v, shift) for v in EDGES]


@given(st.lists(st.integers(0, 2**53 - 1), min_size=1, max_size=50), st.integers(0, 14))
def test_fast_equals_reference(values, shift):
    assert _fast(values, [shift]).tolist() == [
        log_scale.log_scale_reference(v, shift) for v in values
    ]


@given(st.integers(2**5, 2**53 - 1), st.integers(0, 14))
def test_accuracy_against_float_log(value, shift):
    true_db = 10 * np.log10(value * 2.0 ** (-4 - 2 * shift))
    got = log_scale.log_scale_reference(value, shift) / 128
    # Q7 output rounding, table interpolation (< 2e-4 dB) and K = 98642 rounded (< 1e-3 dB)
    assert abs(got - max(true_db, 0.0)) <= 0.5 / 128 + 1e-3


def test_output_fits_int16_and_zero_is_floor():
    assert log_scale.log_scale_reference(2**53 - 1, 0) < 2**15
    assert log_scale.log_scale_reference(0, 0) == 0
    assert log_scale.DB_MULTIPLIER == 98642
