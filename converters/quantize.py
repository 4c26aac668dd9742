"""Convert trained Keras models to int8 / float32 TFLite flatbuffers and verify them.

Workstation-side tooling: the conversion itself runs the TensorFlow TFLite converter in a
child process (``python -m converters._convert_worker``), so this module imports neither
TensorFlow nor Keras -- only numpy and the LiteRT interpreter used to inspect the result.

* :func:`convert_int8` -- full-integer post-training quantisation
  (``optimizations=[DEFAULT]``, a representative dataset drawn from a float array,
  ``supported_ops=[TFLITE_BUILTINS_INT8]``, int8 input and output), followed by
  :func:`verify_integer_graph`.  Uses the legacy quantizer and saturated LSTM gate ranges
  (:mod:`converters.gate_ranges`) by default (see its ``quantizer`` and ``gate_ranges``
  arguments).
* :func:`convert_float32` -- the float32 twin of the same model, for accuracy and latency
  comparisons.
* :func:`verify_integer_graph` -- lists every op tensor that is not int8/int16/int32.
* :func:`inspect_tflite` -- the :class:`QuantReport` of any ``.tflite`` file.

Why a child process: the converter and its calibrator are native code and may segfault or
abort on graphs they do not support (for example a non-unrolled Keras 3 LSTM under
full-integer quantisation in TF 2.21).  The parent survives and raises
:class:`ConversionError` naming the model, the exit code or signal, and the tail of the
child's stderr.  The output file only appears at ``out_path`` after a successful conversion.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from converters._convert_worker import EXIT_GATE_RANGES_UNSUPPORTED

__all__ = [
    "ConversionError",
    "QuantReport",
    "convert_float32",
    "convert_int8",
    "inspect_tflite",
    "verify_integer_graph",
]

#: Module run in the child process for each conversion.
WORKER_MODULE = "converters._convert_worker"

#: How :func:`convert_int8` may set the LSTM gate pre-activation ranges.
GATE_RANGES: tuple[str, ...] = ("calibrated", "saturated")

#: Tensor types allowed on any op of a full-integer graph (int32 holds biases and shapes).
INTEGER_DTYPES: frozenset[str] = frozenset({"int8", "int16", "int32"})

#: How much of the child's stderr a ConversionError quotes.
_STDERR_TAIL_LINES = 25
_STDERR_TAIL_CHARS = 4000

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class ConversionError(RuntimeError):
    """A TFLite conversion failed, crashed, timed out or produced a non-integer graph.

    Attributes:
        model_name: the name given to the conversion call.
        returncode: the child's exit status (negative: killed by signal ``-returncode``),
            or ``None`` when the child finished but the result was rejected.
        signal_name: e.g. ``"SIGSEGV"`` when the child died from a signal, else ``None``.
        stderr_tail: the last lines of the child's stderr ("" when not applicable).
    """

    def __init__(
        self,
        message: str,
        *,
        model_name: str,
        returncode: int | None = None,
        signal_name: str | None = None,
        stderr_tail: str = "",
    ) -> None:
        super().__init__(message)
        self.model_name = model_name
        self.returncode = returncode
        self.signal_name = signal_name
        self.stderr_tail = stderr_tail


@dataclasses.dataclass(frozen=True)
class QuantReport:
    """What a converted ``.tflite`` file contains.

    Attributes:
        model_name: name given to the conversion.
        path: the ``.tflite`` file.
        kind: ``"int8"`` or ``"float32"`` (the dtype of the model input).
        input_shape / output_shape: tensor shapes including the batch dimension (1).
        input_dtype / output_dtype: numpy dtype names.
        input_scale, input_zero_point / output_scale, output_zero_point: the affine
            quantisation ``real = scale * (q - zero_point)``; ``0.0`` / ``0`` for float tensors.
        ops: builtin op names in execution order (one entry per node).
        size_bytes: file size.
        sha256: hex digest of the file.
        integer_errors: the findings of :func:`verify_integer_graph` (empty means every op
            tensor is int8/int16/int32); always empty for a float32 report, which is not
            checked.
    """

    model_name: str
    path: Path
    kind: str
    input_shape: tuple[int, ...]
    input_dtype: str
    input_scale: float
    input_zero_point: int
    output_shape: tuple[int, ...]
    output_dtype: str
    output_scale: float
    output_zero_point: int
    ops: tuple[str, ...]
    size_bytes: int
    sha256: str
    integer_errors: tuple[str, ...] = ()

    @property
    def op_counts(self) -> dict[str, int]:
        """Number of nodes of each op type, most frequent first."""
        return dict(Counter(self.ops).most_common())

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (paths as strings, tuples as lists)."""
        d = dataclasses.asdict(self)
        d["path"] = str(self.path)
        for key in ("input_shape", "output_shape", "ops", "integer_errors"):
            d[key] = list(d[key])
        d["op_counts"] = self.op_counts
        return d


