import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from edgeser import FrontendConfig
from edgeser.frontend import window


def test_window_table():
    w = window.window_q15(FrontendConfig())
    assert w.dtype == np.int16 and w.shape == (400,)
    assert w[0] == 0 and w.max() == 32767
    assert np.array_equal(w[1:], w[1:][::-1])  # periodic Hann: symmetric about n = W/2
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    assert np.abs(w / 32768 - hann).max() <= 2**-15  # the peak 1.0 is clamped to 32767


@given(st.integers(-(2**40), 2**40), st.integers(1, 20))
def test_rshift_rne_is_round_half_even(value, bits):
    assert window.rshift_rne(value, bits) == round(value / 2**bits)  # Python rounds half to even
    arr = np.array([value], dtype=np.int64)
    assert window.rshift_rne(arr, bits)[0] == round(value / 2**bits)


def test_block_shift():
    peaks = np.array([0, 1, 2, 3, 16383, 16384, 32767, 32768])
    assert window.block_shift(peaks).tolist() == [0, 14, 13, 13, 1, 0, 0, 0]


@given(
    st.lists(st.integers(-32768, 32767), min_size=400, max_size=2000),
    st.sampled_from([160, 100, 400]),
)
def test_frame_peaks_match_brute_force(samples, hop):
    pcm = np.array(samples, dtype=np.int16)
    count = 1 + (pcm.size - 400) // hop
    expected = [np.abs(pcm[t * hop : t * hop + 400].astype(np.int32)).max() for t in range(count)]
    assert window.frame_peaks(pcm, count, hop, 400).tolist() == expected


@given(st.lists(st.integers(-32768, 32767), min_size=400, max_size=400))
@example([0] * 399 + [-32768])  # |-32768| overflows int16: found by hypothesis in CI
@example([-32768] * 400)
def test_apply_window_keeps_int16_range_and_uses_full_precision(samples):
    frame = np.array(samples, dtype=np.int16)
    x_w, shift = window.apply_window(frame, window.window_q15(FrontendConfig()))
    assert x_w.dtype == np.int16
    exact = frame.astype(np.int64) * window.window_q15(FrontendConfig()) * 2.0 ** (shift - 15)
    assert np.abs(x_w - exact).max() <= 0.5
    if frame.any():
        assert np.abs(frame.astype(np.int64)).max() * 2**shift >= 2**14 or shift == 14


@pytest.mark.parametrize("hop", [160, 97])
def test_fast_path_equals_reference(hop):
    cfg = FrontendConfig(hop_samples=hop)
    rng = np.random.default_rng(3)
    pcm = (rng.standard_normal(4000) * 2000).astype(np.int16)
    pcm[1000:2000] //= 500
    count = cfg.num_frames(pcm.size)
    shift = window.block_shift(window.frame_peaks(pcm, count, hop, 400))
    stride = 16
    padded_len = 400
    scaled = np.zeros(padded_len)
    scaled[:400] = window.window_q15(cfg) * 2.0**-15
    out = np.empty((padded_len // stride, stride, count))
    window.windowed_frames(pcm, hop, scaled.reshape(-1, stride, 1), np.ldexp(1.0, shift), out)
    for t in range(count):
        ref, ref_shift = window.apply_window(pcm[t * hop : t * hop + 400], window.window_q15(cfg))
        assert ref_shift == shift[t]
        assert np.array_equal(out[:, :, t].reshape(-1), ref.astype(np.float64))
