"""Ensembles of fold models: would averaging two recipes' models beat either alone?

    python benchmarks/ensemble_folds.py --corpus emodb A.json B.json --model-cache DIR
        [--data ../shared/data] [--out ensemble.json]

A and B are ``emotion_table.py``/``merge_folds.py`` reports of two recipes run with
``--model-cache DIR`` on every fold of the corpus's protocol (fixed epoch selection, the corpus
alone). For each fold this loads both recipes' cached fold models (no training), scores the
fold's test clips with each (float, speaker and file sessions, each model with its own
normalisation) and with the mean of their class probabilities, and reports the three pooled
UARs. Float only: an ensemble on the device would run two int8 models (twice the invoke time
and size). Exit status 2 with a one-line message when a fold model is not in the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from converters.evaluate import fold_model_key, folds_for, load_cached_fit
from converters.train import TrainConfig, keras_predict, load_clipset, predict_clips, session_stats
from edgeser import datasets as ds
from edgeser.cli_training import CORPUS_LABELS
from edgeser.frontend import Frontend

PROTOCOL = {"emodb": "emodb-loso", "ravdess": "ravdess-5fold"}
SESSIONS = ("speaker", "file")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", choices=list(PROTOCOL), required=True)
    p.add_argument("reports", nargs=2, type=Path)
    p.add_argument("--model-cache", type=Path, required=True)
    p.add_argument("--data", default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    root = ds.data_root(args.data)
    if root is None:
        print("ensemble_folds: no corpus (set --data or EDGESER_DATA)", file=sys.stderr)
        return 2
    corpus, protocol = args.corpus, PROTOCOL[args.corpus]
    configs = [
        TrainConfig.from_dict(json.loads(r.read_text())["train_config"]) for r in args.reports
    ]
    clips = ds.read_emodb(root / "emodb") if corpus == "emodb" else ds.read_ravdess(root / corpus)
    labels = list(CORPUS_LABELS[corpus])
    data = load_clipset(clips, labels)
    frontend = Frontend()
    classes = sorted({labels.index(c.label) for c in clips})
    y_true: list[int] = []
    preds: dict[str, list[int]] = {}
    for name, train_idx, test_idx in folds_for(protocol, clips):
        train = [clips[i] for i in train_idx]
        test = data.subset(test_idx)
        y_true += test.labels.tolist()
        for session in SESSIONS:
            probs = []
            for which, cfg in zip("ab", configs, strict=True):
                fit = load_cached_fit(
                    args.model_cache, fold_model_key(cfg, protocol, name, labels, train)
                )
                if fit is None:
                    print(f"ensemble_folds: {name}: recipe {which.upper()} not in the cache",
                          file=sys.stderr)  # fmt: skip
                    return 2
                stats = session_stats(frontend, test, session)
                probs.append(
                    predict_clips(
                        lambda b, m=fit.model: keras_predict(m, b), frontend, test, cfg, stats
                    )
                )
            for key, pr in (("a", probs[0]), ("b", probs[1]), ("ensemble", sum(probs) / 2)):
                preds.setdefault(f"{key}_{session}", []).extend(pr.argmax(axis=1).tolist())
        print(f"[{corpus}] {name} scored", file=sys.stderr, flush=True)
    result = {
        "corpus": corpus,
        "reports": [str(r) for r in args.reports],
        "uar": {k: ds.uar(y_true, v, labels=classes) for k, v in preds.items()},
        "predictions": {"y_true": y_true, **preds},
    }
    for key, value in result["uar"].items():
        print(f"  {key:18s} UAR {100 * value:5.1f}%")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
