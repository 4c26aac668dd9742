"""Senders: serial over a real pseudo-terminal pair (pyserial opens the slave side), UDP over
real loopback sockets. Nothing is mocked."""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import time
from pathlib import Path

import pytest

from edgeser.transport import SerialSender, TransportError, UdpSender, parse_udp_target
from firmware_bridge.protocol import FrameDecoder, HeartbeatRecord, event_record_from

pytest.importorskip("serial", reason="pyserial is not installed (the [serial] / [dev] extra)")


def record(seq: int):
    return event_record_from([0.1, 0.6, 0.3], seq=seq, time_ms=seq * 10, model_id=0xABCD)


class Pty:
    """A pseudo-terminal pair; ``link`` (a symlink to the slave, like a udev by-id link) is
    the path the sender opens."""

    def __init__(self, link: Path) -> None:
        self.master, self.slave = os.openpty()
        os.set_blocking(self.master, False)
        self.link = link
        tmp = link.with_name(link.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(self.slave))
        os.replace(tmp, link)
        self.decoder = FrameDecoder()

    def read_records(self, count: int, timeout: float = 5.0) -> list:
        """Read and decode until ``count`` records arrived or ``timeout`` seconds passed."""
        got: list = []
        end = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                got += self.decoder.feed(os.read(self.master, 65536))
            except OSError as exc:
                if exc.errno not in (errno.EIO, errno.EAGAIN):
                    raise
        return got

    def drain(self) -> None:
        while True:
            try:
                if not os.read(self.master, 65536):
                    return
            except OSError:
                return

    def unplug(self) -> None:
        """Close both sides and remove the link: the /dev/pts node vanishes."""
        os.close(self.master)
        os.close(self.slave)
        self.link.unlink(missing_ok=True)


@pytest.fixture
def link(tmp_path) -> Path:
    return tmp_path / "ttyEDGESER"


