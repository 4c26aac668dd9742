"""A static Coral Edge TPU compatibility report for a TFLite model, before buying hardware.

It reads the model's operators with the CPU interpreter and applies the Edge TPU compiler's
documented rules (https://coral.ai/docs/edgetpu/models-intro/): every tensor int8/uint8 (int32
biases allowed), static shapes, at most 3 innermost dimensions larger than 1, and an operator
from the supported list (``LSTM`` unidirectional only). The compiler partitions the graph
once: the first operator that cannot be mapped and every operator after it run on the CPU.

It is an estimate: ``edgetpu_compiler`` has the last word (it may also refuse operators for
size limits this report cannot see).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeser.backends import get_backend
from edgeser.quiet import quiet_stderr

SUPPORTED_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS",
    "FULLY_CONNECTED", "L2_NORMALIZATION", "LOGISTIC", "LSTM", "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE",
    "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT",
    "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "TANH", "TRANSPOSE",
    "TRANSPOSE_CONV",
})  # fmt: skip
"""TFLite builtin operators the Edge TPU compiler can map (Coral's supported-operations table)."""

_INTEGER = {np.dtype(np.int8), np.dtype(np.uint8)}


@dataclass(frozen=True)
class OpVerdict:
    """One operator: its index in execution order, name, and where it would run and why."""

    index: int
    op: str
    mapped: bool
    reason: str


@dataclass
class EdgeTpuReport:
    """Per-operator verdicts and a summary of which part of the graph the Edge TPU would run."""

    model: str
    ops: list[OpVerdict] = field(default_factory=list)

    @property
    def mapped(self) -> int:
        return sum(op.mapped for op in self.ops)

    @property
    def fully_mapped(self) -> bool:
        return bool(self.ops) and self.mapped == len(self.ops)

    def summary_rows(self) -> list[tuple[str, int, str]]:
        """(operator, count, status) rows like the compiler's own log."""
        counts = Counter((op.op, op.reason) for op in self.ops)
        return [(name, n, reason) for (name, reason), n in sorted(counts.items())]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "operators": len(self.ops),
            "mapped": self.mapped,
            "fully_mapped": self.fully_mapped,
            "summary": [
                {"op": name, "count": n, "status": reason}
                for name, n, reason in self.summary_rows()
            ],
        }

    def format(self) -> str:
        lines = [
            f"Edge TPU compatibility (static estimate) of {self.model}:",
            f"  {self.mapped} of {len(self.ops)} operators would be mapped to the Edge TPU",
        ]
        width = max((len(name) for name, _, _ in self.summary_rows()), default=8)
        lines.append(f"  {'operator':<{width}}  count  status")
        for name, n, reason in self.summary_rows():
            lines.append(f"  {name:<{width}}  {n:>5}  {reason}")
        return "\n".join(lines)


def _op_problem(
    op: dict[str, Any], tensors: dict[int, dict[str, Any]], constants: set[int]
) -> str | None:
    """Why ``op`` cannot be mapped, or None. Constant tensors (weights, biases, shapes, axes)
    may be int32 and of any rank; activations must be int8/uint8, static, rank-limited."""
    name = op["op_name"]
    if name == "BIDIRECTIONAL_SEQUENCE_LSTM":
        return "bidirectional LSTM is not supported (unidirectional only)"
    if name not in SUPPORTED_OPS:
        return "operation is not supported by the Edge TPU"
    for index in [*op["inputs"], *op["outputs"]]:
        if index < 0:
            continue
        tensor = tensors[int(index)]
        dtype = np.dtype(tensor["dtype"])
        if int(index) in constants:
            if dtype not in _INTEGER and dtype != np.int32:
                return f"has constant {dtype.name} weights"
            continue
        if dtype not in _INTEGER:
            return f"operates on an unsupported data type ({dtype.name})"
        if (np.asarray(tensor.get("shape_signature", tensor["shape"])) < 0).any():
            return "tensor has a dynamic shape"
        shape = [int(d) for d in tensor["shape"]]
        if len(shape) > 3 and any(d > 1 for d in shape[:-3]):
            return "tensor has unsupported rank (only 3 innermost dimensions may exceed 1)"
    return None


def compatibility_report(
    model_path: str | os.PathLike[str], backend: str = "auto"
) -> EdgeTpuReport:
    """The static Edge TPU report for a ``.tflite`` model (see the module docstring)."""
    chosen = get_backend(backend)
    kwargs: dict[str, Any] = {"model_path": str(model_path)}
    resolver = getattr(chosen.interpreter_class, "__module__", "")
    try:  # without the default XNNPACK delegate, so the graph's own operators are listed
        module = __import__(resolver, fromlist=["OpResolverType"])
        kwargs["experimental_op_resolver_type"] = (
            module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
    except (ImportError, AttributeError):
        pass
    with quiet_stderr():
        interpreter = chosen.interpreter_class(**kwargs)
        interpreter.allocate_tensors()
    tensors = {int(t["index"]): t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    produced = {int(i) for op in ops for i in op["outputs"]}
    produced |= {int(d["index"]) for d in interpreter.get_input_details()}
    constants = set(tensors) - produced
    report = EdgeTpuReport(model=str(model_path))
    cut = False
    for op in ops:
        problem = _op_problem(op, tensors, constants)
        if problem is not None and not cut:
            cut = True
            report.ops.append(OpVerdict(int(op["index"]), op["op_name"], False, problem))
            continue
        if cut:
            reason = problem or "after the first unmapped operator (one partition only): CPU"
            report.ops.append(OpVerdict(int(op["index"]), op["op_name"], False, reason))
        else:
            report.ops.append(OpVerdict(int(op["index"]), op["op_name"], True, "mapped"))
    return report
