"""The edgeser event protocol (version 1): emotion events and heartbeats on a byte wire.

Byte for byte specification: ``firmware_bridge/PROTOCOL.md``; C99 twin (decoder and encoder
for controller firmware): ``firmware_bridge/protocol/ep_protocol.[ch]``.

Two layers:

* **Payload** (:func:`encode_record` / :func:`decode_record`): a fixed little-endian layout.
  Common header, 14 bytes: version u8 (1), type u8 (1 event, 2 heartbeat), sequence u32,
  stream time u32 (milliseconds), model id u32. An event then has label u8, confidence u8
  (0..255 = 0..1), arousal i8 and valence i8 (round(v * 127), -128 = not available), the
  number of classes N u8 (1..32) and N probabilities u8 (round(p * 255)): 19 + N bytes.
  A heartbeat then has dropped audio chunks u32, dropped events u32, status flags u16:
  24 bytes.
* **Frame** (:func:`frame` / :func:`unframe` / :class:`FrameDecoder`): ``COBS(payload + CRC)``
  followed by one 0x00 delimiter. The CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF,
  not reflected, xorout 0) of the payload, appended **big-endian** (high byte first), so the
  CRC of payload + CRC is 0. A frame is at most :data:`MAX_FRAME` (64) bytes before its
  delimiter.

Anything malformed raises :class:`ProtocolError` (a ``ValueError``); its ``reason`` is one of
``"oversize"``, ``"cobs"``, ``"length"``, ``"crc"``, ``"version"``, ``"type"``, ``"field"``
(the names of the C error codes ``EP_ERR_*``).
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from pathlib import Path

from edgeser.errors import EdgeserError

PROTOCOL_VERSION = 1
MAX_CLASSES = 32
HEADER_SIZE = 14  # version, type, sequence, stream time, model id
EVENT_FIXED_SIZE = 19  # header + label, confidence, arousal, valence, N
HEARTBEAT_SIZE = 24  # header + dropped audio, dropped events, flags
MAX_PAYLOAD = EVENT_FIXED_SIZE + MAX_CLASSES  # 51 bytes
CRC_SIZE = 2
MAX_FRAME = 64  # encoded bytes before the 0x00 delimiter; longer runs are dropped
DELIMITER = b"\x00"
AV_NONE = -128  # arousal/valence byte meaning "not available"
U32 = 0xFFFFFFFF

_HEADER = struct.Struct("<BBIII")
_EVENT_TAIL = struct.Struct("<BBbbB")
_HEARTBEAT_TAIL = struct.Struct("<IIH")


class ProtocolError(EdgeserError, ValueError):
    """A record, payload or frame that is malformed; ``reason`` says which check failed."""

    def __init__(self, message: str, reason: str = "field") -> None:
        super().__init__(message)
        self.reason = reason


class MessageType(IntEnum):
    """The type byte (payload offset 1)."""

    EVENT = 1
    HEARTBEAT = 2


class Status(IntFlag):
    """Heartbeat status flags (u16). Undefined bits are sent as 0 and ignored on receipt."""

    AUDIO_RUNNING = 0x0001  # audio capture is running
    MODEL_LOADED = 0x0002  # a model is loaded and producing events
    AUDIO_OVERRUN = 0x0004  # audio was dropped since the previous heartbeat
    SENDER_DROPS = 0x0008  # the transport dropped records since the previous heartbeat


def _check_int(name: str, value: int, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ProtocolError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")


@dataclass(frozen=True)
class EventRecord:
    """An emotion event, as carried on the wire (quantised values; float views as properties).

    ``seq``: sequence number (u32, wraps; shared by events and heartbeats of one sender).
    ``time_ms``: stream time of the window's end in milliseconds (u32, wraps after ~49.7 days).
    ``model_id``: first 4 bytes of the model file's sha256 read big-endian (:func:`model_id_of`).
    ``label``: class index (< N). ``confidence_u8``: 0..255 for 0..1.
    ``probs_u8``: N class probabilities, each 0..255 for 0..1 (1 <= N <= 32).
    ``arousal_i8``, ``valence_i8``: -127..127 for -1..1, or -128 (:data:`AV_NONE`) if absent.
    """

    seq: int
    time_ms: int
    model_id: int
    label: int
    confidence_u8: int
    probs_u8: tuple[int, ...]
    arousal_i8: int = AV_NONE
    valence_i8: int = AV_NONE

    def __post_init__(self) -> None:
        object.__setattr__(self, "probs_u8", tuple(self.probs_u8))
        for name in ("seq", "time_ms", "model_id"):
            _check_int(name, getattr(self, name), 0, U32)
        if not 1 <= len(self.probs_u8) <= MAX_CLASSES:
            raise ProtocolError(f"an event has 1..{MAX_CLASSES} classes, got {len(self.probs_u8)}")
        for p in self.probs_u8:
            _check_int("a class probability byte", p, 0, 255)
        _check_int("label", self.label, 0, len(self.probs_u8) - 1)
        _check_int("confidence_u8", self.confidence_u8, 0, 255)
        _check_int("arousal_i8", self.arousal_i8, -128, 127)
        _check_int("valence_i8", self.valence_i8, -128, 127)

    @property
    def num_classes(self) -> int:
        return len(self.probs_u8)

    @property
    def confidence(self) -> float:
        """Confidence in [0, 1] (byte / 255)."""
        return self.confidence_u8 / 255

    @property
    def probabilities(self) -> tuple[float, ...]:
        """Class probabilities in [0, 1] (bytes / 255)."""
        return tuple(p / 255 for p in self.probs_u8)

    @property
    def arousal(self) -> float | None:
        """Arousal in [-1, 1] (byte / 127), or None when not available."""
        return None if self.arousal_i8 == AV_NONE else self.arousal_i8 / 127

    @property
    def valence(self) -> float | None:
        """Valence in [-1, 1] (byte / 127), or None when not available."""
        return None if self.valence_i8 == AV_NONE else self.valence_i8 / 127


@dataclass(frozen=True)
class HeartbeatRecord:
    """A periodic heartbeat. ``seq``, ``time_ms``, ``model_id`` as in :class:`EventRecord`;
    ``dropped_audio``: audio chunks dropped since the stream started (u32, wraps);
    ``dropped_events``: records the sender's queue dropped since it started (u32, wraps);
    ``flags``: :class:`Status` bits (u16)."""

    seq: int
    time_ms: int
    model_id: int
    dropped_audio: int = 0
    dropped_events: int = 0
    flags: int = 0

    def __post_init__(self) -> None:
        for name in ("seq", "time_ms", "model_id", "dropped_audio", "dropped_events"):
            _check_int(name, getattr(self, name), 0, U32)
        _check_int("flags", self.flags, 0, 0xFFFF)
        object.__setattr__(self, "flags", int(self.flags))


Record = EventRecord | HeartbeatRecord


# --------------------------------------------------------------------------- CRC and COBS


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16_ccitt_false(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, MSB first, no xorout (check 0x29B1)."""
    table = _CRC_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: ``data`` without any 0x00, at most
    1 + len // 254 bytes longer. A trailing run of exactly 254 non-zero bytes ends the
    output without a final 0x01 block (the encoding of the COBS paper's examples)."""
    out = bytearray()
    parts = bytes(data).split(b"\x00")
    last = len(parts) - 1
    for k, part in enumerate(parts):
        start = 0
        while len(part) - start >= 254:
            out.append(0xFF)
            out += part[start : start + 254]
            start += 254
        if start and start == len(part) and k == last:
            break
        out.append(len(part) - start + 1)
        out += part[start:]
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of :func:`cobs_encode`; raises :class:`ProtocolError` (reason ``"cobs"``)
    on a 0x00 byte, an empty input or a block running past the end."""
    data = bytes(data)
    n = len(data)
    if n == 0:
        raise ProtocolError("empty COBS block", "cobs")
    out = bytearray()
    i = 0
    while i < n:
        code = data[i]
        end = i + code
        if code == 0 or end > n:
            raise ProtocolError("bad COBS code byte", "cobs")
        block = data[i + 1 : end]
        if 0 in block:
            raise ProtocolError("0x00 inside a COBS block", "cobs")
        out += block
        i = end
        if i < n and code != 0xFF:
            out.append(0)
    return bytes(out)


# --------------------------------------------------------------------------- payloads


def encode_record(rec: Record) -> bytes:
    """The payload bytes of a record (19 + N bytes for an event, 24 for a heartbeat)."""
    if isinstance(rec, EventRecord):
        head = _HEADER.pack(PROTOCOL_VERSION, MessageType.EVENT, rec.seq, rec.time_ms, rec.model_id)
        tail = _EVENT_TAIL.pack(
            rec.label, rec.confidence_u8, rec.arousal_i8, rec.valence_i8, len(rec.probs_u8)
        )
        return head + tail + bytes(rec.probs_u8)
    if isinstance(rec, HeartbeatRecord):
        head = _HEADER.pack(
            PROTOCOL_VERSION, MessageType.HEARTBEAT, rec.seq, rec.time_ms, rec.model_id
        )
        return head + _HEARTBEAT_TAIL.pack(rec.dropped_audio, rec.dropped_events, rec.flags)
    raise ProtocolError(f"not a protocol record: {type(rec).__name__}")


def decode_record(payload: bytes) -> Record:
    """Parse a payload (no CRC, no framing); :class:`ProtocolError` if it is malformed:
    wrong length for its type, version other than 1, unknown type, N outside 1..32 or
    label >= N."""
    payload = bytes(payload)
    if len(payload) < HEADER_SIZE:
        raise ProtocolError(f"payload of {len(payload)} bytes is too short", "length")
    version, kind, seq, time_ms, model_id = _HEADER.unpack_from(payload)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {version}", "version")
    if kind == MessageType.HEARTBEAT:
        if len(payload) != HEARTBEAT_SIZE:
            raise ProtocolError(f"heartbeat of {len(payload)} bytes (expected 24)", "length")
        audio, events, flags = _HEARTBEAT_TAIL.unpack_from(payload, HEADER_SIZE)
        return HeartbeatRecord(seq, time_ms, model_id, audio, events, flags)
    if kind != MessageType.EVENT:
        raise ProtocolError(f"unknown message type {kind}", "type")
    if len(payload) < EVENT_FIXED_SIZE:
        raise ProtocolError(f"event of {len(payload)} bytes is too short", "length")
    label, confidence, arousal, valence, n = _EVENT_TAIL.unpack_from(payload, HEADER_SIZE)
    if len(payload) != EVENT_FIXED_SIZE + n:
        raise ProtocolError(f"event of {len(payload)} bytes with {n} classes", "length")
    if not 1 <= n <= MAX_CLASSES or label >= n:
        raise ProtocolError(f"event with {n} classes and label {label}", "field")
    probs = tuple(payload[EVENT_FIXED_SIZE:])
    return EventRecord(seq, time_ms, model_id, label, confidence, probs, arousal, valence)


# --------------------------------------------------------------------------- frames


def frame(payload: bytes) -> bytes:
    """``COBS(payload + CRC16 big-endian) + b"\\x00"``: the bytes to put on the wire."""
    payload = bytes(payload)
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes > {MAX_PAYLOAD}", "oversize")
    return cobs_encode(payload + crc16_ccitt_false(payload).to_bytes(2, "big")) + DELIMITER


def frame_record(rec: Record) -> bytes:
    """``frame(encode_record(rec))``."""
    return frame(encode_record(rec))


def unframe(body: bytes) -> bytes:
    """The payload of one frame's bytes (one trailing 0x00 delimiter is allowed): checks the
    size (<= MAX_FRAME), the COBS encoding and the CRC; :class:`ProtocolError` otherwise."""
    body = bytes(body)
    if body.endswith(DELIMITER):
        body = body[:-1]
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes > {MAX_FRAME}", "oversize")
    raw = cobs_decode(body)
    if len(raw) < CRC_SIZE:
        raise ProtocolError("frame shorter than its CRC", "length")
    if crc16_ccitt_false(raw) != 0:
        raise ProtocolError("CRC mismatch", "crc")
    return raw[:-CRC_SIZE]


def decode_frame(body: bytes) -> Record:
    """``decode_record(unframe(body))``."""
    return decode_record(unframe(body))


class FrameDecoder:
    """Streaming receiver: ``feed(bytes)`` returns the records completed by those bytes.

    Splits the stream at 0x00 delimiters. Each non-empty run between delimiters is one
    frame; a run that is oversized (> MAX_FRAME bytes, never buffered beyond that), badly
    COBS-encoded, fails the CRC or holds a malformed payload is dropped and counted
    (``dropped``; ``last_error`` keeps the last :class:`ProtocolError`), and decoding goes
    on after the next delimiter. Empty runs (repeated delimiters) are ignored. A decoder
    that joins mid-stream usually counts the partial frame it joined in as one dropped frame.
    ``decoded`` counts records returned. The C decoder counts exactly the same way.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._oversized = False
        self.decoded = 0
        self.dropped = 0
        self.last_error: ProtocolError | None = None

    @property
    def pending(self) -> int:
        """Bytes of the current, incomplete frame held (0..MAX_FRAME)."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget the incomplete frame (counters are kept)."""
        self._buf.clear()
        self._oversized = False

    def _append(self, part: bytes) -> None:
        if self._oversized:
            return
        if len(self._buf) + len(part) > MAX_FRAME:
            self._oversized = True
            self._buf.clear()
        else:
            self._buf += part

    def feed(self, data: bytes) -> list[Record]:
        """Consume bytes; return the records whose frames ended in them, in order."""
        parts = bytes(data).split(DELIMITER)
        out: list[Record] = []
        for part in parts[:-1]:
            self._append(part)
            oversized, body = self._oversized, bytes(self._buf)
            self.reset()
            if not oversized and not body:
                continue
            try:
                if oversized:
                    raise ProtocolError(f"frame longer than {MAX_FRAME} bytes", "oversize")
                rec = decode_frame(body)
            except ProtocolError as exc:
                self.dropped += 1
                self.last_error = exc
                continue
            self.decoded += 1
            out.append(rec)
        self._append(parts[-1])
        return out


# --------------------------------------------------------------------------- helpers


def model_id_of(model: bytes | str | Path) -> int:
    """The model id (u32): the first 4 bytes of the sha256 of the model file (a path) or
    of its bytes, read big-endian, so ``f"{id:08x}"`` is the start of ``sha256sum``."""
    data = Path(model).read_bytes() if isinstance(model, (str, Path)) else bytes(model)
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big")


def _unit_byte(name: str, value: float, scale: int, lo: float) -> int:
    value = float(value)
    if not math.isfinite(value) or not lo - 1e-6 <= value <= 1 + 1e-6:
        raise ProtocolError(f"{name} must be a finite number in [{lo:g}, 1], got {value!r}")
    return round(min(max(value, lo), 1.0) * scale)


def event_record_from(
    probabilities: Sequence[float],
    *,
    seq: int,
    time_ms: int,
    model_id: int,
    label: int | None = None,
    confidence: float | None = None,
    arousal: float | None = None,
    valence: float | None = None,
) -> EventRecord:
    """An :class:`EventRecord` from plain values.

    ``probabilities``: N (1..32) floats in [0, 1], each sent as round(p * 255) (Python
    rounding, half to even). ``label`` defaults to the arg-max, ``confidence`` (in [0, 1])
    to the label's probability. ``arousal`` / ``valence`` in [-1, 1] are sent as
    round(v * 127); None sends -128 (not available). ``seq`` and ``time_ms`` (milliseconds)
    are reduced modulo 2**32 (they wrap on the wire).
    """
    probs = [float(p) for p in probabilities]
    if not 1 <= len(probs) <= MAX_CLASSES:
        raise ProtocolError(f"an event has 1..{MAX_CLASSES} classes, got {len(probs)}")
    probs_u8 = tuple(_unit_byte("a class probability", p, 255, 0.0) for p in probs)
    if label is None:
        label = max(range(len(probs)), key=probs.__getitem__)
    _check_int("label", label, 0, len(probs) - 1)
    conf = probs[label] if confidence is None else confidence
    return EventRecord(
        seq=int(seq) & U32,
        time_ms=int(time_ms) & U32,
        model_id=int(model_id),
        label=int(label),
        confidence_u8=_unit_byte("confidence", conf, 255, 0.0),
        probs_u8=probs_u8,
        arousal_i8=AV_NONE if arousal is None else _unit_byte("arousal", arousal, 127, -1.0),
        valence_i8=AV_NONE if valence is None else _unit_byte("valence", valence, 127, -1.0),
    )


class SequenceCounter:
    """Sequence numbers for one sender: 0, 1, 2, ... modulo 2**32 (events and heartbeats
    share it, so a receiver sees a lost record as a gap)."""

    def __init__(self, start: int = 0) -> None:
        self._next = int(start) & U32

    def next(self) -> int:
        value = self._next
        self._next = (value + 1) & U32
        return value


def records_lost(previous_seq: int, seq: int) -> int:
    """How many records are missing between two received sequence numbers (mod 2**32)."""
    return (seq - previous_seq - 1) & U32
