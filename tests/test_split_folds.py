"""benchmarks/split_folds.py: a pooled report splits back into the parts that pooled into it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from edgeser.datasets import Clip, uar
from tests.test_merge_folds import _part as merge_part

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


merge_folds = _load("merge_folds")
split_folds = _load("split_folds")


def _part(fold: str, y: list[int], float_pred: list[int], int8_pred: list[int]) -> dict:
    """test_merge_folds' part, with the fold's own four UARs as emotion_table.py records them."""
    part = merge_part(fold, y, float_pred, int8_pred)
    part["command"] = f"run --fold {fold}"
    part["corpora"]["emodb"]["edgeser"]["folds"][0].update(
        {
            f"{kind}_{session}_uar": uar(y, pred, [0, 1, 2])
            for kind, pred in (("float", float_pred), ("int8", int8_pred))
            for session in ("speaker", "file")
        }
    )
    return part


def _clips(counts: dict[str, int]) -> list[Clip]:
    return [
        Clip(Path(f"/nowhere/{speaker}_{i}.wav"), "neutral", speaker, "emodb")
        for speaker, n in counts.items()
        for i in range(n)
    ]


A = ("emodb:03", [0, 1, 2, 2], [0, 1, 2, 0], [0, 1, 2, 1])
B = ("emodb:08", [0, 0, 1, 2, 1], [0, 0, 0, 2, 1], [2, 1, 1, 2, 0])


def test_split_then_merge_gives_back_the_pooled_report():
    pooled = merge_folds.merge([_part(*A), _part(*B)])
    parts = split_folds.split(pooled, _clips({"emodb:03": 4, "emodb:08": 5, "emodb:10": 7}))
    assert [p["corpora"]["emodb"]["edgeser"]["folds"][0]["fold"] for p in parts] == [A[0], B[0]]
    assert parts[0]["corpora"]["emodb"]["edgeser"]["predictions"]["int8_speaker"] == A[3]
    assert parts[1]["command"] == f"run --fold {B[0]}"
    again = merge_folds.merge(parts)["corpora"]["emodb"]
    assert again["uar"] == pooled["corpora"]["emodb"]["uar"]
    for key in ("predictions", "folds", "int8", "float_file", "top1_agreement"):
        assert again["edgeser"][key] == pooled["corpora"]["emodb"]["edgeser"][key]


def test_a_report_out_of_fold_order_or_another_corpus_is_refused():
    pooled = merge_folds.merge([_part(*B), _part(*A)])  # predictions 08 then 03, folds sorted
    with pytest.raises(split_folds.SplitError, match="not in fold order"):
        split_folds.split(pooled, _clips({"emodb:03": 4, "emodb:08": 5}))
    with pytest.raises(split_folds.SplitError, match="another corpus copy"):
        split_folds.split(merge_folds.merge([_part(*A), _part(*B)]), _clips({"emodb:03": 4}))


@pytest.mark.corpus
def test_the_committed_pooled_runs_split_and_pool_back_exactly(tmp_path, corpus_root):
    results = BENCH / "results"
    name = "emodb_loso_session_subsets_teacher_80epochs_with_other.json"
    rc = split_folds.main(
        [str(results / name), "--out-dir", str(tmp_path), "--data", str(corpus_root)]
    )
    assert rc == 0
    parts = sorted(tmp_path.glob("emodb_*.json"))
    assert len(parts) == 8
    pooled = json.loads((results / name).read_text())
    again = merge_folds.merge([json.loads(p.read_text()) for p in parts])
    assert (
        again["corpora"]["emodb"]["edgeser"]["predictions"]
        == (pooled["corpora"]["emodb"]["edgeser"]["predictions"])
    )
    assert again["corpora"]["emodb"]["uar"] == pooled["corpora"]["emodb"]["uar"]
