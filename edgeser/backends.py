"""TFLite interpreter backends: LiteRT, the legacy tflite-runtime, or TensorFlow Lite.

``ai-edge-litert`` (module ``ai_edge_litert.interpreter``) is the default and the maintained
one. ``tflite-runtime`` is for legacy Raspberry Pi images (frozen at 2.14, needs numpy < 2).
``tensorflow`` (``tf.lite.Interpreter``) comes last: it is never imported unless asked for by
name or unless neither of the others is installed.

The Coral Edge TPU runs through the ``libedgetpu`` delegate (:data:`EDGETPU_LIBRARY`), loaded
by the chosen backend when ``delegate="edgetpu"``.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import platform
from dataclasses import dataclass
from typing import Any

from edgeser.errors import EdgeserError
from edgeser.quiet import quiet_stderr

BACKENDS = ("litert", "tflite-runtime", "tensorflow")
"""Backend names in the order ``"auto"`` tries them."""

_MODULES = {
    "litert": "ai_edge_litert.interpreter",
    "tflite-runtime": "tflite_runtime.interpreter",
    "tensorflow": "tensorflow",
}
_PIP_NAMES = {
    "litert": "ai-edge-litert",
    "tflite-runtime": "tflite-runtime (pip install 'edgeser[legacy]')",
    "tensorflow": "tensorflow-cpu",
}

EDGETPU_LIBRARY = {
    "Linux": "libedgetpu.so.1",
    "Darwin": "libedgetpu.1.dylib",
    "Windows": "edgetpu.dll",
}.get(platform.system(), "libedgetpu.so.1")
"""The Edge TPU runtime library's file name on this system."""

EDGETPU_INSTALL_HINT = (
    "install the Edge TPU runtime (Debian/Raspberry Pi OS: add Coral's apt repository "
    "'deb https://packages.cloud.google.com/apt coral-edgetpu-stable main' and "
    "'apt-get install libedgetpu1-std'; see https://coral.ai/software/#edgetpu-runtime)"
)


class BackendError(EdgeserError, RuntimeError):
    """An interpreter backend or delegate is unknown, not installed, or cannot load a model."""


@dataclass(frozen=True)
class Backend:
    """A loaded interpreter module: its name, version and ``Interpreter`` class."""

    name: str
    version: str
    interpreter_class: Any
    load_delegate: Any

    def describe(self) -> str:
        return f"{self.name} {self.version}"


def _import(name: str) -> Backend:
    module = importlib.import_module(_MODULES[name])
    if name == "tensorflow":
        return Backend(
            name,
            module.__version__,
            module.lite.Interpreter,
            module.lite.experimental.load_delegate,
        )
    package = importlib.import_module(_MODULES[name].split(".")[0])
    version = getattr(package, "__version__", None) or _dist_version(name)
    return Backend(name, version, module.Interpreter, module.load_delegate)


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(_PIP_NAMES[name].split()[0])
    except PackageNotFoundError:
        return "unknown"


def available_backends() -> list[str]:
    """Names of the backends whose module is installed (without importing TensorFlow)."""
    from importlib.util import find_spec

    found = []
    for name in BACKENDS:
        top = _MODULES[name].split(".")[0]
        try:
            if find_spec(top) is not None:
                found.append(name)
        except (ImportError, ValueError):
            pass
    return found


def get_backend(name: str = "auto") -> Backend:
    """The interpreter backend ``name`` (one of :data:`BACKENDS`) or the first installed one
    for ``"auto"``. Raises :class:`BackendError` when unknown or not installed."""
    if name != "auto" and name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}: choose auto, {', '.join(BACKENDS)}")
    candidates = BACKENDS if name == "auto" else (name,)
    errors = []
    for candidate in candidates:
        try:
            return _import(candidate)
        except ImportError as exc:  # also numpy-ABI failures of tflite-runtime under numpy 2
            errors.append(f"{candidate}: {str(exc).splitlines()[0] if str(exc) else exc!r}")
        except AttributeError as exc:
            errors.append(f"{candidate}: {exc}")
    if name == "auto":
        raise BackendError("no TFLite interpreter is installed: pip install ai-edge-litert")
    raise BackendError(
        f"backend {name} is not usable ({errors[0]}): pip install {_PIP_NAMES[name]}"
    )


def make_interpreter(
    model_path: str | os.PathLike[str],
    *,
    backend: str = "auto",
    num_threads: int = 1,
    delegate: str | None = None,
) -> tuple[Any, Backend]:
    """An allocated interpreter for ``model_path`` and the backend that made it.

    ``delegate`` is None (CPU) or ``"edgetpu"`` (the Coral ``libedgetpu`` delegate; the model
    must have been compiled with ``edgetpu_compiler``)."""
    if num_threads < 1:
        raise BackendError(f"num_threads must be at least 1, got {num_threads}")
    chosen = get_backend(backend)
    delegates = []
    if delegate is not None:
        if delegate != "edgetpu":
            raise BackendError(f"unknown delegate {delegate!r}: the only one is edgetpu")
        try:
            ctypes.CDLL(EDGETPU_LIBRARY)  # first, so a missing library never reaches LiteRT,
            delegates.append(chosen.load_delegate(EDGETPU_LIBRARY))  # whose failure is noisy
        except (ValueError, OSError, RuntimeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BackendError(
                f"the Edge TPU delegate {EDGETPU_LIBRARY} cannot be loaded ({first}): "
                f"{EDGETPU_INSTALL_HINT}"
            ) from None
    try:
        with quiet_stderr():  # LiteRT announces its XNNPACK delegate on stderr
            interpreter = chosen.interpreter_class(
                model_path=str(model_path),
                num_threads=num_threads,
                experimental_delegates=delegates or None,
            )
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BackendError(f"{model_path}: {chosen.name} cannot load it: {first}") from None
    return interpreter, chosen
