"""Choose the int8 representative set on a fold network's training speakers only.

For each fold network (a ``--model-cache`` entry of ``emotion_table.py``), the fold's training
speakers (both corpora, minus the fold's test speakers) are split in two halves by speaker
(sorted, alternating). For each calibration kind (:data:`converters.train.CALIBRATIONS`) the
network is converted to int8 with representative windows drawn from one half and scored,
through the device runtime (:func:`edgeser.scoring.score_recordings`), on the other half's
clips; then the halves swap. The figures are the top-1 agreement of the int8 model with the
float network per clip (speaker and file sessions, as the fold evaluation measures it) and the
mean absolute difference of their class probabilities. No label and no test speaker is used:
the check speakers are training speakers of the network, held out of calibration only.

    PYTHONPATH=. python benchmarks/calibration_choice.py \\
        --network benchmarks/candidates/v11/folds/db83de11234b638be2fc.keras --test emodb:08 \\
        --config benchmarks/candidates/v11/v11.train.json \\
        --json benchmarks/results/calibration_choice.json

Needs the ``[train]`` extra and the corpora.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from converters.export import export_model
from converters.models import load_model as load_keras_model
from converters.train import (
    CALIBRATIONS,
    ClipSet,
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
from edgeser.model import EmotionModel
from edgeser.scoring import SESSIONS, score_recordings


def halves(data: ClipSet) -> tuple[list[int], list[int]]:
    """Clip indices of the two speaker halves (sorted speakers, alternating)."""
    speakers = sorted(set(data.speakers))
    first = set(speakers[0::2])
    a = [i for i, s in enumerate(data.speakers) if s in first]
    b = [i for i, s in enumerate(data.speakers) if s not in first]
    return a, b


def agreement(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    return {
        "agreement": float(np.mean(reference.argmax(1) == other.argmax(1))),
        "mean_abs_diff": float(np.mean(np.abs(reference - other))),
        "clips": len(reference),
    }


def choose(network: Path, cfg: TrainConfig, labels: list[str], train: ClipSet, kinds) -> dict:
    fe = Frontend(cfg.frontend_config())
    model = load_keras_model(network, compile=False)
    if model.outputs[0].shape[-1] != len(labels):
        raise SystemExit(f"{network}: {model.outputs[0].shape[-1]} outputs, {len(labels)} labels")
    a, b = halves(train)
    rows: dict = {k: {s: [] for s in SESSIONS} for k in kinds}
    seconds: dict = {k: 0.0 for k in kinds}
    for calib_idx, check_idx in ((a, b), (b, a)):
        calib, check = train.subset(calib_idx), train.subset(check_idx)
        ref = {
            s: predict_clips(
                lambda x: keras_predict(model, x), fe, check, cfg, session_stats(fe, check, s)
            )
            for s in SESSIONS
        }
        for kind in kinds:
            start = time.time()
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "m.tflite"
                export_model(
                    model,
                    path,
                    name=network.stem,
                    labels=labels,
                    frontend=fe.config,
                    normalisation=cfg.normalisation,
                    window_frames=cfg.window_frames,
                    representative=representative_windows(fe, calib, cfg, kind),
                    float_twin=False,
                    max_samples=None,
                )
                seconds[kind] += time.time() - start
                m = EmotionModel(path)
                for s in SESSIONS:
                    rows[kind][s].append(
                        (ref[s], score_recordings(m, check.pcm, check.speakers, s))
                    )
            print(f"  {network.stem} {kind}: half done", file=sys.stderr, flush=True)
    out = {}
    for kind in kinds:
        out[kind] = {
            s: agreement(
                np.concatenate([r for r, _ in rows[kind][s]]),
                np.concatenate([q for _, q in rows[kind][s]]),
            )
            for s in SESSIONS
        }
        out[kind]["convert_seconds"] = round(seconds[kind], 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--network", type=Path, action="append", required=True)
    p.add_argument(
        "--test",
        action="append",
        required=True,
        help="the network's test speakers, comma-separated (one --test per --network)",
    )
    p.add_argument("--config", type=Path, required=True, help="a .train.json of the recipe")
    p.add_argument("--kinds", default=",".join(CALIBRATIONS))
    p.add_argument("--data", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    if len(args.test) != len(args.network):
        p.error("give one --test per --network")
    kinds = args.kinds.split(",")
    if not set(kinds) <= set(CALIBRATIONS):
        p.error(f"--kinds: choose from {', '.join(CALIBRATIONS)}")
    root = ds.data_root(args.data)
    if root is None:
        p.error("no corpus (set --data or EDGESER_DATA)")
    record = json.loads(args.config.read_text())
    cfg, labels = TrainConfig.from_dict(record["train_config"]), list(record["labels"])
    clips = ds.read_emodb(root / "emodb") + ds.read_ravdess(root / "ravdess")
    result = {"command": "python " + " ".join(sys.argv), "networks": {}}
    for network, test in zip(args.network, args.test, strict=True):
        held = set(test.split(","))
        unknown = held - {c.speaker for c in clips}
        if unknown:
            p.error(f"unknown test speakers {sorted(unknown)}")
        train = load_clipset([c for c in clips if c.speaker not in held], labels)
        row = choose(network, cfg, labels, train, kinds)
        result["networks"][network.stem] = {"test_speakers": sorted(held), **row}
        for kind in kinds:
            sp, fi = row[kind]["speaker"], row[kind]["file"]
            print(
                f"{network.stem} {kind:9s} speaker {100 * sp['agreement']:.2f}% "
                f"(|dp| {sp['mean_abs_diff']:.4f})  file {100 * fi['agreement']:.2f}% "
                f"(|dp| {fi['mean_abs_diff']:.4f})  {sp['clips']} clips, "
                f"convert {row[kind]['convert_seconds']:.0f} s",
                flush=True,
            )
    pooled = {}
    for kind in kinds:
        pooled[kind] = {
            s: float(np.mean([r[kind][s]["agreement"] for r in result["networks"].values()]))
            for s in SESSIONS
        }
        print(
            f"mean over networks {kind:9s} speaker {100 * pooled[kind]['speaker']:.2f}% "
            f"file {100 * pooled[kind]['file']:.2f}%"
        )
    result["mean_agreement"] = pooled
    result["machine"] = describe()
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
