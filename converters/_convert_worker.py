"""Child-process entry point that runs one TFLite conversion (workstation only).

Run as ``python -m converters._convert_worker SPEC.json`` by :mod:`converters.quantize`; not
meant to be called by hand.  The TFLite converter (MLIR, calibrator) is native code that can
segfault or abort on unsupported graphs -- a non-unrolled Keras LSTM under full-integer
quantisation does exactly that in TF 2.21 -- so each conversion runs in its own process and
the parent turns a dead child into a :class:`converters.quantize.ConversionError`.

The JSON spec holds:

``model_path``
    a Keras ``.keras``/``.h5`` file or a SavedModel directory.
``out_path``
    where to write the ``.tflite`` flatbuffer (the parent moves it into place).
``mode``
    ``"int8"`` (full-integer post-training quantisation, int8 input and output) or
    ``"float32"``.
``representative_path``
    (int8 only) a ``.npy`` float array ``(N, *input_shape)`` of calibration samples.
``model_name``
    used only in progress messages.
``quantizer``
    (int8 only, optional) ``"legacy"`` (default; ``experimental_new_quantizer=False``) or
    ``"mlir"`` (the converter's default MLIR quantizer).
``gate_ranges``
    (int8, legacy quantizer only, optional) ``"calibrated"`` (default: every activation range
    as calibrated) or ``"saturated"`` (calibrate only, narrow the LSTM gate pre-activation
    ranges with :func:`converters.gate_ranges.saturate_gate_ranges`, then quantise).
``strip_names``
    (optional, default false) remove the tensor and subgraph names, the model description and
    the signature definitions from the written flatbuffer (:func:`strip_names`): the graph,
    weights, quantisation parameters and metadata entries stay as converted.

Progress lines go to stderr prefixed with ``[convert-worker]`` and ``faulthandler`` is on,
so the tail of stderr that the parent reports shows the stage (and Python stack) at which a
native crash happened.  Exit status: 0 success, 2 bad spec or inputs, 3 conversion failed
with a Python exception, 4 this TensorFlow cannot narrow the LSTM gate ranges
(``gate_ranges="saturated"``; ``"calibrated"`` converts).
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_BAD_SPEC = 2
EXIT_CONVERSION_FAILED = 3
#: The saturated gate ranges need TensorFlow internals (calibrate-only conversion, the legacy
#: quantizer's wrapper) that this TensorFlow lacks or calls differently.
EXIT_GATE_RANGES_UNSUPPORTED = 4

_T0 = time.monotonic()


def _log(msg: str) -> None:
    """Write a progress line to stderr and flush it, so it survives a native crash."""
    print(f"[convert-worker] +{time.monotonic() - _T0:.1f}s {msg}", file=sys.stderr, flush=True)


def _read_spec(path: str) -> dict[str, Any]:
    """Load and check the JSON conversion spec."""
    with open(path, encoding="utf-8") as fh:
        spec = json.load(fh)
    for key in ("model_path", "out_path", "mode", "model_name"):
        if key not in spec:
            raise ValueError(f"spec is missing {key!r}")
    if spec["mode"] not in ("int8", "float32"):
        raise ValueError(f"mode must be 'int8' or 'float32', got {spec['mode']!r}")
    if spec.get("quantizer", "legacy") not in ("legacy", "mlir"):
        raise ValueError(f"quantizer must be 'legacy' or 'mlir', got {spec['quantizer']!r}")
    if spec.get("gate_ranges", "calibrated") not in ("calibrated", "saturated"):
        raise ValueError(
            f"gate_ranges must be 'calibrated' or 'saturated', got {spec['gate_ranges']!r}"
        )
    if spec.get("gate_ranges", "calibrated") == "saturated" and spec.get("quantizer") == "mlir":
        raise ValueError("gate_ranges 'saturated' needs the legacy quantizer")
    if spec["mode"] == "int8" and not spec.get("representative_path"):
        raise ValueError("int8 conversion needs 'representative_path'")
    return spec


def make_converter(model_path: Path, workdir: Path) -> tuple[Any, tuple[int, ...] | None]:
    """Build a TFLiteConverter for a Keras file or a SavedModel directory.

    A Keras file is reloaded and re-exported as a SavedModel with one ``serve`` endpoint whose
    input has a static batch of 1, so the flatbuffer has fully static shapes (what a
    microcontroller interpreter wants).  Returns the converter and the per-sample input
    shape when known.
    """
    import tensorflow as tf

    if model_path.is_dir():
        _log(f"loading SavedModel {model_path}")
        return tf.lite.TFLiteConverter.from_saved_model(str(model_path)), None

    import keras

    from converters.models import load_model as load_keras_model

    _log(f"loading Keras model {model_path}")
    model = load_keras_model(str(model_path), compile=False)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"expected a single-input single-output model, got {len(model.inputs)} inputs "
            f"and {len(model.outputs)} outputs"
        )
    sample_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    export_dir = workdir / "saved_model"
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec((1, *sample_shape), tf.float32)],
    )
    _log("exporting static-batch SavedModel")
    archive.write_out(str(export_dir), verbose=False)
    return tf.lite.TFLiteConverter.from_saved_model(str(export_dir)), sample_shape


def set_int8(converter: Any, rep: Any, quantizer: str, *, calibrate_only: bool) -> None:
    """Set ``converter`` up for full-integer quantisation calibrated on ``rep`` (one sample per
    batch): int8 input and output, or with ``calibrate_only`` a float flatbuffer holding each
    tensor's calibrated min/max, for :mod:`converters.gate_ranges` to edit and quantise."""
    import numpy as np
    import tensorflow as tf

    def representative_dataset() -> Iterator[list[Any]]:
        for sample in rep:
            yield [sample[np.newaxis, ...]]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.experimental_new_quantizer = quantizer == "mlir"
    if calibrate_only:  # float input and output until quantize_calibrated
        converter._experimental_calibrate_only = True
    else:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8


