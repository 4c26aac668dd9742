"""The whole NumPy frontend: reference equality, streaming, bad input, faithfulness."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edgeser import Frontend, FrontendConfig
from edgeser.frontend import filterbank
from tests.conftest import OTHER_CONFIGS, reference_frames, speech_like


def test_api_shape_and_dtype():
    out = Frontend().compute(speech_like(1.0))
    assert out.dtype == np.int16 and out.shape == (98, 40)
    assert out.flags.c_contiguous


@pytest.mark.parametrize("cfg", [FrontendConfig(), *OTHER_CONFIGS])
def test_equals_integer_reference(cfg):
    pcm = speech_like(0.25, rate=cfg.sample_rate, seed=2)
    pcm[1000:1800] //= 700  # very quiet stretch: large block shifts
    assert np.array_equal(Frontend(cfg).compute(pcm), reference_frames(pcm, cfg))


def test_more_frames_than_one_block():
    pcm = speech_like(3.0, seed=4)
    fe = Frontend()
    whole = fe.compute(pcm)
    assert whole.shape[0] == 298 > 64
    assert np.array_equal(
        whole[200:203], reference_frames(pcm[200 * 160 : 202 * 160 + 400], fe.config)
    )


def test_silence_is_zero_and_full_scale_is_finite():
    fe = Frontend()
    assert not fe.compute(np.zeros(16000, np.int16)).any()
    loud = fe.compute(np.full(16000, 32767, np.int16))
    assert loud.max() < 145 * 128


def test_levels_track_gain():
    """6.02 dB per bit: halving the amplitude lowers every strong band by 6.02 dB."""
    pcm = speech_like(1.0, level=0.8)
    a = Frontend().compute(pcm) / 128
    b = Frontend().compute((pcm // 2).astype(np.int16)) / 128
    strong = a > a.max() - 40
    assert np.median(a[strong] - b[strong]) == pytest.approx(6.02, abs=0.05)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.int16, st.integers(0, 3000)),
    st.lists(st.integers(1, 700), min_size=1, max_size=40),
)
def test_streaming_equals_whole_clip_for_any_chunking(pcm, sizes):
    fe = Frontend()
    stream = fe.stream()
    parts, i, k = [], 0, 0
    while i < pcm.size:
        n = sizes[k % len(sizes)]
        parts.append(stream.process(pcm[i : i + n]))
        i, k = i + n, k + 1
    got = np.concatenate(parts) if parts else np.zeros((0, 40), np.int16)
    assert np.array_equal(got, fe.compute(pcm))
    assert stream.frames_emitted == got.shape[0]


def test_stream_one_sample_at_a_time_and_reset():
    pcm = speech_like(0.1, seed=9)
    fe = Frontend()
    stream = fe.stream()
    frames = [stream.process(pcm[i : i + 1]) for i in range(pcm.size)]
    assert np.array_equal(np.concatenate(frames), fe.compute(pcm))
    stream.process(pcm[:123])
    stream.reset()
    assert np.array_equal(stream.process(pcm), fe.compute(pcm))


def test_strided_input_is_accepted():
    pcm = speech_like(0.5)
    stereo = np.stack([pcm, pcm], axis=1)
    assert np.array_equal(Frontend().compute(stereo[:, 0]), Frontend().compute(pcm))


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros(1000, np.float32), "int16 PCM, got dtype float32.*to_pcm16"),
        (np.array([np.nan] * 500), "int16 PCM, got dtype float64"),
        (np.zeros(1000, np.int32), "int16 PCM, got dtype int32"),
        (np.zeros((2, 500), np.int16), "1-D"),
        ([0] * 1000, "numpy int16 array, got list"),
        (np.int16(3), "1-D"),
    ],
)
def test_bad_input_raises_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        Frontend().compute(bad)
    with pytest.raises(ValueError, match=match):
        Frontend().stream().process(bad)


def test_empty_and_short_input_give_no_frames():
    fe = Frontend()
    assert fe.compute(np.zeros(0, np.int16)).shape == (0, 40)
    assert fe.compute(np.ones(399, np.int16)).shape == (0, 40)
    assert fe.stream().process(np.zeros(0, np.int16)).shape == (0, 40)


def float_reference_db(pcm: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    """float64 log-Mel with the same parameters: periodic Hann, |rfft|^2, HTK triangles."""
    frames = cfg.num_frames(pcm.size)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(cfg.window_samples) / cfg.window_samples)
    idx = np.arange(frames)[:, None] * cfg.hop_samples + np.arange(cfg.window_samples)
    power = np.abs(np.fft.rfft(pcm.astype(np.float64)[idx] * hann, cfg.fft_size)) ** 2
    weights = filterbank.weight_matrix(filterbank.filterbank_tables(cfg)) / 1024  # Q10 triangles
    return 10 * np.log10(np.maximum(power @ weights.T, 1.0))


def faithfulness_errors(pcm: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    """|fixed - float| dB over bins within 60 dB of the clip's peak."""
    ours = Frontend(cfg).compute(pcm) / 128
    ref = float_reference_db(pcm, cfg)
    keep = ref >= ref.max() - 60
    return np.abs(ours - ref)[keep]


def test_faithful_to_float_on_synthetic_speech():
    errs = np.concatenate(
        [
            faithfulness_errors(speech_like(2.0, seed=s, level=lv), FrontendConfig())
            for s, lv in ((0, 0.9), (1, 0.05), (2, 0.003))
        ]
    )
    assert np.percentile(errs, 99) <= 0.1


@pytest.mark.corpus
def test_faithful_to_float_on_corpus(corpus_root):
    """99th-percentile |error| <= 0.5 dB over bins within 60 dB of each clip's peak; the
    measured figure is reported by benchmarks/frontend_accuracy.py."""
    from edgeser.audio import load_pcm16
    from edgeser.datasets import read_emodb, read_ravdess

    clips = read_emodb(corpus_root / "emodb")[::4] + read_ravdess(corpus_root / "ravdess")[::12]
    cfg = FrontendConfig()
    errs = np.concatenate([faithfulness_errors(load_pcm16(c.path), cfg) for c in clips])
    assert np.percentile(errs, 99) <= 0.5


def test_blas_runs_single_threaded_during_compute_and_is_restored(monkeypatch):
    from edgeser import blas
    from edgeser.frontend import frontend as frontend_module

    functions = blas._get_functions()
    if functions is None:
        pytest.skip("numpy is not linked to OpenBLAS here")
    setter, getter = functions
    setter(2)
    seen = []
    original = frontend_module.spectrum.power_spectrum_grouped

    def spy(*args):
        seen.append(getter())
        return original(*args)

    monkeypatch.setattr(frontend_module.spectrum, "power_spectrum_grouped", spy)
    Frontend().compute(speech_like(0.5))
    assert seen and set(seen) == {1}
    assert getter() == 2
