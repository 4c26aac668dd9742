"""Shared set-up of the int8 conversion probes (``int8_lstm_rewrite.py``,
``int8_lstm_error_sources.py``, ``int16_speed.py``): a trained network's recipe and labels, the
clips of both corpora, and the label-free probe windows on which a conversion is compared with
its float network."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from converters.train import ClipSet, TrainConfig, load_clipset, session_stats, window_inputs
from edgeser import datasets as ds
from edgeser.frontend import Frontend


def corpus_root(parser: argparse.ArgumentParser, data: str | None) -> Path:
    """The corpora folder (``--data``, ``EDGESER_DATA`` or ``../shared/data``), or a usage
    error through ``parser``."""
    root = ds.data_root(data)
    if root is None:
        parser.error("no corpus (set --data or EDGESER_DATA)")
    return root


def network_recipe(model_path: Path) -> tuple[TrainConfig, list[str]]:
    """The training config and labels in ``NAME.train.json`` beside ``NAME.keras``."""
    record = json.loads(Path(model_path).with_suffix(".train.json").read_text())
    return TrainConfig.from_dict(record["train_config"]), list(record["labels"])


def both_corpora(root: Path) -> list[ds.Clip]:
    """Every EMO-DB clip, then every RAVDESS clip."""
    return ds.read_emodb(root / "emodb") + ds.read_ravdess(root / "ravdess")


def calibration_split(
    root: Path, labels: list[str], calib: int, seed: int
) -> tuple[ClipSet, ClipSet]:
    """``calib`` random clips of both corpora (for the converter) and the others (to probe)."""
    clips = both_corpora(root)
    order = np.random.default_rng(seed).permutation(len(clips))
    return (
        load_clipset([clips[i] for i in sorted(order[:calib])], labels),
        load_clipset([clips[i] for i in sorted(order[calib:])], labels),
    )


def probe_windows(frontend: Frontend, probe: ClipSet, cfg: TrainConfig) -> np.ndarray:
    """Each probe clip's first window plus one augmented pass of them (speaker session
    statistics), as float model inputs ``(2 n, frames, bands, 1)``."""
    stats = session_stats(frontend, probe)
    return np.concatenate(
        [
            window_inputs(frontend, probe, cfg, rng=None, stats=stats),
            window_inputs(frontend, probe, cfg, rng=np.random.default_rng(5), stats=stats),
        ]
    )
