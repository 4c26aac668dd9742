"""The event protocol in Python: payloads, CRC, COBS, framing and the streaming decoder."""

from __future__ import annotations

import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeser.errors import EdgeserError
from firmware_bridge.protocol import (
    AV_NONE,
    MAX_CLASSES,
    MAX_FRAME,
    MAX_PAYLOAD,
    EventRecord,
    FrameDecoder,
    HeartbeatRecord,
    ProtocolError,
    SequenceCounter,
    Status,
    cobs_decode,
    cobs_encode,
    crc16_ccitt_false,
    decode_frame,
    decode_record,
    encode_record,
    event_record_from,
    frame,
    frame_record,
    model_id_of,
    records_lost,
    unframe,
)

U32 = st.integers(0, 2**32 - 1)


@st.composite
def events(draw) -> EventRecord:
    n = draw(st.integers(1, MAX_CLASSES))
    return EventRecord(
        seq=draw(U32),
        time_ms=draw(U32),
        model_id=draw(U32),
        label=draw(st.integers(0, n - 1)),
        confidence_u8=draw(st.integers(0, 255)),
        probs_u8=tuple(draw(st.lists(st.integers(0, 255), min_size=n, max_size=n))),
        arousal_i8=draw(st.integers(-128, 127)),
        valence_i8=draw(st.integers(-128, 127)),
    )


heartbeats = st.builds(HeartbeatRecord, U32, U32, U32, U32, U32, st.integers(0, 0xFFFF))
records = st.one_of(events(), heartbeats)

EXAMPLE_EVENT = EventRecord(
    seq=5,
    time_ms=1234,
    model_id=0xDEADBEEF,
    label=1,
    confidence_u8=178,
    probs_u8=(26, 178, 51),
    arousal_i8=64,
    valence_i8=AV_NONE,
)


# --------------------------------------------------------------------------- CRC and COBS


def test_crc_check_value():
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc16_ccitt_false(b"") == 0xFFFF


@given(st.binary(max_size=300))
def test_crc_matches_stdlib_crc_hqx(data):
    # binascii.crc_hqx is the same polynomial, unreflected, with a caller-given init.
    assert crc16_ccitt_false(data) == binascii.crc_hqx(data, 0xFFFF)
    crc = crc16_ccitt_false(data)
    assert crc16_ccitt_false(data + crc.to_bytes(2, "big")) == 0


RUN = bytes(range(1, 256))  # 255 non-zero bytes 01..FF


