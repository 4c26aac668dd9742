"""openSMILE ComParE_2016 functionals of clips, cached by file content (workstation only).

6,373 hand-crafted statistics per clip (prosody, voice quality, spectral shape), extracted by
the ``opensmile`` package (the ``[peer]`` extra) from each clip's wav file. They are what the
classic peer classifies (``benchmarks/peer_opensmile.py``) and the teacher targets of
:mod:`converters.teacher`. Rows are cached in
``$EDGESER_CACHE/peer/<feature set>-<level>-opensmile<version>.npz`` (default
``~/.cache/edgeser/peer``), one per file keyed by the file's sha256, so a rerun skips
extraction.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np

from edgeser import datasets as ds
from edgeser.errors import DataError

FEATURE_SET = "ComParE_2016"
FEATURE_LEVEL = "Functionals"


def default_cache_dir() -> Path:
    """``$EDGESER_CACHE/peer``, default ``~/.cache/edgeser/peer``."""
    return Path(os.environ.get("EDGESER_CACHE") or Path.home() / ".cache" / "edgeser") / "peer"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _make_smile():
    import opensmile

    return opensmile.Smile(
        feature_set=getattr(opensmile.FeatureSet, FEATURE_SET),
        feature_level=getattr(opensmile.FeatureLevel, FEATURE_LEVEL),
    )


def _extract_chunk(paths: list[str]) -> np.ndarray:
    smile = _make_smile()
    rows = []
    for p in paths:
        df = smile.process_file(p)
        if df.shape[0] != 1:
            raise RuntimeError(f"openSMILE gave {df.shape[0]} rows for {p}, expected 1")
        rows.append(df.to_numpy()[0])
    return np.vstack(rows)


def cache_file(cache_dir: Path) -> Path:
    import opensmile

    name = f"{FEATURE_SET}-{FEATURE_LEVEL}-opensmile{opensmile.__version__}.npz".lower()
    return cache_dir / name


def load_features(clips: list[ds.Clip], cache_dir: Path, jobs: int) -> tuple[np.ndarray, dict]:
    """Return the feature matrix of ``clips`` (cached by sha256) and extraction stats."""
    from joblib import Parallel, delayed

    path = cache_file(cache_dir)
    cache: dict[str, np.ndarray] = {}
    names: list[str] | None = None
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            cache = dict(zip(z["sha256"].tolist(), z["features"], strict=True))
            names = z["names"].tolist()

    t0 = time.perf_counter()
    digests = [sha256_of(c.path) for c in clips]
    hash_s = time.perf_counter() - t0
    n_cached = sum(d in cache for d in digests)
    todo = sorted(
        {d: str(c.path) for d, c in zip(digests, clips, strict=True) if d not in cache}.items()
    )
    t0 = time.perf_counter()
    if todo:
        print(
            f"  extracting {FEATURE_SET} for {len(todo)} files with {jobs} process(es) ...",
            flush=True,
        )
        n_chunks = max(1, min(len(todo), jobs * 8))
        chunks = [todo[i::n_chunks] for i in range(n_chunks)]
        results = Parallel(n_jobs=jobs)(
            delayed(_extract_chunk)([p for _, p in chunk]) for chunk in chunks
        )
        for chunk, feats in zip(chunks, results, strict=True):
            for (digest, _), row in zip(chunk, feats, strict=True):
                cache[digest] = row
        if names is None:
            names = list(_make_smile().feature_names)
        cache_dir.mkdir(parents=True, exist_ok=True)
        keys = sorted(cache)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
        np.savez(
            tmp,
            sha256=np.array(keys),
            features=np.vstack([cache[k] for k in keys]),
            names=np.array(names),
        )
        os.replace(tmp, path)
    extract_s = time.perf_counter() - t0
    X = np.vstack([cache[d] for d in digests]).astype(np.float64)
    if not np.all(np.isfinite(X)):
        raise DataError("openSMILE produced non-finite features")
    stats = {
        "n_files": len(clips),
        "n_unique_files": len(set(digests)),  # byte-identical files are extracted once
        "n_extracted": len(todo),
        "n_from_cache": n_cached,
        "extract_seconds": round(extract_s, 2),
        "extract_seconds_per_file": round(extract_s / len(todo), 4) if todo else None,
        "hash_seconds": round(hash_s, 2),
        "n_features": int(X.shape[1]),
    }
    return X, stats
