"""Where the int8 time goes: invoke of random-weight variants of the default architecture.

Builds the default conv-LSTM, variants with a stride-2 first conv (``stem_stride=2``) and
wider blocks, its conv part alone (also with the stride-2 first conv), single conv blocks at
their place in the network, and the LSTM part alone; converts each to int8 and float32
(child-process converter) and times one ``invoke()`` (1 thread, LiteRT defaults, median of
300), every variant once per round over ``--rounds`` interleaved rounds (median of the rounds).

    PYTHONPATH=. python benchmarks/architecture_speed.py [--out FILE] [--rounds 3]

writes ``benchmarks/results/architecture_speed.json`` (or FILE). Needs the ``[train]`` extra.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from ai_edge_litert.interpreter import OpResolverType

from benchmarks.interpreter_kernels import invoke_seconds, kernel_interpreter
from converters.models import _conv_blocks, build_conv_lstm
from converters.quantize import convert_float32, convert_int8
from edgeser.machine import describe

OUT = Path(__file__).resolve().parent / "results" / "architecture_speed.json"


def conv_only(filters=(16, 16, 32, 32), first_stride=1) -> keras.Model:
    """The default conv blocks with a small head, no LSTM."""
    inp = keras.Input((198, 40, 1))
    x = _conv_blocks(inp, filters, POOLS, prefix="", stem_stride=first_stride)
    x = keras.layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]))(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    out = keras.layers.Dense(7, activation="softmax")(x)
    return keras.Model(inp, out)


def one_block(shape, filters, stride=1, pool=(1, 1)) -> keras.Model:
    """One of the models' conv blocks (converters.models._conv_blocks) on ``shape``."""
    inp = keras.Input(shape)
    return keras.Model(inp, _conv_blocks(inp, (filters,), [pool], prefix="", stem_stride=stride))


def space_to_depth_block1(shape=(198, 40, 1), filters=16) -> keras.Model:
    """Block 1 (3x3 'same' conv, BatchNorm, ReLU, 2x2 max pool) rewritten on a 2x2
    space-to-depth view of the input: the same function (a 3x3 conv over 2x2 cells with 4 input
    channels and 4 x ``filters`` outputs, one per position in the cell, then a max over the 4),
    so a trained network could be converted this way without retraining if it were faster."""
    h, w = shape[0] // 2, shape[1] // 2
    inp = keras.Input(shape)
    x = keras.layers.Reshape((h, 2, w, 2))(inp)
    x = keras.layers.Permute((1, 3, 2, 4))(x)
    x = keras.layers.Reshape((h, w, 4))(x)
    x = keras.layers.Conv2D(4 * filters, 3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Reshape((h * w, 4, filters))(x)
    x = keras.layers.MaxPool2D((1, 4))(x)
    return keras.Model(inp, keras.layers.Reshape((h, w, filters))(x))


def depthwise_block1(shape=(198, 40, 1), filters=16, pool=(2, 2)) -> keras.Model:
    """Block 1 with its conv written as a depthwise conv (``depth_multiplier`` = ``filters``):
    on one input channel the same function with the same 3 x 3 x 1 x ``filters`` weights, so a
    trained network could be converted this way without retraining, if it were faster."""
    inp = keras.Input(shape)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=filters, padding="same", use_bias=False)(
        inp
    )
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    return keras.Model(inp, keras.layers.MaxPool2D(pool)(x))


def lstm_only(steps=24, feat=320, units=32) -> keras.Model:
    inp = keras.Input((steps, feat))
    x = keras.layers.LSTM(units, unroll=True, return_sequences=True)(inp)
    x = keras.layers.GlobalAveragePooling1D()(x)
    out = keras.layers.Dense(7, activation="softmax")(x)
    return keras.Model(inp, out)


def invoke_ms(path: str) -> float:
    """Median set_tensor + invoke of one window, ms (LiteRT defaults, 1 thread, 300 runs)."""
    it = kernel_interpreter(Path(path), OpResolverType.AUTO)
    return round(1000 * float(np.median(invoke_seconds(it, 300))), 4)


POOLS = [(2, 2), (2, 2), (2, 1), (2, 1)]

