"""Shared fixtures: the shared corpora (skipped with a reason when absent) and the C frontend."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from edgeser.datasets import data_root
from edgeser.frontend import FrontendConfig, filterbank, log_scale, periodicity, spectrum, window
from edgeser.synth import speech_like

__all__ = ["OTHER_CONFIGS", "reference_frames", "speech_like"]

# Tests assert correctness, not timings: on a loaded machine (CI's two cores, a training run
# beside the suite) Hypothesis' per-example deadline and its slow-generation health check fail
# tests whose properties hold (test_frame_peaks_match_brute_force drew 8 inputs in 1.08 s).
settings.register_profile("edgeser", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("edgeser")


def reference_frames(pcm: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    """Frame by frame in Python integers, straight from the stage specifications."""
    w = window.window_q15(cfg)
    tables = filterbank.filterbank_tables(cfg)
    pitch = periodicity.periodicity_tables(cfg) if cfg.periodicity_bands else None
    out = []
    for t in range(cfg.num_frames(pcm.size)):
        frame = pcm[t * cfg.hop_samples : t * cfg.hop_samples + cfg.window_samples]
        x_w, shift = window.apply_window(frame, w)
        power = spectrum.power_spectrum_reference(x_w, cfg)
        energy = filterbank.band_energies_reference(power, tables)
        row = [log_scale.log_scale_reference(e, shift) for e in energy]
        if pitch is not None:
            row += periodicity.periodicity_reference(power, pitch)
        out.append(row)
    return np.array(out, dtype=np.int16).reshape(-1, cfg.num_features)


#: Non-default frontend configs that the bit-exactness tests also cover.
OTHER_CONFIGS = [
    FrontendConfig(hop_samples=100, num_bands=64, lower_hz=20),
    FrontendConfig(
        sample_rate=8000,
        window_samples=200,
        hop_samples=80,
        fft_size=256,
        num_bands=23,
        upper_hz=3800,
    ),
    FrontendConfig(window_samples=64, hop_samples=64, fft_size=64, num_bands=8),
    FrontendConfig(periodicity_bands=16),
    FrontendConfig(
        sample_rate=8000,
        window_samples=200,
        hop_samples=80,
        fft_size=256,
        upper_hz=4000,
        periodicity_bands=7,
    ),
]


@pytest.fixture(scope="session")
def session_std_twin(tmp_path_factory):
    """The default network with metadata saying ``session_std`` normalisation: a model whose
    input is divided by the session deviation (its outputs mean nothing; its arithmetic is the
    point), for the runtime and firmware paths of that normalisation."""
    import json
    import shutil

    from edgeser.model import default_model_path, meta_path

    path = tmp_path_factory.mktemp("session_std") / "z.tflite"
    shutil.copy(default_model_path(), path)
    meta = json.loads(meta_path(default_model_path()).read_text())
    meta["normalisation"] = {**meta["normalisation"], "mode": "session", "session_std": True}
    meta_path(path).write_text(json.dumps(meta))
    return path


@pytest.fixture(scope="session")
def corpus_root():
    """The shared corpora folder; tests that need it skip, saying why, when it is absent."""
    root = data_root()
    if root is None:
        pytest.skip("corpus not found: set EDGESER_DATA or provide ../shared/data")
    return root


@pytest.fixture(scope="session")
def c_frontend_library():
    """Build the C reference frontend with the system compiler (-std=c99 -Wall -Wextra -Werror)."""
    from firmware_bridge.cfrontend import load_library

    return load_library()
