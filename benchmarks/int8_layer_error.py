"""Where an int8 model loses fidelity: layer by layer, the relative RMS error of the int8
graph's tensor (dequantised) against the float network's activation, on one EMO-DB fold's test
windows (each clip's first window, speaker-session normalisation).

    PYTHONPATH=. python benchmarks/int8_layer_error.py REPORT.json FOLD MODEL.keras [...]

``REPORT.json`` is an ``emotion_table.py`` report (its recipe and labels), ``FOLD`` a fold name
of it (``emodb:03``) and ``MODEL.keras`` that fold's trained network (from a ``--model-cache``
folder). The int8 graph is converted here as ``emotion_table.py`` converts it (representative
windows from the fold's training clips). Repeat the three arguments to compare networks in
one run; ``--json FILE`` writes the rows. Needs the ``[train]`` extra and the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from ai_edge_litert.interpreter import Interpreter

from converters.evaluate import folds_for
from converters.export import export_model
from converters.models import load_model as load_keras_model
from converters.train import (
    TrainConfig,
    load_clipset,
    representative_windows,
    session_stats,
    window_inputs,
)
from edgeser import datasets as ds
from edgeser.frontend import Frontend
from edgeser.machine import describe
from edgeser.quiet import quiet_stderr


def int8_tensors(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every per-tensor-quantised int8 tensor of the graph at ``path`` for the windows ``x``
    (float, (n, frames, features, 1)), dequantised, stacked over the windows."""
    with quiet_stderr():
        it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
        it.allocate_tensors()
    inp = it.get_input_details()[0]
    scale, zero = inp["quantization"]
    wanted = [
        d
        for d in it.get_tensor_details()
        if d["dtype"] == np.int8 and d["quantization_parameters"]["scales"].size == 1
    ]
    out: dict[str, list[np.ndarray]] = {}
    for w in x:
        q = np.clip(np.round(w[None] / scale) + zero, -128, 127).astype(np.int8)
        it.set_tensor(inp["index"], q)
        it.invoke()
        for d in wanted:
            try:
                t = it.get_tensor(d["index"])
            except ValueError:  # a tensor the interpreter did not keep
                continue
            s, z = d["quantization"]
            out.setdefault(d["name"], []).append((t.astype(np.float32) - z) * s)
    return {k: np.stack(v) for k, v in out.items()}


def layer_errors(report: Path, fold: str, keras_path: Path, root: Path) -> dict[str, float]:
    """{Keras layer: relative RMS error of its int8 tensor} for one fold network."""
    rep = json.loads(report.read_text())["corpora"]["emodb"]["edgeser"]
    cfg = TrainConfig.from_dict(rep["train_config"])
    labels = rep["labels"]
    clips = ds.read_emodb(root / "emodb")
    data = load_clipset(clips, labels)
    fe = Frontend(cfg.frontend_config())
    ((train_idx, test_idx),) = [
        (tr, te) for n, tr, te in folds_for("emodb-loso", clips) if n == fold
    ]
    train, test = data.subset(train_idx), data.subset(test_idx)
    model = load_keras_model(keras_path)
    x = window_inputs(fe, test, cfg, rng=None, stats=session_stats(fe, test))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fold.tflite"
        export_model(
            model,
            path,
            name="fold",
            labels=labels,
            frontend=fe.config,
            normalisation=cfg.normalisation,
            window_frames=cfg.window_frames,
            representative=representative_windows(fe, train, cfg),
            float_twin=False,
        )
        tensors = int8_tensors(path, x)
    errors = {}
    for layer in model.layers[1:-1]:  # not the input, not the softmax (its logits differ)
        ref = np.asarray(keras.Model(model.inputs, layer.output)(x, training=False))
        width = ref.reshape(len(x), -1).shape[1]
        # The int8 graph names a fused op's output after every layer fused into it; take the
        # last tensor whose first name is this layer and whose size matches.
        match = [
            v
            for name, v in tensors.items()
            if layer.name in name.split(";")[0] and v.reshape(len(x), -1).shape[1] == width
        ]
        if match:
            q = match[-1].reshape(ref.shape)
            errors[layer.name] = float(np.sqrt(np.mean((q - ref) ** 2) / np.mean(ref**2)))
    return errors


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="REPORT.json FOLD MODEL.keras, repeated")
    p.add_argument("--data", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    if len(args.runs) % 3:
        p.error("give REPORT.json FOLD MODEL.keras triples")
    root = ds.data_root(args.data)
    if root is None:
        p.error("no corpus (set --data or EDGESER_DATA)")
    rows = []
    for i in range(0, len(args.runs), 3):
        report, fold, model = args.runs[i : i + 3]
        errors = layer_errors(Path(report), fold, Path(model), root)
        rows.append({"report": Path(report).name, "fold": fold, "relative_rms_error": errors})
        print(f"{Path(report).name} {fold}")
        for name, e in errors.items():
            print(f"  {name:12s} {100 * e:5.2f}%")
    if args.json:
        out = {"command": "python " + " ".join(sys.argv), "rows": rows, "machine": describe()}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
