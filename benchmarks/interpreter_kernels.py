"""int8 versus float32 under LiteRT's three kernel sets, for the default model and its twin.

On x86 LiteRT runs both models through XNNPACK by default, whose float32 kernels are very fast
and whose int8 kernels (without AVX-512 VNNI) are not; the builtin optimised kernels (no
XNNPACK, what many Arm images and older runtimes use) and the reference kernels (what TFLite
Micro uses without an optimised kernel library) tell another story. This script measures the
median ``invoke()`` of one 2 s window for each model and kernel set in one run, interleaved.

    PYTHONPATH=. python benchmarks/interpreter_kernels.py [--repeats 300] [--rounds 3]

writes ``benchmarks/results/interpreter_kernels.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from edgeser.machine import describe as describe_machine
from edgeser.model import default_model_path
from edgeser.quiet import quiet_stderr

RESOLVERS = {
    "xnnpack (default)": OpResolverType.AUTO,
    "builtin, no xnnpack": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    "reference kernels": OpResolverType.BUILTIN_REF,
}
OUT = Path(__file__).resolve().parent / "results" / "interpreter_kernels.json"


def kernel_interpreter(path: Path, resolver: OpResolverType) -> Interpreter:
    """A one-thread interpreter for ``path`` with the kernel set ``resolver``."""
    with quiet_stderr():
        it = Interpreter(
            model_path=str(path), num_threads=1, experimental_op_resolver_type=resolver
        )
        it.allocate_tensors()
    return it


def invoke_seconds(it: Interpreter, repeats: int) -> list[float]:
    """``repeats`` timings (s) of set_tensor + invoke on a zero input, after 10 warm-up calls."""
    detail = it.get_input_details()[0]
    x = np.zeros(detail["shape"], detail["dtype"])
    for _ in range(10):
        it.set_tensor(detail["index"], x)
        it.invoke()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        it.set_tensor(detail["index"], x)
        it.invoke()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    int8 = default_model_path()
    models = {"int8": int8, "float32": int8.with_name(int8.stem + ".float32.tflite")}
    interpreters = {
        (m, r): kernel_interpreter(path, resolver)
        for m, path in models.items()
        for r, resolver in RESOLVERS.items()
    }
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in interpreters}
    load_start = os.getloadavg()[0]
    for _ in range(args.rounds):
        for key, it in interpreters.items():
            samples[key] += invoke_seconds(it, args.repeats)
    rows = []
    for r in RESOLVERS:
        i8 = 1000 * float(np.median(samples[("int8", r)]))
        f32 = 1000 * float(np.median(samples[("float32", r)]))
        rows.append({"kernels": r, "int8_ms": round(i8, 4), "float32_ms": round(f32, 4),
                     "float32_over_int8": round(f32 / i8, 2)})  # fmt: skip
    result = {
        "command": "PYTHONPATH=. python benchmarks/interpreter_kernels.py "
        f"--repeats {args.repeats} --rounds {args.rounds}",
        "model": str(int8.name),
        "threads": 1,
        "rows": rows,
        "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "machine": describe_machine(),
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'kernels':<22} {'int8 ms':>8} {'float32 ms':>10} {'float32/int8':>12}")
    for row in rows:
        print(f"{row['kernels']:<22} {row['int8_ms']:>8.3f} {row['float32_ms']:>10.3f} "
              f"{row['float32_over_int8']:>12.2f}")  # fmt: skip
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
