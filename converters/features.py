"""Feature extraction for training, with a cache keyed by file content and frontend config.

Training computes features with the very code the device runs: :func:`edgeser.audio.load_pcm16`
(read any wav, downmix, resample to the frontend rate) and :class:`edgeser.Frontend`. The
int16 frames (dB in Q7) of each file are cached as ``.npy`` under
``$EDGESER_CACHE/features`` (default ``~/.cache/edgeser/features``), keyed by the sha256 of
the file's bytes, the frontend config JSON and :data:`CACHE_VERSION`, so a second run does not
recompute anything and a changed file or config never reuses stale features.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeser.audio import load_pcm16
from edgeser.frontend import Frontend, FrontendConfig

#: Bump when load_pcm16 or anything else before the frontend changes its output.
CACHE_VERSION = 1


def cache_root() -> Path:
    """``$EDGESER_CACHE/features``, default ``~/.cache/edgeser/features``."""
    root = os.environ.get("EDGESER_CACHE") or Path.home() / ".cache" / "edgeser"
    return Path(root) / "features"


def file_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FeatureStore:
    """int16 log-Mel frames of audio files, computed once per (file content, config)."""

    def __init__(self, config: FrontendConfig | None = None, root: Path | None = None) -> None:
        self.config = config if config is not None else FrontendConfig()
        self.frontend = Frontend(self.config)
        self.root = root if root is not None else cache_root()
        tag = f"v{CACHE_VERSION}:{self.config.to_json()}".encode()
        self.config_key = hashlib.sha256(tag).hexdigest()[:16]
        self.hits = 0
        self.misses = 0

    def _path(self, digest: str) -> Path:
        return self.root / self.config_key / digest[:2] / f"{digest}.npy"

    def frames(self, path: str | os.PathLike[str]) -> np.ndarray:
        """int16 (frames, bands) of the file at ``path`` (cached)."""
        cached = self._path(file_digest(path))
        if cached.exists():
            self.hits += 1
            return np.load(cached)
        self.misses += 1
        frames = self.frontend.compute(load_pcm16(path, rate=self.config.sample_rate))
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, frames)
        os.replace(tmp, cached)
        return frames

    def many(self, paths: Sequence[str | os.PathLike[str]]) -> list[np.ndarray]:
        """Frames of every path, in order."""
        return [self.frames(p) for p in paths]
