import numpy as np
import pytest

from edgeser import FrontendConfig
from edgeser.frontend import filterbank


def test_weights_match_librosa_htk_triangles():
    librosa = pytest.importorskip("librosa")
    cfg = FrontendConfig()
    ref = librosa.filters.mel(
        sr=16000, n_fft=512, n_mels=40, fmin=60, fmax=8000, htk=True, norm=None
    )
    ours = filterbank.weight_matrix(filterbank.filterbank_tables(cfg)) / 1024
    assert np.abs(ours - ref).max() <= 0.5 / 1024 + 1e-9


def test_segments_are_contiguous_and_every_band_has_bins():
    tables = filterbank.filterbank_tables(FrontendConfig())
    starts = tables.seg_start
    assert np.all(np.diff(starts) >= 1)
    w = filterbank.weight_matrix(tables)
    assert np.all(w.sum(axis=1) > 0)
    assert w.max() <= 1024 and w.min() >= 0


def test_fast_path_equals_reference():
    cfg = FrontendConfig()
    tables = filterbank.filterbank_tables(cfg)
    rng = np.random.default_rng(0)
    power = rng.integers(0, 2**42 // 257, size=(cfg.num_bins, 5)).astype(np.float64)
    out = np.empty((cfg.num_bands, 5))
    filterbank.band_energies(power, filterbank.weight_matrix(tables), out)
    for t in range(5):
        ref = filterbank.band_energies_reference(power[:, t].astype(np.int64), tables)
        assert np.array_equal(out[:, t], ref.astype(float))
        assert ref.max() < 2**53


def test_mel_scale_round_trip():
    f = np.array([0.0, 60.0, 1000.0, 8000.0])
    assert np.allclose(filterbank.mel_to_hz(filterbank.hz_to_mel(f)), f)
    assert filterbank.hz_to_mel(1000.0) == pytest.approx(1000.0, rel=1e-3)