def _wait_for(predicate, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while not predicate() and time.monotonic() < end:
        time.sleep(0.01)
    return predicate()


def test_serial_round_trip_over_a_pty(link):
    pty = Pty(link)
    sender = SerialSender(str(link), 115200, queue_size=256)
    try:
        assert sender.wait_connected(5)
        recs = [record(i) for i in range(100)] + [HeartbeatRecord(100, 1000, 0xABCD, flags=3)]
        for rec in recs:
            sender.send(rec)
        assert pty.read_records(len(recs)) == recs
        assert sender.flush(2)
        assert (sender.sent, sender.dropped, sender.failed) == (len(recs), 0, 0)
        assert pty.decoder.dropped == 0  # the sync 0x00 sent on opening is an empty frame
    finally:
        sender.close()
        pty.unplug()
    assert not sender.running


def test_serial_unplugged_reports_keeps_running_and_reconnects(link, caplog):
    caplog.set_level(logging.WARNING, logger="edgeser.transport")
    pty = Pty(link)
    sender = SerialSender(str(link), 115200, queue_size=16, retry_interval=0.05)
    try:
        assert sender.wait_connected(5)
        for i in range(5):
            sender.send(record(i))
        assert len(pty.read_records(5)) == 5

        pty.unplug()  # the device goes away while we keep sending
        slowest = 0.0
        for i in range(5, 400):
            start = time.perf_counter()
            sender.send(record(i))
            slowest = max(slowest, time.perf_counter() - start)
            time.sleep(0.001)
        assert slowest < 0.05, f"send() blocked for {slowest:.3f} s"
        assert _wait_for(lambda: sender.disconnects == 1)
        assert not sender.connected and sender.running
        assert sender.failed >= 1 and sender.dropped > 0
        assert any("lost" in r.getMessage() for r in caplog.records)

        pty = Pty(link)  # plugged in again (the link points at a new device node)
        assert sender.wait_connected(5)
        assert sender.reconnects == 1
        got = pty.read_records(16, timeout=3)  # the newest queued records, oldest first
        assert [r.seq for r in got] == list(range(400 - len(got), 400))
        for i in range(400, 410):
            sender.send(record(i))
        assert [r.seq for r in pty.read_records(10)] == list(range(400, 410))
        assert any("reopened" in r.getMessage() for r in caplog.records)
    finally:
        sender.close(timeout=0.2)
        pty.unplug()
    assert not sender.running


def test_serial_port_absent_at_start_drops_oldest(link, caplog):
    caplog.set_level(logging.WARNING, logger="edgeser.transport")
    sender = SerialSender(str(link), 57600, queue_size=8, retry_interval=0.05)
    try:
        for i in range(100):
            sender.send(record(i))
        assert not sender.connected and sender.running
        assert (sender.dropped, sender.queued) == (92, 8)
        assert _wait_for(lambda: any("unavailable" in r.getMessage() for r in caplog.records))
        pty = Pty(link)
        assert sender.wait_connected(5)
        assert [r.seq for r in pty.read_records(8)] == list(range(92, 100))
        assert sender.reconnects == 0  # the first opening is not a reconnection
    finally:
        sender.close(timeout=0.2)
        pty.unplug()
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1  # reported once, not once per retry


def test_serial_stalled_reader_never_blocks_the_caller(link):
    """Nobody reads the pty: writes back up and time out; send() stays instant."""
    pty = Pty(link)
    sender = SerialSender(str(link), 115200, queue_size=32, retry_interval=0.05, write_timeout=0.1)
    try:
        assert sender.wait_connected(5)
        slowest = 0.0
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < 1.5:
            t0 = time.perf_counter()
            sender.send(record(i))
            slowest = max(slowest, time.perf_counter() - t0)
            i += 1
            if i % 100 == 0:
                time.sleep(0.001)
        assert slowest < 0.05, f"send() blocked for {slowest:.3f} s"
        assert sender.dropped > 0
        assert sender.sent + sender.failed + sender.dropped + sender.queued <= i
        pty.drain()  # the reader comes back
        last = i + 50
        for k in range(i, last):
            sender.send(record(k))
            time.sleep(0.002)
        seen: list[int] = []
        end = time.monotonic() + 5
        while last - 1 not in seen and time.monotonic() < end:
            seen += [r.seq for r in pty.read_records(1, 0.1)]
        assert last - 1 in seen  # the link works again, newest records first in line
        assert sender.running
    finally:
        sender.close(timeout=0.2)
        pty.unplug()


def test_serial_sender_rejects_bad_settings():
    with pytest.raises(TransportError):
        SerialSender("", 115200)
    with pytest.raises(TransportError):
        SerialSender("/dev/null", 0)
    with pytest.raises(TransportError):
        SerialSender("/dev/null", 9600, queue_size=0)


def _udp_receiver(family=socket.AF_INET, host="127.0.0.1"):
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.settimeout(5)
    return sock


def test_udp_round_trip_over_loopback():
    rx = _udp_receiver()
    host, port = parse_udp_target(f"127.0.0.1:{rx.getsockname()[1]}")
    sender = UdpSender(host, port, queue_size=512)
    try:
        recs = [record(i) for i in range(300)] + [HeartbeatRecord(300, 3000, 0xABCD)]
        dec = FrameDecoder()
        got = []
        for burst in range(0, len(recs), 50):  # bursts within the socket's receive buffer
            for rec in recs[burst : burst + 50]:
                sender.send(rec)
            for _ in recs[burst : burst + 50]:
                datagram = rx.recv(1024)
                assert datagram.endswith(b"\x00") and datagram.count(0) == 1  # one frame each
                got += dec.feed(datagram)
        assert got == recs
        assert sender.flush(2) and (sender.sent, sender.dropped, sender.failed) == (301, 0, 0)
    finally:
        sender.close()
        rx.close()
    assert not sender.running


def test_udp_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 support")
    try:
        rx = _udp_receiver(socket.AF_INET6, "::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    host, port = parse_udp_target(f"[::1]:{rx.getsockname()[1]}")
    sender = UdpSender(host, port)
    try:
        sender.send(record(7))
        assert FrameDecoder().feed(rx.recv(1024)) == [record(7)]
    finally:
        sender.close()
        rx.close()


def test_udp_without_listener_never_blocks():
    rx = _udp_receiver()
    port = rx.getsockname()[1]
    rx.close()  # nobody listens there any more
    sender = UdpSender("127.0.0.1", port, queue_size=8)
    try:
        start = time.perf_counter()
        for i in range(1000):
            sender.send(record(i))
        assert time.perf_counter() - start < 1.0
        sender.flush(2)
        assert sender.running
        assert sender.sent + sender.failed + sender.dropped + sender.queued == 1000
    finally:
        sender.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5005", ("127.0.0.1", 5005)),
        ("localhost:1", ("localhost", 1)),
        (" kiosk.local:65535 ", ("kiosk.local", 65535)),
        ("[::1]:9000", ("::1", 9000)),
        ("[fe80::1%eth0]:9000", ("fe80::1%eth0", 9000)),
    ],
)
def test_parse_udp_target(text, expected):
    assert parse_udp_target(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1", "HOST:PORT"),
        ("127.0.0.1:", "1..65535"),
        (":5005", "host is empty"),
        ("host:port", "1..65535"),
        ("host:0", "1..65535"),
        ("host:65536", "1..65535"),
        ("host:-1", "1..65535"),
        ("::1:9000", "[ADDR]:PORT"),
        ("[::1]9000", "[IPv6]:PORT"),
        ("[::1", "[IPv6]:PORT"),
        ("[]:80", "host is empty"),
    ],
)
def test_parse_udp_target_rejects(text, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_udp_target(text)


def test_udp_sender_rejects_bad_targets():
    with pytest.raises(TransportError, match="resolve"):
        UdpSender("no such host.invalid", 5005)
    with pytest.raises(TransportError):
        UdpSender("127.0.0.1", 0)


def test_send_after_close_and_bad_record():
    rx = _udp_receiver()
    sender = UdpSender("127.0.0.1", rx.getsockname()[1])
    with pytest.raises(ValueError):
        sender.send("not a record")  # type: ignore[arg-type]
    sender.close()
    sender.close()
    with pytest.raises(TransportError, match="closed"):
        sender.send(record(1))
    rx.close()
