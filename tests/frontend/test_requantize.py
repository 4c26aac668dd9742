import numpy as np
import pytest

from edgeser import ConfigError, Requantizer


@pytest.mark.parametrize(
    "scale, zp, offset, gain",
    [(0.4, -5, 0.0, 1.0), (0.05, 10, 60.0, 0.1), (1.0, 0, 30.0, 1.0), (0.0123, -128, 80.0, 0.02)],
)
def test_matches_float_formula_within_one_step(scale, zp, offset, gain):
    rq = Requantizer.for_input(scale, zp, offset_db=offset, gain=gain)
    v = np.arange(-2000, 20000, 7, dtype=np.int16)
    expected = np.clip(np.round((v / 128 - offset) * gain / scale) + zp, -128, 127)
    got = rq.apply(v)
    assert got.dtype == np.int8
    assert np.abs(got.astype(int) - expected).max() <= 1
    assert np.mean(got == expected) > 0.99
    assert 2**30 <= rq.multiplier < 2**31


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_scale(scale):
    with pytest.raises(ConfigError):
        Requantizer.for_input(scale, 0)


def test_bad_zero_point():
    with pytest.raises(ConfigError, match="zero point"):
        Requantizer.for_input(0.1, 200)