@pytest.mark.parametrize(
    ("data", "encoded"),
    [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
        (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
        (RUN[:254], b"\xff" + RUN[:254]),  # 254-byte run: no trailing 0x01 block
        (b"\x00" + RUN[:254], b"\x01\xff" + RUN[:254]),
        (RUN, b"\xff" + RUN[:254] + b"\x02\xff"),  # 255-byte run
        (RUN[1:] + b"\x00", b"\xff" + RUN[1:] + b"\x01\x01"),
        (RUN[2:] + b"\x00\x01", b"\xfe" + RUN[2:] + b"\x02\x01"),
        (RUN[:253], b"\xfe" + RUN[:253]),
        (RUN[:254] * 2, b"\xff" + RUN[:254] + b"\xff" + RUN[:254]),
        (RUN[:254] + b"\x00" + RUN[:254], b"\xff" + RUN[:254] + b"\x01\xff" + RUN[:254]),
    ],
    ids=lambda v: f"{len(v)}B",
)
def test_cobs_known_encodings(data, encoded):
    assert cobs_encode(data) == encoded
    assert cobs_decode(encoded) == data


@given(
    st.one_of(
        st.binary(max_size=800),
        st.lists(st.sampled_from([b"\x00", b"\x01", RUN[:254], RUN[:253], RUN]), max_size=6).map(
            b"".join
        ),
    )
)
def test_cobs_round_trip_and_overhead(data):
    enc = cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(enc) == data


@pytest.mark.parametrize(
    "bad", [b"", b"\x00", b"\x03\x11", b"\x02\x11\x05", b"\x03\x00\x01", b"\xff" + b"\x01" * 10]
)
def test_cobs_rejects_malformed(bad):
    with pytest.raises(ProtocolError) as info:
        cobs_decode(bad)
    assert info.value.reason == "cobs"


# --------------------------------------------------------------------------- payloads


def test_error_types():
    assert issubclass(ProtocolError, EdgeserError)
    assert issubclass(ProtocolError, ValueError)


def test_event_payload_layout():
    payload = encode_record(EXAMPLE_EVENT)
    assert payload.hex() == "010105000000d2040000efbeadde01b24080031ab233"
    assert len(payload) == 19 + 3
    assert frame(payload).hex() == "04010105010103d204010fefbeadde01b24080031ab233fe1d00"


def test_heartbeat_payload_layout():
    hb = HeartbeatRecord(
        seq=0x01020304,
        time_ms=0xA0B0C0D0,
        model_id=0x11223344,
        dropped_audio=7,
        dropped_events=0x01000000,
        flags=Status.AUDIO_RUNNING | Status.MODEL_LOADED,
    )
    payload = encode_record(hb)
    assert payload.hex() == "010204030201d0c0b0a044332211070000000000000103" + "00"
    assert len(payload) == 24
    assert decode_record(payload) == hb


@settings(max_examples=300)
@given(records)
def test_record_round_trip(rec):
    payload = encode_record(rec)
    assert decode_record(payload) == rec
    wire = frame_record(rec)
    assert wire.endswith(b"\x00") and 0 not in wire[:-1]
    assert len(wire) - 1 <= MAX_FRAME
    assert len(wire) == len(payload) + 4  # COBS byte + CRC + delimiter
    assert decode_frame(wire) == rec
    assert unframe(wire[:-1]) == payload


def test_float_views():
    assert EXAMPLE_EVENT.confidence == pytest.approx(178 / 255)
    assert EXAMPLE_EVENT.probabilities == pytest.approx((26 / 255, 178 / 255, 51 / 255))
    assert EXAMPLE_EVENT.arousal == pytest.approx(64 / 127)
    assert EXAMPLE_EVENT.valence is None
    assert EXAMPLE_EVENT.num_classes == 3


def test_event_record_from_plain_values():
    rec = event_record_from(
        [0.1, 0.7, 0.2], seq=2**32 + 3, time_ms=2**32 + 10, model_id=7, arousal=-1.0, valence=1
    )
    assert (rec.seq, rec.time_ms, rec.label) == (3, 10, 1)
    assert rec.probs_u8 == (26, 178, 51)  # round(p * 255)
    assert rec.confidence_u8 == 178
    assert (rec.arousal_i8, rec.valence_i8) == (-127, 127)
    rec = event_record_from([1.0], seq=0, time_ms=0, model_id=0, label=0, confidence=0.5)
    assert (rec.confidence_u8, rec.arousal_i8, rec.valence_i8) == (128, AV_NONE, AV_NONE)
    rec = event_record_from([1 + 1e-9, -1e-9], seq=0, time_ms=0, model_id=0)  # float slack
    assert rec.probs_u8 == (255, 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"probabilities": []},
        {"probabilities": [0.5] * 33},
        {"probabilities": [float("nan"), 0.5]},
        {"probabilities": [1.5]},
        {"probabilities": [-0.2, 1.0]},
        {"probabilities": [0.5, 0.5], "label": 2},
        {"probabilities": [0.5, 0.5], "confidence": 2.0},
        {"probabilities": [0.5, 0.5], "arousal": 1.2},
        {"probabilities": [0.5, 0.5], "valence": float("inf")},
        {"probabilities": [0.5, 0.5], "model_id": 2**32},
        {"probabilities": [0.5, 0.5], "model_id": -1},
    ],
)
def test_event_record_from_rejects_bad_values(kwargs):
    args = {"seq": 0, "time_ms": 0, "model_id": 1, **kwargs}
    with pytest.raises(ProtocolError):
        event_record_from(args.pop("probabilities"), **args)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"label": 3},
        {"probs_u8": ()},
        {"probs_u8": (1,) * 33},
        {"probs_u8": (256, 1, 1)},
        {"confidence_u8": -1},
        {"arousal_i8": 128},
        {"seq": 2**32},
        {"time_ms": -1},
        {"label": True},
    ],
)
def test_event_record_validates(kwargs):
    fields = {**EXAMPLE_EVENT.__dict__, **kwargs}
    with pytest.raises(ProtocolError):
        EventRecord(**fields)


def test_heartbeat_validates():
    with pytest.raises(ProtocolError):
        HeartbeatRecord(0, 0, 0, flags=0x10000)
    with pytest.raises(ProtocolError):
        HeartbeatRecord(0, 0, 0, dropped_audio=-1)


