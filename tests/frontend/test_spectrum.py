import numpy as np
import pytest

from edgeser import FrontendConfig
from edgeser.frontend import spectrum, window


def _fast(frames_w: list[np.ndarray], cfg: FrontendConfig) -> np.ndarray:
    plan = spectrum.spectrum_plan(cfg)
    n = len(frames_w)
    xw = np.zeros((plan.a_count * plan.stride, n))
    for t, f in enumerate(frames_w):
        xw[: f.size, t] = f
    xw = xw.reshape(plan.a_count, plan.stride, n)
    groups = plan.pass2.shape[0]
    y = np.empty((2 * groups, plan.stride * n))
    s = np.empty((groups, 2 * plan.slots, n))
    p = np.empty((groups, plan.slots, n))
    grouped = spectrum.power_spectrum_grouped(xw, plan, y, s, p)
    out = np.zeros((n, cfg.num_bins))
    for g in range(groups):
        for slot, k in enumerate(plan.bin_of_slot[g]):
            if k >= 0:
                out[:, k] = grouped[g, slot]
    return out


def _frames(cfg: FrontendConfig) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    w = cfg.window_samples
    frames = [
        np.zeros(w, np.int16),
        np.full(w, 32767, np.int16),
        np.full(w, -32768, np.int16),
        np.tile(np.r_[np.full(8, 32767), np.full(8, -32768)], w // 16 + 1)[:w].astype(np.int16),
        (rng.standard_normal(w) * 8000).clip(-32768, 32767).astype(np.int16),
        (rng.integers(-3, 4, w)).astype(np.int16),
    ]
    win = window.window_q15(cfg)
    return [window.apply_window(f, win)[0] for f in frames]


@pytest.mark.parametrize(
    "cfg",
    [
        FrontendConfig(),
        FrontendConfig(
            window_samples=200,
            hop_samples=80,
            fft_size=256,
            sample_rate=8000,
            upper_hz=4000,
            num_bands=23,
        ),
        FrontendConfig(window_samples=64, hop_samples=32, fft_size=64),
    ],
)
def test_fast_path_equals_integer_reference(cfg):
    frames_w = _frames(cfg)
    fast = _fast(frames_w, cfg)
    for t, f in enumerate(frames_w):
        assert np.array_equal(fast[t], spectrum.power_spectrum_reference(f, cfg).astype(float))


def test_close_to_float_fft():
    cfg = FrontendConfig()
    for f in _frames(cfg)[1:5]:
        p = spectrum.power_spectrum_reference(f, cfg).astype(float) * 2**spectrum.POWER_SHIFT
        ref = np.abs(np.fft.rfft(f.astype(float), cfg.fft_size)) ** 2
        strong = ref > ref.max() * 1e-6
        assert np.abs(10 * np.log10(p[strong] / ref[strong])).max() < 0.05


def test_twiddles():
    re, im = spectrum.twiddle_q15(512)
    assert re[0] == 32768 and im[0] == 0 and re[128] == 0 and im[128] == -32768
    assert np.abs(re + 1j * im - 32768 * np.exp(-2j * np.pi * np.arange(512) / 512)).max() <= 0.71
