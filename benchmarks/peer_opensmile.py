"""The classic peer: openSMILE ComParE_2016 functionals + a linear SVM, speaker-independent.

Usage::

    python benchmarks/peer_opensmile.py [--data DIR] [--corpus emodb|ravdess|both]
                                        [--out benchmarks/results/peer_opensmile.json]

Protocol
    * Features: openSMILE ComParE_2016 functionals (6,373 per clip), extracted by the
      ``opensmile`` package from each clip's wav file.  They are cached in
      ``~/.cache/edgeser/peer/<feature set>-<level>-opensmile<version>.npz``, one row per
      file keyed by the file's sha256, so a rerun skips extraction.
    * Classifier: ``make_pipeline(StandardScaler(), SVC(kernel="linear", C=C,
      class_weight="balanced"))`` (libsvm, one-vs-one).  The inner C search fits the same
      model through a shared precomputed linear Gram matrix (identical decisions, faster).
      LinearSVC was not used: liblinear was ~4x slower than libsvm on these 6,373-dim features.
    * Splits: EMO-DB leave-one-speaker-out (8 folds, 7 classes); RAVDESS the 5
      actor-independent folds of :func:`edgeser.datasets.speaker_folds` (4 actors,
      2 male + 2 female, per fold; 8 classes).
    * C is chosen per outer fold by an inner leave-one-speaker-out over the outer
      training speakers only (UAR of the pooled inner predictions; ties go to the
      smaller C).  The test fold never influences the choice.
    * Two forms:
        ``global``      the pipeline's StandardScaler is fitted on the training folds only;
        ``per_speaker`` before the pipeline, each speaker's features are z-scored with
                        that speaker's own mean/std, the test speaker included (this uses
                        the test speaker's unlabelled audio, i.e. it is transductive; it is
                        the setting of the peer's best published figure).
    * Scores: UAR and WA of the predictions pooled over the outer folds (each clip is
      predicted exactly once), plus per-fold UAR, per-class recall and confusion matrix.

At most 2 worker processes are used (``--jobs``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections import Counter
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from converters.functionals import (  # noqa: E402
    FEATURE_LEVEL,
    FEATURE_SET,
    default_cache_dir,
    load_features,
)
from converters.teacher import per_speaker_zscore  # noqa: E402
from edgeser import datasets as ds  # noqa: E402

C_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
DEFAULT_OUT = REPO / "benchmarks" / "results" / "peer_opensmile.json"


# ---------------------------------------------------------------------------
# evaluation


def make_model(C: float):
    """The peer's classifier: standardisation + linear-kernel SVM (libsvm, one-vs-one)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(), SVC(kernel="linear", C=C, class_weight="balanced"))


def _inner_split(X, y, train_idx, test_idx, grid) -> list[np.ndarray]:
    """Predictions on one inner held-out speaker for every C in ``grid``.

    Same model as :func:`make_model`, but the standardised linear Gram matrix is
    computed once and shared by all C values (identical decisions, ~4x less work).
    """
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    scaler = StandardScaler().fit(X[train_idx])
    z_tr = scaler.transform(X[train_idx])
    z_te = scaler.transform(X[test_idx])
    k_tr = z_tr @ z_tr.T
    k_te = z_te @ z_tr.T
    out = []
    for C in grid:
        svm = SVC(kernel="precomputed", C=C, class_weight="balanced").fit(k_tr, y[train_idx])
        out.append(svm.predict(k_te))
    return out


def _outer_fit(X, y, train_idx, test_idx, C: float) -> np.ndarray:
    return make_model(C).fit(X[train_idx], y[train_idx]).predict(X[test_idx])


def evaluate(X, clips, folds, labels, grid, jobs) -> dict:
    """Nested speaker-independent evaluation; returns pooled and per-fold scores."""
    from joblib import Parallel, delayed

    y = np.array([labels.index(c.label) for c in clips])
    speakers = [c.speaker for c in clips]
    t0 = time.perf_counter()
    par = Parallel(n_jobs=jobs)

    # Inner leave-one-speaker-out over each outer fold's training speakers only.
    tasks = []  # (outer fold number, global indices of the inner test speaker)
    calls = []
    for k, (_, train, _) in enumerate(folds):
        tr = np.asarray(train)
        for _, itr, ite in ds.leave_one_speaker_out([speakers[i] for i in tr]):
            tasks.append((k, tr[ite]))
            calls.append(delayed(_inner_split)(X, y, tr[itr], tr[ite], grid))
    inner = par(calls)
    chosen = []
    inner_scores = []
    for k, (_, train, _) in enumerate(folds):
        tr = np.asarray(train)
        scores = []
        for j in range(len(grid)):
            pj = np.full(len(y), -1)
            for (kk, test_idx), preds in zip(tasks, inner, strict=True):
                if kk == k:
                    pj[test_idx] = preds[j]
            assert np.all(pj[tr] >= 0)
            scores.append(ds.uar(y[tr].tolist(), pj[tr].tolist()))
        best = int(np.argmax(scores))  # first maximum = smallest C on ties
        chosen.append(grid[best])
        inner_scores.append(dict(zip(map(str, grid), scores, strict=True)))

    outer = par(
        delayed(_outer_fit)(X, y, train, test, C)
        for (_, train, test), C in zip(folds, chosen, strict=True)
    )
    pred = np.full(len(y), -1)
    per_fold = []
    for (name, _, test), C, p, scores in zip(folds, chosen, outer, inner_scores, strict=True):
        pred[test] = p
        per_fold.append(
            {
                "fold": name,
                "n_test": len(test),
                "C": C,
                "uar": ds.uar(y[test].tolist(), p.tolist(), list(range(len(labels)))),
                "wa": ds.accuracy(y[test].tolist(), p.tolist()),
                "inner_uar_by_C": scores,
            }
        )
    assert np.all(pred >= 0)
    seconds = time.perf_counter() - t0
    yt = [labels[i] for i in y]
    yp = [labels[i] for i in pred]
    fold_uars = [f["uar"] for f in per_fold]
    return {
        "uar": ds.uar(yt, yp, labels),
        "wa": ds.accuracy(yt, yp),
        "fold_uar_mean": float(np.mean(fold_uars)),
        "fold_uar_std": float(np.std(fold_uars)),
        "per_class_recall": ds.per_class_recall(yt, yp, labels),
        "confusion_matrix": ds.confusion_matrix(yt, yp, labels).tolist(),
        "folds": per_fold,
        "n_inner_fits": len(calls) * len(grid),
        "seconds": round(seconds, 1),
    }


