"""Emotion models on the device: an int8 ``.tflite`` file plus its metadata, run by LiteRT.

A model is ``NAME.tflite`` with ``NAME.json`` beside it (:class:`ModelMeta`): labels, frontend
config, normalisation, window length, input/output quantisation, the file's sha256 and size,
and how it was trained and measured. Loading checks the hash, the tensor shapes and dtypes and
the frontend config, and refuses a mismatched or tampered model with a :class:`ModelError`.

The embedded default model lives in ``edgeser/models/`` (:func:`default_model_path`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeser.backends import make_interpreter
from edgeser.errors import EdgeserError
from edgeser.frontend import FrontendConfig
from edgeser.normalisation import Normalisation

FORMAT = "edgeser-model/1"
MODELS_DIR = Path(__file__).resolve().parent / "models"


class ModelError(EdgeserError, ValueError):
    """A model file or its metadata is missing, malformed, mismatched or tampered with."""


@dataclass(frozen=True)
class TensorQuant:
    """Shape, dtype and affine quantisation (real = scale * (q - zero_point)) of a tensor."""

    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0


@dataclass(frozen=True)
class ModelMeta:
    """Everything the runtime needs to know about a model, stored as JSON beside it."""

    name: str
    labels: tuple[str, ...]
    frontend: FrontendConfig
    normalisation: Normalisation
    window_frames: int
    input: TensorQuant
    output: TensorQuant
    tflite_sha256: str
    tflite_bytes: int
    macs: int = 0
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT

    def to_json(self) -> str:
        data = asdict(self)
        data["frontend"] = self.frontend.to_dict()
        data["normalisation"] = self.normalisation.to_dict()
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "model metadata") -> ModelMeta:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ModelError(f"{where}: not an edgeser model (format {data.get('format')!r})")
            return cls(
                name=str(data["name"]),
                labels=tuple(data["labels"]),
                frontend=FrontendConfig.from_dict(data["frontend"]),
                normalisation=Normalisation.from_dict(data["normalisation"]),
                window_frames=int(data["window_frames"]),
                input=TensorQuant(**{**data["input"], "shape": tuple(data["input"]["shape"])}),
                output=TensorQuant(**{**data["output"], "shape": tuple(data["output"]["shape"])}),
                tflite_sha256=str(data["tflite_sha256"]),
                tflite_bytes=int(data["tflite_bytes"]),
                macs=int(data.get("macs", 0)),
                training=dict(data.get("training", {})),
                metrics=dict(data.get("metrics", {})),
            )
        except ModelError:
            raise
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{where}: malformed metadata ({type(exc).__name__}: {exc})") from None


def default_model_path() -> Path:
    """The embedded default model's ``.tflite`` file."""
    return MODELS_DIR / "default.tflite"


