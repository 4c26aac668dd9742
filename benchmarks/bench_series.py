"""Several runs of one ``edgeser bench`` command: do their medians repeat?

    python benchmarks/bench_series.py RUN1.json RUN2.json ... [--json series.json]

Each RUN is an ``edgeser bench --json`` result of the same command (the same configurations).
For every configuration and stage this prints the run medians' smallest, middle and largest
value (ms) and their spread (largest over smallest, minus 1: issue 5's "repeated runs agree
within 10% on medians" is a spread <= 0.10) and the spread of the middle half of the runs (upper
over lower quartile, minus 1: what the runs give when a slow spell of the machine hits a few
of them), then each run's own steadiness (the widest spread
between its rounds). ``--json FILE`` writes the same figures. Exit status 2 with a one-line
message when a file is unreadable or the runs hold different configurations.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class SeriesError(ValueError):
    """The runs cannot be set side by side."""


def _quartile_spread(ordered: list[float]) -> float | None:
    """Upper over lower quartile of sorted values, minus 1 (nearest-rank quartiles)."""
    n = len(ordered)
    lower, upper = ordered[(n - 1) // 4], ordered[(3 * (n - 1) + 3) // 4]
    return upper / lower - 1 if lower > 0 else None


def series(runs: list[dict]) -> dict:
    """Per configuration label and stage: the runs' p50s (ms), their min, median, max and spread;
    and each run's date and steadiness."""
    if not runs:
        raise SeriesError("no runs given")
    labels = [c["label"] for c in runs[0]["configs"]]
    for run in runs[1:]:
        if [c["label"] for c in run["configs"]] != labels:
            raise SeriesError("the runs hold different configurations")
    stages: dict[str, dict[str, dict]] = {}
    for i, label in enumerate(labels):
        stages[label] = {}
        for stage in runs[0]["configs"][i]["stages"]:
            p50 = [1000 * run["configs"][i]["stages"][stage]["p50"] for run in runs]
            ordered = sorted(p50)
            stages[label][stage] = {
                "p50_ms": p50,
                "min_ms": ordered[0],
                "median_ms": ordered[len(ordered) // 2],
                "max_ms": ordered[-1],
                "spread": ordered[-1] / ordered[0] - 1 if ordered[0] > 0 else None,
                "middle_half_spread": _quartile_spread(ordered),
            }
    return {
        "runs": [
            {"date": run["machine"]["date"], "steadiness": run.get("steadiness")} for run in runs
        ],
        "stages": stages,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    try:
        result = series([json.loads(path.read_text()) for path in args.runs])
    except (OSError, json.JSONDecodeError, KeyError, TypeError, SeriesError) as exc:
        print(f"bench_series: {exc}", file=sys.stderr)
        return 2
    result["files"] = [str(path) for path in args.runs]
    print(
        f"{len(args.runs)} runs; p50 per run, ms: smallest / middle / largest, spread, "
        "spread of the middle half"
    )
    for label, by_stage in result["stages"].items():
        for stage, s in by_stage.items():
            spread, half = (
                "n/a" if v is None else f"{100 * v:.1f}%"
                for v in (s["spread"], s["middle_half_spread"])
            )
            print(
                f"  {label:24s} {stage:16s} {s['min_ms']:7.3f} {s['median_ms']:7.3f} "
                f"{s['max_ms']:7.3f}  {spread:>6s}  {half:>6s}"
            )
    for path, run in zip(args.runs, result["runs"], strict=True):
        st = run["steadiness"] or {}
        within = st.get("spread")
        shown = "not judged" if within is None else f"rounds {100 * within:.1f}% apart"
        print(f"  {path.name}: {run['date']}, {shown}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
