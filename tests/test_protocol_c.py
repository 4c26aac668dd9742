"""The C99 event protocol (firmware_bridge/protocol/ep_protocol.c), built with the system
compiler: byte-identical with the Python side in both directions, and fuzzed under
AddressSanitizer + UndefinedBehaviorSanitizer."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from firmware_bridge.protocol import (
    MAX_CLASSES,
    EventRecord,
    FrameDecoder,
    HeartbeatRecord,
    Record,
    cobs_encode,
    crc16_ccitt_false,
    encode_record,
    frame_record,
)

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL_DIR = ROOT / "firmware_bridge" / "protocol"
DRIVERS = ROOT / "tests" / "c"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
SANITIZER_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0", "UBSAN_OPTIONS": ""}
FUZZ_FRAMES, FUZZ_SEED = 300_000, 20240601


def _compile(out: Path, driver: str, flags: list[str]) -> Path:
    cmd = ["cc", *STRICT, *flags, f"-I{PROTOCOL_DIR}", "-o", str(out)]
    cmd += [str(DRIVERS / driver), str(PROTOCOL_DIR / "ep_protocol.c")]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    if shutil.which("cc") is None:
        pytest.fail("the tests need the system C compiler (cc)")
    return tmp_path_factory.mktemp("ep_build")


@pytest.fixture(scope="module")
def ep_pipe(build_dir) -> Path:
    return _compile(build_dir / "ep_pipe", "ep_pipe.c", ["-O2"])


def _sanitizers_work(build_dir: Path) -> str | None:
    """None if cc builds and runs an ASan + UBSan program, else why not."""
    probe = build_dir / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    exe = build_dir / "probe"
    built = subprocess.run(["cc", *SANITIZE, str(probe), "-o", str(exe)], capture_output=True)
    if built.returncode != 0:
        return "the C compiler cannot build with -fsanitize=address,undefined"
    ran = subprocess.run([str(exe)], capture_output=True, env=SANITIZER_ENV)
    if ran.returncode != 0:
        return f"sanitized programs do not run here: {ran.stderr.decode()[:200]}"
    return None


@pytest.fixture(scope="module")
def ep_fuzz_asan(build_dir) -> Path:
    reason = _sanitizers_work(build_dir)
    if reason:
        pytest.skip(reason)
    return _compile(build_dir / "ep_fuzz_asan", "ep_fuzz.c", ["-O1", "-g", *SANITIZE])


def _run(exe: Path, *args: str, data: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *args], input=data, capture_output=True, timeout=120)


def to_line(rec: Record) -> str:
    """A record as ep_pipe's text line."""
    if isinstance(rec, EventRecord):
        fields = [rec.seq, rec.time_ms, rec.model_id, rec.label, rec.confidence_u8]
        fields += [rec.arousal_i8, rec.valence_i8, rec.num_classes, *rec.probs_u8]
        return "E " + " ".join(map(str, fields))
    fields = [rec.seq, rec.time_ms, rec.model_id, rec.dropped_audio, rec.dropped_events]
    return "H " + " ".join(map(str, [*fields, rec.flags]))


def from_line(line: str) -> Record:
    kind, *values = line.split()
    v = [int(x) for x in values]
    if kind == "E":
        return EventRecord(v[0], v[1], v[2], v[3], v[4], tuple(v[8:]), v[5], v[6])
    return HeartbeatRecord(*v)


def random_records(rng: random.Random, count: int) -> list[Record]:
    out: list[Record] = []
    for _ in range(count):
        seq, time_ms, model = (rng.getrandbits(32) for _ in range(3))
        if rng.random() < 0.75:
            n = rng.randint(1, MAX_CLASSES)
            probs = tuple(
                rng.choice([0, 1, 127, 128, 254, 255, rng.randint(0, 255)]) for _ in range(n)
            )
            out.append(
                EventRecord(
                    seq,
                    time_ms,
                    model,
                    label=rng.randrange(n),
                    confidence_u8=rng.randint(0, 255),
                    probs_u8=probs,
                    arousal_i8=rng.choice([-128, -127, 0, 127, rng.randint(-128, 127)]),
                    valence_i8=rng.choice([-128, -127, 0, 127, rng.randint(-128, 127)]),
                )
            )
        else:
            extra = [rng.choice([0, 2**32 - 1, rng.getrandbits(32)]) for _ in range(2)]
            out.append(HeartbeatRecord(seq, time_ms, model, *extra, rng.getrandbits(16)))
    return out


def c_decode(ep_pipe: Path, stream: bytes) -> tuple[list[Record], int, int]:
    result = _run(ep_pipe, "decode", data=stream)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    _, _, decoded, _, dropped = lines[-1].split()
    return [from_line(x) for x in lines[:-1]], int(decoded), int(dropped)


