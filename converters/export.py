"""Package a trained Keras emotion model for the device: int8 TFLite + metadata (+ float twin).

:func:`export_model` converts the model to full-integer int8 with a representative dataset of
training windows (in a child process, see :mod:`converters.quantize`), verifies that every
operator is integer, writes the float32 twin beside it, and writes ``NAME.json``
(:class:`edgeser.model.ModelMeta`) with the labels, frontend config, normalisation, input and
output quantisation, sha256, size, MACs, training description and metrics.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from converters.quantize import QuantReport, convert_float32, convert_int8
from edgeser.frontend import FrontendConfig
from edgeser.model import ModelMeta, TensorQuant, meta_path, sha256_file
from edgeser.normalisation import Normalisation


def _tensor(report: QuantReport, which: str) -> TensorQuant:
    return TensorQuant(
        shape=tuple(int(v) for v in getattr(report, f"{which}_shape")),
        dtype=str(getattr(report, f"{which}_dtype")),
        scale=float(getattr(report, f"{which}_scale")),
        zero_point=int(getattr(report, f"{which}_zero_point")),
    )


def export_model(
    model: Any,
    out_path: str | os.PathLike[str],
    *,
    name: str,
    labels: list[str],
    frontend: FrontendConfig,
    normalisation: Normalisation,
    window_frames: int,
    representative: np.ndarray,
    macs: int = 0,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    float_twin: bool = True,
    max_samples: int | None = 500,
    gate_ranges: str = "saturated",
    strip_names: bool = False,
) -> ModelMeta:
    """Write ``out_path`` (int8 .tflite), its ``.json`` metadata and, if asked, the float32
    twin ``<stem>.float32.tflite``. ``representative`` holds float model inputs
    (n, frames, bands, 1) drawn from the training data; at most ``max_samples`` of them
    (evenly spaced; ``None``: all) calibrate the converter
    (:func:`converters.quantize.convert_int8`, whose ``gate_ranges`` and ``strip_names`` this
    passes on; the float32 twin keeps its names)."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = convert_int8(
        model,
        representative,
        out,
        model_name=name,
        max_samples=max_samples,
        gate_ranges=gate_ranges,
        strip_names=strip_names,
    )
    if float_twin:
        convert_float32(model, out.with_name(out.stem + ".float32.tflite"), model_name=name)
    meta = ModelMeta(
        name=name,
        labels=tuple(labels),
        frontend=frontend,
        normalisation=normalisation,
        window_frames=window_frames,
        input=_tensor(report, "input"),
        output=_tensor(report, "output"),
        tflite_sha256=sha256_file(out),
        tflite_bytes=out.stat().st_size,
        macs=int(macs),
        training=dict(training or {}),
        metrics=dict(metrics or {}),
    )
    meta_path(out).write_text(meta.to_json())
    return meta