def _interpreter(tflite_path: str | os.PathLike[str]) -> Any:
    """A LiteRT interpreter over ``tflite_path`` without default delegates.

    Without XNNPACK the node list is the model's own builtin ops, not delegate kernels.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    return Interpreter(
        model_path=str(tflite_path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )


def _dtype_name(dtype: Any) -> str:
    """numpy name of a dtype reported by the interpreter (``'float32'``, ``'int8'``...)."""
    return np.dtype(dtype).name


def verify_integer_graph(tflite_path: str | os.PathLike[str]) -> list[str]:
    """Check that ``tflite_path`` is a full-integer graph; return one message per violation.

    Every input and output tensor of every op must be int8, int16 or int32 (int32 for biases
    and shape operands); absent optional inputs (tensor index -1) are skipped.  Any other
    tensor type -- float32 in particular, which would mean a float kernel or a
    QUANTIZE/DEQUANTIZE pair left in the graph -- is reported as
    ``"op <i> <OP_NAME>: input <k> tensor <t> '<name>' is float32"``.  A model with more
    than one subgraph (control flow such as WHILE, e.g. a non-unrolled LSTM) is reported too,
    because the edge runtime does not support it and only the primary subgraph is checked.

    Args:
        tflite_path: the ``.tflite`` file to inspect.

    Returns:
        The list of violations; empty when the graph is fully integer.
    """
    interp = _interpreter(tflite_path)
    errors: list[str] = []
    n_sub = int(interp.num_subgraphs())
    if n_sub > 1:
        errors.append(
            f"model has {n_sub} subgraphs (control flow); only subgraph 0 was checked and "
            "the edge runtime needs a single graph"
        )
    names: dict[int, tuple[str, str]] = {}

    def tensor(idx: int) -> tuple[str, str]:
        if idx not in names:
            det = interp._get_tensor_details(idx, 0)
            names[idx] = (_dtype_name(det["dtype"]), str(det["name"]))
        return names[idx]

    for op in interp._get_ops_details():
        for role, indices in (("input", op["inputs"]), ("output", op["outputs"])):
            for k, idx in enumerate(int(i) for i in indices):
                if idx < 0:
                    continue
                dtype, name = tensor(idx)
                if dtype not in INTEGER_DTYPES:
                    errors.append(
                        f"op {op['index']} {op['op_name']}: {role} {k} tensor {idx} "
                        f"'{name}' is {dtype}"
                    )
    return errors


def inspect_tflite(
    tflite_path: str | os.PathLike[str], *, model_name: str, check_integer: bool | None = None
) -> QuantReport:
    """Build the :class:`QuantReport` of an existing ``.tflite`` file.

    Args:
        tflite_path: the model file.
        model_name: name recorded in the report.
        check_integer: run :func:`verify_integer_graph`; by default only when the model input
            is not float32.

    Returns:
        The report.
    """
    path = Path(tflite_path)
    data = path.read_bytes()
    interp = _interpreter(path)
    inputs = interp.get_input_details()
    outputs = interp.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"{path}: expected one input and one output, got {len(inputs)} and {len(outputs)}"
        )
    inp, out = inputs[0], outputs[0]
    in_scale, in_zp = inp["quantization"]
    out_scale, out_zp = out["quantization"]
    kind = "float32" if _dtype_name(inp["dtype"]) == "float32" else "int8"
    if check_integer is None:
        check_integer = kind != "float32"
    errors = tuple(verify_integer_graph(path)) if check_integer else ()
    return QuantReport(
        model_name=model_name,
        path=path,
        kind=kind,
        input_shape=tuple(int(d) for d in inp["shape"]),
        input_dtype=_dtype_name(inp["dtype"]),
        input_scale=float(in_scale),
        input_zero_point=int(in_zp),
        output_shape=tuple(int(d) for d in out["shape"]),
        output_dtype=_dtype_name(out["dtype"]),
        output_scale=float(out_scale),
        output_zero_point=int(out_zp),
        ops=tuple(str(op["op_name"]) for op in interp._get_ops_details()),
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        integer_errors=errors,
    )


def _tail(text: str) -> str:
    """The informative end of a child's stderr, bounded in lines and characters.

    Drops faulthandler's long "Extension modules: ..." line, shortens very long lines, keeps
    the last ``_STDERR_TAIL_LINES`` lines, and prepends the worker's last progress line
    (``[convert-worker] ...``) if it fell out of the window, so the stage is always named.
    """
    lines = [
        ln if len(ln) <= 400 else ln[:400] + " ..."
        for ln in text.rstrip().splitlines()
        if not ln.startswith("Extension modules:")
    ]
    body = "\n".join(lines[-_STDERR_TAIL_LINES:])[-_STDERR_TAIL_CHARS:]
    progress = [ln for ln in lines if ln.startswith("[convert-worker]")]
    if progress and progress[-1] not in body:
        body = f"{progress[-1]}\n...\n{body}"
    return body


def _describe_exit(returncode: int) -> tuple[str, str | None]:
    """Human description of a child's exit status and the signal name, if any."""
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode).name
        except ValueError:
            sig = f"signal {-returncode}"
        return f"was killed by {sig} (exit status {returncode})", sig
    return f"exited with code {returncode}", None


