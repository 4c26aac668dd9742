"""Senders of event-protocol records from the device to a controller: serial and UDP.

The wire format is ``firmware_bridge/PROTOCOL.md``: each record becomes one frame,
``COBS(payload + CRC-16) + 0x00`` (23 + N bytes for an event with N classes, 28 for a
heartbeat). :class:`SerialSender` writes frames to a serial port (pyserial, the ``serial``
extra); :class:`UdpSender` sends one frame per UDP datagram.

``send(record)`` encodes the record in the caller's thread (a malformed record raises
:class:`~firmware_bridge.protocol.ProtocolError` there) and only appends the frame to a
bounded queue: it never waits for I/O. A background thread writes the frames. When the queue
is full the **oldest** frame is dropped (``dropped`` counts them), so a stalled or absent link
keeps the most recent ``queue_size`` records. Counters: ``sent`` (frames written), ``dropped``
(pushed out of the queue, or still queued when ``close`` gave up), ``failed`` (writes that
raised), and for serial ``disconnects`` / ``reconnects``. ``close(timeout)`` sends what is
queued for up to ``timeout`` seconds and stops the thread.

A serial port that fails (device unplugged, write error or timeout, port vanished) is
reported once with a logging warning, closed, and reopened every ``retry_interval`` seconds;
each (re)opening starts with one 0x00 so the receiver resynchronises.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import deque
from typing import Any

from edgeser.errors import EdgeserError
from firmware_bridge.protocol import DELIMITER, Record, frame_record

log = logging.getLogger(__name__)


class TransportError(EdgeserError, ValueError):
    """A transport target or setting that cannot be used (bad address, port or size)."""


def parse_udp_target(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (``"[IPv6]:PORT"`` for IPv6 addresses) -> ``(host, port)``; raises
    :class:`TransportError` (a ValueError) with the reason when it is malformed."""
    raw = str(text).strip()
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise TransportError(f"bad UDP target {text!r}: expected [IPv6]:PORT, e.g. [::1]:5005")
        port_text = rest[1:]
    else:
        host, sep, port_text = raw.rpartition(":")
        if not sep:
            raise TransportError(f"bad UDP target {text!r}: expected HOST:PORT, e.g. 10.0.0.2:5005")
        if ":" in host:
            raise TransportError(f"bad UDP target {text!r}: write IPv6 addresses as [ADDR]:PORT")
    if not host:
        raise TransportError(f"bad UDP target {text!r}: the host is empty")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise TransportError(f"bad UDP target {text!r}: the port must be a number in 1..65535")
    return host, int(port_text)


class _QueuedSender:
    """A bounded frame queue drained by one daemon thread; subclasses do the I/O."""

    def __init__(self, name: str, queue_size: int) -> None:
        if int(queue_size) < 1:
            raise TransportError(f"queue_size must be at least 1, got {queue_size}")
        self.queue_size = int(queue_size)
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        self._frames: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closing = False
        self._deadline = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    # -- caller side -------------------------------------------------------------------

    def send(self, record: Record) -> None:
        """Queue one record (returns at once; the oldest queued frame is dropped if full)."""
        wire = frame_record(record)
        with self._cond:
            if self._closing:
                raise TransportError("send() on a closed sender")
            if len(self._frames) >= self.queue_size:
                self._frames.popleft()
                self.dropped += 1
            self._frames.append(wire)
            self._cond.notify_all()

    @property
    def queued(self) -> int:
        """Frames waiting to be written."""
        with self._cond:
            return len(self._frames)

    @property
    def running(self) -> bool:
        """The background thread is alive."""
        return self._thread.is_alive()

    def flush(self, timeout: float = 1.0) -> bool:
        """Wait up to ``timeout`` seconds until every queued frame was written (or failed)."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._frames or self._busy:
                left = end - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 1.0) -> None:
        """Write what is queued for up to ``timeout`` seconds, then stop; frames still
        queued are counted as dropped. Safe to call twice."""
        with self._cond:
            if not self._closing:
                self._closing = True
                self._deadline = time.monotonic() + max(0.0, timeout)
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout + self._io_timeout() + 1.0)

    def stats(self) -> dict[str, int]:
        """The counters, for logs and heartbeats."""
        return {"sent": self.sent, "dropped": self.dropped, "failed": self.failed}

    def __enter__(self) -> _QueuedSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- worker side -------------------------------------------------------------------

    def _stopping(self) -> bool:
        """Closing and either nothing is left or the deadline passed (lock held)."""
        return self._closing and (not self._frames or time.monotonic() >= self._deadline)

    def _wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, woken early by close() (lock held)."""
        if self._closing:
            seconds = min(seconds, self._deadline - time.monotonic())
        if seconds > 0:
            self._cond.wait(seconds)

    def _run(self) -> None:
        try:
            while True:
                if not self._connected():
                    if self._connect():
                        continue
                    with self._cond:
                        if self._stopping():
                            break
                        self._wait(self._retry_interval())
                    continue
                with self._cond:
                    while not self._frames and not self._closing:
                        self._cond.wait()
                    if self._stopping():
                        break
                    wire = self._frames.popleft()
                    self._busy = True
                ok = False
                try:
                    self._write(wire)
                    ok = True
                except OSError as exc:  # pyserial's SerialException is an OSError
                    self._write_failed(exc)
                finally:
                    with self._cond:
                        self._busy = False
                        if ok:
                            self.sent += 1
                        else:
                            self.failed += 1
                        self._cond.notify_all()
        except Exception:  # never die silently: a dead worker would queue forever
            log.exception("%s stopped by an unexpected error", self._thread.name)
        finally:
            with self._cond:
                self.dropped += len(self._frames)
                self._frames.clear()
                self._closing = True
                self._cond.notify_all()
            self._disconnect()

    # hooks
    def _connected(self) -> bool:
        return True

    def _connect(self) -> bool:
        return True

    def _retry_interval(self) -> float:
        return 1.0

    def _io_timeout(self) -> float:
        return 0.0

    def _write(self, wire: bytes) -> None:
        raise NotImplementedError

    def _write_failed(self, exc: OSError) -> None:
        pass

    def _disconnect(self) -> None:
        pass


