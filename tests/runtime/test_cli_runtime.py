"""`edgeser classify`, `edgeser listen --stdin` and `edgeser info`, run as real processes."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeser.audio import load_pcm16, write_wav_pcm16
from edgeser.examples import example_path
from edgeser.model import default_model_path

ROOT = Path(__file__).resolve().parents[2]


def edgeser(*args: str, stdin: bytes | None = None, timeout: float = 120):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "edgeser", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def _float_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> None:
    data = samples.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data)


def test_classify_example_table():
    result = edgeser("classify", "--example")
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "emotion" in out and "hello.wav" in out
    assert result.stderr == b""


def test_classify_json_and_csv_agree():
    js = edgeser("classify", "--json", "--windows", str(example_path()))
    assert js.returncode == 0, js.stderr
    doc = json.loads(js.stdout)
    entry = doc["files"][0]
    assert entry["decision"]["label"] in doc["labels"] and len(entry["windows"]) == 4
    cs = edgeser("classify", "--csv", str(example_path()))
    rows = list(csv.DictReader(io.StringIO(cs.stdout.decode())))
    assert rows[0]["label"] == entry["decision"]["label"]
    assert float(rows[0]["confidence"]) == pytest.approx(entry["decision"]["confidence"], abs=1e-4)


def test_classify_session_speaker_matches_the_api(tmp_path):
    from edgeser import classify_files

    pcm = load_pcm16(example_path())
    quiet = tmp_path / "quiet.wav"
    write_wav_pcm16(quiet, (pcm.astype(np.int32) // 2).astype(np.int16), 16000)
    paths = [example_path(), quiet]
    for session in ("speaker", "file"):
        result = edgeser("classify", "--json", "--session", session, *map(str, paths))
        assert result.returncode == 0, result.stderr
        got = [f["decision"] for f in json.loads(result.stdout)["files"]]
        api = classify_files(paths, shared_session=session == "speaker")
        assert got == [r.decision.to_dict() for r in api]
    bad = edgeser("classify", "--session", "room", str(example_path()))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr.decode()


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    pcm = load_pcm16(example_path())
    (tmp / "empty.wav").write_bytes(b"")
    (tmp / "text.wav").write_text("this is not audio\n")
    full = tmp / "full.wav"
    write_wav_pcm16(full, pcm, 16000)
    (tmp / "truncated.wav").write_bytes(full.read_bytes()[:30])
    write_wav_pcm16(tmp / "zero.wav", pcm[:0], 16000)
    write_wav_pcm16(tmp / "short.wav", pcm[:8000], 16000)
    nan = np.zeros(40000, np.float32)
    nan[100] = np.nan
    _float_wav(tmp / "nan.wav", nan)
    alaw = bytearray(full.read_bytes())
    alaw[20:22] = struct.pack("<H", 6)  # A-law: not supported
    (tmp / "alaw.wav").write_bytes(bytes(alaw))
    return {
        "missing": (tmp / "missing.wav", "no such file"),
        "empty": (tmp / "empty.wav", ""),
        "text": (tmp / "text.wav", ""),
        "truncated": (tmp / "truncated.wav", ""),
        "zero": (tmp / "zero.wav", "zero-length audio"),
        "short": (tmp / "short.wav", "shorter than the model"),
        "nan": (tmp / "nan.wav", "NaN"),
        "alaw": (tmp / "alaw.wav", ""),
    }


def test_bad_files_are_one_line_each_and_good_files_still_reported(tmp_path):
    bad = _bad_files(tmp_path)
    good = str(example_path())
    args = [good] + [str(p) for p, _ in bad.values()] + [good]
    result = edgeser("classify", "--json", *args)
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == len(bad)
    for (path, message), line in zip(bad.values(), lines, strict=True):
        assert line.startswith("edgeser: error: ") and path.name in line
        assert message in line
    doc = json.loads(result.stdout)
    assert len(doc["files"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["classify"], "no input"),
        (["classify", "--model", "nope.tflite", "x.wav"], "no such model file"),
        (["classify", "--backend", "onnx", "--example"], "unknown backend"),
        (["classify", "--delegate", "edgetpu", "--example"], "libedgetpu"),
        (["classify", "--hop", "0", "--example"], "hop_s must be positive"),
        (["info", "nope.tflite"], "no such model file"),
    ],
)
def test_usage_errors_are_one_line(args, message):
    result = edgeser(*args)
    assert result.returncode == 2
    stderr = result.stderr.decode().strip()
    assert len(stderr.splitlines()) == 1 and message in stderr, stderr


def test_listen_stdin_streams_json_lines_and_a_summary():
    pcm = load_pcm16(example_path())
    result = edgeser("listen", "--stdin", stdin=pcm.tobytes())
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [e["start_s"] for e in events] == [0.0, 0.5, 1.0, 1.5]
    summary = result.stderr.decode().strip().splitlines()[-1]
    assert summary.startswith("edgeser listen: ")
    stats = json.loads(summary.split(": ", 1)[1])
    assert stats["stopped_by"] == "end of input" and stats["audio_s"] == pytest.approx(3.73, 0.01)
    assert stats["windows_scored"] == 4
    assert stats["sessions"] == 1


def test_listen_session_idle_starts_a_new_session_per_speaker():
    pcm = load_pcm16(example_path())
    stream = np.concatenate((pcm, np.zeros(3 * 16000, np.int16), pcm))
    stats = []
    for idle in ("2", "4"):
        result = edgeser("listen", "--stdin", "--session-idle", idle, stdin=stream.tobytes())
        assert result.returncode == 0, result.stderr
        stats.append(json.loads(result.stderr.decode().strip().splitlines()[-1].split(": ", 1)[1]))
    assert [s["sessions"] for s in stats] == [2, 1]
    bad = edgeser("listen", "--stdin", "--session-idle", "0", stdin=b"")
    assert bad.returncode == 2 and "--session-idle" in bad.stderr.decode()
    assert "Traceback" not in bad.stderr.decode()


def test_listen_stdin_matches_the_api_and_honours_seconds():
    from edgeser import Recognizer

    pcm = load_pcm16(example_path())
    rec = Recognizer()
    expected = [e.to_dict() for e in rec.feed(pcm[:40000]) + rec.flush()]
    result = edgeser("listen", "--stdin", "--seconds", "2.5", stdin=pcm.tobytes())
    assert result.returncode == 0
    got = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert got == expected
    assert '"stopped_by": "--seconds"' in result.stderr.decode()


def test_info_text_and_json():
    text = edgeser("info")
    assert text.returncode == 0, text.stderr
    out = text.stdout.decode()
    for needle in ("labels", "frontend", "sha256", "multiply-accumulates", "edge tpu"):
        assert needle in out
    # the default model's recipe figures, every protocol, speaker and file sessions
    for protocol in ("emodb-loso", "ravdess-5fold"):
        assert f"int8        {protocol} UAR" in out and "file sessions UAR" in out
    doc = json.loads(edgeser("info", "--json", "--edgetpu").stdout)
    assert doc["tflite_sha256"] and doc["edgetpu"]["operators"] > 0
    assert doc["backend"].startswith("litert")


def test_info_refuses_a_tampered_model(tmp_path):
    src = default_model_path()
    dst = tmp_path / "m.tflite"
    data = bytearray(src.read_bytes())
    data[-100] ^= 1
    dst.write_bytes(bytes(data))
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    result = edgeser("info", str(dst))
    assert result.returncode == 2
    assert "sha256" in result.stderr.decode() and "Traceback" not in result.stderr.decode()
