"""The C99 reference frontend: built with the system compiler, bit-exact with NumPy."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edgeser import Frontend, FrontendConfig
from tests.conftest import OTHER_CONFIGS, speech_like


def signal_suite() -> dict[str, np.ndarray]:
    """Named int16 test signals: silence, full scale, square waves, clipping, noise, speech."""
    rng = np.random.default_rng(11)
    n = 16000
    t = np.arange(n)
    sine = np.sin(2 * np.pi * 440 * t / 16000)
    return {
        "silence": np.zeros(n, np.int16),
        "full_scale_positive": np.full(n, 32767, np.int16),
        "full_scale_negative": np.full(n, -32768, np.int16),
        "full_scale_square_100hz": np.where((t // 80) % 2, 32767, -32768).astype(np.int16),
        "square_1khz_minus_20db": np.where((t // 8) % 2, 3277, -3277).astype(np.int16),
        "clipped_sine": np.clip(np.round(sine * 80000), -32768, 32767).astype(np.int16),
        "white_noise_full": rng.integers(-32768, 32768, n).astype(np.int16),
        "white_noise_minus_60db": np.round(rng.standard_normal(n) * 33).astype(np.int16),
        "one_lsb_noise": rng.integers(-1, 2, n).astype(np.int16),
        "impulses": np.where(t % 997 == 0, 32767, 0).astype(np.int16),
        "speech_like_loud": speech_like(1.0, level=0.99),
        "speech_like_quiet": speech_like(1.0, seed=3, level=0.002),
    }


@pytest.fixture(scope="module")
def c_frontend(c_frontend_library):
    from firmware_bridge.cfrontend import CFrontend

    return CFrontend()


@pytest.mark.parametrize("name", sorted(signal_suite()))
def test_bit_exact_on_signal_suite(c_frontend, name):
    pcm = signal_suite()[name]
    assert np.array_equal(c_frontend.compute(pcm), Frontend().compute(pcm))


@settings(max_examples=80, deadline=None)
@given(
    arrays(np.int16, st.integers(0, 4000)), st.lists(st.integers(1, 900), min_size=1, max_size=20)
)
def test_bit_exact_random_pcm_and_chunking(c_frontend, pcm, sizes):
    expected = Frontend().compute(pcm)
    assert np.array_equal(c_frontend.compute(pcm), expected)
    c_frontend.reset()
    parts, i, k = [], 0, 0
    while i < pcm.size:
        parts.append(c_frontend.process(pcm[i : i + sizes[k % len(sizes)]]))
        i, k = i + sizes[k % len(sizes)], k + 1
    got = np.concatenate(parts) if parts else np.zeros((0, 40), np.int16)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("cfg", OTHER_CONFIGS)
def test_bit_exact_other_configs(c_frontend_library, cfg):
    from firmware_bridge.cfrontend import CFrontend

    pcm = speech_like(0.5, rate=cfg.sample_rate, seed=5)
    assert np.array_equal(CFrontend(cfg).compute(pcm), Frontend(cfg).compute(pcm))


@pytest.mark.corpus
def test_bit_exact_on_corpus_clips(c_frontend, corpus_root):
    """Every EMO-DB clip and every fourth RAVDESS clip (benchmarks/frontend_accuracy.py
    checks them all)."""
    from edgeser.audio import load_pcm16
    from edgeser.datasets import read_emodb, read_ravdess

    clips = read_emodb(corpus_root / "emodb") + read_ravdess(corpus_root / "ravdess")[::4]
    assert len(clips) >= 700
    fe = Frontend()
    frames = 0
    for clip in clips:
        pcm = load_pcm16(clip.path)
        ours = fe.compute(pcm)
        assert np.array_equal(c_frontend.compute(pcm), ours), clip.path
        frames += ours.shape[0]
    assert frames > 150_000


def _sanitizer_flags(tmp_path) -> list[str]:
    probe = tmp_path / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    result = subprocess.run(
        ["cc", *flags, str(probe), "-o", str(tmp_path / "probe")], capture_output=True
    )
    return flags if result.returncode == 0 else []


@pytest.mark.parametrize(
    "cfg", [FrontendConfig(), FrontendConfig(periodicity_bands=16)], ids=["mel", "periodicity"]
)
def test_standalone_program_under_sanitizers(tmp_path, cfg):
    """The frontend, generated tables and a streaming driver compile as a standalone C99
    program (-Wall -Wextra -Werror -pedantic, ASan + UBSan where available) and agree."""
    from firmware_bridge.cfrontend import SOURCE_DIR, sources
    from firmware_bridge.tables import c_tables_header, c_tables_source

    assert shutil.which("cc"), "the tests need the system C compiler (cc)"
    (tmp_path / "ef_default_tables.c").write_text(c_tables_source(cfg))
    (tmp_path / "ef_default_tables.h").write_text(c_tables_header())
    driver = Path(__file__).resolve().parent / "c" / "frontend_pipe.c"
    exe = tmp_path / "frontend_pipe"
    cmd = [
        "cc",
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-O1",
        "-g",
        *_sanitizer_flags(tmp_path),
        f"-I{SOURCE_DIR}",
        f"-I{tmp_path}",
        "-o",
        str(exe),
        str(driver),
        str(tmp_path / "ef_default_tables.c"),
        *map(str, sources()),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    pcm = np.concatenate([signal_suite()[k] for k in sorted(signal_suite())])
    expected = Frontend(cfg).compute(pcm)
    for chunk in ("1", "160", "4096"):
        result = subprocess.run(
            [str(exe), chunk], input=pcm.tobytes(), capture_output=True, check=True
        )
        got = np.frombuffer(result.stdout, dtype=np.int16).reshape(-1, cfg.num_features)
        assert np.array_equal(got, expected)
        assert result.stderr == b""


def test_config_rejected_by_c_side(c_frontend_library):
    import ctypes

    from firmware_bridge.cfrontend import _Config

    state = (ctypes.c_uint8 * c_frontend_library.ef_frontend_state_size())()
    for bad in (_Config(16000, 400, 160, 500, 40, 32), _Config(16000, 400, 160, 512, 40, 32, 33)):
        init = c_frontend_library.ef_frontend_init
        assert init(ctypes.addressof(state), ctypes.byref(bad), None) != 0
    # Periodicity columns without their tables.
    from firmware_bridge.cfrontend import _Tables
    from firmware_bridge.tables import frontend_tables

    t = frontend_tables(FrontendConfig())
    arrays = (t.window_q15, t.twiddle_re, t.twiddle_im, t.seg_start, t.weights_q10, t.log2_q16)
    tables = _Tables(*(a.ctypes.data for a in arrays))
    config = _Config(16000, 400, 160, 512, 40, 32, 16)
    assert (
        c_frontend_library.ef_frontend_init(
            ctypes.addressof(state), ctypes.byref(config), ctypes.byref(tables)
        )
        != 0
    )
    config.periodicity_bands = 0
    assert (
        c_frontend_library.ef_frontend_init(
            ctypes.addressof(state), ctypes.byref(config), ctypes.byref(tables)
        )
        == 0
    )


@pytest.mark.parametrize(
    "scale, zero_point, offset_db, gain",
    [
        (0.4, -5, 0.0, 1.0),
        (0.023, 3, 60.0, 0.05),
        (0.0123, -128, 80.0, 0.02),
        (2.5, 127, -3.0, 4.0),
    ],
)
def test_c_requantize_matches_numpy(c_frontend_library, scale, zero_point, offset_db, gain):
    import ctypes

    from edgeser import Requantizer

    class CRequantizer(ctypes.Structure):
        _fields_ = [(n, ctypes.c_int32) for n in ("multiplier", "shift", "offset_q7", "zero_point")]

    rq = Requantizer.for_input(scale, zero_point, offset_db=offset_db, gain=gain)
    c_rq = CRequantizer(rq.multiplier, rq.shift, rq.offset_q7, rq.zero_point)
    values = np.concatenate(
        [np.arange(-32768, 32768, 7, dtype=np.int16), np.array([-32768, 32767], np.int16)]
    )
    out = np.zeros(values.size, dtype=np.int8)
    lib = c_frontend_library
    lib.ef_requantize.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_size_t,
    ]
    lib.ef_requantize(ctypes.addressof(c_rq), values.ctypes.data, out.ctypes.data, values.size)
    assert np.array_equal(out, rq.apply(values))