def run_corpus(name: str, clips: list[ds.Clip], args, grid) -> dict:
    labels = ds.label_set(clips)
    if name == "emodb":
        folds = ds.leave_one_speaker_out(clips)
        protocol = "leave-one-speaker-out"
    else:
        folds = ds.speaker_folds(clips, 5)
        protocol = "5 actor-independent folds (speaker_folds, actor index % 5)"
    print(
        f"[{name}] {len(clips)} clips, {len({c.speaker for c in clips})} speakers, "
        f"{len(labels)} classes, {len(folds)} folds",
        flush=True,
    )
    X, feat_stats = load_features(clips, args.cache_dir, args.jobs)
    print(
        f"  features {X.shape}, extraction {feat_stats['extract_seconds']} s "
        f"({feat_stats['n_from_cache']} from cache)",
        flush=True,
    )
    forms = {}
    for form in ("global", "per_speaker"):
        Xf = X if form == "global" else per_speaker_zscore(X, [c.speaker for c in clips])
        res = evaluate(Xf, clips, folds, labels, grid, args.jobs)
        print(
            f"  {form:12s} UAR {res['uar']:.4f}  WA {res['wa']:.4f}  "
            f"C per fold {[f['C'] for f in res['folds']]}  {res['seconds']} s",
            flush=True,
        )
        forms[form] = res
    return {
        "n_clips": len(clips),
        "n_speakers": len({c.speaker for c in clips}),
        "class_counts": {lab: n for lab, n in Counter(c.label for c in clips).most_common()},
        "labels": labels,
        "protocol": protocol,
        "features": feat_stats,
        "forms": forms,
    }


# ---------------------------------------------------------------------------
# machine description


def machine_info(jobs: int) -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("numpy", "scikit-learn", "opensmile", "joblib", "pandas", "audinterface"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "worker_processes": jobs,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=None, help="corpus root (default: data_root())"
    )
    parser.add_argument("--corpus", choices=("emodb", "ravdess", "both"), default="both")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--jobs", type=int, default=2, choices=(1, 2))
    parser.add_argument(
        "--grid",
        default=",".join(map(str, C_GRID)),
        help="comma-separated C values for the inner search",
    )
    args = parser.parse_args(argv)
    grid = tuple(sorted(float(c) for c in args.grid.split(",")))

    root = ds.data_root(args.data)
    if root is None:
        parser.error("no corpus folder: pass --data or set EDGESER_DATA")
    wanted = ("emodb", "ravdess") if args.corpus == "both" else (args.corpus,)
    t_start = time.perf_counter()
    results = {}
    for name in wanted:
        folder = root / name
        clips = ds.read_emodb(folder) if name == "emodb" else ds.read_ravdess(folder)
        results[name] = run_corpus(name, clips, args, grid)

    report = {
        "benchmark": "peer_opensmile",
        "description": (
            "openSMILE ComParE_2016 functionals + linear SVM "
            "(make_pipeline(StandardScaler(), SVC(kernel='linear', class_weight='balanced'))), "
            "speaker-independent; "
            "C chosen by inner leave-one-speaker-out on the training speakers only; "
            "scores pooled over outer folds"
        ),
        "feature_set": f"{FEATURE_SET} {FEATURE_LEVEL}",
        "c_grid": list(grid),
        "forms": {
            "global": "StandardScaler fitted on the training folds only",
            "per_speaker": (
                "each speaker z-scored with its own statistics (test speaker included, "
                "unlabelled: transductive) before the pipeline"
            ),
        },
        "command": shlex.join(["python", *sys.argv]) if argv is None else shlex.join(argv),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(args.jobs),
        "total_seconds": round(time.perf_counter() - t_start, 1),
        "corpora": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} in {report['total_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