def _stage_model(model: str | os.PathLike[str] | Any, workdir: Path, model_name: str) -> Path:
    """Return a path the child can load: the given path, or a Keras model saved to workdir."""
    if isinstance(model, (str, os.PathLike)):
        path = Path(model).resolve()
        if not path.exists():
            raise FileNotFoundError(f"model {model_name!r}: {path} does not exist")
        return path
    if hasattr(model, "save"):
        path = workdir / "model.keras"
        model.save(str(path))
        return path
    raise TypeError(
        f"model {model_name!r}: expected a .keras/.h5 path, a SavedModel directory or a "
        f"keras.Model, got {type(model).__name__}"
    )


def _run_worker(
    *,
    model: str | os.PathLike[str] | Any,
    out_path: str | os.PathLike[str],
    mode: str,
    model_name: str,
    representative: np.ndarray | None,
    timeout: float | None,
    worker_cmd: Sequence[str] | None,
    quantizer: str = "legacy",
    gate_ranges: str = "calibrated",
    strip_names: bool = False,
) -> Path:
    """Run one conversion in a child process and move its output to ``out_path``."""
    out = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="edgeser-quant-") as tmp:
        workdir = Path(tmp)
        spec: dict[str, Any] = {
            "model_path": str(_stage_model(model, workdir, model_name)),
            "out_path": str(workdir / "model.tflite"),
            "mode": mode,
            "model_name": model_name,
            "quantizer": quantizer,
            "gate_ranges": gate_ranges,
            "strip_names": bool(strip_names),
        }
        if representative is not None:
            rep_path = workdir / "representative.npy"
            np.save(rep_path, representative)
            spec["representative_path"] = str(rep_path)
        spec_path = workdir / "spec.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
        env.setdefault("PYTHONFAULTHANDLER", "1")
        cmd = [*(worker_cmd or (sys.executable, "-m", WORKER_MODULE)), str(spec_path)]
        try:
            proc = subprocess.run(
                cmd,
                env=env,
                cwd=str(workdir),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            stderr = exc.stderr or ""
            if isinstance(stderr, bytes):
                stderr = stderr.decode("utf-8", "replace")
            tail = _tail(stderr)
            raise ConversionError(
                f"{mode} conversion of model {model_name!r} timed out after {timeout} s"
                f"\n--- child stderr (tail) ---\n{tail}",
                model_name=model_name,
                stderr_tail=tail,
            ) from None

        produced = Path(spec["out_path"])
        if proc.returncode != 0 or not produced.is_file() or produced.stat().st_size == 0:
            tail = _tail(proc.stderr or "")
            if proc.returncode == EXIT_GATE_RANGES_UNSUPPORTED and gate_ranges == "saturated":
                how, sig = (
                    "could not narrow the LSTM gate ranges with this TensorFlow (convert with "
                    "gate_ranges='calibrated', on the command line --gate-ranges calibrated)",
                    None,
                )
            elif proc.returncode != 0:
                how, sig = _describe_exit(proc.returncode)
            else:
                how, sig = "exited with code 0 but wrote no model", None
            raise ConversionError(
                f"{mode} conversion of model {model_name!r} failed: the converter process "
                f"{how}\n--- child stderr (tail) ---\n{tail}",
                model_name=model_name,
                returncode=proc.returncode,
                signal_name=sig,
                stderr_tail=tail,
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(produced), str(out))
    return out


def _check_representative(representative: np.ndarray, model_name: str) -> np.ndarray:
    """Validate the calibration array and return it as contiguous float32."""
    rep = np.asarray(representative)
    if rep.ndim < 2 or rep.shape[0] == 0:
        raise ValueError(
            f"model {model_name!r}: representative must be (N, *input_shape) with N >= 1, "
            f"got shape {rep.shape}"
        )
    if not np.issubdtype(rep.dtype, np.floating):
        raise ValueError(
            f"model {model_name!r}: representative must be float (the model's training "
            f"input), got {rep.dtype}"
        )
    if not np.all(np.isfinite(rep)):
        raise ValueError(f"model {model_name!r}: representative contains NaN or inf")
    return np.ascontiguousarray(rep, dtype=np.float32)


def convert_int8(
    saved_model_or_keras_path: str | os.PathLike[str] | Any,
    representative: np.ndarray,
    out_path: str | os.PathLike[str],
    *,
    model_name: str,
    max_samples: int | None = 500,
    require_integer: bool = True,
    quantizer: str = "legacy",
    gate_ranges: str = "saturated",
    strip_names: bool = False,
    timeout: float | None = 900.0,
    worker_cmd: Sequence[str] | None = None,
) -> QuantReport:
    """Convert a model to a full-integer (int8 in, int8 out) TFLite flatbuffer.

    The TFLiteConverter runs in a child process with ``optimizations=[DEFAULT]``, a
    ``representative_dataset`` yielding the samples of ``representative`` one at a time
    (batch 1), ``target_spec.supported_ops=[TFLITE_BUILTINS_INT8]`` and
    ``inference_input_type = inference_output_type = tf.int8``.  A Keras file is re-exported
    with a static batch of 1, so all tensor shapes in the flatbuffer are static.  The result
    is then checked with :func:`verify_integer_graph`.

    Args:
        saved_model_or_keras_path: a ``.keras``/``.h5`` file, a SavedModel directory, or an
            in-memory ``keras.Model`` (saved to a temporary ``.keras`` file first).
        representative: float array ``(N, *input_shape)`` of typical model inputs (the same
            features used in training) for calibrating activation ranges.
        out_path: destination ``.tflite`` path (parent directories are created).  Written
            only on success.
        model_name: name used in messages, errors and the report.
        max_samples: use at most this many calibration samples (evenly spaced over
            ``representative``); ``None`` uses all.
        require_integer: raise :class:`ConversionError` if the converted graph has any
            non-integer op tensor (the file is left at ``out_path`` for inspection).
        quantizer: ``"legacy"`` (default) sets ``experimental_new_quantizer=False``;
            ``"mlir"`` uses the converter's default MLIR quantizer.  In TF 2.21 the MLIR
            quantizer intermittently (depending on the weights) leaves the first unrolled LSTM
            step's gate SPLIT in float32 (DEQUANTIZE -> SPLIT -> QUANTIZE), because the
            forget-gate slice is dead when the initial cell state is zero; the legacy
            quantizer keeps it int8.  :func:`verify_integer_graph` catches either way.
        gate_ranges: ``"saturated"`` (default; legacy quantizer only) narrows each LSTM gate
            pre-activation to the +-6.24 beyond which int8 LOGISTIC and TANH cannot change
            their output (:mod:`converters.gate_ranges`): the same int8 codes out of the
            gates, rounded on a 3-6x finer grid; a graph without LSTM gates converts as with
            ``"calibrated"``, which quantises every activation over the range calibration saw
            (every model converted before 2026-12-07, the previous default v4 among them; the
            defaults v13 and v15 are converted with ``"saturated"``).
            ``quantizer="mlir"`` needs ``"calibrated"``.
        strip_names: write the file without tensor and subgraph names, description and
            signature definitions (:func:`converters._convert_worker.strip_names`): the same
            graph and outputs in fewer bytes (about 17 KB less per network of the default
            conv-LSTM, whose unrolled LSTM names hundreds of tensors); the integer check then
            names tensors by index only.
        timeout: seconds before the child is killed and ConversionError raised; ``None``
            waits forever.
        worker_cmd: **test hook** -- the command that starts the child instead of
            ``[sys.executable, "-m", "converters._convert_worker"]``; the path of the JSON
            spec is appended as its last argument.  Tests pass e.g.
            ``[sys.executable, "-c", "import os; os.abort()"]`` to simulate a converter crash.

    Returns:
        The :class:`QuantReport` of the written file.

    Raises:
        ConversionError: the child failed, crashed (signal) or timed out, or
            ``require_integer`` and the graph is not fully integer.
        ValueError: ``representative`` is empty, not float, or not finite.
        FileNotFoundError: the model path does not exist.
    """
    if quantizer not in ("legacy", "mlir"):
        raise ValueError(f"quantizer must be 'legacy' or 'mlir', got {quantizer!r}")
    if gate_ranges not in GATE_RANGES:
        raise ValueError(f"gate_ranges must be one of {GATE_RANGES}, got {gate_ranges!r}")
    if gate_ranges == "saturated" and quantizer != "legacy":
        raise ValueError("gate_ranges='saturated' needs quantizer='legacy'; pass 'calibrated'")
    rep = _check_representative(representative, model_name)
    if max_samples is not None and rep.shape[0] > max_samples:
        idx = np.linspace(0, rep.shape[0] - 1, num=max_samples).round().astype(int)
        rep = rep[np.unique(idx)]
    out = _run_worker(
        model=saved_model_or_keras_path,
        out_path=out_path,
        mode="int8",
        model_name=model_name,
        representative=rep,
        timeout=timeout,
        worker_cmd=worker_cmd,
        quantizer=quantizer,
        gate_ranges=gate_ranges,
        strip_names=strip_names,
    )
    report = inspect_tflite(out, model_name=model_name, check_integer=True)
    if require_integer and report.integer_errors:
        shown = "\n".join(report.integer_errors[:10])
        more = len(report.integer_errors) - 10
        raise ConversionError(
            f"int8 conversion of model {model_name!r} left {len(report.integer_errors)} "
            f"non-integer op tensor(s) in {out}:\n{shown}"
            + (f"\n... and {more} more" if more > 0 else ""),
            model_name=model_name,
        )
    return report


def convert_float32(
    saved_model_or_keras_path: str | os.PathLike[str] | Any,
    out_path: str | os.PathLike[str],
    *,
    model_name: str,
    timeout: float | None = 900.0,
    worker_cmd: Sequence[str] | None = None,
) -> QuantReport:
    """Convert a model to a float32 TFLite flatbuffer (the int8 model's reference twin).

    Same child-process machinery, inputs and errors as :func:`convert_int8`, without
    quantisation; the report's scales and zero points are 0.

    Args:
        saved_model_or_keras_path: a ``.keras``/``.h5`` file, SavedModel directory or
            ``keras.Model``.
        out_path: destination ``.tflite`` path, written only on success.
        model_name: name used in messages, errors and the report.
        timeout: seconds before the child is killed; ``None`` waits forever.
        worker_cmd: test hook, see :func:`convert_int8`.

    Returns:
        The :class:`QuantReport` of the written file.

    Raises:
        ConversionError: the child failed, crashed or timed out.
    """
    out = _run_worker(
        model=saved_model_or_keras_path,
        out_path=out_path,
        mode="float32",
        model_name=model_name,
        representative=None,
        timeout=timeout,
        worker_cmd=worker_cmd,
    )
    return inspect_tflite(out, model_name=model_name, check_integer=False)
