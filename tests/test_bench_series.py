"""benchmarks/bench_series.py: several bench runs of one command set side by side."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "bench_series", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_series.py"
)
bench_series = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_series)


def _run(invoke_s: float, labels=("int8 litert 1t",), date="2026-12-08T03:00:00+00:00") -> dict:
    return {
        "machine": {"date": date},
        "steadiness": {"spread": 0.05},
        "configs": [{"label": lab, "stages": {"invoke": {"p50": invoke_s}}} for lab in labels],
    }


def test_spread_and_middle_half_of_run_medians():
    runs = [_run(t) for t in (0.00010, 0.00010, 0.00011, 0.00010, 0.00020)]  # one slow run
    got = bench_series.series(runs)["stages"]["int8 litert 1t"]["invoke"]
    assert got["min_ms"] == pytest.approx(0.10) and got["max_ms"] == pytest.approx(0.20)
    assert got["median_ms"] == pytest.approx(0.10)
    assert got["spread"] == pytest.approx(1.0)
    assert got["middle_half_spread"] == pytest.approx(0.10)  # quartiles 0.10 and 0.11 ms


def test_runs_of_other_configurations_are_refused(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_run(0.0001)))
    b.write_text(json.dumps(_run(0.0001, labels=("float32 litert 1t",))))
    assert bench_series.main([str(a), str(b)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "bench_series: the runs hold different configurations"
    assert bench_series.main([str(a), str(tmp_path / "missing.json")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
