"""benchmarks/merge_folds.py: runs on disjoint folds pool into the report of one run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from edgeser.datasets import uar

_SPEC = importlib.util.spec_from_file_location(
    "merge_folds", Path(__file__).resolve().parents[1] / "benchmarks" / "merge_folds.py"
)
merge_folds = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(merge_folds)

LABELS = ["neutral", "anger", "sadness"]


def _part(fold: str, y_true: list[int], float_pred: list[int], int8_pred: list[int]) -> dict:
    ours = {
        "protocol": "emodb-loso",
        "labels": LABELS,
        "classes_scored": LABELS,
        "train_config": {"epochs": 40},
        "frontend_config": {"num_bands": 40},
        "folds": [{"fold": fold, "train_seconds": 10.0}],
        "model": {"int8_bytes": 1000, "macs_per_window": 10},
        "seconds": 12.0,
        "predictions": {
            "y_true": y_true,
            "float_speaker": float_pred,
            "float_file": float_pred,
            "int8_speaker": int8_pred,
            "int8_file": int8_pred,
        },
    }
    return {
        "command": f"run {fold}",
        "date_utc": "2026-11-25T00:00:00Z",
        "machine": {},
        "train_config": {"epochs": 40},
        "seconds": 12.0,
        "corpora": {"emodb": {"edgeser": ours}},
    }


def test_merge_recomputes_pooled_scores_and_refuses_overlaps(tmp_path):
    a = _part("emodb:03", [0, 1, 2, 2], [0, 1, 2, 0], [0, 1, 2, 1])
    b = _part("emodb:08", [0, 0, 1, 2], [0, 1, 1, 2], [0, 1, 1, 2])
    report = merge_folds.merge([a, b])
    ours = report["corpora"]["emodb"]["edgeser"]
    y = [0, 1, 2, 2, 0, 0, 1, 2]
    assert ours["int8"]["uar"] == pytest.approx(uar(y, [0, 1, 2, 1, 0, 1, 1, 2], [0, 1, 2]))
    assert ours["float"]["uar"] == pytest.approx(uar(y, [0, 1, 2, 0, 0, 1, 1, 2], [0, 1, 2]))
    assert ours["top1_agreement"] == pytest.approx(7 / 8)
    assert [f["fold"] for f in ours["folds"]] == ["emodb:03", "emodb:08"]
    with pytest.raises(merge_folds.MergeError, match="overlap"):
        merge_folds.merge([a, a])
    c = json.loads(json.dumps(b))
    c["corpora"]["emodb"]["edgeser"]["train_config"] = {"epochs": 20}
    with pytest.raises(merge_folds.MergeError, match="train_config"):
        merge_folds.merge([a, c])
    for name, part in (("a.json", a), ("b.json", b)):
        (tmp_path / name).write_text(json.dumps(part))
    out = tmp_path / "m.json"
    assert (
        merge_folds.main([str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(out)])
        == 0
    )
    assert json.loads(out.read_text())["merged_from"] == 2
    assert (tmp_path / "m_emodb.png").exists()
    assert merge_folds.main([str(tmp_path / "a.json"), "--out", str(out)]) == 2
