"""How other conversions of kept fold networks would score, against their int8 conversion, on
each fold's own test speakers: 16x8 (16-bit activations, 8-bit weights) and int8 with saturated
LSTM gate ranges (``convert_int8(gate_ranges="saturated")``, :mod:`converters.gate_ranges`).

For each fold network (``benchmarks/candidates/v11/folds``, key-to-fold table in
``benchmarks/candidates/README.md``), every conversion of ``--kinds`` (``int8``: calibrated
ranges, as every fold evaluation before 2026-12-07 converted; ``int8-saturated``; ``int16x8``)
is calibrated on the first window of every training clip (at most 500, as the fold evaluation
does) and run, through the LiteRT interpreter fed the float input quantised (not the device
runtime's integer normalisation, which is int8 only), on every scoring window of the test
clips, speaker sessions; a clip's probabilities are the mean over its windows. Reported per fold
and pooled: UAR of float and of each conversion, and per-clip top-1 agreement of each with float.

    PYTHONPATH=. python benchmarks/int16_folds.py --json benchmarks/results/int16_folds.json
    PYTHONPATH=. python benchmarks/int16_folds.py --kinds int8,int8-saturated \\
        --json benchmarks/results/gate_ranges_folds.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from benchmarks.int8_fidelity import int8_run
from benchmarks.int8_lstm_rewrite import to_int8
from converters.evaluate import folds_for
from converters.models import load_model as load_keras_model
from converters.quantize import convert_int8
from converters.train import (
    TrainConfig,
    keras_predict,
    load_clipset,
    predict_clips,
    representative_windows,
    session_stats,
)
from edgeser import datasets as ds
from edgeser.frontend import Frontend
from edgeser.machine import describe

FOLDS = {
    "657d53a01aa88865a6f6": "emodb:03",
    "db83de11234b638be2fc": "emodb:08",
    "9cca5947ba3e9a40e8f0": "emodb:09",
    "333b4d86752601e43379": "emodb:10",
    "b30784da1ef115d30fb1": "emodb:12",
    "2de2298ab52d2206fde9": "emodb:13",
    "89c2096184fadc81996f": "emodb:15",
    "db3196b19c5650fe6847": "emodb:16",
    "a5a63d8d289be9afd267": "fold0",
    "0955660b24d3ca2ae1ec": "fold1",
    "97428975f33418065e19": "fold2",
    "bf4e0224c263a0317538": "fold3",
    "299d35f3ec319569aaf9": "fold4",
}

KINDS = ("int8", "int8-saturated", "int16x8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folds-dir", type=Path, default=Path("benchmarks/candidates/v11/folds"))
    p.add_argument("--config", type=Path, default=Path("benchmarks/candidates/v11/v11.train.json"))
    p.add_argument("--only", action="append", help="fold name (repeatable)")
    p.add_argument("--data", default=None)
    p.add_argument("--json", default=None)
    p.add_argument(
        "--kinds",
        default="int8,int16x8",
        help="comma-separated conversions: int8, int8-saturated, int16x8",
    )
    args = p.parse_args()
    kinds = args.kinds.split(",")
    if not kinds or any(k not in KINDS for k in kinds):
        p.error(f"--kinds takes a comma-separated subset of {', '.join(KINDS)}")
    root = ds.data_root(args.data)
    if root is None:
        p.error("no corpus (set --data or EDGESER_DATA)")
    record = json.loads(args.config.read_text())
    cfg, labels = TrainConfig.from_dict(record["train_config"]), list(record["labels"])
    fe = Frontend(cfg.frontend_config())
    corpora = {"emodb": ds.read_emodb(root / "emodb"), "ravdess": ds.read_ravdess(root / "ravdess")}
    rows, pooled = [], {"y": [], "float": [], **{k: [] for k in kinds}}
    for key, short in FOLDS.items():
        if args.only and short not in args.only:
            continue
        corpus = "emodb" if short.startswith("emodb") else "ravdess"
        clips, other = corpora[corpus], corpora["ravdess" if corpus == "emodb" else "emodb"]
        protocol = "emodb-loso" if corpus == "emodb" else "ravdess-5fold"
        ((name, train_idx, test_idx),) = [
            f for f in folds_for(protocol, clips) if f[0] == short or f[0].startswith(short + "[")
        ]
        train = load_clipset([clips[i] for i in train_idx] + list(other), labels)
        test = load_clipset([clips[i] for i in test_idx], labels)
        classes = sorted({labels.index(c.label) for c in clips})
        model = load_keras_model(args.folds_dir / f"{key}.keras", compile=False)
        rep = representative_windows(fe, train, cfg)
        stats = session_stats(fe, test, "speaker")
        probs = {
            "float": predict_clips(lambda b, m=model: keras_predict(m, b), fe, test, cfg, stats)
        }
        with tempfile.TemporaryDirectory() as tmp:
            for kind in kinds:
                path = Path(tmp) / f"{kind}.tflite"
                if kind == "int8-saturated":
                    convert_int8(model, rep, path, model_name=key, gate_ranges="saturated")
                else:
                    to_int8(model, rep, path, int16=kind == "int16x8")
                probs[kind] = predict_clips(
                    lambda b, q=path: int8_run(q, b)[0], fe, test, cfg, stats
                )
        y = test.labels
        row = {"fold": name, "key": key, "clips": len(y)}
        for kind, pr in probs.items():
            row[f"{kind}_uar"] = ds.uar(y, pr.argmax(1), labels=classes)
            if kind != "float":
                row[f"{kind}_agreement"] = float(np.mean(pr.argmax(1) == probs["float"].argmax(1)))
            pooled[kind].append(pr.argmax(1))
        pooled["y"].append(y)
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {"command": "python " + " ".join(sys.argv), "folds": rows, "machine": describe()}
    for corpus in ("emodb", "ravdess"):
        idx = [
            i for i, r in enumerate(rows) if r["fold"].startswith("emodb") == (corpus == "emodb")
        ]
        if not idx:
            continue
        y = np.concatenate([pooled["y"][i] for i in idx])
        classes = sorted(set(y.tolist()))
        f = np.concatenate([pooled["float"][i] for i in idx])
        summary = {"folds": len(idx), "clips": len(y), "float_uar": ds.uar(y, f, labels=classes)}
        for kind in kinds:
            q = np.concatenate([pooled[kind][i] for i in idx])
            summary[f"{kind}_uar"] = ds.uar(y, q, labels=classes)
            summary[f"{kind}_agreement"] = float(np.mean(q == f))
        out[corpus] = summary
        print(corpus, json.dumps(summary), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
