"""Build the C reference frontend with the system C compiler and call it through ctypes.

Used by the tests (bit-exactness against the NumPy frontend) and by
``edgeser features --engine c``. The shared library is built once per source hash into
``$EDGESER_CACHE/cfrontend`` (default ``~/.cache/edgeser/cfrontend``), with
``-std=c99 -Wall -Wextra -Werror``; ``$CC`` picks the compiler (default ``cc``).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from edgeser.frontend import FrontendConfig
from edgeser.frontend.frontend import check_pcm
from firmware_bridge.cbuild import BuildError, build_shared
from firmware_bridge.tables import FrontendTables, c_config_fields, frontend_tables

SOURCE_DIR = Path(__file__).resolve().parent / "frontend"
C_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2")


def sources() -> list[Path]:
    """The C sources of the frontend, sorted."""
    return sorted(SOURCE_DIR.glob("*.c"))


def build_library(extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile the frontend into a shared library (cached by source and flag hash)."""
    return build_shared(
        "edgeser_frontend",
        sources(),
        sorted(SOURCE_DIR.glob("*.h")),
        (*C_FLAGS, *extra_flags),
        "the C frontend",
    )


class _Config(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint32)
        for name in (
            "sample_rate",
            "window_samples",
            "hop_samples",
            "fft_size",
            "num_bands",
            "first_pass_size",
            "periodicity_bands",
        )
    ]


class _Tables(ctypes.Structure):
    _fields_ = [
        ("window_q15", ctypes.c_void_p),
        ("twiddle_re", ctypes.c_void_p),
        ("twiddle_im", ctypes.c_void_p),
        ("seg_start", ctypes.c_void_p),
        ("weights_q10", ctypes.c_void_p),
        ("log2_q16", ctypes.c_void_p),
        ("periodicity_cos_q9", ctypes.c_void_p),
        ("periodicity_lag_edges", ctypes.c_void_p),
        ("periodicity_first_bin", ctypes.c_uint32),
        ("periodicity_num_bins", ctypes.c_uint32),
    ]


_LIBRARY: ctypes.CDLL | None = None


def load_library() -> ctypes.CDLL:
    """Build (if needed) and load the shared library, declaring the functions' signatures."""
    global _LIBRARY
    if _LIBRARY is None:
        lib = ctypes.CDLL(str(build_library()))
        vp, sz = ctypes.c_void_p, ctypes.c_size_t
        lib.ef_frontend_state_size.restype = sz
        lib.ef_frontend_init.argtypes = [vp, ctypes.POINTER(_Config), ctypes.POINTER(_Tables)]
        lib.ef_frontend_init.restype = ctypes.c_int
        lib.ef_frontend_reset.argtypes = [vp]
        lib.ef_frontend_push.argtypes = [vp, vp, sz, vp, sz]
        lib.ef_frontend_push.restype = ctypes.c_int32
        lib.ef_frontend_frames_due.argtypes = [vp, sz]
        lib.ef_frontend_frames_due.restype = sz
        lib.ef_frontend_compute.argtypes = [vp, vp, sz, vp, sz]
        lib.ef_frontend_compute.restype = sz
        _LIBRARY = lib
    return _LIBRARY


class CFrontend:
    """The C reference frontend with the same interface as :class:`edgeser.Frontend`:
    ``compute(pcm)`` for a whole clip and ``process(chunk)`` for streaming (this object is
    its own stream; ``reset()`` starts a new one)."""

    def __init__(self, config: FrontendConfig | None = None) -> None:
        self.config = config if config is not None else FrontendConfig()
        self._lib = load_library()
        self._tables: FrontendTables = frontend_tables(self.config)  # kept alive for C
        t = self._tables
        self._c_tables = _Tables(
            *(
                a.ctypes.data
                for a in (
                    t.window_q15,
                    t.twiddle_re,
                    t.twiddle_im,
                    t.seg_start,
                    t.weights_q10,
                    t.log2_q16,
                )
            ),
            *(
                None if a is None else a.ctypes.data
                for a in (t.periodicity_cos_q9, t.periodicity_lag_edges)
            ),
            t.periodicity_first_bin,
            t.periodicity_num_bins,
        )
        self._c_config = _Config(**c_config_fields(self.config))
        self._state = np.zeros(self._lib.ef_frontend_state_size() + 16, dtype=np.uint8)
        rc = self._lib.ef_frontend_init(
            self._state_ptr(), ctypes.byref(self._c_config), ctypes.byref(self._c_tables)
        )
        if rc != 0:
            raise BuildError(f"the C frontend rejected the config {self.config.to_json()}")

    def _state_ptr(self) -> int:
        address = self._state.ctypes.data
        return address + (-address % 16)

    def compute(self, pcm: np.ndarray) -> np.ndarray:
        """All frames of a whole clip (a fresh computation; the stream is not touched)."""
        pcm = np.ascontiguousarray(check_pcm(pcm))
        count = self.config.num_frames(pcm.shape[0])
        out = np.zeros((count, self.config.num_features), dtype=np.int16)
        written = self._lib.ef_frontend_compute(
            self._state_ptr(), pcm.ctypes.data, pcm.shape[0], out.ctypes.data, count
        )
        assert written == count
        return out

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Streaming: append samples, return the newly complete frames."""
        chunk = np.ascontiguousarray(check_pcm(chunk, "chunk"))
        due = self._lib.ef_frontend_frames_due(self._state_ptr(), chunk.shape[0])
        out = np.zeros((due, self.config.num_features), dtype=np.int16)
        written = self._lib.ef_frontend_push(
            self._state_ptr(), chunk.ctypes.data, chunk.shape[0], out.ctypes.data, due
        )
        if written != due:
            raise BuildError(f"C frontend push returned {written}, expected {due}")
        return out

    def reset(self) -> None:
        """Start a new stream."""
        self._lib.ef_frontend_reset(self._state_ptr())
