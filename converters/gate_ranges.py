"""Saturation ranges for LSTM gate pre-activations in a calibrated TFLite graph (workstation).

In the int8 graph of an unrolled Keras LSTM each step computes its gate pre-activations
``z = x_t W + h U + b`` as one tensor (four gates of ``units`` values: i, f, g, o), SPLITs it,
and feeds LOGISTIC (i, f, o) and TANH (g).  The calibrator gives ``z`` the range it saw (up to
+-39 in v11's network), so ``z`` is rounded at steps of 0.15-0.3 before functions whose slope
at 0 is 1/4 and 1.  But int8 LOGISTIC writes scale 1/256, zero point -128: every input above
``ln(511)`` = 6.24 gives code 127 and every input below -6.24 gives code -128 (sigmoid is within
half a step of 1 or 0 there), and int8 TANH (scale 1/128) saturates earlier, above 2.57 and
below -3.12 (both seen on LiteRT's kernels in ``tests/test_gate_ranges.py``).
Rounding ``z`` within +-6.24 therefore loses nothing the int8 gate outputs could show, and its
steps are 3-6x finer (0.049).

:func:`saturate_gate_ranges` rewrites the calibrated min/max of each such ``z`` (and of the
SPLIT's outputs, which share its scale) to at most +-:data:`SIGMOID_SATURATION`, and walks back
through the ADDs that build it (in Keras' graph ``B = A + R`` and ``z = B + b``, ``A = x_t W``,
``R = h U``, ``b`` the bias): the wider addend ``A`` of an ADD whose output is bounded to
``[lo, hi]`` gets at most ``[lo - max R, hi - min R]``, ``R`` the other addend (a constant's
smallest and largest element, or an activation's calibrated range).  Whenever such an addend is
clipped, the true sum lies beyond the output's bound on the same side, so the int8 ADD's
saturated output still drives the gate to the same code.  (The calibrator records ``B`` with
``z``'s range, bias included, so this narrows ``B`` even when the bias alone spans tens.)  A
tensor read by any other op is left as calibrated.  The float function is unchanged; only the
int8 rounding grid moves.

The edited model is then quantised from its stored ranges (:func:`quantize_calibrated`, the
converter's legacy quantizer, which :mod:`converters._convert_worker` uses).  Imports
TensorFlow: call only in the converter's child process or workstation tools.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "SIGMOID_SATURATION",
    "TANH_SATURATION",
    "GateRange",
    "quantize_calibrated",
    "saturate_gate_ranges",
]

#: Input magnitude beyond which int8 LOGISTIC (output scale 1/256, zero point -128) is fixed at
#: code -128 or 127: sigmoid(z) >= 255.5 / 256 for z >= ln(511).
SIGMOID_SATURATION: float = math.log(511.0)

#: Where int8 TANH (output scale 1/128) reaches its end codes: tanh(x) is within one output
#: step of +-1 for |x| >= atanh(1 - 1/256) = ln(511) / 2 = 3.118.  A clipped LSTM cell state
#: (:class:`converters.models.ClippedLSTMCell`) bounded here changes no int8 output
#: ``h = o * tanh(c)`` of its step, only the state carried forward.
TANH_SATURATION: float = 0.5 * math.log(511.0)

_GATE_OPS = frozenset({"LOGISTIC", "TANH"})


@dataclasses.dataclass(frozen=True)
class GateRange:
    """One tensor whose calibrated range was narrowed (real values, before quantisation)."""

    tensor: str
    calibrated: tuple[float, float]
    saturated: tuple[float, float]


def _op_names() -> dict[int, str]:
    from tensorflow.lite.python import schema_py_generated as schema

    ops = schema.BuiltinOperator
    return {v: k for k, v in vars(ops).items() if not k.startswith("_") and isinstance(v, int)}


def saturate_gate_ranges(
    calibrated: bytes, bound: float = SIGMOID_SATURATION
) -> tuple[bytes, list[GateRange]]:
    """``calibrated`` (a float flatbuffer holding calibration min/max, as the converter's
    calibrate-only step writes it) with LSTM gate pre-activation ranges narrowed to
    ``+-bound`` and their addends' ranges to what can still reach it; returns the edited
    flatbuffer and what changed (nothing when the graph has no SPLIT feeding only LOGISTIC and
    TANH ops)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    names = _op_names()
    changed: list[GateRange] = []
    for graph in model.subgraphs:

        def kind(op) -> str:
            code = model.operatorCodes[op.opcodeIndex]
            return names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")

        producer = {t: op for op in graph.operators for t in op.outputs}
        readers: dict[int, list] = {}
        for op in graph.operators:
            for t in op.inputs:
                if t >= 0:
                    readers.setdefault(t, []).append(op)

        def calibrated_range(t: int, graph=graph) -> tuple[float, float] | None:
            q = graph.tensors[t].quantization
            if q is None or q.min is None or q.max is None or len(q.min) != 1:
                return None
            return float(q.min[0]), float(q.max[0])

        def value_range(t: int, graph=graph) -> tuple[float, float] | None:
            """A constant's smallest and largest element, or an activation's calibration."""
            tensor = graph.tensors[t]
            data = model.buffers[tensor.buffer].data if tensor.buffer else None
            if data is not None and len(data):
                values = np.frombuffer(bytes(data), np.float32)
                return float(values.min()), float(values.max())
            return calibrated_range(t)

        def narrow(t: int, lo: float, hi: float, graph=graph) -> None:
            old = calibrated_range(t)
            assert old is not None
            new = (max(old[0], min(lo, 0.0)), min(old[1], max(hi, 0.0)))
            if new != old and new[0] < new[1]:
                q = graph.tensors[t].quantization
                q.min = np.array([new[0]], np.float32)
                q.max = np.array([new[1]], np.float32)
                name = graph.tensors[t].name
                changed.append(
                    GateRange(name.decode() if isinstance(name, bytes) else str(name), old, new)
                )

        for op in graph.operators:
            if kind(op) != "SPLIT" or len(op.inputs) != 2:
                continue
            z, outs = op.inputs[1], list(op.outputs)
            gates = [r for o in outs for r in readers.get(o, [])]
            if not gates or any(kind(r) not in _GATE_OPS for r in gates):
                continue
            if readers.get(z) != [op] or any(calibrated_range(t) is None for t in [z, *outs]):
                continue
            for t in (z, *outs):
                narrow(t, -bound, bound)
            t, lo, hi = z, -bound, bound
            while t in producer and kind(producer[t]) == "ADD":
                a, b = producer[t].inputs
                ra, rb = value_range(a), value_range(b)
                if ra is None or rb is None:
                    break
                # narrow the wider addend: beyond [lo - other max, hi - other min] the sum is
                # beyond [lo, hi] on the same side whatever the other addend holds
                wide, other = (a, rb) if ra[1] - ra[0] >= rb[1] - rb[0] else (b, ra)
                if readers.get(wide) != [producer[t]] or calibrated_range(wide) is None:
                    break
                lo, hi = lo - other[1], hi - other[0]
                narrow(wide, lo, hi)
                t = wide
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), changed


def quantize_calibrated(calibrated: bytes, input_shape: Sequence[int]) -> bytes:
    """Full-integer int8 (int8 input and output, int32 biases, per-channel weights) from the
    min/max stored in ``calibrated``, with TensorFlow's legacy quantizer and no further
    calibration samples: what ``TFLiteConverter`` with ``experimental_new_quantizer=False``
    does after calibrating.  ``input_shape`` includes the batch (e.g. ``(1, 198, 40, 1)``)."""
    from tensorflow.lite.python.optimize import calibrator

    wrapper = calibrator.Calibrator(calibrated)._calibrator
    wrapper.Prepare([list(input_shape)])
    int8, int32 = np.dtype(np.int8).num, np.dtype(np.int32).num
    return bytes(wrapper.QuantizeModel(int8, int8, False, int8, int32, False, False))
