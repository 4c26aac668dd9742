"""`edgeser features`: the main job at this stage, and its bad-input behaviour."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from edgeser import Frontend
from edgeser.audio import load_pcm16, write_wav_pcm16
from edgeser.cli import main
from edgeser.examples import example_path


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_example_summary_and_npy(tmp_path):
    out = tmp_path / "frames.npy"
    result = run("features", "--example", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "frames    371 x 40 int16" in result.output
    assert "spectrogram" in result.output
    expected = Frontend().compute(load_pcm16(example_path()))
    assert np.array_equal(np.load(out), expected)


def test_c_engine_writes_identical_frames(tmp_path):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    assert run("features", "--example", "-o", str(a)).exit_code == 0
    assert run("features", "--example", "--engine", "c", "-o", str(b)).exit_code == 0
    assert np.array_equal(np.load(a), np.load(b))


def test_other_rates_and_channels_are_resampled(tmp_path):
    pcm = load_pcm16(example_path(), rate=22050)
    stereo = np.stack([pcm, pcm], axis=1)
    path = tmp_path / "stereo22k.wav"
    write_wav_pcm16(path, stereo, 22050)
    result = run("features", str(path), "-o", str(tmp_path / "x.npy"))
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "x.npy").shape[1] == 40


def test_custom_config(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"num_bands": 64, "lower_hz": 20}')
    result = run("features", "--example", "--config", str(cfg), "-o", str(tmp_path / "x.npy"))
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "x.npy").shape[1] == 64


def test_short_audio_reports_zero_frames(tmp_path):
    path = tmp_path / "short.wav"
    write_wav_pcm16(path, np.zeros(100, np.int16), 16000)
    result = run("features", str(path))
    assert result.exit_code == 0
    assert "frames    0" in result.output


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (None, ["features", "{tmp}/missing.wav"], "no such file"),
        ("text", ["features", "{tmp}/notes.wav"], "not a RIFF/WAVE file"),
        ("empty", ["features", "{tmp}/empty.wav"], "empty"),
        (None, ["features"], "give either a WAV file or --example"),
        (
            "cfg",
            ["features", "--example", "--config", "{tmp}/bad.json"],
            "unknown frontend config keys",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, setup, args, message):
    if setup == "text":
        (tmp_path / "notes.wav").write_text("these are not samples\n")
    elif setup == "empty":
        (tmp_path / "empty.wav").write_bytes(b"")
    elif setup == "cfg":
        (tmp_path / "bad.json").write_text('{"bands": 3}')
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = subprocess.run([sys.executable, "-m", "edgeser", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 or "Usage" in proc.stderr
