"""Speaker-independent evaluation: train per fold, score float and int8 side by side.

Protocols:

``emodb-loso``
    EMO-DB leave-one-speaker-out, 7 classes (8 folds).
``ravdess-5fold``
    RAVDESS actor-independent 5 folds (:func:`edgeser.datasets.speaker_folds`), 8 classes.

In every fold, validation speakers (one male and one female where the corpus says who is who,
rotating with the fold) are taken from the training speakers; they choose the epoch. The test
speakers are scored once, by the float Keras model and by its int8 conversion run through the
device path (:class:`edgeser.model.EmotionModel`). Extra training corpora (``extra_clips``)
are added to every fold's training set only.

The report (:func:`evaluate`) holds UAR, WA, per-class recall and confusion matrix for float
and int8, their top-1 agreement, per-fold figures, model size and MACs, the frontend and
training configs, and the data used.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from converters.train import (
    ClipSet,
    TrainConfig,
    fit,
    keras_predict,
    load_clipset,
    predict_clips,
    sliding_windows,
    speaker_means,
    window_inputs,
)
from edgeser.datasets import (
    Clip,
    accuracy,
    confusion_matrix,
    leave_one_speaker_out,
    per_class_recall,
    speaker_folds,
    uar,
)
from edgeser.frontend import Frontend

PROTOCOLS = ("emodb-loso", "ravdess-5fold")


def folds_for(protocol: str, clips: Sequence[Clip]) -> list[tuple[str, list[int], list[int]]]:
    if protocol == "emodb-loso":
        return leave_one_speaker_out(clips)
    if protocol == "ravdess-5fold":
        return speaker_folds(clips, n_folds=5)
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")


def validation_speakers(train: Sequence[Clip], fold_index: int, count: int = 2) -> set[str]:
    """``count`` training speakers for epoch selection, alternating gender where known."""
    speakers = sorted({c.speaker for c in train})
    gender = {c.speaker: c.extra.get("gender", "") for c in train}
    groups: dict[str, list[str]] = {}
    for s in speakers:
        groups.setdefault(gender[s], []).append(s)
    chosen: list[str] = []
    keys = sorted(groups)
    k = 0
    while len(chosen) < min(count, len(speakers) - 1):
        group = groups[keys[k % len(keys)]]
        candidate = group[(fold_index + k // len(keys)) % len(group)]
        if candidate not in chosen:
            chosen.append(candidate)
        k += 1
        if k > 4 * len(speakers):
            break
    return set(chosen)


def _scores(
    y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str], classes: Sequence[int]
):
    recall = per_class_recall(y_true, y_pred, list(classes))
    return {
        "uar": uar(y_true, y_pred, labels=list(classes)),
        "wa": accuracy(y_true, y_pred),
        "per_class_recall": {labels[k]: v for k, v in recall.items()},
        "confusion": confusion_matrix(y_true, y_pred, list(classes)).tolist(),
    }


def evaluate(
    clips: Sequence[Clip],
    protocol: str,
    cfg: TrainConfig,
    labels: Sequence[str],
    *,
    extra_clips: Sequence[Clip] = (),
    folds: Sequence[str] | None = None,
    int8: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run ``protocol`` on ``clips`` and return the report (see the module docstring)."""
    from converters.export import export_model
    from converters.models import count_macs
    from edgeser.model import EmotionModel

    start = time.time()
    data = load_clipset(list(clips) + list(extra_clips), labels)
    n_main = len(clips)
    frontend = Frontend()
    classes = sorted({labels.index(c.label) for c in clips})
    y_true: list[int] = []
    y_float: list[int] = []
    y_int8: list[int] = []
    per_fold: list[dict[str, Any]] = []
    size = macs = 0
    for fold_index, (name, train_idx, test_idx) in enumerate(folds_for(protocol, clips)):
        if folds and name not in folds:
            continue
        train_clips = [clips[i] for i in train_idx]
        val = validation_speakers(train_clips, fold_index)
        tr = [i for i in train_idx if clips[i].speaker not in val]
        tr += list(range(n_main, len(data.clips)))
        va = [i for i in train_idx if clips[i].speaker in val]
        train_set, val_set, test_set = data.subset(tr), data.subset(va), data.subset(test_idx)
        result = fit(train_set, val_set, cfg)
        means = speaker_means(frontend, test_set) if cfg.normalisation.mode == "session" else None
        probs = predict_clips(
            lambda b, m=result.model: keras_predict(m, b),
            frontend,
            test_set,
            cfg,
            means,
        )
        fold = {
            "fold": name,
            "validation_speakers": sorted(val),
            "best_epoch": result.best_epoch,
            "val_uar": result.best_val_uar,
            "train_seconds": round(result.seconds, 1),
            "float_uar": uar(test_set.labels, probs.argmax(1), labels=classes),
        }
        y_true += test_set.labels.tolist()
        y_float += probs.argmax(1).tolist()
        macs = count_macs(result.model)
        if int8:
            with tempfile.TemporaryDirectory() as tmp:
                train_means = (
                    speaker_means(frontend, train_set)
                    if cfg.normalisation.mode == "session"
                    else None
                )
                rep = window_inputs(frontend, train_set, cfg, rng=None, means=train_means)
                path = Path(tmp) / f"fold_{name}.tflite"
                export_model(
                    result.model,
                    path,
                    name=f"fold-{name}",
                    labels=list(labels),
                    frontend=frontend.config,
                    normalisation=cfg.normalisation,
                    window_frames=cfg.window_frames,
                    representative=rep,
                    float_twin=False,
                )
                size = path.stat().st_size
                model = EmotionModel(path)
                p8 = _int8_probs(model, frontend, test_set, cfg, means)
            y_int8 += p8.argmax(1).tolist()
            fold["int8_uar"] = uar(test_set.labels, p8.argmax(1), labels=classes)
        per_fold.append(fold)
        log(json.dumps(fold))
    report: dict[str, Any] = {
        "protocol": protocol,
        "labels": list(labels),
        "classes_scored": [labels[k] for k in classes],
        "float": _scores(y_true, y_float, labels, classes),
        "folds": per_fold,
        "model": {"architecture": cfg.architecture, "int8_bytes": size, "macs_per_window": macs},
        "train_config": cfg.to_dict(),
        "frontend_config": frontend.config.to_dict(),
        "data": {
            "clips": len(clips),
            "speakers": len({c.speaker for c in clips}),
            "extra_training_clips": len(extra_clips),
            "corpora": sorted({c.corpus for c in list(clips) + list(extra_clips)}),
        },
        "machine": {"python": platform.python_version(), "processor": platform.processor()},
        "seconds": round(time.time() - start, 1),
        "predictions": {"y_true": y_true, "float": y_float, "int8": y_int8},
    }
    if int8:
        report["int8"] = _scores(y_true, y_int8, labels, classes)
        report["top1_agreement"] = float(np.mean(np.array(y_float) == np.array(y_int8)))
        report["uar_drop_points"] = 100 * (report["float"]["uar"] - report["int8"]["uar"])
    return report


def _int8_probs(model, frontend: Frontend, data: ClipSet, cfg: TrainConfig, means) -> np.ndarray:
    """Utterance probabilities from the device path: frames -> integer normalisation -> int8."""
    out = []
    for clip, pcm in zip(data.clips, data.pcm, strict=True):
        windows = sliding_windows(frontend.compute(pcm), cfg.window_frames, 50)
        mean = means.get(clip.speaker) if means is not None else None
        out.append(model.predict(windows, mean).mean(axis=0))
    return np.stack(out)


def confusion_png(report: dict[str, Any], path: str | Path, which: str = "int8") -> None:
    """Write the confusion matrix of ``report[which]`` as a PNG (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = which if which in report else "float"
    cm = np.array(report[key]["confusion"], dtype=float)
    names = report["classes_scored"]
    rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(names), 0.8 + 0.7 * len(names)), dpi=120)
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}",
                ha="center",
                va="center",
                color="white" if rows[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{report['protocol']} ({key}): UAR {100 * report[key]['uar']:.1f}%", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
