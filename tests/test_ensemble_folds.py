"""benchmarks/ensemble_folds.py: what it reads of each member's report, and its refusals."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("matplotlib")

_SPEC = importlib.util.spec_from_file_location(
    "ensemble_folds", Path(__file__).resolve().parents[1] / "benchmarks" / "ensemble_folds.py"
)
ensemble_folds = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ensemble_folds)


def _pooled(extra: int, **int8_options: str) -> dict:
    """The shape of a merge_folds.py pool (and of an emotion_table.py run)."""
    ours = {"train_config": {"epochs": 80}, "data": {"extra_training_clips": extra}}
    ours.update(int8_options)
    return {"train_config": {"epochs": 80}, "corpora": {"emodb": {"edgeser": ours}}}


def test_member_report_reads_training_data_and_int8_options():
    got = ensemble_folds.member_report(
        _pooled(1440, calibration="spread", gate_ranges="saturated"), "emodb"
    )
    assert got == {
        "train_config": {"epochs": 80},
        "extra": True,
        "calibration": "spread",
        "gate_ranges": "saturated",
    }


def test_member_report_defaults_are_those_of_reports_made_before_the_options():
    got = ensemble_folds.member_report(_pooled(0), "emodb")
    assert got["extra"] is False
    assert (got["calibration"], got["gate_ranges"]) == ("first", "calibrated")


def _write(path: Path, report: dict) -> Path:
    path.write_text(json.dumps(report))
    return path


def test_members_trained_on_different_data_are_refused(tmp_path, capsys):
    a = _write(tmp_path / "a.json", _pooled(1440))
    b = _write(tmp_path / "b.json", _pooled(0))
    args = ["--corpus", "emodb", str(a), str(b), "--model-cache", str(tmp_path)]
    assert ensemble_folds.main([*args, "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "members must share their training data" in err


def test_more_than_two_caches_are_refused(tmp_path, capsys):
    a = _write(tmp_path / "a.json", _pooled(0))
    caches = ["--model-cache", str(tmp_path)] * 3
    assert ensemble_folds.main(["--corpus", "emodb", str(a), str(a), *caches,
                                "--data", str(tmp_path)]) == 2  # fmt: skip
    assert "once or twice" in capsys.readouterr().err


def test_the_ensemble_pairs_with_a_member_in_compare_runs():
    spec = importlib.util.spec_from_file_location(
        "compare_runs", Path(__file__).resolve().parents[1] / "benchmarks" / "compare_runs.py"
    )
    compare_runs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare_runs)
    labels, classes = ["neutral", "anger", "calm"], [0, 1]  # calm: a label the corpus lacks
    y_true = [0, 0, 1, 1]
    preds = {
        "ensemble_speaker": [0, 0, 1, 2],
        "ensemble_file": [0, 1, 1, 1],
        "a_speaker": [0, 1, 1, 0],
    }
    ensemble = {"corpora": {"emodb": {"edgeser": ensemble_folds.pairable(
        labels, classes, y_true, preds, int8=True)}}}  # fmt: skip
    member = {"corpora": {"emodb": {"edgeser": {
        "labels": labels[:2],
        "classes_scored": labels[:2],
        "predictions": {"y_true": y_true, "int8_speaker": [0, 1, 1, 0], "int8_file": [0, 1, 1, 0]},
    }}}}  # fmt: skip
    got = compare_runs.compare(member, ensemble, reps=200)["emodb"]
    assert set(got) == {"int8_speaker", "int8_file"}
    assert got["int8_speaker"]["candidate_uar"] == 75.0  # recalls 2/2 and 1/2
    assert got["int8_speaker"]["difference_points"] == 25.0
    assert got["int8_file"]["candidate_uar"] == 75.0