def _payload_with(offset: int, value: int, base: bytes | None = None) -> bytes:
    data = bytearray(encode_record(EXAMPLE_EVENT) if base is None else base)
    data[offset] = value
    return bytes(data)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "length"),
        (encode_record(EXAMPLE_EVENT)[:13], "length"),
        (encode_record(EXAMPLE_EVENT)[:18], "length"),
        (encode_record(EXAMPLE_EVENT)[:-1], "length"),
        (encode_record(EXAMPLE_EVENT) + b"\x00", "length"),
        (encode_record(HeartbeatRecord(1, 2, 3)) + b"\x00", "length"),
        (encode_record(HeartbeatRecord(1, 2, 3))[:-1], "length"),
        (_payload_with(0, 2), "version"),
        (_payload_with(0, 0), "version"),
        (_payload_with(1, 3), "type"),
        (_payload_with(1, 0), "type"),
        (_payload_with(14, 3), "field"),  # label == N
        (_payload_with(18, 0, encode_record(EXAMPLE_EVENT)[:19]), "field"),  # N == 0
        (_payload_with(18, 33, encode_record(EXAMPLE_EVENT)[:19] + bytes(33)), "field"),
    ],
)
def test_decode_rejects_malformed_payloads(payload, reason):
    with pytest.raises(ProtocolError) as info:
        decode_record(payload)
    assert info.value.reason == reason


def test_unframe_rejects():
    wire = frame_record(EXAMPLE_EVENT)
    body = bytearray(wire[:-1])
    body[7] ^= 0x01  # a data byte (0xd2), not a COBS code byte
    with pytest.raises(ProtocolError, match="CRC") as info:
        unframe(bytes(body))
    assert info.value.reason == "crc"
    with pytest.raises(ProtocolError) as info:
        unframe(b"\x02\x01")  # one decoded byte: shorter than a CRC
    assert info.value.reason == "length"
    with pytest.raises(ProtocolError) as info:
        unframe(b"\x01" * (MAX_FRAME + 1))
    assert info.value.reason == "oversize"
    with pytest.raises(ProtocolError) as info:
        frame(bytes(MAX_PAYLOAD + 1))
    assert info.value.reason == "oversize"
    with pytest.raises(ProtocolError):
        encode_record("not a record")  # type: ignore[arg-type]


def test_model_id_is_the_start_of_the_sha256(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(b"edgeser")
    # sha256(b"edgeser") starts with these 4 bytes
    import hashlib

    expected = int(hashlib.sha256(b"edgeser").hexdigest()[:8], 16)
    assert model_id_of(path) == model_id_of(str(path)) == model_id_of(b"edgeser") == expected


def test_sequence_counter_wraps():
    seq = SequenceCounter(2**32 - 2)
    assert [seq.next() for _ in range(4)] == [2**32 - 2, 2**32 - 1, 0, 1]
    assert records_lost(2**32 - 1, 0) == 0
    assert records_lost(2**32 - 2, 1) == 2
    assert records_lost(10, 11) == 0


# --------------------------------------------------------------------------- streaming decoder


def test_decoder_stream_in_one_byte_pieces_and_counts():
    recs = [EXAMPLE_EVENT, HeartbeatRecord(6, 1300, 0xDEADBEEF, flags=3)]
    stream = b"\x00\x00" + b"".join(frame_record(r) for r in recs) + b"\x00"
    dec = FrameDecoder()
    got = [r for i in range(len(stream)) for r in dec.feed(stream[i : i + 1])]
    assert got == recs
    assert (dec.decoded, dec.dropped, dec.pending) == (2, 0, 0)


def test_decoder_joins_mid_stream():
    wire = frame_record(EXAMPLE_EVENT)
    dec = FrameDecoder()
    assert dec.feed(wire[7:] + wire + wire[:4]) == [EXAMPLE_EVENT]
    assert dec.dropped == 1 and dec.pending == 4
    assert dec.feed(wire[4:]) == [EXAMPLE_EVENT]
    assert (dec.decoded, dec.dropped) == (2, 1)


def test_decoder_drops_oversized_runs_without_buffering_them():
    wire = frame_record(EXAMPLE_EVENT)
    dec = FrameDecoder()
    for _ in range(100):  # 10 KB without a delimiter
        assert dec.feed(b"\x55" * 100) == []
        assert dec.pending <= MAX_FRAME
    assert dec.feed(b"\x00" + wire) == [EXAMPLE_EVENT]
    assert dec.dropped == 1 and dec.last_error.reason == "oversize"
    # exactly MAX_FRAME bytes is not oversized (it fails later checks instead)
    dec.feed(b"\x01" * MAX_FRAME + b"\x00")
    assert dec.last_error.reason != "oversize"
    dec.feed(b"\x01" * (MAX_FRAME + 1) + b"\x00")
    assert dec.last_error.reason == "oversize"


# --------------------------------------------------------------------------- properties

# Deterministic example generation: a corrupted frame slips through only on a CRC collision
# (about 2**-16 of corruptions), so random runs could, very rarely, flake.
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)


