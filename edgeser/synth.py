"""Deterministic synthetic speech-like audio, for benchmarks and tests that must run anywhere.

Not speech: a harmonic source with a gliding pitch (like a voice's fundamental) shaped by three
formant resonances, switched on and off in syllable-like bursts over a faint noise floor. It
exercises the frontend and the recognizer like speech does, with nothing but numpy.
"""

from __future__ import annotations

import numpy as np


def speech_like(seconds: float, rate: int = 16000, seed: int = 0, level: float = 0.3) -> np.ndarray:
    """int16 mono PCM of ``seconds`` at ``rate`` Hz peaking at ``level`` of full scale."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t + seed) + 15 * np.sin(2 * np.pi * 3.1 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    harmonics = min(29, int(rate / 2 / 220))
    source = sum(np.sin(h * phase) / h for h in range(1, harmonics + 1))
    spectrum = np.fft.rfft(source)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    shape = np.zeros_like(freqs)
    for centre, width in ((600, 120), (1500, 200), (2600, 300)):
        shape += 1.0 / (1.0 + ((freqs - centre) / width) ** 2)
    voiced = np.fft.irfft(spectrum * shape, n)
    bursts = (np.sin(2 * np.pi * 1.3 * t + seed) > -0.3).astype(float)
    bursts = np.convolve(bursts, np.ones(400) / 400, mode="same")
    signal = voiced * bursts + 0.01 * rng.standard_normal(n)
    peak = np.max(np.abs(signal)) if n else 1.0
    return np.round(signal * (level * 32767 / peak)).astype(np.int16)
