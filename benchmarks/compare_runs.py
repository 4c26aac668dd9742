"""Paired comparison of two emotion-table runs on the same clips: is a difference in UAR more
than the noise of the protocol?

    python benchmarks/compare_runs.py BASE.json CANDIDATE.json [--reps 5000] [--seed 0]

For every corpus both reports hold (``emotion_table.py`` or ``merge_folds.py`` output, the same
clips in the same order: their ``y_true`` must be equal; labels are matched by name, so a run
trained on a wider label set, e.g. ``--with-other``, pairs with a per-corpus one) and every
prediction kind (float/int8, speaker/file sessions), prints UAR(base), UAR(candidate), the
difference in points, a 95% paired bootstrap interval of the difference (clips resampled with
replacement, the same draw for both runs) and the share of draws in which the candidate is
ahead. Clips of one speaker are not independent, so the interval is narrower than the truth: a
difference inside it is noise, one outside it is not yet proof. ``--json FILE`` writes the
figures. Exit status 2 with a one-line message when the reports cannot be paired.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

KINDS = ("int8_speaker", "int8_file", "float_speaker", "float_file")


class PairingError(ValueError):
    """The two reports do not hold the same clips."""


def _uar(y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """UAR of each row of index draws: y_true and y_pred are (draws, clips) arrays."""
    recalls = []
    for k in classes:
        is_k = y_true == k
        n = is_k.sum(axis=-1)
        hit = (is_k & (y_pred == k)).sum(axis=-1)
        recalls.append(np.where(n > 0, hit / np.maximum(n, 1), np.nan))
    return np.nanmean(np.stack(recalls), axis=0)


def _label_map(labels: list[str], base_labels: list[str]) -> np.ndarray:
    """Index in ``base_labels`` of each of ``labels`` (-1 where the base has no such label)."""
    index = {name: i for i, name in enumerate(base_labels)}
    return np.array([index.get(name, -1) for name in labels], dtype=np.int64)


def compare(base: dict, candidate: dict, reps: int = 5000, seed: int = 0) -> dict:
    """Per corpus and prediction kind: UARs, difference and paired bootstrap interval (points)."""
    common = [c for c in base["corpora"] if c in candidate["corpora"]]
    if not common:
        raise PairingError("the reports share no corpus")
    rng = np.random.default_rng(seed)
    out: dict = {}
    for corpus in common:
        a = base["corpora"][corpus]["edgeser"]
        b = candidate["corpora"][corpus]["edgeser"]
        y = np.array(a["predictions"]["y_true"])
        # A run on a wider label set (e.g. trained --with-other) is read in the base's label
        # indices; a label the base lacks becomes -1, an error on every scored class.
        to_base = _label_map(b["labels"], a["labels"])
        if set(a["classes_scored"]) != set(b["classes_scored"]) or not np.array_equal(
            y, to_base[np.array(b["predictions"]["y_true"])]
        ):
            raise PairingError(f"{corpus}: the reports do not hold the same clips in one order")
        classes = np.array([a["labels"].index(c) for c in a["classes_scored"]])
        draws = rng.integers(0, y.size, size=(reps, y.size))
        out[corpus] = {}
        for kind in KINDS:
            if kind not in a["predictions"] or kind not in b["predictions"]:
                continue
            pa = np.array(a["predictions"][kind])
            pb = to_base[np.array(b["predictions"][kind])]
            ua, ub = _uar(y, pa, classes), _uar(y, pb, classes)
            diffs = 100 * (_uar(y[draws], pb[draws], classes) - _uar(y[draws], pa[draws], classes))
            lo, hi = np.percentile(diffs, [2.5, 97.5])
            out[corpus][kind] = {
                "base_uar": 100 * float(ua),
                "candidate_uar": 100 * float(ub),
                "difference_points": 100 * float(ub - ua),
                "interval95_points": [float(lo), float(hi)],
                "candidate_ahead_share": float(np.mean(diffs > 0)),
                "clips": int(y.size),
            }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base", type=Path)
    p.add_argument("candidate", type=Path)
    p.add_argument("--reps", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    try:
        result = compare(
            json.loads(args.base.read_text()), json.loads(args.candidate.read_text()),
            args.reps, args.seed,
        )  # fmt: skip
    except (OSError, json.JSONDecodeError, KeyError, PairingError) as exc:
        print(f"compare_runs: {exc}", file=sys.stderr)
        return 2
    print(f"base {args.base.name}, candidate {args.candidate.name}")
    for corpus, kinds in result.items():
        for kind, r in kinds.items():
            lo, hi = r["interval95_points"]
            print(
                f"  {corpus:8s} {kind:14s} {r['base_uar']:5.1f}% -> {r['candidate_uar']:5.1f}%  "
                f"{r['difference_points']:+5.1f} points (95% {lo:+5.1f} .. {hi:+5.1f}; candidate "
                f"ahead in {100 * r['candidate_ahead_share']:.0f}% of draws; {r['clips']} clips)"
            )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