def test_strict_warnings_build(build_dir):
    """The library alone is also clean under -Wconversion -Wsign-conversion -Wshadow."""
    extra = ["-Wconversion", "-Wsign-conversion", "-Wshadow", "-Wcast-align", "-O2", "-c"]
    cmd = ["cc", *STRICT, *extra, str(PROTOCOL_DIR / "ep_protocol.c")]
    result = subprocess.run([*cmd, "-o", str(build_dir / "ep.o")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_crc_check_value_and_random_data(ep_pipe):
    assert _run(ep_pipe, "crc", data=b"123456789").stdout == b"29b1\n"
    rng = random.Random(3)
    for size in (0, 1, 2, 63, 64, 1000):
        data = rng.randbytes(size)
        expected = f"{crc16_ccitt_false(data):04x}\n".encode()
        assert _run(ep_pipe, "crc", data=data).stdout == expected


def test_cobs_edge_cases_match_python(ep_pipe):
    run = bytes(range(1, 256))
    cases = [b"", b"\x00", b"\x00\x00", b"\x11\x00\x00\x00", run[:253], run[:254], run]
    cases += [run[:254] * 2, run[:254] + b"\x00", b"\x00" + run[:254], run[1:] + b"\x00"]
    cases += [bytes(300), run * 3 + b"\x00" + run[:100]]
    rng = random.Random(4)
    cases += [
        bytes(rng.choice([0, 1, 2, 200]) for _ in range(rng.randint(0, 700))) for _ in range(20)
    ]
    for data in cases:
        enc = _run(ep_pipe, "cobs", data=data)
        assert enc.returncode == 0 and enc.stdout == cobs_encode(data), data[:20]
        dec = _run(ep_pipe, "uncobs", data=enc.stdout)
        assert dec.returncode == 0 and dec.stdout == data
    for bad in (b"", b"\x00", b"\x03\x11", b"\x02\x11\x05", b"\x03\x00\x01"):
        assert _run(ep_pipe, "uncobs", data=bad).returncode == 3


def test_python_frames_decoded_by_c(ep_pipe):
    recs = random_records(random.Random(5), 3000)
    stream = b"".join(frame_record(r) for r in recs)
    got, decoded, dropped = c_decode(ep_pipe, stream)
    assert got == recs
    assert (decoded, dropped) == (len(recs), 0)


def test_c_frames_are_byte_identical_and_decoded_by_python(ep_pipe):
    recs = random_records(random.Random(6), 3000)
    text = "\n".join(to_line(r) for r in recs) + "\n"
    result = _run(ep_pipe, "encode", data=text.encode())
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"".join(frame_record(r) for r in recs)
    dec = FrameDecoder()
    assert dec.feed(result.stdout) == recs
    assert (dec.decoded, dec.dropped) == (len(recs), 0)


def test_c_and_python_decoders_agree_on_damaged_streams(ep_pipe):
    """Frames with garbage, truncations and byte changes: both decoders return the same
    records and count the same drops; every intact frame is among them."""
    rng = random.Random(7)
    recs = random_records(rng, 2000)
    stream = bytearray(rng.randbytes(30))  # joined mid-stream
    for rec in recs:
        body = bytearray(frame_record(rec)[:-1])
        roll = rng.random()
        if roll < 0.15:
            body = body[: rng.randrange(len(body))]
        elif roll < 0.3:
            body[rng.randrange(len(body))] ^= rng.randint(1, 255)
        elif roll < 0.4:
            stream += rng.randbytes(rng.randint(1, 100)) + b"\x00"
        stream += body + b"\x00"
    expected = FrameDecoder()
    records = expected.feed(bytes(stream))
    got, decoded, dropped = c_decode(ep_pipe, bytes(stream))
    assert got == records
    assert (decoded, dropped) == (expected.decoded, expected.dropped)
    assert expected.dropped > 400
    ids = {encode_record(r) for r in records}
    assert len(records) > 1200 and ids <= {encode_record(r) for r in recs}


def _fuzz(exe: Path, frames: int, seed: int, stream: Path | None = None) -> dict:
    args = [str(frames), str(seed)] + ([str(stream)] if stream else [])
    result = subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=SANITIZER_ENV, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert result.stderr == "", result.stderr[-3000:]  # no sanitizer report
    return json.loads(result.stdout)


def test_fuzz_under_sanitizers(ep_fuzz_asan):
    """A few hundred thousand random, mutated, garbage and oversized frames through the
    streaming decoder under ASan + UBSan: no report, and every intact frame recovered."""
    stats = _fuzz(ep_fuzz_asan, FUZZ_FRAMES, FUZZ_SEED)
    assert stats["frames"] == FUZZ_FRAMES
    assert stats["intact"] > FUZZ_FRAMES * 0.45
    assert stats["recovered"] == stats["intact"]
    assert stats["lost_intact"] == stats["mismatched"] == stats["cobs_failures"] == 0
    corrupted = stats["mutated"] + stats["garbage"] + stats["oversized"] + stats["partial"]
    # a corruption passes only on a CRC collision: about 2**-16 of them at most
    assert stats["false_accepts"] <= 4 + 4 * corrupted / 2**16
    assert (
        stats["decoded"] == stats["recovered"] + stats["random_accepted"] + stats["false_accepts"]
    )
    assert stats["dropped"] >= corrupted - stats["false_accepts"]


def test_python_decoder_agrees_with_c_on_the_fuzz_stream(ep_fuzz_asan, tmp_path):
    """The same fuzzed stream through the Python decoder: the same records (hash of their
    payloads, in order) and the same counts as the C decoder."""
    stats = _fuzz(ep_fuzz_asan, 40_000, FUZZ_SEED + 1, tmp_path / "stream.bin")
    dec = FrameDecoder()
    digest = 0xCBF29CE484222325
    data = (tmp_path / "stream.bin").read_bytes()
    assert len(data) == stats["bytes"]
    for i in range(0, len(data), 4096):
        for rec in dec.feed(data[i : i + 4096]):
            for byte in encode_record(rec):
                digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    assert (dec.decoded, dec.dropped) == (stats["decoded"], stats["dropped"])
    assert f"{digest:016x}" == stats["hash"]
