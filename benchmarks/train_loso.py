"""Speaker-independent training experiments: EMO-DB leave-one-speaker-out (7 classes).

    python benchmarks/train_loso.py --name NAME [--norm window|speaker|fixed] [--epochs N]
        [--filters 8,16,16,32] [--folds 03,08] [--no-augment] [--with-ravdess]

For each test speaker: validation speakers are two other EMO-DB speakers (one male, one
female, rotating) taken from the training speakers; the epoch is chosen on them; the test
speaker is scored once, at the end. Writes benchmarks/results/experiments/NAME.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


from converters.train import (
    TrainConfig,
    fit,
    load_clipset,
    predict_clips,
    speaker_means,
)
from edgeser.datasets import (
    EMODB_FEMALE_SPEAKERS,
    accuracy,
    confusion_matrix,
    data_root,
    per_class_recall,
    read_emodb,
    read_ravdess,
    uar,
)
from edgeser.frontend import Frontend
from edgeser.normalisation import Normalisation

EMODB_LABELS = ["neutral", "happiness", "sadness", "anger", "fear", "disgust", "boredom"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--norm", default="window", choices=["window", "session", "fixed"])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--filters", default="8,16,16,32")
    p.add_argument("--lstm", type=int, default=32)
    p.add_argument("--dense", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--folds", default="")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--with-ravdess", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: default)")
    args = p.parse_args(argv)
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    root = data_root()
    if root is None:
        print("no corpus", file=sys.stderr)
        return 2
    emodb = read_emodb(root / "emodb")
    cfg = TrainConfig(
        filters=tuple(int(f) for f in args.filters.split(",")),
        lstm_units=args.lstm,
        dense_units=args.dense,
        epochs=args.epochs,
        patience=args.patience,
        learning_rate=args.lr,
        augment=not args.no_augment,
        seed=args.seed,
        normalisation=Normalisation(mode=args.norm),
    )
    labels = list(EMODB_LABELS)
    extra = []
    if args.with_ravdess:
        extra = read_ravdess(root / "ravdess")
        labels += ["calm", "surprise"]
    data = load_clipset(emodb + extra, labels)
    speakers = sorted({c.speaker.split(":")[1] for c in emodb})
    males = [s for s in speakers if s not in EMODB_FEMALE_SPEAKERS]
    females = [s for s in speakers if s in EMODB_FEMALE_SPEAKERS]
    folds = args.folds.split(",") if args.folds else speakers
    frontend = Frontend()
    y_true, y_pred, per_fold = [], [], []
    start = time.time()
    for test in folds:
        others_m = [s for s in males if s != test]
        others_f = [s for s in females if s != test]
        k = speakers.index(test)
        val = {f"emodb:{others_m[k % len(others_m)]}", f"emodb:{others_f[k % len(others_f)]}"}
        test_sp = f"emodb:{test}"
        tr_idx = [i for i, c in enumerate(data.clips) if c.speaker not in val | {test_sp}]
        va_idx = [i for i, c in enumerate(data.clips) if c.speaker in val]
        te_idx = [i for i, c in enumerate(data.clips) if c.speaker == test_sp]
        res = fit(data.subset(tr_idx), data.subset(va_idx), cfg, log=None)
        means = None
        test_set = data.subset(te_idx)
        if cfg.normalisation.mode == "session":
            means = speaker_means(frontend, test_set)
        probs = predict_clips(
            lambda b, m=res.model: m.predict(b, batch_size=256, verbose=0),
            frontend,
            test_set,
            cfg,
            means,
        )
        pred = probs.argmax(axis=1)
        fold_uar = uar(test_set.labels, pred, labels=list(range(7)))
        per_fold.append(
            {
                "speaker": test,
                "val": sorted(val),
                "best_epoch": res.best_epoch,
                "val_uar": res.best_val_uar,
                "test_uar": fold_uar,
                "seconds": round(res.seconds, 1),
            }
        )
        print(json.dumps(per_fold[-1]), flush=True)
        y_true += test_set.labels.tolist()
        y_pred += pred.tolist()
    names = labels
    report = {
        "name": args.name,
        "command": "python benchmarks/train_loso.py " + " ".join(argv or sys.argv[1:]),
        "train_config": cfg.to_dict(),
        "uar": uar(y_true, y_pred, labels=list(range(7))),
        "wa": accuracy(y_true, y_pred),
        "per_class_recall": {
            names[k]: v for k, v in per_class_recall(y_true, y_pred, list(range(7))).items()
        },
        "confusion": confusion_matrix(y_true, y_pred, list(range(len(names)))).tolist(),
        "folds": per_fold,
        "y_true": [int(v) for v in y_true],
        "y_pred": [int(v) for v in y_pred],
        "seconds": round(time.time() - start, 1),
    }
    out = Path("benchmarks/results/experiments") / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(f"{args.name}: UAR {report['uar']:.4f} WA {report['wa']:.4f} ({report['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
