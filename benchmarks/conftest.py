"""Benchmarks run on one thread per engine, in one process, so that ratios come from one run.

Run:  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m pytest benchmarks -p no:cacheprovider
      --benchmark-json benchmarks/results/<name>.json
(threadpoolctl also caps BLAS at one thread below, in case numpy was loaded first).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1):
        yield


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print x-real-time and ratios for benchmarks that recorded ``audio_seconds``."""
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    rows = []
    for bench in session.benchmarks:
        seconds = bench.extra_info.get("audio_seconds")
        if seconds and bench.stats:
            rows.append((bench.group or "", bench.name, bench.stats.median, seconds))
    if not rows:
        return
    terminalreporter.section("real-time factors (median)")
    for group in sorted({r[0] for r in rows}):
        members = sorted((r for r in rows if r[0] == group), key=lambda r: r[2])
        fastest = members[0][2]
        terminalreporter.write_line(f"[{group}]")
        for _, name, median, seconds in members:
            terminalreporter.write_line(
                f"  {name:45s} {median * 1e3:9.3f} ms  {seconds / median:9.0f}x real time  "
                f"{median / fastest:5.2f}x the fastest"
            )