def _import_serial() -> Any:
    try:
        import serial
    except ImportError as exc:
        raise ImportError(
            "SerialSender needs pyserial: pip install 'edgeser[serial]' (or pyserial)"
        ) from exc
    return serial


class SerialSender(_QueuedSender):
    """Frames to a serial port (8N1 at ``baud``), e.g. ``/dev/ttyUSB0`` or a
    ``/dev/serial/by-id/...`` link, opened in the background and reopened after a failure.

    ``write_timeout`` (seconds) bounds one frame's write; ``retry_interval`` (seconds) is
    the pause between attempts to (re)open the port. ``connected`` tells whether the port is
    open; ``disconnects`` counts failures of an open port, ``reconnects`` successful
    reopenings after the first opening.
    """

    def __init__(
        self,
        port: str,
        baud: int = 115200,
        *,
        queue_size: int = 64,
        retry_interval: float = 1.0,
        write_timeout: float = 0.5,
    ) -> None:
        self._serial = _import_serial()
        if not str(port):
            raise TransportError("the serial port name is empty")
        if int(baud) <= 0:
            raise TransportError(f"baud must be positive, got {baud}")
        if retry_interval <= 0 or write_timeout <= 0:
            raise TransportError("retry_interval and write_timeout must be positive seconds")
        super().__init__(f"edgeser-serial-{port}", queue_size)
        self.port = str(port)
        self.baud = int(baud)
        self.retry_interval = float(retry_interval)
        self.write_timeout = float(write_timeout)
        self.disconnects = 0
        self.reconnects = 0
        self._handle: Any = None
        self._opened_before = False
        self._outage_reported = False
        self._thread.start()

    @property
    def connected(self) -> bool:
        return self._handle is not None

    def wait_connected(self, timeout: float) -> bool:
        """Poll until the port is open (True) or ``timeout`` seconds pass (False)."""
        end = time.monotonic() + timeout
        while not self.connected and time.monotonic() < end:
            time.sleep(0.01)
        return self.connected

    def stats(self) -> dict[str, int]:
        return {
            **super().stats(),
            "disconnects": self.disconnects,
            "reconnects": self.reconnects,
        }

    def _connected(self) -> bool:
        return self._handle is not None

    def _retry_interval(self) -> float:
        return self.retry_interval

    def _io_timeout(self) -> float:
        return self.write_timeout

    def _connect(self) -> bool:
        handle = None
        try:
            handle = self._serial.Serial(
                self.port, self.baud, timeout=0, write_timeout=self.write_timeout
            )
            handle.write(DELIMITER)  # resynchronise the receiver
        except (OSError, ValueError) as exc:
            if handle is not None:
                self._close_quietly(handle)
            if not self._outage_reported:
                log.warning(
                    "serial port %s unavailable (%s); retrying every %.1f s",
                    self.port,
                    exc,
                    self.retry_interval,
                )
                self._outage_reported = True
            return False
        if self._opened_before:
            self.reconnects += 1
            log.warning("serial port %s reopened", self.port)
        self._opened_before = True
        self._outage_reported = False
        self._handle = handle
        return True

    def _write(self, wire: bytes) -> None:
        self._handle.write(wire)

    def _write_failed(self, exc: OSError) -> None:
        self.disconnects += 1
        log.warning(
            "serial port %s lost (%s); a frame was lost, retrying every %.1f s",
            self.port,
            exc,
            self.retry_interval,
        )
        self._outage_reported = True
        self._disconnect()

    def _disconnect(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            self._close_quietly(handle)

    @staticmethod
    def _close_quietly(handle: Any) -> None:
        with contextlib.suppress(OSError):
            handle.close()


class UdpSender(_QueuedSender):
    """Frames as UDP datagrams (one frame, delimiter included, per datagram) to
    ``host:port``; the address is resolved once, here (IPv4 or IPv6; IPv4 broadcast
    allowed). Send errors (e.g. no route) are counted in ``failed`` and logged once per run
    of failures."""

    def __init__(self, host: str, port: int, *, queue_size: int = 64) -> None:
        if not 1 <= int(port) <= 65535:
            raise TransportError(f"UDP port must be in 1..65535, got {port}")
        try:
            infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_DGRAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise TransportError(f"cannot resolve UDP host {host!r}: {exc}") from exc
        family, kind, proto, _, address = infos[0]
        super().__init__(f"edgeser-udp-{host}:{port}", queue_size)
        self.host, self.port = host, int(port)
        self.address = address
        self._sock = socket.socket(family, kind, proto)
        self._sock.settimeout(0.5)
        if family == socket.AF_INET:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self._failing = False
        self._thread.start()

    def _io_timeout(self) -> float:
        return 0.5

    def _write(self, wire: bytes) -> None:
        self._sock.sendto(wire, self.address)
        self._failing = False

    def _write_failed(self, exc: OSError) -> None:
        if not self._failing:
            log.warning("UDP send to %s:%d failed (%s)", self.host, self.port, exc)
            self._failing = True

    def _disconnect(self) -> None:
        self._sock.close()
