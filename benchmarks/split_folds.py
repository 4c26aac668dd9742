"""Split a pooled emotion-table report back into one report per fold, so that folds run in
different sessions can be pooled in one canonical fold order.

    python benchmarks/split_folds.py pooled.json --out-dir parts/ [--data ../shared/data]

A pooled report (``merge_folds.py`` output, or an ``emotion_table.py`` run over several folds)
holds its per-clip predictions fold after fold. How many clips each fold holds is not stored,
so it is counted from the corpus itself: the clips of the fold's test speakers (``emodb:03``;
``fold0[ravdess:01,ravdess:06,...]``). Each part is checked against the fold's own record: its
four UARs (float and int8, speaker and file sessions) recomputed from the split predictions
must equal the fold's, so a report whose predictions are not in fold order, or a corpus that
differs from the one scored, is an error, never a silent mis-split.

Parts are written as ``CORPUS_FOLD.json`` (``emodb_03.json``, ``ravdess_fold0.json``) and pool
again with ``merge_folds.py``. Exit status 2 with a one-line message on any mismatch.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeser.datasets import Clip, DataError, data_root, read_corpus, uar

FOLD_FIGURES = {
    "float_speaker": "float_speaker_uar",
    "float_file": "float_file_uar",
    "int8_speaker": "int8_speaker_uar",
    "int8_file": "int8_file_uar",
}


class SplitError(ValueError):
    """The report cannot be split into its folds."""


def fold_speakers(fold: str) -> list[str]:
    """Test speakers of a fold name: ``"emodb:03"`` or ``"fold0[ravdess:01,ravdess:06]"``."""
    if "[" in fold and fold.endswith("]"):
        return fold[fold.index("[") + 1 : -1].split(",")
    return [fold]


def part_name(corpus: str, fold: str) -> str:
    """File name of a fold's part: ``emodb_03.json``, ``ravdess_fold0.json``."""
    short = fold.split("[", 1)[0]
    if short.startswith(f"{corpus}:"):
        short = short[len(corpus) + 1 :]
    return f"{corpus}_{short.replace(':', '_')}.json"


def split(report: dict, clips: list[Clip]) -> list[dict]:
    """One report per fold of ``report``, its predictions cut by the folds' clip counts."""
    if len(report.get("corpora", {})) != 1:
        raise SplitError("the report must hold exactly one corpus")
    (corpus,) = report["corpora"]
    ours = report["corpora"][corpus]["edgeser"]
    predictions = ours["predictions"]
    n_total = len(predictions["y_true"])
    per_speaker: dict[str, int] = {}
    for clip in clips:
        per_speaker[clip.speaker] = per_speaker.get(clip.speaker, 0) + 1
    counts = [sum(per_speaker.get(s, 0) for s in fold_speakers(f["fold"])) for f in ours["folds"]]
    if sum(counts) != n_total:
        raise SplitError(
            f"{corpus}: the folds' speakers hold {sum(counts)} clips in this corpus, "
            f"the report {n_total}: another corpus copy?"
        )
    labels = ours["labels"]
    classes = [labels.index(c) for c in ours["classes_scored"]]
    commands = report["command"] if isinstance(report["command"], list) else [report["command"]]
    parts = []
    start = 0
    for fold, n in zip(ours["folds"], counts, strict=True):
        cut = {k: list(v[start : start + n]) for k, v in predictions.items()}
        start += n
        for key, figure in FOLD_FIGURES.items():
            expected = fold.get(figure)
            got = uar(cut["y_true"], cut[key], classes)  # classes absent from the fold: left out
            if expected is None or not math.isclose(got, expected, abs_tol=1e-9):
                raise SplitError(
                    f"{corpus} {fold['fold']}: {key} UAR of the cut predictions is {got:.4f}, "
                    f"the fold's record says {expected}: predictions are not in fold order"
                )
        part = copy.deepcopy(report)
        part.pop("merged_from", None)
        mine = [c for c in commands if isinstance(c, str) and fold["fold"] in c]
        part["command"] = mine[0] if len(mine) == 1 else commands
        part["seconds"] = fold.get("train_seconds", 0.0)
        part_ours = part["corpora"][corpus]["edgeser"]
        part_ours["folds"] = [fold]
        part_ours["predictions"] = cut
        part_ours["seconds"] = fold.get("train_seconds", 0.0)
        parts.append(part)
    return parts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", type=Path)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--data", type=Path, default=None, help="corpora folder (default: shared)")
    args = p.parse_args(argv)
    try:
        report = json.loads(args.report.read_text())
        (corpus,) = report["corpora"]
        root = data_root(args.data)
        if root is None:
            raise SplitError("no corpora folder: pass --data or set EDGESER_DATA")
        parts = split(report, read_corpus(Path(root) / corpus))
    except (OSError, json.JSONDecodeError, KeyError, ValueError, DataError) as exc:
        print(f"split_folds: {exc}", file=sys.stderr)
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for part in parts:
        (fold,) = part["corpora"][corpus]["edgeser"]["folds"]
        out = args.out_dir / part_name(corpus, fold["fold"])
        out.write_text(json.dumps(part, indent=2, default=float) + "\n")
        n = len(part["corpora"][corpus]["edgeser"]["predictions"]["y_true"])
        print(f"[{corpus}] {fold['fold']}: {n} clips -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