def sha256_file(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def meta_path(tflite_path: str | os.PathLike[str]) -> Path:
    return Path(tflite_path).with_suffix(".json")


def read_meta(tflite_path: str | os.PathLike[str]) -> ModelMeta:
    """Metadata of a model, checked against the file's size and sha256."""
    path = Path(tflite_path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    mpath = meta_path(path)
    if not mpath.is_file():
        raise ModelError(f"{path}: metadata {mpath.name} is missing beside the model")
    meta = ModelMeta.from_json(mpath.read_text(), where=str(mpath))
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta.tflite_sha256 or len(data) != meta.tflite_bytes:
        raise ModelError(
            f"{path}: sha256 {digest[:12]}... does not match its metadata "
            f"({meta.tflite_sha256[:12]}...): the model file was changed or replaced"
        )
    return meta


class EmotionModel:
    """An int8 (or float) TFLite emotion model with its metadata, on a TFLite interpreter.

    ``predict(windows_q7)`` takes frontend frames (int16 dB Q7), shape (frames, bands) or
    (n, frames, bands), and returns class probabilities (n, classes) as float64.

    ``path`` None is the embedded default model. A model without its own ``.json`` (a float32
    twin) can borrow another model's metadata with ``metadata_from`` (that model's ``.tflite``
    path); its tensor types and quantisation are then read from the file itself. ``backend``
    is ``"auto"`` (LiteRT first) or a name from :data:`edgeser.backends.BACKENDS`;
    ``delegate="edgetpu"`` runs it on a Coral Edge TPU. Raises :class:`ModelError` for a
    missing, malformed, mismatched or tampered model and
    :class:`~edgeser.backends.BackendError` for an unusable backend or delegate.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        num_threads: int = 1,
        backend: str = "auto",
        delegate: str | None = None,
        frontend: FrontendConfig | None = None,
        metadata_from: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else default_model_path()
        borrowing = metadata_from is not None and not meta_path(self.path).is_file()
        if borrowing:
            if not self.path.is_file():
                raise ModelError(f"{self.path}: no such model file")
            base = read_meta(metadata_from)
        else:
            base = read_meta(self.path)
        if frontend is not None and frontend != base.frontend:
            raise ModelError(
                f"{self.path}: the model was trained with frontend {base.frontend.to_json()}, "
                f"not {frontend.to_json()}"
            )
        self.interpreter, self.backend = make_interpreter(
            self.path, backend=backend, num_threads=num_threads, delegate=delegate
        )
        self.num_threads = num_threads
        self.delegate = delegate
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self.metadata_source = Path(metadata_from) if borrowing else meta_path(self.path)
        """The metadata file in use: the model's own ``.json``, or ``metadata_from``'s."""
        self.meta = self._borrowed(base, Path(metadata_from)) if borrowing else base
        self._check_tensors()
        self.labels = self.meta.labels
        norm = self.meta.normalisation
        self._quantised = self._input["dtype"] == np.int8
        self._requantizer = (
            norm.requantizer(self.meta.input.scale, self.meta.input.zero_point)
            if self._quantised
            else None
        )

    def _borrowed(self, base: ModelMeta, source: Path) -> ModelMeta:
        """``base`` (another model's metadata: labels, frontend, normalisation, window) with this
        file's own tensor types, quantisation, hash and size; for a float32 twin that ships
        without a ``.json`` of its own."""
        return replace(
            base,
            name=f"{base.name} ({self.path.name}, metadata from {source.name})",
            input=self._tensor_quant(self._input),
            output=self._tensor_quant(self._output),
            tflite_sha256=sha256_file(self.path),
            tflite_bytes=self.path.stat().st_size,
            metrics={},
        )

    @classmethod
    def _tensor_quant(cls, detail: dict[str, Any]) -> TensorQuant:
        scale, zero_point = cls._quant_of(detail)
        shape = tuple(int(d) for d in detail["shape"])
        return TensorQuant(shape, np.dtype(detail["dtype"]).name, scale, zero_point)

    def _check_tensors(self) -> None:
        meta, inp, out = self.meta, self._input, self._output
        expect_in = (1, meta.window_frames, meta.frontend.num_features, 1)
        if tuple(inp["shape"]) != expect_in or tuple(meta.input.shape) != expect_in:
            raise ModelError(
                f"{self.path}: input shape {tuple(inp['shape'])} does not match the metadata "
                f"{expect_in} ({meta.window_frames} frames x {meta.frontend.num_features} features)"
            )
        if np.dtype(inp["dtype"]).name != meta.input.dtype:
            raise ModelError(f"{self.path}: input dtype {np.dtype(inp['dtype']).name} != metadata")
        if tuple(out["shape"]) != (1, len(meta.labels)):
            raise ModelError(
                f"{self.path}: output shape {tuple(out['shape'])} does not match "
                f"{len(meta.labels)} labels"
            )
        if self._quant_of(inp) != (meta.input.scale, meta.input.zero_point):
            raise ModelError(f"{self.path}: input quantisation differs from the metadata")

    @staticmethod
    def _quant_of(detail: dict[str, Any]) -> tuple[float, int]:
        scale, zero_point = detail.get("quantization", (0.0, 0))
        return float(scale), int(zero_point)

    def model_input(
        self,
        windows_q7: np.ndarray,
        session_mean_q7: np.ndarray | None = None,
        session_std_q7: np.ndarray | None = None,
    ) -> np.ndarray:
        """The model's input tensor values (int8 or float32) for (n, frames, bands) windows."""
        norm = self.meta.normalisation
        if self._requantizer is not None:
            x = norm.to_int8(windows_q7, self._requantizer, session_mean_q7, session_std_q7)
            return x[..., None]
        return norm.to_float(windows_q7, session_mean_q7, session_std_q7)[..., None]

    def predict(
        self,
        windows_q7: np.ndarray,
        session_mean_q7: np.ndarray | None = None,
        session_std_q7: np.ndarray | None = None,
    ) -> np.ndarray:
        """Class probabilities (n, classes) for windows of dB Q7 frames. ``session_mean_q7``
        and ``session_std_q7`` (per band, Q7; :class:`edgeser.vad.SessionMean`): the session
        statistics that ``"session"`` normalisation needs (the deviation only with
        ``session_std``)."""
        windows = np.asarray(windows_q7)
        if windows.ndim == 2:
            windows = windows[None]
        x = self.model_input(windows, session_mean_q7, session_std_q7)
        scale, zero_point = self._quant_of(self._output)
        probs = np.empty((x.shape[0], len(self.labels)))
        for i in range(x.shape[0]):
            self.interpreter.set_tensor(self._input["index"], x[i : i + 1])
            self.interpreter.invoke()
            raw = self.interpreter.get_tensor(self._output["index"])[0]
            probs[i] = (raw.astype(np.float64) - zero_point) * scale if scale else raw
        return probs
