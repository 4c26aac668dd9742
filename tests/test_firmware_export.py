"""`edgeser export --format c`: the C export compiles cleanly and matches the golden vectors;
the C voice gate, session mean and normaliser are bit-exact with the Python runtime."""

from __future__ import annotations

import ctypes
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeser.frontend import Requantizer
from edgeser.normalisation import MIN_STD_Q7, Normalisation, band_requantizers
from edgeser.vad import SessionMean, VadConfig, VoiceGate

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    if shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler")
    out = tmp_path_factory.mktemp("export")
    result = subprocess.run(
        [sys.executable, "-m", "edgeser", "export", "--format", "c", "-o", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return out


def _build(folder: Path) -> Path:
    exe = folder / "test_golden"
    cc = os.environ.get("CC", "cc")
    sources = sorted(str(p) for p in folder.glob("*.c"))
    result = subprocess.run([cc, *FLAGS, "-o", str(exe), *sources], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return exe


def test_export_compiles_cleanly_and_matches_the_golden_vectors(exported):
    for name in (
        "edgeser_model.c",
        "edgeser_model.h",
        "edgeser_golden.c",
        "Makefile",
        "edgeser_frontend_tables.c",
        "ef_frontend.c",
        "ef_vad.c",
        "ef_normalise.c",
    ):
        assert (exported / name).is_file(), name  # fmt: skip
    run = subprocess.run([str(_build(exported))], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout
    assert "2 of 2 golden vectors match" in run.stdout


def test_the_golden_check_fails_when_a_golden_value_is_wrong(exported, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    golden = broken / "edgeser_golden.c"
    text = golden.read_text()
    start = text.index("golden0_input[")
    first_value = text.index("{", start) + 1
    end = text.index(",", first_value)
    value = int(text[first_value:end])
    text = text[:first_value] + f"\n    {value + 1 if value < 127 else value - 1}" + text[end:]
    golden.write_text(text)
    run = subprocess.run([str(_build(broken))], capture_output=True, text=True)
    assert run.returncode == 1
    assert "example: model input differs" in run.stdout


def test_the_model_array_is_the_model_and_is_aligned(exported):
    from edgeser.model import default_model_path

    text = (exported / "edgeser_model.c").read_text()
    body = text[text.index("edgeser_model_tflite[") :]
    body = body[body.index("{") + 1 : body.index("}")]
    data = bytes(int(v, 16) for v in body.replace("\n", "").split(","))
    assert data == default_model_path().read_bytes()
    assert "EDGESER_ALIGNED const unsigned char edgeser_model_tflite" in text
    assert "__attribute__((aligned(16)))" in (exported / "edgeser_model.h").read_text()


def test_golden_output_is_what_litert_computes(exported):
    from edgeser.model import EmotionModel
    from firmware_bridge.export import default_golden_pcm, golden_vector

    model = EmotionModel()
    name, pcm = default_golden_pcm(16000)[0]
    vector = golden_vector(model, name, pcm)
    probs = model.predict(vector.frames[:198], vector.session_mean_q7, vector.session_std_q7)[0]
    scale, zero = model.meta.output.scale, model.meta.output.zero_point
    assert np.allclose(probs, scale * (vector.model_output.astype(np.float64) - zero))


def test_a_session_std_model_exports_and_matches_its_golden_vectors(session_std_twin, tmp_path):
    """The per-band deviation path end to end: the C session deviation and per-band
    requantisers give the Python runtime's int8 input bit for bit."""
    if shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler")
    out = tmp_path / "c"
    result = subprocess.run(
        [sys.executable, "-m", "edgeser", "export", str(session_std_twin), "--format", "c",
         "-o", str(out)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "'session_std': True" in (out / "edgeser_model.c").read_text()
    run = subprocess.run([str(_build(out))], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout
    assert "2 of 2 golden vectors match" in run.stdout
    golden = (out / "edgeser_golden.c").read_text()
    std_values = golden[golden.index("golden0_std[") :]
    std_values = std_values[std_values.index("{") + 1 : std_values.index("}")].split(",")
    assert all(int(v) > 0 for v in std_values)  # the deviation was computed and compared


def test_export_of_a_missing_model_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "edgeser", "export", "nope.tflite", "-o", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "no such model" in result.stderr


# ------------------------------------------------------------------ C parity of vad / normalise
class _VadConfig(ctypes.Structure):
    _fields_ = [("absolute_q7", ctypes.c_int32), ("margin_q7", ctypes.c_int32),
                ("rise_shift", ctypes.c_uint32)]  # fmt: skip


class _Vad(ctypes.Structure):
    _fields_ = [("config", _VadConfig), ("floor_q7", ctypes.c_int32), ("has_floor", ctypes.c_int)]


class _SessionMean(ctypes.Structure):
    _fields_ = [("sum", ctypes.c_int64 * 128), ("sum_squares", ctypes.c_int64 * 128),
                ("num_bands", ctypes.c_uint32), ("count", ctypes.c_uint64)]  # fmt: skip


class _Requantizer(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("multiplier", "shift", "offset_q7", "zero_point")]


class _Normaliser(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int32), ("offset_q7", ctypes.c_int32), ("rq", _Requantizer),
                ("session_std", ctypes.c_int32)]  # fmt: skip


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return a.ctypes.data_as(ctypes.c_void_p)


frames_strategy = st.integers(1, 60).flatmap(
    lambda n: st.lists(
        st.lists(st.integers(0, 16000), min_size=8, max_size=8), min_size=n, max_size=n
    )
)


@settings(max_examples=60, deadline=None)
@given(frames_strategy, st.integers(0, 60), st.integers(0, 20), st.integers(0, 12))
def test_c_gate_and_session_stats_equal_python(c_frontend_library, rows, absolute, margin, rise):
    lib = c_frontend_library
    frames = np.array(rows, dtype=np.int16)
    config = VadConfig(absolute_db=absolute, margin_db=margin, rise_shift=rise)
    expected = VoiceGate(config).process(frames)
    vad = _Vad()
    cfg = _VadConfig(round(absolute * 128), round(margin * 128), rise)
    lib.ef_vad_init(ctypes.byref(vad), ctypes.byref(cfg))
    mean = _SessionMean()
    lib.ef_session_mean_init(ctypes.byref(mean), 8)
    got = []
    for row in frames:
        row = np.ascontiguousarray(row)
        voiced = lib.ef_vad_frame(ctypes.byref(vad), _ptr(row), 8)
        got.append(bool(voiced))
        if voiced:
            lib.ef_session_mean_add(ctypes.byref(mean), _ptr(row))
    assert got == expected.tolist()
    py = SessionMean(8)
    py.add(frames, expected)
    out = np.zeros(8, np.int32)
    has = lib.ef_session_mean_get(ctypes.byref(mean), _ptr(out))
    assert bool(has) == (py.mean_q7() is not None)
    if has:
        assert out.tolist() == py.mean_q7().tolist()
    has_std = lib.ef_session_std_get(ctypes.byref(mean), _ptr(out))
    assert has_std == has
    if has:
        assert out.tolist() == py.std_q7().tolist()


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**62), st.integers(1, 2**20))
def test_c_isqrt_and_band_requantizer_equal_python(c_frontend_library, value, std):
    lib = c_frontend_library
    lib.ef_isqrt64.restype = ctypes.c_uint32
    lib.ef_isqrt64.argtypes = [ctypes.c_uint64]
    assert lib.ef_isqrt64(value) == math.isqrt(value)
    base = Normalisation("session", session_std=True).requantizer(0.0371, -3)
    multiplier, shift = band_requantizers(base, np.array([max(std, MIN_STD_Q7)]))
    out = _Requantizer()
    c_base = _Requantizer(base.multiplier, base.shift, base.offset_q7, base.zero_point)
    lib.ef_band_requantizer(ctypes.byref(c_base), ctypes.c_int32(std), ctypes.byref(out))
    assert (out.multiplier, out.shift) == (int(multiplier[0]), int(shift[0]))
    assert 2**30 <= out.multiplier < 2**31


@settings(max_examples=60, deadline=None)
@given(
    frames_strategy,
    st.sampled_from(["fixed", "window", "session", "session-std"]),
    st.floats(0.005, 0.2),
    st.integers(-128, 127),
    st.floats(5, 40),
)
def test_c_model_input_equals_python(c_frontend_library, rows, mode, scale, zero_point, scale_db):
    lib = c_frontend_library
    window = np.array(rows, dtype=np.int16)
    norm = Normalisation.named(mode)
    norm = Normalisation(norm.mode, scale_db, 55.0, norm.session_std)
    rq = norm.requantizer(scale, zero_point)
    session = norm.mode == "session"
    mean = np.arange(8, dtype=np.int64) * 300 + 5000 if session else None
    std = np.array([0, 50, 128, 129, 700, 1500, 3000, 9000]) if norm.session_std else None
    expected = norm.to_int8(window[None], rq, mean, std)[0]
    c_norm = _Normaliser(
        {"fixed": 0, "window": 1, "session": 2}[norm.mode],
        round(55.0 * 128) if mode == "fixed" else 0,
        _Requantizer(rq.multiplier, rq.shift, rq.offset_q7, rq.zero_point),
        int(norm.session_std),
    )
    out = np.zeros(window.shape, np.int8)
    c_mean = mean.astype(np.int32) if mean is not None else None
    c_std = std.astype(np.int32) if std is not None else None
    status = lib.ef_model_input(
        ctypes.byref(c_norm), _ptr(np.ascontiguousarray(window)), window.shape[0], 8,
        _ptr(c_mean) if c_mean is not None else None,
        _ptr(c_std) if c_std is not None else None, _ptr(out),
    )  # fmt: skip
    assert status == 0
    assert np.array_equal(out, expected)
    assert isinstance(rq, Requantizer)


def test_golden_check_is_clean_under_sanitizers(exported, tmp_path):
    cc = os.environ.get("CC", "cc")
    exe = tmp_path / "test_golden_san"
    flags = [*FLAGS, "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    sources = sorted(str(p) for p in exported.glob("*.c"))
    build = subprocess.run([cc, *flags, "-o", str(exe), *sources], capture_output=True, text=True)
    if build.returncode != 0:
        pytest.skip(f"the compiler has no sanitizers: {build.stderr.strip()[:200]}")
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "runtime error" not in run.stderr and "AddressSanitizer" not in run.stderr
