"""benchmarks/compare_runs.py: paired bootstrap of the UAR difference between two runs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "compare_runs", Path(__file__).resolve().parents[1] / "benchmarks" / "compare_runs.py"
)
compare_runs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(compare_runs)

LABELS = ["neutral", "anger", "sadness"]


def _report(y_true: list[int], pred: list[int]) -> dict:
    ours = {
        "labels": LABELS,
        "classes_scored": LABELS,
        "predictions": {"y_true": y_true, "int8_speaker": pred},
    }
    return {"corpora": {"emodb": {"edgeser": ours}}}


def test_difference_is_the_uar_difference_and_identical_runs_do_not_differ():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300).tolist()
    weak = [t if rng.random() < 0.5 else (t + 1) % 3 for t in y]
    strong = [t if rng.random() < 0.9 else (t + 1) % 3 for t in y]
    same = compare_runs.compare(_report(y, weak), _report(y, weak), reps=500)
    r = same["emodb"]["int8_speaker"]
    assert r["difference_points"] == 0 and r["interval95_points"] == [0.0, 0.0]
    better = compare_runs.compare(_report(y, weak), _report(y, strong), reps=500)
    r = better["emodb"]["int8_speaker"]
    pairs = list(zip(strong, y, strict=True))
    recalls = [np.mean([s == t for s, t in pairs if t == k]) for k in range(3)]
    assert r["candidate_uar"] == pytest.approx(100 * np.mean(recalls))
    lo, hi = r["interval95_points"]
    assert 0 < lo < r["difference_points"] < hi and r["candidate_ahead_share"] == 1.0


def test_runs_on_other_clips_are_refused_in_one_line(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_report([0, 1, 2], [0, 1, 2])))
    b.write_text(json.dumps(_report([0, 2, 1], [0, 1, 2])))
    assert compare_runs.main([str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("compare_runs: emodb: the reports do not hold the same clips")
    assert err.count("\n") == 1


def test_a_run_on_a_wider_label_set_pairs_by_label_name():
    """A --with-other run labels its clips in a 5-label set; its predictions are read by name,
    and a label the base lacks ("calm") is an error on every scored class."""
    y = [0, 1, 2, 0, 1, 2]
    base = _report(y, [0, 1, 2, 0, 1, 0])
    wide = ["calm", "sadness", "neutral", "surprise", "anger"]
    name = [LABELS[k] for k in y]
    pred = ["neutral", "anger", "sadness", "calm", "anger", "sadness"]
    ours = {
        "labels": wide,
        "classes_scored": list(reversed(LABELS)),
        "predictions": {
            "y_true": [wide.index(n) for n in name],
            "int8_speaker": [wide.index(n) for n in pred],
        },
    }
    r = compare_runs.compare(base, {"corpora": {"emodb": {"edgeser": ours}}}, reps=200)
    r = r["emodb"]["int8_speaker"]
    # base: neutral 2/2, anger 2/2, sadness 1/2; candidate: neutral 1/2 (calm), anger 2/2,
    # sadness 2/2
    assert r["base_uar"] == pytest.approx(100 * 2.5 / 3)
    assert r["candidate_uar"] == pytest.approx(100 * 2.5 / 3)
