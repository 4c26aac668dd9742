"""The emotion-recognition table: edgeser's model (float and int8) against the openSMILE peer
(ComParE_2016 functionals + linear SVM, global and per-speaker standardisation), on the same
speaker-independent folds, in one run.

    python benchmarks/emotion_table.py --corpus emodb [--epochs 50] [--norm window]
        [--filters 16,16,32,32] [--with-ravdess] [--out benchmarks/results/emotion_emodb.json]

EMO-DB: leave-one-speaker-out, 7 classes. RAVDESS: 5 actor-independent folds, 8 classes.
The model's epoch is chosen on validation speakers drawn from each fold's training speakers;
the peer's C on an inner leave-one-speaker-out of the training speakers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peer_opensmile

from converters.evaluate import evaluate
from converters.train import TrainConfig
from edgeser import datasets as ds
from edgeser.cli_training import CORPUS_LABELS
from edgeser.normalisation import Normalisation

LABELS = CORPUS_LABELS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", choices=["emodb", "ravdess"], default="emodb")
    p.add_argument("--data", default=None)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--norm", default="window", choices=["window", "session", "fixed"])
    p.add_argument("--filters", default="16,16,32,32")
    p.add_argument("--with-ravdess", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    root = ds.data_root(args.data)
    if root is None:
        print("emotion_table: no corpus (set --data or EDGESER_DATA)", file=sys.stderr)
        return 2
    clips = (
        ds.read_emodb(root / "emodb")
        if args.corpus == "emodb"
        else ds.read_ravdess(root / "ravdess")
    )
    labels = list(LABELS[args.corpus])
    extra = []
    if args.with_ravdess and args.corpus == "emodb":
        extra = ds.read_ravdess(root / "ravdess")
        labels += [x for x in LABELS["ravdess"] if x not in labels]
    cfg = TrainConfig(
        filters=tuple(int(f) for f in args.filters.split(",")),
        epochs=args.epochs,
        normalisation=Normalisation(args.norm),
    )
    protocol = "emodb-loso" if args.corpus == "emodb" else "ravdess-5fold"
    ours = evaluate(clips, protocol, cfg, labels, extra_clips=extra)
    peer_args = types.SimpleNamespace(cache_dir=peer_opensmile.DEFAULT_CACHE, jobs=2)
    peer = peer_opensmile.run_corpus(args.corpus, clips, peer_args, peer_opensmile.C_GRID)
    table = {
        "edgeser float": ours["float"]["uar"],
        "edgeser int8": ours["int8"]["uar"],
        "openSMILE ComParE + SVM (global)": peer["forms"]["global"]["uar"],
        "openSMILE ComParE + SVM (per speaker)": peer["forms"]["per_speaker"]["uar"],
    }
    report = {
        "command": "python benchmarks/emotion_table.py " + " ".join(argv or sys.argv[1:]),
        "corpus": args.corpus,
        "uar": table,
        "edgeser": ours,
        "peer": peer,
        "machine": peer_opensmile.machine_info(2),
    }
    out = Path(args.out or f"benchmarks/results/emotion_{args.corpus}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float) + "\n")
    for name, value in table.items():
        print(f"{name:40s} UAR {100 * value:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
