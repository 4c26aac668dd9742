"""Does rebuilding the LSTM's graph (same weights, same float function) make its int8 twin
follow the float network more closely? A probe: two rewrites against Keras' own unrolled LSTM.

Keras' unrolled LSTM becomes, per step, ``x_t W`` and ``h U`` as two FULLY_CONNECTED ops and
two ADDs, each rounded to int8 with a scale spanning its calibrated range (gate
pre-activations of +-20..33 in the v11 network, steps of 0.15-0.26). The rewrites:

``clamped``
    per step one FULLY_CONNECTED over ``concat(x_t, k h)`` (kernel ``[W; U / k]``, ``k`` the
    largest LSTM input on the calibration windows), each gate's kernel and bias divided by
    a clamp (8 for the sigmoid gates, 4 for the tanh candidate), ``clip(-1, 1)`` (fused into
    the FULLY_CONNECTED as RELU_N1_TO_1) and a MUL by the clamp; the first step has a
    FULLY_CONNECTED of its own over ``x_0``.
``shifted``
    one FULLY_CONNECTED shared by every step over ``concat(x_t, k (h + 1))``, ``k`` half
    the largest LSTM input, so both halves of the concatenation span ``[0, bound]`` (the
    bias loses the column sums of ``U``); no clamp.
``int16x8`` (for reference, not an int8 model)
    Keras' LSTM as it is, converted with 16-bit activations and 8-bit weights
    (``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8``, int16 input and
    output): how much of the disagreement activation rounding causes. The int8-only Edge TPU
    cannot run it.

Each network (the original and each rewrite) is converted as ``edgeser quantize`` converts
(legacy quantizer, the first window of ``--calib`` random clips of both corpora) and run in
int8 and in float on the other clips' first windows plus one augmented pass of them (speaker
session statistics). Reported: top-1 agreement with the original float network and the mean
absolute difference of class probabilities, the rewrite's own float deviation, and file size.
No label is used.

    PYTHONPATH=. python benchmarks/int8_lstm_rewrite.py benchmarks/candidates/v11/v11.keras \\
        --json benchmarks/results/int8_lstm_rewrite.json

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

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from benchmarks.int8_fidelity import int8_run
from benchmarks.probe_data import calibration_split, corpus_root, network_recipe, probe_windows
from converters.models import load_model as load_keras_model
from converters.quantize import verify_integer_graph
from converters.train import (
    keras_predict,
    representative_windows,
)
from edgeser.frontend import Frontend
from edgeser.machine import describe
from edgeser.quiet import quiet_stderr

SIGMOID_CLAMP, TANH_CLAMP = 8.0, 4.0


def _gate_clamps(units: int) -> np.ndarray:
    gates = (SIGMOID_CLAMP, SIGMOID_CLAMP, TANH_CLAMP, SIGMOID_CLAMP)  # Keras order i, f, c, o
    return np.concatenate([np.full(units, a) for a in gates])


def _steps(x, layer, bound: float, variant: str):
    """The rewritten LSTM over x (batch, steps, features), returning what ``layer`` returns."""
    kernel, recurrent, bias = (np.asarray(w, np.float64) for w in layer.cell.get_weights())
    units = recurrent.shape[0]
    if variant == "clamped":
        a, k = _gate_clamps(units), bound
        first = keras.layers.Dense(4 * units, name="lstm_step0")
        later = keras.layers.Dense(4 * units, name="lstm_step")
        clip = keras.layers.Activation(lambda z: ops.clip(z, -1.0, 1.0), name="lstm_clamp")
        scale = ops.convert_to_tensor(a.astype(np.float32))
    else:
        a, k = np.ones(4 * units), bound / 2.0
        later = keras.layers.Dense(4 * units, name="lstm_step")
    h = c = None
    outputs = []
    for t in range(int(x.shape[1])):
        x_t = x[:, t, :]
        if variant == "clamped":
            z = first(x_t) if h is None else later(ops.concatenate([x_t, h * k], axis=-1))
            z = clip(z) * scale
        else:
            r = ops.ones_like(x_t[:, :units]) * k if h is None else (h + 1.0) * k
            z = later(ops.concatenate([x_t, r], axis=-1))
        zi, zf, zc, zo = (z[:, j * units : (j + 1) * units] for j in range(4))
        i, f, g, o = ops.sigmoid(zi), ops.sigmoid(zf), ops.tanh(zc), ops.sigmoid(zo)
        c = i * g if c is None else f * c + i * g
        h = o * ops.tanh(c)
        outputs.append(h)
    stacked = np.concatenate([kernel, recurrent / k]) / a
    if variant == "clamped":
        first.set_weights([(kernel / a).astype(np.float32), (bias / a).astype(np.float32)])
        later.set_weights([stacked.astype(np.float32), (bias / a).astype(np.float32)])
    else:
        shifted = bias - recurrent.sum(axis=0)
        later.set_weights([stacked.astype(np.float32), shifted.astype(np.float32)])
    return ops.stack(outputs, axis=1) if layer.return_sequences else outputs[-1]


def rewritten(model, representative: np.ndarray, variant: str):
    """``model`` (one chain of layers with one unrolled LSTM) with its LSTM rebuilt."""
    layers = model.layers[1:]
    (at,) = [i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.LSTM)]
    before = keras.Model(model.inputs, layers[at].input)
    bound = float(np.max(np.abs(keras_predict(before, representative))))
    inputs = keras.Input(shape=model.inputs[0].shape[1:], name="logmel")
    x = inputs
    for i, layer in enumerate(layers):
        x = _steps(x, layer, bound, variant) if i == at else layer(x)
    return keras.Model(inputs, x, name=f"conv_lstm_{variant}")


def to_int8(model, representative: np.ndarray, path: Path, int16: bool = False) -> None:
    """Full-integer conversion as the converter worker does it (legacy quantizer, batch 1);
    ``int16``: 16-bit activations, 8-bit weights."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model)
        spec = tf.TensorSpec((1, *representative.shape[1:]), tf.float32)
        archive.add_endpoint("serve", lambda t: model(t, training=False), input_signature=[spec])
        archive.write_out(tmp, verbose=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([s[None]] for s in representative)
        if int16:
            ops16 = tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            conv.target_spec.supported_ops = [ops16]
            conv.inference_input_type = conv.inference_output_type = tf.int16
        else:
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = conv.inference_output_type = tf.int8
        conv.experimental_new_quantizer = False
        with quiet_stderr():
            path.write_bytes(conv.convert())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help="NAME.keras with NAME.train.json beside it")
    p.add_argument("--calib", type=int, default=400, help="random clips for calibration")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    root = corpus_root(p, args.data)
    cfg, labels = network_recipe(args.model)
    calib, probe = calibration_split(root, labels, args.calib, args.seed)
    fe = Frontend(cfg.frontend_config())
    rep = representative_windows(fe, calib, cfg)
    x = probe_windows(fe, probe, cfg)
    model = load_keras_model(args.model, compile=False)
    ref = keras_predict(model, x)
    rows = {}
    for variant in ("original", "clamped", "shifted", "int16x8"):
        keep = variant in ("original", "int16x8")
        net = model if keep else rewritten(model, rep, variant)
        own = keras_predict(net, x)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.tflite"
            to_int8(net, rep, path, int16=variant == "int16x8")
            probs, _ = int8_run(path, x)
            rows[variant] = {
                "float_max_abs_diff": float(np.max(np.abs(own - ref))),
                "int8_agreement": float(np.mean(probs.argmax(1) == ref.argmax(1))),
                "int8_mean_abs_diff": float(np.mean(np.abs(probs - ref))),
                "bytes": path.stat().st_size,
                "integer_errors": len(verify_integer_graph(path)),  # int16 counts as integer
            }
        r = rows[variant]
        print(
            f"{variant:9s} float max|dp| {r['float_max_abs_diff']:.2e}  int8 agreement "
            f"{100 * r['int8_agreement']:.2f}% (mean |dp| {r['int8_mean_abs_diff']:.4f})  "
            f"{r['bytes']} bytes, {r['integer_errors']} non-integer tensors",
            flush=True,
        )
    if args.json:
        out = {
            "command": "python " + " ".join(sys.argv),
            "windows": len(x),
            "rows": rows,
            "machine": describe(),
        }
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
