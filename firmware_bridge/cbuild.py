"""Compile C sources into a shared library once, cached by the hash of sources and flags.

Libraries go to ``$EDGESER_CACHE/cfrontend`` (default ``~/.cache/edgeser/cfrontend``);
``$CC`` picks the compiler (default ``cc``). Used by the C reference frontend
(:mod:`firmware_bridge.cfrontend`) and the training-time resampler
(:mod:`converters.fast_resample`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from edgeser.errors import EdgeserError


class BuildError(EdgeserError, RuntimeError):
    """The C compiler is missing or failed to build a library."""


def cache_dir() -> Path:
    """Where built libraries are kept: ``$EDGESER_CACHE/cfrontend`` or ``~/.cache/...``."""
    root = os.environ.get("EDGESER_CACHE") or Path.home() / ".cache" / "edgeser"
    return Path(root) / "cfrontend"


def build_shared(
    name: str, sources: Sequence[Path], headers: Sequence[Path], flags: Sequence[str], what: str
) -> Path:
    """``lib{name}-{hash}.so`` built from ``sources`` with ``flags`` (cached; atomic).

    ``headers`` only enter the hash. ``what`` names the library in error messages.

    Raises:
        BuildError: no compiler, or the compiler failed (its message included).
    """
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler) is None:
        raise BuildError(f"C compiler {compiler!r} not found (install gcc or set CC)")
    digest = hashlib.sha256()
    for path in sorted({*sources, *headers}):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(" ".join((compiler, *flags)).encode())
    target = cache_dir() / f"lib{name}-{digest.hexdigest()[:16]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        out = Path(tmp) / target.name
        cmd = [compiler, *flags, "-shared", "-fPIC", "-o", str(out), *map(str, sources)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"building {what} failed: {result.stderr.strip()}")
        os.replace(out, target)
    return target
