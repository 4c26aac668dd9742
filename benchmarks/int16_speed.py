"""invoke() of one 2 s window: a network converted int8, 16x8 (16-bit activations, 8-bit
weights) and float32, under LiteRT's three kernel sets, one thread, interleaved in one run.

The network's int8 and 16x8 twins are calibrated on the first window of 400 random clips of
both corpora (as ``edgeser quantize`` does); the float32 twin needs no calibration.

    PYTHONPATH=. python benchmarks/int16_speed.py benchmarks/candidates/v11/v11.keras \\
        --json benchmarks/results/int16_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from benchmarks.int8_lstm_rewrite import to_int8
from benchmarks.interpreter_kernels import RESOLVERS, invoke_seconds, kernel_interpreter
from benchmarks.probe_data import both_corpora, corpus_root, network_recipe
from converters.models import load_model as load_keras_model
from converters.quantize import convert_float32
from converters.train import load_clipset, representative_windows
from edgeser.frontend import Frontend
from edgeser.machine import describe


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help="NAME.keras with NAME.train.json beside it")
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--data", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    root = corpus_root(p, args.data)
    cfg, labels = network_recipe(args.model)
    clips = both_corpora(root)
    pick = np.random.default_rng(cfg.seed).choice(len(clips), size=400, replace=False)
    data = load_clipset([clips[i] for i in sorted(pick)], labels)
    rep = representative_windows(Frontend(cfg.frontend_config()), data, cfg)
    model = load_keras_model(args.model, compile=False)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {kind: Path(tmp) / f"{kind}.tflite" for kind in ("int8", "16x8", "float32")}
        to_int8(model, rep, paths["int8"])
        to_int8(model, rep, paths["16x8"], int16=True)
        convert_float32(model, paths["float32"], model_name=args.model.stem)
        sizes = {kind: path.stat().st_size for kind, path in paths.items()}
        interpreters = {
            (kind, r): kernel_interpreter(path, resolver)
            for kind, path in paths.items()
            for r, resolver in RESOLVERS.items()
        }
        samples: dict = {key: [] for key in interpreters}
        load_start = os.getloadavg()[0]
        for _ in range(args.rounds):
            for key, it in interpreters.items():
                samples[key] += invoke_seconds(it, args.repeats)
    rows = [
        {
            "kernels": r,
            **{
                f"{kind}_ms": round(1000 * float(np.median(samples[(kind, r)])), 4)
                for kind in paths
            },
        }
        for r in RESOLVERS
    ]
    print(f"{'kernels':<22} {'int8 ms':>8} {'16x8 ms':>8} {'float32 ms':>10}")
    for row in rows:
        print(
            f"{row['kernels']:<22} {row['int8_ms']:>8.3f} {row['16x8_ms']:>8.3f} "
            f"{row['float32_ms']:>10.3f}"
        )
    print("bytes", sizes)
    if args.json:
        out = {
            "command": "python " + " ".join(sys.argv),
            "threads": 1,
            "rows": rows,
            "bytes": sizes,
            "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
            "machine": describe(),
        }
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