def _convert(spec: dict[str, Any]) -> int:
    """Run the conversion described by ``spec``; return the process exit status."""
    import numpy as np

    model_path = Path(spec["model_path"])
    if not model_path.exists():
        _log(f"model not found: {model_path}")
        return EXIT_BAD_SPEC
    rep = None
    if spec["mode"] == "int8":
        rep = np.load(spec["representative_path"], allow_pickle=False).astype(np.float32)
        if rep.ndim < 2 or rep.shape[0] == 0:
            _log(f"representative array must be (N, *input_shape) with N >= 1, got {rep.shape}")
            return EXIT_BAD_SPEC

    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="edgeser-convert-") as tmp:
        converter, sample_shape = make_converter(model_path, Path(tmp))
        if rep is not None and sample_shape is not None and tuple(rep.shape[1:]) != sample_shape:
            _log(
                f"representative samples have shape {tuple(rep.shape[1:])}, "
                f"model input is {sample_shape}"
            )
            return EXIT_BAD_SPEC
        if rep is not None:
            quantizer = spec.get("quantizer", "legacy")
            saturated = spec.get("gate_ranges", "calibrated") == "saturated"
            set_int8(converter, rep, quantizer, calibrate_only=saturated)
            _log(
                f"converting with full-integer quantisation ({quantizer} quantizer, "
                f"{len(rep)} calibration samples"
                + (", saturated LSTM gate ranges)" if saturated else ")")
            )
        else:
            saturated = False
            _log("converting to float32")
        flatbuffer = converter.convert()
        if saturated:
            from converters.gate_ranges import quantize_calibrated, saturate_gate_ranges

            try:
                edited, changed = saturate_gate_ranges(flatbuffer)
                _log(f"narrowed {len(changed)} LSTM gate tensor ranges; quantising")
                flatbuffer = quantize_calibrated(edited, (1, *rep.shape[1:]))
            except (ImportError, AttributeError, TypeError) as exc:
                traceback.print_exc(file=sys.stderr)
                _log(f"saturated gate ranges unsupported by TensorFlow {tf.__version__}: {exc}")
                return EXIT_GATE_RANGES_UNSUPPORTED

    if spec.get("strip_names"):
        before = len(flatbuffer)
        flatbuffer = strip_names(flatbuffer)
        _log(f"stripped names: {before} -> {len(flatbuffer)} bytes")
    out_path = Path(spec["out_path"])
    out_path.write_bytes(flatbuffer)
    _log(f"wrote {len(flatbuffer)} bytes to {out_path}")
    return EXIT_OK


def strip_names(flatbuffer: bytes) -> bytes:
    """``flatbuffer`` (a .tflite) without the strings the interpreter does not need: tensor and
    subgraph names, the model description and the signature definitions (which name tensors).
    Operators, tensors, buffers, quantisation parameters and metadata entries are unchanged,
    so the graph computes the same outputs; the LiteRT interpreter then reports empty tensor
    names. TFLite Micro firmware strips the same strings to save flash."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    model.description = None
    model.signatureDefs = None
    for subgraph in model.subgraphs:
        subgraph.name = None
        for tensor in subgraph.tensors:
            tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _skip_unneeded_imports() -> None:
    """Keep Keras from importing scikit-learn (and SciPy) for its sklearn wrappers.

    Keras imports sklearn opportunistically and treats an ImportError as "not installed";
    the converter never needs it, and skipping it saves a second or more of start-up in
    every conversion child.
    """
    sys.modules.setdefault("sklearn", None)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m converters._convert_worker SPEC.json``."""
    faulthandler.enable()
    _skip_unneeded_imports()
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        _log("usage: python -m converters._convert_worker SPEC.json")
        return EXIT_BAD_SPEC
    try:
        spec = _read_spec(args[0])
    except (OSError, ValueError) as exc:
        _log(f"bad spec: {exc}")
        return EXIT_BAD_SPEC
    _log(f"model {spec['model_name']!r}: {spec['mode']} conversion (pid {os.getpid()})")
    try:
        return _convert(spec)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        _log(f"conversion failed: {type(exc).__name__}: {exc}")
        return EXIT_CONVERSION_FAILED


if __name__ == "__main__":
    sys.exit(main())