VARIANTS = {
    "default conv-LSTM": lambda: build_conv_lstm(
        filters=(16, 16, 32, 32), pool=POOLS, sequence_pooling="mean"
    ),
    "default conv-LSTM on 40 Mel + 16 periodicity columns": lambda: build_conv_lstm(
        input_shape=(198, 56, 1), filters=(16, 16, 32, 32), pool=POOLS, sequence_pooling="mean"
    ),
    "conv-LSTM, stride-2 first conv": lambda: build_conv_lstm(
        filters=(16, 16, 32, 32), pool=POOLS, sequence_pooling="mean", stem_stride=2
    ),
    "conv-LSTM 16/32/32/64, stride-2 first conv": lambda: build_conv_lstm(
        filters=(16, 32, 32, 64), pool=POOLS, sequence_pooling="mean", stem_stride=2
    ),
    "conv-LSTM 24/24/48/48, stride-2 first conv": lambda: build_conv_lstm(
        filters=(24, 24, 48, 48), pool=POOLS, sequence_pooling="mean", stem_stride=2
    ),
    "conv-LSTM 32/32/64/64, stride-2 first conv": lambda: build_conv_lstm(
        filters=(32, 32, 64, 64), pool=POOLS, sequence_pooling="mean", stem_stride=2
    ),
    "conv-LSTM 16/16/48/48, stride-2 first conv": lambda: build_conv_lstm(
        filters=(16, 16, 48, 48), pool=POOLS, sequence_pooling="mean", stem_stride=2
    ),
    "conv blocks only": lambda: conv_only(),
    "conv blocks only, stride-2 first conv": lambda: conv_only(first_stride=2),
    "LSTM only (24 steps x 320)": lambda: lstm_only(),
    "block 1: 198x40x1 -> 16, pool (2, 2)": lambda: one_block((198, 40, 1), 16, pool=(2, 2)),
    "block 1: 198x40x1 -> 16, stride 2": lambda: one_block((198, 40, 1), 16, stride=2),
    "block 1 on a 2x2 space-to-depth view (the same function)": space_to_depth_block1,
    "block 1 as a depthwise conv, multiplier 16 (the same function)": depthwise_block1,
    "conv 99x20x4 -> 64 (block 1's conv on the space-to-depth view)": lambda: one_block(
        (99, 20, 4), 64
    ),
    "conv 198x40x1 -> 16 (7,920 output pixels)": lambda: one_block((198, 40, 1), 16),
    "conv 198x20x2 -> 16 (3,960 output pixels)": lambda: one_block((198, 20, 2), 16),
    "conv 198x10x4 -> 16 (1,980 output pixels)": lambda: one_block((198, 10, 4), 16),
    "block 2: 99x20x16 -> 16, pool (2, 2)": lambda: one_block((99, 20, 16), 16, pool=(2, 2)),
    "block 3: 49x10x16 -> 32, pool (2, 1)": lambda: one_block((49, 10, 16), 32, pool=(2, 1)),
    "block 4: 24x10x32 -> 32, pool (2, 1)": lambda: one_block((24, 10, 32), 32, pool=(2, 1)),
    "block 3: 49x10x16 -> 48, pool (2, 1)": lambda: one_block((49, 10, 16), 48, pool=(2, 1)),
    "block 4: 24x10x48 -> 48, pool (2, 1)": lambda: one_block((24, 10, 48), 48, pool=(2, 1)),
}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="result file (JSON)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument(
        "--only", action="append", default=[], metavar="TEXT",
        help="time only the variants whose name contains TEXT (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    out, rounds = args.out, args.rounds
    chosen = {n: m for n, m in VARIANTS.items() if not args.only or any(t in n for t in args.only)}
    if not chosen:
        parser.error(f"no variant name contains {' or '.join(map(repr, args.only))}")
    with tempfile.TemporaryDirectory() as tmp:
        files, ops = {}, {}
        for i, (name, make) in enumerate(chosen.items()):
            model = make()
            shape = model.input_shape[1:]
            rep = np.random.default_rng(0).normal(0, 1, (32, *shape)).astype(np.float32)
            p8, p32 = f"{tmp}/{i}.int8.tflite", f"{tmp}/{i}.f32.tflite"
            ops[name] = sorted(set(convert_int8(model, rep, p8, model_name=name).ops))
            convert_float32(model, p32, model_name=name)
            files[name] = (p8, p32)
        # Every variant is timed once per round, round after round, so that a slow spell of
        # the machine hits all variants alike; each figure is the median over the rounds.
        times = {name: ([], []) for name in files}
        for _ in range(rounds):
            for name, (p8, p32) in files.items():
                times[name][0].append(invoke_ms(p8))
                times[name][1].append(invoke_ms(p32))
        rows = []
        for name, (t8, t32) in times.items():
            row = {
                "variant": name,
                "int8_ms": round(float(np.median(t8)), 4),
                "float32_ms": round(float(np.median(t32)), 4),
                "int8_ms_rounds": t8,
                "float32_ms_rounds": t32,
                "int8_ops": ops[name],
            }
            rows.append(row)
            print({k: row[k] for k in ("variant", "int8_ms", "float32_ms")}, flush=True)
    command = "PYTHONPATH=. python benchmarks/architecture_speed.py"
    if out != OUT:
        command += f" --out {out}"
    if rounds != 3:
        command += f" --rounds {rounds}"
    command += "".join(f" --only {t!r}" for t in args.only)
    out.write_text(json.dumps({
        "command": command,
        "rows": rows,
        "load_average": round(os.getloadavg()[0], 2),
        "machine": describe(),
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
