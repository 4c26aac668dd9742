"""converters/fast_resample.py: the C resampler gives edgeser.audio.resample's samples exactly."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")  # converters.train imports it

from converters import fast_resample, train
from converters.train import TrainConfig, window_inputs
from edgeser.audio import AudioError, resample
from edgeser.frontend import Frontend
from edgeser.normalisation import Normalisation
from tests.test_pipeline_int8 import synthetic_clips

# Every rate the speed perturbation can pick (320 * round(16000 / factor / 320)) for factors
# up to +-12 %, beyond the default +-5 %.
TRAINING_RATES = [320 * k for k in range(44, 58)]


@pytest.mark.parametrize("rate_out", TRAINING_RATES)
def test_identical_to_numpy_at_every_training_rate(rate_out):
    rng = np.random.default_rng(rate_out)
    for n in (0, 1, 2, 57, 115, 116, 117, 1000, 35_520, int(rng.integers(2, 70_000))):
        x = np.round(rng.standard_normal(n) * rng.uniform(1.0, 30_000.0))
        expected = resample(x, 16_000, rate_out)
        got = fast_resample.resample(x, 16_000, rate_out)
        assert got.dtype == expected.dtype == np.float64
        assert got.shape == expected.shape
        assert np.array_equal(got, expected), (n, rate_out)


def test_the_c_kernel_runs_where_numpy_takes_its_sequential_loop():
    assert fast_resample.uses_c(16_000, 16_960)  # 53/50: rows overlap, NumPy's non-BLAS loop
    assert not fast_resample.uses_c(16_000, 16_000)  # equal rates: a copy
    assert not fast_resample.uses_c(22_050, 16_000)  # 320/441: NumPy calls BLAS; so do we


def test_other_cases_and_bad_input_go_to_numpy():
    x = np.sin(np.arange(5000) / 7.0)
    for rate_in, rate_out in ((16_000, 16_000), (22_050, 16_000), (16_000, 48_000)):
        assert np.array_equal(
            fast_resample.resample(x, rate_in, rate_out), resample(x, rate_in, rate_out)
        )
    with pytest.raises(AudioError, match="NaN or infinity"):
        fast_resample.resample(np.array([0.0, np.nan, 1.0]), 16_000, 16_960)
    with pytest.raises(AudioError, match="1-D float"):
        fast_resample.resample(np.zeros(10, np.int16), 16_000, 16_960)
    with pytest.raises(AudioError, match="positive"):
        fast_resample.resample(x, 16_000, 0)


def test_training_windows_are_the_same_with_either_resampler(monkeypatch):
    cfg = TrainConfig(
        window_frames=120,
        speed=(0.9, 1.1),
        noise_probability=0.5,
        normalisation=Normalisation("fixed"),
    )
    data = synthetic_clips(3, seed=4)
    frontend = Frontend()
    with_c = window_inputs(frontend, data, cfg, np.random.default_rng(11))
    monkeypatch.setattr(train, "augment_resample", resample)
    with_numpy = window_inputs(frontend, data, cfg, np.random.default_rng(11))
    assert np.array_equal(with_c, with_numpy)
    assert not np.array_equal(with_c, window_inputs(frontend, data, cfg, np.random.default_rng(12)))
