"""Shared fixtures: the shared corpora (skipped with a reason when absent) and the C frontend."""

from __future__ import annotations

import numpy as np
import pytest

from edgeser.datasets import data_root


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


def speech_like(seconds: float, rate: int = 16000, seed: int = 0, level: float = 0.3) -> np.ndarray:
    """Deterministic speech-like int16 test signal: a gliding harmonic source through three
    moving formant resonances, with pauses and a noise floor."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t) + 15 * np.sin(2 * np.pi * 3.1 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    source = sum(np.sin(h * phase) / h for h in range(1, 30))
    spectrum = np.fft.rfft(source)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    shape = np.zeros_like(freqs)
    for centre, width in ((600, 120), (1500, 200), (2600, 300)):
        shape += 1.0 / (1.0 + ((freqs - centre) / width) ** 2)
    voiced = np.fft.irfft(spectrum * shape, n)
    envelope = (np.sin(2 * np.pi * 1.3 * t) > -0.3).astype(float)
    envelope = np.convolve(envelope, np.ones(400) / 400, mode="same")
    signal = voiced * envelope + 0.01 * rng.standard_normal(n)
    signal *= level / np.max(np.abs(signal))
    return np.round(signal * 32767).astype(np.int16)
