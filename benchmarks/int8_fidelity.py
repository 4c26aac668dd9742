"""How closely an int8 model follows its float network on windows it was not calibrated on.

For each trained network (``NAME.keras`` with its ``NAME.train.json``), converts it to int8 as
``edgeser quantize`` does (representative windows: each clip of ``--calib`` once, normalised as
the device normalises it) and runs both on the first window of every clip of ``--probe`` and on
``--augmented`` randomly augmented windows of them (the recipe's training augmentation), session
statistics per speaker. Reports, per network and window set:

* ``int8``: top-1 agreement of the int8 model with the float network and the mean absolute
  difference of their class probabilities;
* ``input_only``: the same for the float network fed the int8 model's quantised input (the
  part of the disagreement that the input's rounding alone causes).

No label is used: the figures say how faithful the conversion is, not how accurate the model is.

    PYTHONPATH=. python benchmarks/int8_fidelity.py models/a.keras models/b.keras \\
        --calib emodb --probe ravdess --json benchmarks/results/int8_fidelity.json

Needs the ``[train]`` extra and the corpora.
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
from ai_edge_litert.interpreter import Interpreter

from converters.models import load_model as load_keras_model
from converters.quantize import convert_int8
from converters.train import (
    ClipSet,
    TrainConfig,
    keras_predict,
    load_clipset,
    representative_windows,
    session_stats,
    window_inputs,
)
from edgeser import datasets as ds
from edgeser.frontend import Frontend
from edgeser.machine import describe
from edgeser.quiet import quiet_stderr


def int8_run(path: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dequantised int8 outputs, the float input as the int8 model sees it) for windows x
    (an int16-input model is fed int16)."""
    with quiet_stderr():
        it = Interpreter(model_path=str(path))
        it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    (s_in, z_in), (s_out, z_out) = inp["quantization"], out["quantization"]
    info = np.iinfo(inp["dtype"])
    q = np.clip(np.round(x / s_in) + z_in, info.min, info.max).astype(inp["dtype"])
    probs = []
    for window in q:
        it.set_tensor(inp["index"], window[None])
        it.invoke()
        probs.append((it.get_tensor(out["index"])[0].astype(np.float32) - z_out) * s_out)
    return np.array(probs), ((q.astype(np.float32) - z_in) * s_in)


def compare(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    return {
        "agreement": round(float(np.mean(reference.argmax(1) == other.argmax(1))), 4),
        "mean_abs_diff": round(float(np.mean(np.abs(reference - other))), 5),
    }


def read_clipset(root: Path, corpus: str) -> ClipSet:
    """A corpus' clips with their PCM, read once (frames are computed per frontend config)."""
    clips = ds.read_corpus(root / corpus)
    return load_clipset(clips, sorted({c.label for c in clips}))


def fidelity(model_path: Path, args, calib_set: ClipSet, probe: ClipSet) -> dict:
    record = json.loads(model_path.with_suffix(".train.json").read_text())
    cfg = TrainConfig.from_dict(record["train_config"])
    fe = Frontend(cfg.frontend_config())
    calib = representative_windows(fe, calib_set, cfg)
    stats = session_stats(fe, probe)
    rng = np.random.default_rng(args.seed)
    windows = {"clean": window_inputs(fe, probe, cfg, rng=None, stats=stats)}
    if args.augmented:
        windows["augmented"] = np.concatenate(
            [window_inputs(fe, probe, cfg, rng=rng, stats=stats) for _ in range(args.augmented)]
        )
    model = load_keras_model(model_path)
    row: dict = {"model": model_path.name, "train_config": cfg.to_dict()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        convert_int8(model, calib, path, model_name=model_path.stem, quantizer=args.quantizer)
        for name, x in windows.items():
            ref = keras_predict(model, x)
            probs, seen = int8_run(path, x)
            row[name] = {
                "windows": len(x),
                "int8": compare(ref, probs),
                "input_only": compare(ref, keras_predict(model, seen)),
            }
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", type=Path, help="NAME.keras (NAME.train.json beside)")
    p.add_argument("--calib", default="emodb", choices=["emodb", "ravdess"])
    p.add_argument("--probe", default="ravdess", choices=["emodb", "ravdess"])
    p.add_argument("--augmented", type=int, default=2, help="augmented passes over the probe")
    p.add_argument("--quantizer", default="legacy", choices=["legacy", "mlir"])
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--data", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    root = ds.data_root(args.data)
    if root is None:
        p.error("no corpus (set --data or EDGESER_DATA)")
    for model_path in args.models:
        if not model_path.with_suffix(".train.json").exists():
            p.error(f"{model_path}: no {model_path.with_suffix('.train.json').name} beside it")
    calib_set, probe = read_clipset(root, args.calib), read_clipset(root, args.probe)
    rows = []
    for model_path in args.models:
        row = fidelity(model_path, args, calib_set, probe)
        rows.append(row)
        for name in ("clean", "augmented"):
            if name in row:
                r, q, i = row[name], row[name]["int8"], row[name]["input_only"]
                print(
                    f"{row['model']:24s} {name:9s} {r['windows']:5d} windows: int8 agreement "
                    f"{100 * q['agreement']:.2f}% (mean |dp| {q['mean_abs_diff']:.4f}), "
                    f"input rounding alone {100 * i['agreement']:.2f}% "
                    f"({i['mean_abs_diff']:.4f})",
                    flush=True,
                )
    if args.json:
        out = {"command": "python " + " ".join(sys.argv), "rows": rows, "machine": describe()}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
