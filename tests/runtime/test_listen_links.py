"""`edgeser listen --udp / --serial`: events go out as protocol frames over real loopback UDP
and a real pseudo-terminal, and decode to what standard output says."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeser.audio import load_pcm16
from edgeser.examples import example_path
from edgeser.model import default_model_path
from firmware_bridge.protocol import (
    EventRecord,
    FrameDecoder,
    HeartbeatRecord,
    Status,
    decode_frame,
    model_id_of,
)

ROOT = Path(__file__).resolve().parents[2]


def _listen(*args: str) -> subprocess.CompletedProcess:
    pcm = load_pcm16(example_path())
    return subprocess.run(
        [sys.executable, "-m", "edgeser", "listen", "--stdin", *args],
        input=pcm.tobytes(),
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )


def _check(records, stdout: bytes) -> None:
    events = [json.loads(line) for line in stdout.decode().splitlines()]
    got = [r for r in records if isinstance(r, EventRecord)]
    assert len(got) == len(events) >= 3
    labels = json.loads(
        subprocess.run(
            [sys.executable, "-m", "edgeser", "info", "--json"],
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
        ).stdout
    )["labels"]
    for record, event in zip(got, events, strict=True):
        assert labels[record.label] == event["label"]
        assert record.time_ms == round(event["end_s"] * 1000)
        assert abs(record.confidence_u8 / 255 - event["confidence"]) <= 0.5 / 255 + 1e-4
        assert record.model_id == model_id_of(default_model_path())
    assert [r.seq for r in records] == list(range(len(records)))


def test_listen_sends_events_over_udp():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.5)
    port = rx.getsockname()[1]
    result = _listen("--udp", f"127.0.0.1:{port}", "--heartbeat", "0")
    assert result.returncode == 0, result.stderr
    records = []
    while True:
        try:
            records.append(decode_frame(rx.recv(2048)))
        except TimeoutError:
            break
    rx.close()
    _check(records, result.stdout)
    summary = json.loads(result.stderr.decode().strip().splitlines()[-1].split(": ", 1)[1])
    assert summary["udp"]["sent"] == len(records) and summary["udp"]["dropped"] == 0


def test_listen_sends_events_and_heartbeats_over_a_serial_line():
    master, slave = os.openpty()
    try:
        result = _listen("--serial", os.ttyname(slave), "--heartbeat", "0.000001")
        assert result.returncode == 0, result.stderr
        decoder = FrameDecoder()
        records = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.3)
            if not ready:
                break
            records += decoder.feed(os.read(master, 4096))
    finally:
        os.close(master)
        os.close(slave)
    beats = [r for r in records if isinstance(r, HeartbeatRecord)]
    assert beats and all(b.flags & Status.AUDIO_RUNNING and b.flags & Status.MODEL_LOADED
                         for b in beats)  # fmt: skip
    _check(records, result.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--udp", "no-port"], "HOST:PORT"),
        (["--serial", "/dev/nonexistent-tty", "--seconds", "0.1"], ""),
    ],
)
def test_bad_link_arguments(args, message):
    result = _listen(*args)
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr
    if message:
        assert result.returncode == 2 and message in stderr
    else:  # an absent serial port is retried in the background, never blocking the stream
        assert result.returncode == 0
