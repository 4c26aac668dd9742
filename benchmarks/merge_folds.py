"""Pool emotion-table runs made on disjoint folds (e.g. two processes, one per core) into the
report that one run over all of those folds would have written.

    python benchmarks/merge_folds.py part1.json part2.json --out merged.json

Every part must be an ``emotion_table.py`` report of one corpus with the same training
configuration and frontend; their folds must not overlap. The pooled scores (UAR, WA,
per-class recall, confusion matrix; float and int8; speaker and file sessions; top-1
agreement) are recomputed from the parts' per-clip predictions, exactly as
:func:`converters.evaluate.evaluate` computes them. A confusion-matrix PNG is written beside
the output. Exit status 2 with a one-line message when the parts do not fit together.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from converters.evaluate import clip_scores, confusion_png

PRED_KEYS = ("float_speaker", "float_file", "int8_speaker", "int8_file")


class MergeError(ValueError):
    """The parts cannot be pooled (different corpus, configuration or overlapping folds)."""


def merge(parts: list[dict]) -> dict:
    """The pooled report of ``parts`` (loaded ``emotion_table.py`` reports)."""
    if len(parts) < 2:
        raise MergeError("need at least two parts")
    corpora = {tuple(p["corpora"]) for p in parts}
    if len(corpora) != 1 or len(next(iter(corpora))) != 1:
        raise MergeError("every part must hold the same single corpus")
    (corpus,) = next(iter(corpora))
    runs = [p["corpora"][corpus]["edgeser"] for p in parts]
    for key in ("train_config", "frontend_config", "labels", "classes_scored", "protocol"):
        if any(r[key] != runs[0][key] for r in runs[1:]):
            raise MergeError(f"the parts differ in {key}")
    names = [f["fold"] for r in runs for f in r["folds"]]
    if len(set(names)) != len(names):
        raise MergeError(f"folds overlap: {sorted(n for n in set(names) if names.count(n) > 1)}")
    labels = runs[0]["labels"]
    classes = [labels.index(c) for c in runs[0]["classes_scored"]]
    y_true = [y for r in runs for y in r["predictions"]["y_true"]]
    preds = {k: [y for r in runs for y in r["predictions"][k]] for k in PRED_KEYS}
    ours = dict(runs[0])
    ours["folds"] = sorted((f for r in runs for f in r["folds"]), key=lambda f: f["fold"])
    ours["predictions"] = {"y_true": y_true, **preds}
    ours["seconds"] = round(sum(r["seconds"] for r in runs), 1)
    ours["model"] = dict(runs[0]["model"])
    ours["model"]["train_seconds_per_fold"] = round(
        float(np.mean([f["train_seconds"] for f in ours["folds"]])), 1
    )
    for session, suffix in (("speaker", ""), ("file", "_file")):
        for kind in ("float", "int8"):
            ours[f"{kind}{suffix}"] = clip_scores(
                y_true, preds[f"{kind}_{session}"], labels, classes
            )
        f, i = np.array(preds[f"float_{session}"]), np.array(preds[f"int8_{session}"])
        ours[f"top1_agreement{suffix}"] = float(np.mean(f == i))
        ours[f"uar_drop_points{suffix}"] = 100 * (
            ours[f"float{suffix}"]["uar"] - ours[f"int8{suffix}"]["uar"]
        )
    rows = {
        "edgeser float (speaker sessions)": "float",
        "edgeser int8 (speaker sessions)": "int8",
        "edgeser float (file sessions)": "float_file",
        "edgeser int8 (file sessions)": "int8_file",
    }
    report = {
        "command": [p["command"] for p in parts],
        "merged_from": len(parts),
        "date_utc": max(p["date_utc"] for p in parts),
        "machine": parts[0]["machine"],
        "train_config": parts[0]["train_config"],
        "seconds": round(sum(p.get("seconds", 0.0) for p in parts), 1),
        "corpora": {
            corpus: {
                "uar": {name: ours[key]["uar"] for name, key in rows.items()},
                "wa": {name: ours[key]["wa"] for name, key in rows.items()},
                "edgeser": ours,
            }
        },
    }
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("parts", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        parts = [json.loads(path.read_text()) for path in args.parts]
        report = merge(parts)
    except (OSError, json.JSONDecodeError, KeyError, MergeError) as exc:
        print(f"merge_folds: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=float) + "\n")
    (corpus,) = report["corpora"]
    ours = report["corpora"][corpus]["edgeser"]
    confusion_png(ours, args.out.with_name(f"{args.out.stem}_{corpus}.png"))
    print(f"[{corpus}] {len(ours['folds'])} folds pooled, wrote {args.out}")
    for name, value in report["corpora"][corpus]["uar"].items():
        print(f"  {name:42s} UAR {100 * value:5.1f}%")
    print(f"  int8/float top-1 agreement {100 * ours['top1_agreement']:.1f}% (speaker)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
