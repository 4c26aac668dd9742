import numpy as np
import pytest

from edgeser import Frontend, FrontendConfig
from edgeser.errors import ConfigError
from edgeser.frontend import periodicity
from tests.conftest import OTHER_CONFIGS, reference_frames

RATE = 16000
CFG = FrontendConfig(periodicity_bands=16)


def _harmonic(f0: float, seconds: float = 0.3, seed: int = 0) -> np.ndarray:
    """A voiced-like tone: 12 harmonics of ``f0`` Hz with falling amplitudes, int16."""
    t = np.arange(int(seconds * RATE)) / RATE
    phases = np.random.default_rng(seed).uniform(0, 2 * np.pi, 12)
    harmonics = zip(range(1, 13), phases, strict=True)
    x = sum(np.cos(2 * np.pi * f0 * h * t + p) / h for h, p in harmonics)
    return np.round(6000 * x).astype(np.int16)


def _column_of_lag(tables: periodicity.PeriodicityTables, lag: float) -> int:
    return int(np.searchsorted(tables.lag_edges, lag, side="right") - 1)


def test_tables_cover_80_to_400_hz_in_increasing_lag_ranges():
    t = periodicity.periodicity_tables(CFG)
    assert t.lag_edges[0] == 40 and t.lag_edges[-1] == 201  # 400 Hz .. 80 Hz at 16 kHz
    assert np.all(np.diff(t.lag_edges) > 0)
    assert t.cos_q9.shape == (201 - 40, t.num_bins)
    assert np.abs(t.cos_q9).max() <= 512
    # Bins from lower_hz (60 Hz -> bin 2) to 2000 Hz (bin 64) of the 512-point DFT.
    assert (t.first_bin, t.num_bins) == (2, 63)


@pytest.mark.parametrize("cfg", [c for c in OTHER_CONFIGS if c.periodicity_bands])
def test_fast_path_equals_reference(cfg):
    """The frontend's columns equal the specification computed in Python integers from the
    reference power spectrum, frame by frame (tone, noise, and silence where r(0) is 0)."""
    rng = np.random.default_rng(1)
    pcm = np.concatenate(
        [
            _harmonic(140.0, 0.1)[: cfg.sample_rate // 10],
            (rng.standard_normal(cfg.sample_rate // 20) * 3000).astype(np.int16),
            np.zeros(cfg.window_samples, np.int16),
        ]
    )
    columns = Frontend(cfg).compute(pcm)[:, cfg.num_bands :]
    assert np.array_equal(columns, reference_frames(pcm, cfg)[:, cfg.num_bands :])
    assert not columns[-1].any()  # the silent frame


@pytest.mark.parametrize("f0", [95.0, 130.0, 180.0, 250.0, 370.0])
def test_a_voiced_tone_peaks_in_the_column_of_its_period(f0):
    frames = Frontend(CFG).compute(_harmonic(f0))
    columns = frames[:, CFG.num_bands :].astype(int)
    tables = periodicity.periodicity_tables(CFG)
    expected = _column_of_lag(tables, RATE / f0)
    peaks = columns.argmax(axis=1)
    # A period near a range's edge may peak in the neighbouring range.
    assert np.mean(np.abs(peaks - expected) <= 1) > 0.9
    # The Hann window's own autocorrelation tapers r(L)/r(0) with the lag: about 0.8 at 40
    # samples, 0.4 at 170.
    assert np.median(columns.max(axis=1)) > 0.25 * 2048


def test_silence_is_zero_and_noise_is_not_periodic():
    fe = Frontend(CFG)
    assert not fe.compute(np.zeros(4000, np.int16))[:, CFG.num_bands :].any()
    noise = (np.random.default_rng(2).standard_normal(RATE) * 4000).astype(np.int16)
    columns = fe.compute(noise)[:, CFG.num_bands :].astype(int)
    assert np.median(columns.max(axis=1)) < 0.3 * 2048
    assert columns.min() >= -2048 and columns.max() <= 2048


def test_mel_bands_do_not_change_with_the_stage():
    pcm = _harmonic(200.0)
    assert np.array_equal(Frontend(CFG).compute(pcm)[:, : CFG.num_bands], Frontend().compute(pcm))


def test_output_is_bounded_for_full_scale_input():
    """|r(L)| <= r(0): full-scale square waves and clipped noise stay within -2048..2048."""
    t = np.arange(RATE // 4)
    square = np.where((t // 40) % 2 == 0, 32767, -32768).astype(np.int16)
    clipped = np.clip(np.random.default_rng(3).standard_normal(RATE // 4) * 40000, -32768, 32767)
    for pcm in (square, clipped.astype(np.int16)):
        columns = Frontend(CFG).compute(pcm)[:, CFG.num_bands :].astype(int)
        assert columns.min() >= -2048 and columns.max() <= 2048
    # Period 80 samples: the window's taper at lag 80 is about 0.77.
    assert Frontend(CFG).compute(square)[:, CFG.num_bands :].max() > 0.7 * 2048


def test_config_field_and_json():
    assert FrontendConfig().num_features == 40
    assert CFG.num_features == 56
    assert "periodicity_bands" not in FrontendConfig().to_dict()  # JSON of older configs kept
    assert FrontendConfig.from_json(CFG.to_json()) == CFG
    assert FrontendConfig.from_dict(FrontendConfig().to_dict()) == FrontendConfig()
    for bad in (-1, 33, 2.0, True):
        with pytest.raises(ConfigError, match="periodicity_bands"):
            FrontendConfig(periodicity_bands=bad)
    with pytest.raises(ConfigError, match="share a pitch period"):  # 4 kHz: lags 10..50
        FrontendConfig(
            sample_rate=4000,
            window_samples=100,
            hop_samples=40,
            fft_size=128,
            upper_hz=2000,
            periodicity_bands=24,
        )
    with pytest.raises(ConfigError, match="lower_hz"):
        FrontendConfig(lower_hz=2500.0, periodicity_bands=4)
