"""Time one epoch's augmented training windows with the C speed-perturbation resampler
(``converters.fast_resample``) against NumPy's (``edgeser.audio.resample``), same seed.

Both passes build the same windows (checked element for element, else the script exits 1),
so the difference is the resampler's alone. Seconds per pass over every clip of the corpus
once, medians of ``--repeats`` alternating passes:

    PYTHONPATH=. python benchmarks/augment_windows_speed.py --corpus emodb --repeats 4

Needs the ``[train]`` extra and the corpora.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import converters.train as train
from converters.train import TrainConfig, load_clipset, session_stats, window_inputs
from edgeser import audio
from edgeser import datasets as ds
from edgeser.frontend import Frontend
from edgeser.machine import describe

RECIPE = Path(__file__).parent / "candidates" / "v11" / "v11.train.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="emodb", choices=["emodb", "ravdess"])
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--data", default=None, help="corpora folder (EDGESER_DATA, ../shared/data)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    root = ds.data_root(args.data)
    if root is None or not (root / args.corpus).is_dir():
        p.error(f"no {args.corpus} corpus under {root}: pass --data or set EDGESER_DATA")
    cfg = TrainConfig.from_dict(json.loads(RECIPE.read_text())["train_config"])
    fe = Frontend(cfg.frontend_config())
    clips = ds.read_corpus(root / args.corpus)
    data = load_clipset(clips, sorted({c.label for c in clips}))
    stats = session_stats(fe, data)
    data.frames_of(fe)  # the clean frames are cached before timing
    resamplers = {"c": train.augment_resample, "numpy": audio.resample}
    seconds: dict[str, list[float]] = {name: [] for name in resamplers}
    batches: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for name, fn in resamplers.items():
            train.augment_resample = fn
            start = time.perf_counter()
            x = window_inputs(fe, data, cfg, rng=np.random.default_rng(7), stats=stats)
            seconds[name].append(time.perf_counter() - start)
            batches[name] = x
    train.augment_resample = resamplers["c"]
    report = {
        "corpus": args.corpus,
        "windows_per_pass": len(data.clips),
        "median_seconds": {k: round(float(np.median(v)), 3) for k, v in seconds.items()},
        "seconds": seconds,
        "same_windows": bool(np.array_equal(batches["c"], batches["numpy"])),
        "machine": describe(),
    }
    med = report["median_seconds"]
    print(
        f"{args.corpus}: {len(data.clips)} augmented windows per pass, C {med['c']:.2f} s, "
        f"NumPy {med['numpy']:.2f} s ({med['numpy'] / med['c']:.2f}x); "
        f"same windows: {report['same_windows']}"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    if not report["same_windows"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
