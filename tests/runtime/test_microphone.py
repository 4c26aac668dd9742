"""The microphone path, for real: PyAudio recording from a PulseAudio server (conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgeser import Recognizer
from edgeser.audio import load_pcm16
from edgeser.examples import example_path
from edgeser.microphone import Microphone, MicrophoneError, find_device, list_devices

from .conftest import play

ROOT = Path(__file__).resolve().parents[2]


def _record(mic: Microphone, seconds: float) -> np.ndarray:
    got, total = [], 0
    for chunk in mic.chunks():
        got.append(chunk)
        total += chunk.shape[0]
        if total >= seconds * mic.rate:
            break
    return np.concatenate(got)


def test_devices_are_listed(sound_server):
    names = [d.name for d in list_devices()]
    assert "pulse" in names
    assert find_device("pulse").name == "pulse"
    with pytest.raises(MicrophoneError, match="no input device"):
        find_device("no such microphone")
    with pytest.raises(MicrophoneError, match="index 999"):
        find_device(999)


def test_recording_a_played_clip_and_recognising_it(sound_server):
    clip = load_pcm16(example_path())
    with Microphone("pulse", rate=16000, chunk_samples=1600) as mic:
        player = play(sound_server, str(example_path()))
        recorded = _record(mic, 6.0)
        player.wait(timeout=30)
    assert mic.dropped_chunks == 0
    # the clip is in the recording: normalised cross-correlation near 1 at some lag
    x = recorded.astype(np.float64)
    y = clip.astype(np.float64)
    corr = np.correlate(x, y[4000:20000], mode="valid")
    energy = np.sqrt(np.convolve(x**2, np.ones(16000), mode="valid")) * np.linalg.norm(
        y[4000:20000]
    )
    assert (corr / np.maximum(energy, 1e-9)).max() > 0.9
    rec = Recognizer()
    events = rec.feed(recorded) + rec.flush()
    assert len(events) >= 3
    assert max(e.voiced for e in events) > 0.5


def test_a_slow_reader_loses_counted_chunks_without_crashing(sound_server):
    with Microphone("pulse", rate=16000, chunk_samples=160, queue_chunks=2) as mic:
        deadline = time.monotonic() + 10
        while mic.dropped_chunks <= 10 and time.monotonic() < deadline:
            time.sleep(0.1)  # nobody reads: the queue fills up
        first = next(mic.chunks())
    assert first.dtype == np.int16
    assert mic.dropped_chunks > 10


def _listen(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "edgeser", "listen", "--device", "pulse", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )


def test_listen_from_the_microphone_prints_events(sound_server):
    proc = _listen("--seconds", "6")
    assert "Ctrl-C to stop" in proc.stderr.readline().decode()  # capturing has started
    play(sound_server, str(example_path())).wait(timeout=30)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.decode().splitlines()]
    assert len(events) >= 2
    summary = json.loads(err.decode().strip().splitlines()[-1].split(": ", 1)[1])
    assert summary["stopped_by"] == "--seconds" and summary["audio_s"] == pytest.approx(6.0)
    assert "overflows" in summary and "dropped_chunks" in summary


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_listen_stops_cleanly_on_ctrl_c_and_sigterm(sound_server, sig):
    proc = _listen()
    ready = proc.stderr.readline().decode()  # printed once capturing has started
    assert ready.startswith("edgeser listen: ") and "Ctrl-C to stop" in ready
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    text = err.decode()
    assert "Traceback" not in text
    summary = json.loads(text.strip().splitlines()[-1].split(": ", 1)[1])
    assert summary["stopped_by"] == "interrupt"
