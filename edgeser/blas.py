"""Keep numpy's BLAS on one thread while the frontend runs its small matrix products.

The frontend's products are small (tens of thousands of multiply-adds per call). With
OpenBLAS's default of one thread per core, a busy device (another process on the other core,
as on a robot) makes OpenBLAS's worker threads wait for CPU time, and the frontend was
measured here 18 times slower (237 ms instead of 13 ms for 3.7 s of audio). So the frontend
sets OpenBLAS to one thread for the duration of each call and restores the previous setting
after it, through OpenBLAS's own ``openblas_set_num_threads`` (found by ctypes in the loaded
libraries). Without OpenBLAS (another BLAS, or an unknown build) this does nothing.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_SUFFIXES = ("", "64_", "_64")
_PREFIXES = ("openblas", "scipy_openblas")
_lock = threading.Lock()
_functions: tuple[object, object] | bool | None = False  # False: not looked up yet


def _openblas_paths() -> list[str]:
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/"))


def _lookup() -> tuple[object, object] | None:
    import numpy  # noqa: F401  (make sure numpy's BLAS is loaded)

    for path in _openblas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    return setter, getter
    return None


def _get_functions() -> tuple[object, object] | None:
    global _functions
    if _functions is False:
        _functions = _lookup()
    return _functions  # type: ignore[return-value]


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the body with OpenBLAS on one thread, then restore its thread count."""
    functions = _get_functions()
    if functions is None:
        yield
        return
    setter, getter = functions
    with _lock:
        before = getter()  # type: ignore[operator]
        if before != 1:
            setter(1)  # type: ignore[operator]
        try:
            yield
        finally:
            if before != 1:
                setter(before)  # type: ignore[operator]
