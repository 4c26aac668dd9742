"""Fuzz the event-protocol decoders: the C99 decoder under ASan + UBSan, and the Python
decoder on the very same byte streams.

    python benchmarks/protocol_fuzz.py [--runs 8] [--frames 250000] [--seed 1] [--out FILE]

Each run builds nothing new (one build per invocation, under a temporary folder) and starts
``tests/c/ep_fuzz.c`` with seed ``seed + run``: a stream of intact, mutated, random
(valid-CRC), garbage and oversized frames pushed byte by byte through ``ep_decoder_push``
(see the driver's header comment). A run "crashed" if the process died, exited with an
error, or printed a sanitizer report. The driver's stream is then fed to
``firmware_bridge.protocol.FrameDecoder``, which must return the same records (FNV-1a hash
of their payloads) and count the same drops. Writes ``benchmarks/results/protocol_fuzz.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from firmware_bridge.protocol import FrameDecoder, encode_record  # noqa: E402

PROTOCOL_DIR = ROOT / "firmware_bridge" / "protocol"
DRIVER = ROOT / "tests" / "c" / "ep_fuzz.c"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
ENV = {"ASAN_OPTIONS": "detect_leaks=0", "UBSAN_OPTIONS": "print_stacktrace=1"}
SUMMED = (
    "frames",
    "bytes",
    "intact",
    "mutated",
    "random",
    "garbage",
    "oversized",
    "partial",
    "empty",
    "recovered",
    "lost_intact",
    "mismatched",
    "false_accepts",
    "random_accepted",
    "decoded",
    "dropped",
    "cobs_roundtrips",
    "cobs_failures",
)


def build(folder: Path) -> tuple[Path, bool]:
    """The fuzz driver, with sanitizers when the compiler has them."""
    compiler = shutil.which("cc")
    if compiler is None:
        raise SystemExit("needs a C compiler (cc)")
    exe = folder / "ep_fuzz"
    for flags, sanitized in ((["-O1", "-g", *SANITIZE], True), (["-O2"], False)):
        cmd = [compiler, *STRICT, *flags, f"-I{PROTOCOL_DIR}", "-o", str(exe)]
        cmd += [str(DRIVER), str(PROTOCOL_DIR / "ep_protocol.c")]
        if subprocess.run(cmd, capture_output=True).returncode == 0:
            probe = subprocess.run([str(exe), "10", "1"], capture_output=True, env=ENV)
            if probe.returncode == 0:
                return exe, sanitized
    raise SystemExit("could not build tests/c/ep_fuzz.c")


def python_decode(stream: Path) -> dict:
    """Run the Python decoder over a stream file, 4 KiB at a time."""
    dec = FrameDecoder()
    digest = 0xCBF29CE484222325
    start = time.perf_counter()
    crashed = None
    try:
        with stream.open("rb") as f:
            while chunk := f.read(4096):
                for rec in dec.feed(chunk):
                    for byte in encode_record(rec):
                        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    except Exception as exc:  # a crash of the Python decoder is a finding, not an abort
        crashed = repr(exc)
    return {
        "decoded": dec.decoded,
        "dropped": dec.dropped,
        "hash": f"{digest:016x}",
        "crashed": crashed,
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--frames", type=int, default=250_000, help="frames per run")
    parser.add_argument("--seed", type=int, default=1, help="run k uses seed + k")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/protocol_fuzz.json"))
    args = parser.parse_args(argv)

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        exe, sanitized = build(Path(tmp))
        for k in range(args.runs):
            seed = args.seed + k
            stream = Path(tmp) / "stream.bin"
            start = time.perf_counter()
            proc = subprocess.run(
                [str(exe), str(args.frames), str(seed), str(stream)],
                capture_output=True,
                text=True,
                env=ENV,
            )
            seconds = time.perf_counter() - start
            report = "Sanitizer" in proc.stderr or "runtime error" in proc.stderr
            crashed = proc.returncode != 0 or report
            stats = {} if crashed else json.loads(proc.stdout)
            py = python_decode(stream) if not crashed else {}
            agree = bool(py) and (py["decoded"], py["dropped"], py["hash"]) == (
                stats["decoded"],
                stats["dropped"],
                stats["hash"],
            )
            runs.append(
                {
                    "seed": seed,
                    "c_seconds": round(seconds, 2),
                    "c_exit": proc.returncode,
                    "c_crashed": crashed,
                    "c_stderr": proc.stderr[-2000:],
                    "c": stats,
                    "python_seconds": round(py.get("seconds", 0.0), 2),
                    "python_crashed": py.get("crashed"),
                    "python_agrees_with_c": agree,
                }
            )
            print(
                f"run {k}: seed {seed}, {args.frames} frames, C {seconds:.1f} s "
                f"({'crash' if crashed else 'ok'}), Python {py.get('seconds', 0):.1f} s "
                f"({'agrees' if agree else 'DISAGREES'})",
                flush=True,
            )
            stream.unlink(missing_ok=True)

    total = {key: sum(r["c"].get(key, 0) for r in runs) for key in SUMMED}
    corrupted = total["mutated"] + total["garbage"] + total["oversized"] + total["partial"]
    result = {
        "command": "python benchmarks/protocol_fuzz.py"
        + (f" --runs {args.runs}" if args.runs != 8 else "")
        + (f" --frames {args.frames}" if args.frames != 250_000 else "")
        + (f" --seed {args.seed}" if args.seed != 1 else ""),
        "driver": "tests/c/ep_fuzz.c",
        "sanitizers": "address,undefined" if sanitized else None,
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.machine(),
            "cc": subprocess.run(
                ["cc", "--version"], capture_output=True, text=True
            ).stdout.splitlines()[0],
        },
        "summary": {
            "frames_tried": total["frames"],
            "bytes": total["bytes"],
            "crashes": sum(r["c_crashed"] for r in runs)
            + sum(r["python_crashed"] is not None for r in runs),
            "intact_frames_sent": total["intact"],
            "frames_recovered": total["recovered"],
            "intact_frames_lost": total["lost_intact"],
            "frames_rejected": total["dropped"],
            "corrupted_segments": corrupted,
            "false_accepts": total["false_accepts"],
            "random_valid_payloads_accepted": total["random_accepted"],
            "python_agrees_with_c": all(r["python_agrees_with_c"] for r in runs),
            "c_seconds": round(sum(r["c_seconds"] for r in runs), 1),
            "python_seconds": round(sum(r["python_seconds"] for r in runs), 1),
        },
        "totals": total,
        "runs": runs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))
    ok = (
        result["summary"]["crashes"] == 0
        and total["lost_intact"] == 0
        and total["mismatched"] == 0
        and result["summary"]["python_agrees_with_c"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
