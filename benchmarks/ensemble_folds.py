"""Ensembles of fold models: would averaging two recipes' models beat either alone?

    python benchmarks/ensemble_folds.py --corpus emodb A.json B.json --model-cache DIR
        [--model-cache DIR_B] [--int8] [--data ../shared/data] [--out ensemble.json]

A and B are ``emotion_table.py``/``merge_folds.py`` reports of two recipes (or two seeds of one
recipe) run with ``--model-cache`` on every fold of the corpus's protocol (fixed epoch
selection; the corpus alone, or both with ``--with-other``, as the report's
``data.extra_training_clips`` says: both reports must agree). One ``--model-cache`` holds both
members' networks; two give A's and B's folders in that order.

For each fold this loads both recipes' cached fold models (no training), scores the fold's test
clips with each (float, speaker and file sessions, each model with its own normalisation) and
with the mean of their class probabilities, and reports the three pooled UARs. Float by
default; ``--int8`` converts each fold model to int8 (representative windows from the fold's
training clips, as :func:`converters.evaluate.evaluate`, with each report's own calibration and
LSTM gate ranges) and scores it through the device runtime
(:func:`edgeser.scoring.score_recordings`): what two int8 models on the device, their
probabilities averaged, would give. Exit status 2 with a one-line message when a fold model is
not in its cache or the two reports were trained on different data. The output's ``corpora``
block holds the ensemble's predictions as a report does, for ``benchmarks/compare_runs.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from emotion_table import LABELS, PROTOCOL, read_corpus

from converters.evaluate import (
    float_fold_probs,
    fold_model_key,
    folds_for,
    int8_fold_probs,
    load_cached_fit,
)
from converters.train import TrainConfig, load_clipset
from edgeser import datasets as ds
from edgeser.frontend import Frontend
from edgeser.scoring import SESSIONS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", choices=list(PROTOCOL), required=True)
    p.add_argument("reports", nargs=2, type=Path)
    p.add_argument(
        "--model-cache", type=Path, action="append", required=True,
        help="folder of both members' fold networks, or give it twice: A's, then B's",
    )  # fmt: skip
    p.add_argument("--data", default=None)
    p.add_argument("--int8", action="store_true", help="score int8 conversions on the runtime")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    root = ds.data_root(args.data)
    if root is None:
        print("ensemble_folds: no corpus (set --data or EDGESER_DATA)", file=sys.stderr)
        return 2
    if len(args.model_cache) > 2:
        print("ensemble_folds: give --model-cache once or twice (A's, then B's)", file=sys.stderr)
        return 2
    caches = args.model_cache * (2 // len(args.model_cache))
    corpus, protocol = args.corpus, PROTOCOL[args.corpus]
    reports = [member_report(json.loads(r.read_text()), corpus) for r in args.reports]
    if len({r["extra"] for r in reports}) != 1:
        print("ensemble_folds: one report was trained with the other corpus, the other "
              "without: members must share their training data", file=sys.stderr)  # fmt: skip
        return 2
    configs = [TrainConfig.from_dict(r["train_config"]) for r in reports]
    clips = read_corpus(root, corpus)
    labels = list(LABELS[corpus])
    extra: list[ds.Clip] = []
    if reports[0]["extra"]:  # trained as emotion_table.py --with-other does
        extra = read_corpus(root, "ravdess" if corpus == "emodb" else "emodb")
        labels = ds.label_set(list(clips) + extra)
    data = load_clipset(list(clips) + extra, labels)
    extra_idx = list(range(len(clips), len(data.clips)))
    classes = sorted({labels.index(c.label) for c in clips})
    y_true: list[int] = []
    preds: dict[str, list[int]] = {}
    for name, train_idx, test_idx in folds_for(protocol, clips):
        used = list(train_idx) + extra_idx
        train = [data.clips[i] for i in used]
        test = data.subset(test_idx)
        y_true += test.labels.tolist()
        members: list[dict[str, np.ndarray]] = []
        for which, cfg, cache, report in zip("ab", configs, caches, reports, strict=True):
            frontend = Frontend(cfg.frontend_config())
            fit = load_cached_fit(cache, fold_model_key(cfg, protocol, name, labels, train))
            if fit is None:
                print(f"ensemble_folds: {name}: recipe {which.upper()} not in {cache}",
                      file=sys.stderr)  # fmt: skip
                return 2
            if args.int8:
                probs, _ = int8_fold_probs(
                    fit.model,
                    cfg,
                    frontend,
                    data.subset(used),
                    test,
                    labels,
                    "member",
                    report["calibration"],
                    report["gate_ranges"],
                )
                members.append(probs)
            else:
                members.append(float_fold_probs(fit.model, cfg, frontend, test))
        for session in SESSIONS:
            a_probs, b_probs = (m[session] for m in members)
            for key, pr in (("a", a_probs), ("b", b_probs), ("ensemble", (a_probs + b_probs) / 2)):
                preds.setdefault(f"{key}_{session}", []).extend(pr.argmax(axis=1).tolist())
        print(f"[{corpus}] {name} scored", file=sys.stderr, flush=True)
    result = {
        "corpus": corpus,
        "reports": [str(r) for r in args.reports],
        "model_caches": [str(c) for c in caches],
        "int8": args.int8,
        "uar": {k: ds.uar(y_true, v, labels=classes) for k, v in preds.items()},
        "predictions": {"y_true": y_true, **preds},
        "corpora": {corpus: {"edgeser": pairable(labels, classes, y_true, preds, args.int8)}},
    }
    for key, value in result["uar"].items():
        print(f"  {key:18s} UAR {100 * value:5.1f}%")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def pairable(
    labels: list[str], classes: list[int], y_true: list[int], preds: dict, int8: bool
) -> dict:
    """The ensemble's predictions in the shape of an ``emotion_table.py`` report's, so that
    ``benchmarks/compare_runs.py MEMBER.json ENSEMBLE.json`` pairs the ensemble with a member
    (or any run on the same clips) clip by clip: kinds ``int8_*`` with ``--int8``, else
    ``float_*``."""
    kind = "int8" if int8 else "float"
    return {
        "labels": labels,
        "classes_scored": [labels[k] for k in classes],
        "predictions": {
            "y_true": y_true,
            **{f"{kind}_{s}": preds[f"ensemble_{s}"] for s in SESSIONS},
        },
    }


def member_report(report: dict, corpus: str) -> dict:
    """What :func:`main` needs of one member's report (an ``emotion_table.py`` run or a
    ``merge_folds.py`` pool): its recipe, whether the other corpus was in its training set, and
    the calibration and gate ranges its int8 figures were made with (reports older than those
    options used "first" and "calibrated")."""
    body = report.get("corpora", {}).get(corpus, {}).get("edgeser", report)
    return {
        "train_config": report.get("train_config") or body["train_config"],
        "extra": int(body.get("data", {}).get("extra_training_clips", 0)) > 0,
        "calibration": body.get("calibration") or "first",
        "gate_ranges": body.get("gate_ranges") or "calibrated",
    }


if __name__ == "__main__":
    sys.exit(main())
