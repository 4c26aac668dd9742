"""Which of the LSTM's int8 roundings flip decisions? A NumPy simulation, tensor group by group.

The network's LSTM is run in float64 NumPy from its Keras weights on the float LSTM input, with
int8 rounding (asymmetric, the range calibrated on the first window of ``--calib`` random clips,
as ``edgeser quantize`` calibrates) applied to one group of per-step tensors at a time, the
rest of the network (mean over time, dense layers) in float. The gate pre-activation ``z`` and
the addend ``A = x_t W`` get the saturated ranges of :mod:`converters.gate_ranges`; the gates'
outputs the fixed int8 LOGISTIC and TANH scales (1/256, 1/128); weights per output channel,
symmetric. Reported per group: top-1 agreement with the unrounded simulation and the mean
absolute difference of class probabilities, on the other clips' first windows plus one
augmented pass. The conv blocks are not rounded, so "all" is what the LSTM alone costs. A
clipped cell state (``--cell-clip``, :class:`converters.models.ClippedLSTMCell`) is clipped
before it is rounded, on its calibrated (so clipped) range.

    PYTHONPATH=. python benchmarks/int8_lstm_error_sources.py benchmarks/candidates/v11/v11.keras \\
        --json benchmarks/results/int8_lstm_error_sources.json

Needs the ``[train]`` extra and the corpora.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from benchmarks.probe_data import calibration_split, corpus_root, network_recipe, probe_windows
from converters.gate_ranges import SIGMOID_SATURATION
from converters.models import load_model as load_keras_model
from converters.train import (
    keras_predict,
    representative_windows,
)
from edgeser.frontend import Frontend
from edgeser.machine import describe

#: Per-step tensor groups: the LSTM input, x_t W, h U, the gate pre-activations, the gates'
#: outputs, f * c, i * g, the cell state, tanh(c) and h.
GROUPS = ("x", "A", "R", "z", "gates", "fc", "ig", "c", "tanh_c", "h")
_FIXED = {"gates_sigmoid": (1 / 256, 0.0), "gates_tanh": (1 / 128, -1.0), "tanh_c": (1 / 128, -1.0)}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _round_weights(w: np.ndarray) -> np.ndarray:
    scale = np.abs(w).max(axis=0) / 127.0
    return np.round(w / scale) * scale


class LstmSim:
    """Keras' LSTM (gate order i, f, g, o; sigmoid and tanh) with optional int8 rounding; the
    cell state clipped to +-``cell_clip`` when the layer's cell has one."""

    def __init__(self, layer) -> None:
        self.kernel, self.recurrent, self.bias = (
            np.asarray(w, np.float64) for w in layer.cell.get_weights()
        )
        self.clip = float(getattr(layer.cell, "cell_clip", np.inf))
        self.units = self.recurrent.shape[0]
        self.ranges: dict[tuple[str, int], tuple[float, float]] = {}
        self.recording = False  # calibrate(): record each tensor's range instead of rounding

    def _q(self, name: str, t: int, v: np.ndarray, rounded: frozenset[str], fixed=None):
        if self.recording:
            lo, hi = self.ranges.get((name, t), (0.0, 0.0))
            self.ranges[(name, t)] = (min(lo, float(v.min())), max(hi, float(v.max())))
            return v
        if name not in rounded:
            return v
        if fixed is not None:
            scale, lo = fixed
        else:
            lo, hi = self.ranges[(name, t)]
            scale = (hi - lo) / 255.0
            if scale == 0:
                return v
        zero = np.round(-128 - lo / scale)
        return (np.clip(np.round(v / scale) + zero, -128, 127) - zero) * scale

    def calibrate(self, x: np.ndarray) -> None:
        self.recording = True
        self.run(x)
        self.recording = False
        for t in range(x.shape[1]):
            r_lo, r_hi = self.ranges[("R", t)]
            b_lo, b_hi = float(self.bias.min()), float(self.bias.max())
            z_lo, z_hi = self.ranges[("z", t)]
            self.ranges[("z", t)] = (max(z_lo, -SIGMOID_SATURATION), min(z_hi, SIGMOID_SATURATION))
            a_lo, a_hi = self.ranges[("A", t)]
            lo, hi = -SIGMOID_SATURATION - b_hi - r_hi, SIGMOID_SATURATION - b_lo - r_lo
            self.ranges[("A", t)] = (max(a_lo, min(lo, 0.0)), min(a_hi, max(hi, 0.0)))

    def run(self, x: np.ndarray, rounded: frozenset[str] = frozenset(), weights: bool = False):
        w, u = (
            (_round_weights(self.kernel), _round_weights(self.recurrent))
            if weights
            else (self.kernel, self.recurrent)
        )
        n, q = self.units, self._q
        h = np.zeros((len(x), n))
        c = np.zeros((len(x), n))
        out = []
        for t in range(x.shape[1]):
            x_t = q("x", t, x[:, t], rounded)
            z = q(
                "z", t, q("A", t, x_t @ w, rounded) + q("R", t, h @ u, rounded) + self.bias, rounded
            )
            i, f, g, o = (z[:, k * n : (k + 1) * n] for k in range(4))
            sig, tanh = _FIXED["gates_sigmoid"], _FIXED["gates_tanh"]
            i, f, o = (q("gates", t, _sigmoid(v), rounded, sig) for v in (i, f, o))
            g = q("gates", t, np.tanh(g), rounded, tanh)
            c = q("fc", t, f * c, rounded) + q("ig", t, i * g, rounded)
            c = q("c", t, np.clip(c, -self.clip, self.clip), rounded)
            h = q("h", t, o * q("tanh_c", t, np.tanh(c), rounded, _FIXED["tanh_c"]), rounded)
            out.append(h)
        return np.stack(out, axis=1)


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
    x = probe_windows(fe, probe, cfg)
    model = load_keras_model(args.model, compile=False)
    layers = model.layers[1:]
    (at,) = [i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.RNN)]
    if not layers[at].return_sequences:
        p.error("expects an LSTM returning sequences (the conv-LSTM's mean over time)")
    before = keras.Model(model.inputs, layers[at].input)
    head_in = keras.Input(shape=layers[at].output.shape[1:])
    y = head_in
    for layer in layers[at + 1 :]:
        y = layer(y)
    head = keras.Model(head_in, y)
    sim = LstmSim(layers[at])
    sim.calibrate(keras_predict(before, representative_windows(fe, calib, cfg)).astype(float))
    lstm_in = keras_predict(before, x).astype(np.float64)

    def probs(seq: np.ndarray) -> np.ndarray:
        return keras_predict(head, seq.astype(np.float32))

    ref = probs(sim.run(lstm_in))
    keras_agreement = float(np.mean(ref.argmax(1) == keras_predict(model, x).argmax(1)))
    rows = {}
    cases = [(g, frozenset([g]), False) for g in GROUPS] + [("weights", frozenset(), True)]
    cases += [
        ("all", frozenset(GROUPS), True),
        ("all but f*c and c", frozenset(GROUPS) - {"fc", "c"}, True),
    ]
    for name, rounded, weights in cases:
        pr = probs(sim.run(lstm_in, rounded, weights))
        rows[name] = {
            "agreement": float(np.mean(pr.argmax(1) == ref.argmax(1))),
            "mean_abs_diff": float(np.mean(np.abs(pr - ref))),
        }
        r = rows[name]
        print(
            f"{name:18s} agreement {100 * r['agreement']:.2f}%  mean |dp| {r['mean_abs_diff']:.4f}"
        )
    if args.json:
        out = {
            "command": "python " + " ".join(sys.argv),
            "windows": len(x),
            "simulation_agreement_with_keras": keras_agreement,
            "rows": rows,
            "machine": describe(),
        }
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