@PROPERTY
@given(st.binary(max_size=2000), st.integers(1, 64))
def test_decoder_random_bytes_never_raise(data, chunk):
    dec = FrameDecoder()
    got = []
    for i in range(0, len(data), chunk):
        got += dec.feed(data[i : i + chunk])
    assert dec.decoded == len(got)
    assert dec.dropped <= data.count(0)
    assert dec.pending <= MAX_FRAME
    for rec in got:  # whatever came out is well-formed
        assert decode_record(encode_record(rec)) == rec


def _corrupt(body: bytes, how: str, data) -> bytes:
    """A changed copy of a frame's body (without the delimiter)."""
    if how == "truncate":
        return body[: data.draw(st.integers(1, len(body) - 1))]
    if how == "flip":
        i = data.draw(st.integers(0, len(body) - 1))
        bit = data.draw(st.integers(0, 7))
        return body[:i] + bytes([body[i] ^ (1 << bit)]) + body[i + 1 :]
    if how == "flips":
        out = bytearray(body)
        for _ in range(data.draw(st.integers(2, 6))):
            out[data.draw(st.integers(0, len(out) - 1))] ^= data.draw(st.integers(1, 255))
        return bytes(out)
    if how == "insert":
        i = data.draw(st.integers(1, len(body) - 1))
        return body[:i] + data.draw(st.binary(min_size=1, max_size=4)) + body[i:]
    if how == "delete":
        i = data.draw(st.integers(0, len(body) - 1))
        return body[:i] + body[i + 1 :]
    assert how == "oversize"
    return body + data.draw(st.binary(min_size=MAX_FRAME, max_size=200)).replace(b"\x00", b"\x07")


CORRUPTIONS = ["intact", "truncate", "flip", "flips", "insert", "delete", "oversize"]


@PROPERTY
@given(
    st.lists(
        st.tuples(
            records,
            st.sampled_from(CORRUPTIONS),
            st.binary(max_size=40),
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 97),
    st.data(),
)
def test_decoder_rejects_corrupted_and_recovers_intact(items, chunk, data):
    """Frames, some corrupted (truncated, bit-flipped, bytes inserted or deleted, oversized),
    with garbage between them: every intact frame comes out, in order, and nothing else."""
    stream = bytearray()
    intact = []
    for rec, how, garbage in items:
        stream += garbage + b"\x00"  # garbage, then a delimiter before the next frame
        body = frame_record(rec)[:-1]
        if how == "intact":
            intact.append(rec)
        else:
            body = _corrupt(body, how, data)
            if body.strip(b"\x00") == frame_record(rec)[:-1]:
                intact.append(rec)  # the change only added delimiters around the frame
        stream += body + b"\x00"
    dec = FrameDecoder()
    got = []
    for i in range(0, len(stream), chunk):
        got += dec.feed(bytes(stream[i : i + chunk]))
    assert got == intact
    assert dec.decoded == len(intact)
    runs = [run for run in bytes(stream).split(b"\x00")[:-1] if run]
    assert dec.dropped == len(runs) - len(intact)


@PROPERTY
@given(records, st.data())
def test_every_truncation_and_single_bit_flip_is_rejected(rec, data):
    body = frame_record(rec)[:-1]
    for n in range(len(body)):
        with pytest.raises(ProtocolError):
            decode_frame(body[:n])
    i = data.draw(st.integers(0, len(body) - 1))
    for bit in range(8):
        flipped = body[:i] + bytes([body[i] ^ (1 << bit)]) + body[i + 1 :]
        dec = FrameDecoder()
        assert dec.feed(flipped + b"\x00") == []
        assert dec.dropped >= 1
