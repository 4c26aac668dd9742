"""Speaker-independent evaluation: train per fold, score float and int8 side by side.

Protocols:

``emodb-loso``
    EMO-DB leave-one-speaker-out, 7 classes (8 folds).
``ravdess-5fold``
    RAVDESS actor-independent 5 folds (:func:`edgeser.datasets.speaker_folds`), 8 classes.

The epoch (``TrainConfig.epoch_selection``): ``"fixed"`` trains each fold on all its training
speakers for the whole cosine schedule and keeps the last epoch, so nothing is chosen on any
speaker; ``"validation"`` takes validation speakers (one male and one female where the corpus
says who is who, rotating with the fold) from the training speakers and keeps their best epoch.
On EMO-DB leave-one-speaker-out, "fixed" scored 61.7 % int8 UAR against 53.3 % for
"validation" (window normalisation): two more training speakers matter more than the epoch
choice. With ``TrainConfig.teacher_weight`` > 0 each fold's teacher targets are fitted on its
training clips only. The test speakers are scored once, by the float Keras model and by its
int8 conversion run through the device runtime (:func:`edgeser.scoring.score_recordings` with the
:class:`edgeser.model.EmotionModel`): the same windows, voice gate and session means as the
device. Extra training corpora (``extra_clips``) are added to every fold's training set only
(and their speakers are never validation speakers); the model then has the union of the
labels, and a prediction of a label the scored corpus lacks counts as an error.

Two sessions (how the ``"session"`` normalisation's mean is taken, see
:mod:`edgeser.scoring`): ``"speaker"`` (the mean of all the test speaker's voiced frames: the
device after listening to the person for a while, the peer's per-speaker standardisation) and
``"file"`` (each utterance alone: the device meeting it cold). ``float``/``int8`` are the
speaker session; ``float_file``/``int8_file`` the file session. Window or fixed normalisation
needs no session: both give the same figures.

The report (:func:`evaluate`) holds UAR, WA, per-class recall and confusion matrix for each,
float/int8 top-1 agreement, per-fold figures, model size and MACs, the frontend and training
configs, and the data used.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from converters.train import (
    ClipSet,
    FitResult,
    TrainConfig,
    combine_fits,
    fit,
    keras_predict,
    load_clipset,
    predict_clips,
    representative_windows,
    session_stats,
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
from edgeser.scoring import SESSIONS

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


def validation_speakers_per_corpus(
    train: Sequence[Clip], fold_index: int, count: int = 2
) -> set[str]:
    """:func:`validation_speakers` within each corpus of ``train`` (so every corpus of a
    multi-corpus model has its validation speakers)."""
    chosen: set[str] = set()
    for corpus in sorted({c.corpus for c in train}):
        chosen |= validation_speakers([c for c in train if c.corpus == corpus], fold_index, count)
    return chosen


def clip_scores(
    y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str], classes: Sequence[int]
) -> dict[str, Any]:
    """UAR and WA over the scored ``classes`` (label indices), per-class recall by label name,
    and the confusion matrix (rows: true class, columns: predicted, in ``classes`` order)."""
    recall = per_class_recall(y_true, y_pred, list(classes))
    return {
        "uar": uar(y_true, y_pred, labels=list(classes)),
        "wa": accuracy(y_true, y_pred),
        "per_class_recall": {labels[k]: v for k, v in recall.items()},
        "confusion": confusion_matrix(y_true, y_pred, list(classes)).tolist(),
    }


# TrainConfig fields added after fold-model keys were first made: left out of a key at their
# default value, so that the models cached before they existed are found again.
_KEY_DEFAULTS = {
    "distill_weight": 0.0,
    "distill_members": 2,
    "periodicity_bands": 0,
    "quant_noise": 0.0,
    "corpus_epoch": "smallest",
    "cell_clip": 0.0,
}


def fold_model_key(
    cfg: TrainConfig, protocol: str, fold: str, labels: Sequence[str], train: Sequence[Clip]
) -> str:
    """Hash naming a fold's trained network in a model cache (:func:`evaluate`'s
    ``model_cache``): the recipe, protocol, fold, labels and training clips. ``cfg`` is one
    network's recipe (``members`` 1; an ensemble's members are cached one by one, see
    :meth:`TrainConfig.member_configs`), so keys made before ensembles existed still hold."""
    import hashlib

    config = cfg.to_dict()
    if config.pop("members", 1) != 1:
        raise ValueError("a fold model key names one network: pass a member's recipe")
    for name, default in _KEY_DEFAULTS.items():  # fields added since keys were first made
        if config.get(name) == default:
            del config[name]
    what = {
        "train_config": config,
        "protocol": protocol,
        "fold": fold,
        "labels": list(labels),
        "train": sorted(str(c.path) for c in train),
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:20]


def load_cached_fit(cache: Path | None, key: str) -> FitResult | None:
    """The fold model stored under ``key`` (and its fit figures), or None."""
    if cache is None or not (Path(cache) / f"{key}.json").is_file():
        return None
    from converters.models import load_model as load_keras_model

    info = json.loads((Path(cache) / f"{key}.json").read_text())
    model = load_keras_model(Path(cache) / f"{key}.keras")
    return FitResult(model, info["best_epoch"], info["best_val_uar"], [], info["seconds"])


def store_fit(cache: Path | None, key: str, result: FitResult) -> None:
    """Keep ``result``'s model and fit figures under ``key`` (nothing when ``cache`` is None).
    The key names the clips by path: a cache outlives no change to the audio files."""
    if cache is None:
        return
    Path(cache).mkdir(parents=True, exist_ok=True)
    result.model.save(Path(cache) / f"{key}.keras")
    info = {
        "best_epoch": result.best_epoch,
        "best_val_uar": result.best_val_uar,
        "seconds": result.seconds,
    }
    (Path(cache) / f"{key}.json").write_text(json.dumps(info) + "\n")


def fold_networks(
    recipe: TrainConfig,
    *,
    cache: Path | None,
    key_of: Callable[[TrainConfig], str],
    train_set: ClipSet,
    val_set: ClipSet | None,
    fixed_epochs: int | None,
    teacher: np.ndarray | None,
    distill_teacher=None,
) -> FitResult:
    """A fold's model of ``recipe``: each member network (:meth:`TrainConfig.member_configs`)
    loaded from ``cache`` under ``key_of(member)`` or trained (:func:`fit`) and stored; then
    their one-graph ensemble (:func:`combine_fits`; one network as it is)."""
    members = []
    for member in recipe.member_configs():
        key = key_of(member)
        member_fit = load_cached_fit(cache, key)
        if member_fit is None:
            member_fit = fit(
                train_set,
                val_set,
                member,
                fixed_epochs=fixed_epochs,
                teacher=teacher,
                distill_teacher=distill_teacher,
            )
            store_fit(cache, key, member_fit)
        members.append(member_fit)
    return combine_fits(members)


def float_fold_probs(
    model, cfg: TrainConfig, frontend: Frontend, test_set: ClipSet
) -> dict[str, np.ndarray]:
    """A trained (Keras) fold model's class probabilities (clips, classes) on ``test_set``, per
    session kind (:data:`edgeser.scoring.SESSIONS`)."""
    session_norm = cfg.normalisation.mode == "session"
    return {
        session: predict_clips(
            lambda b: keras_predict(model, b),
            frontend,
            test_set,
            cfg,
            session_stats(frontend, test_set, session) if session_norm else None,
        )
        for session in SESSIONS
    }


def int8_fold_probs(
    model,
    cfg: TrainConfig,
    frontend: Frontend,
    train_set: ClipSet,
    test_set: ClipSet,
    labels: Sequence[str],
    name: str,
    calibration: str = "first",
    gate_ranges: str = "saturated",
) -> tuple[dict[str, np.ndarray], int]:
    """The fold model converted to int8 (representative windows of kind ``calibration`` from
    ``train_set``, as the device normalises them: :func:`converters.train.
    representative_windows`; LSTM gate ranges ``gate_ranges``: :func:`converters.quantize.
    convert_int8`) and scored on ``test_set`` through the device runtime
    (:func:`edgeser.scoring.score_recordings`), per session kind; and the int8 file's size."""
    from converters.export import export_model
    from edgeser.model import EmotionModel
    from edgeser.scoring import score_recordings

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.tflite"
        export_model(
            model,
            path,
            name=name,
            labels=list(labels),
            frontend=frontend.config,
            normalisation=cfg.normalisation,
            window_frames=cfg.window_frames,
            representative=representative_windows(frontend, train_set, cfg, calibration),
            float_twin=False,
            max_samples=None,
            gate_ranges=gate_ranges,
        )
        int8_model = EmotionModel(path)
        probs = {
            session: score_recordings(int8_model, test_set.pcm, test_set.speakers, session)
            for session in SESSIONS
        }
        return probs, path.stat().st_size


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
    teacher_features: np.ndarray | None = None,
    model_cache: Path | None = None,
    calibration: str = "first",
    gate_ranges: str = "saturated",
) -> dict[str, Any]:
    """Run ``protocol`` on ``clips`` and return the report (see the module docstring).

    ``model_cache``: a folder keeping each fold's trained model (``<key>.keras`` and
    ``<key>.json``, the key a hash of the recipe, protocol, fold, labels and training clips), so
    that scoring a fold again (say, with ``int8`` after a float-only run) does not retrain it.
    ``calibration``: how each fold's int8 representative set is drawn from its training clips
    (:data:`converters.train.CALIBRATIONS`). ``gate_ranges``: how its LSTM gate
    pre-activations are quantised (:func:`converters.quantize.convert_int8`; ``"calibrated"``
    reproduces the reports written before 2026-12-07).

    ``cfg.epoch_selection`` "fixed" trains each fold on all its training speakers (no
    validation speakers). ``teacher_features``: one row per clip of ``clips`` then
    ``extra_clips`` (e.g. openSMILE functionals), needed when ``cfg.teacher_weight`` > 0; each
    fold's targets are fitted on its training rows only (:func:`converters.teacher.
    fold_teacher_targets`)."""
    from converters.models import count_macs
    from converters.teacher import fold_teacher_targets

    start = time.time()
    data = load_clipset(list(clips) + list(extra_clips), labels)
    n_main = len(clips)
    frontend = Frontend(cfg.frontend_config())
    classes = sorted({labels.index(c.label) for c in clips})
    y_true: list[int] = []
    preds: dict[str, list[int]] = {f"{k}_{s}": [] for k in ("float", "int8") for s in SESSIONS}
    per_fold: list[dict[str, Any]] = []
    size = macs = 0
    for fold_index, (name, train_idx, test_idx) in enumerate(folds_for(protocol, clips)):
        if folds and name not in folds:
            continue
        train_clips = [clips[i] for i in train_idx]
        fixed = cfg.epoch_selection == "fixed"
        val = set() if fixed else validation_speakers(train_clips, fold_index)
        tr = [i for i in train_idx if clips[i].speaker not in val]
        tr += list(range(n_main, len(data.clips)))
        va = [i for i in train_idx if clips[i].speaker in val]
        train_set, val_set, test_set = data.subset(tr), data.subset(va), data.subset(test_idx)
        teacher = None
        if cfg.teacher_weight > 0:
            if teacher_features is None:
                raise ValueError("teacher_weight > 0 needs teacher_features")
            teacher = fold_teacher_targets(
                cfg.teacher_kind,
                teacher_features[tr],
                cfg.teacher_dims,
                data.labels[tr],
                [data.clips[i].speaker for i in tr],
            )
        used = [data.clips[i] for i in tr]
        common: dict[str, Any] = {
            "cache": model_cache,
            "key_of": partial(
                fold_model_key, protocol=protocol, fold=name, labels=labels, train=used
            ),
            "train_set": train_set,
            "val_set": None if fixed else val_set,
            "fixed_epochs": cfg.epochs if fixed else None,
            "teacher": teacher,
        }
        distill_teacher = None
        if cfg.distill_weight > 0:  # the teacher's networks are cached like any others
            distill_teacher = fold_networks(cfg.distill_teacher_config(), **common).model
        result = fold_networks(cfg, distill_teacher=distill_teacher, **common)
        fold: dict[str, Any] = {
            "fold": name,
            "validation_speakers": sorted(val),
            "best_epoch": result.best_epoch,
            "val_uar": result.best_val_uar,
            "train_seconds": round(result.seconds, 1),
        }
        y_true += test_set.labels.tolist()
        scored = {"float": float_fold_probs(result.model, cfg, frontend, test_set)}
        macs = count_macs(result.model)
        if int8:
            scored["int8"], size = int8_fold_probs(
                result.model,
                cfg,
                frontend,
                train_set,
                test_set,
                labels,
                f"fold-{name}",
                calibration,
                gate_ranges,
            )
        for kind, by_session in scored.items():
            for session, probs in by_session.items():
                preds[f"{kind}_{session}"] += probs.argmax(1).tolist()
                fold[f"{kind}_{session}_uar"] = uar(
                    test_set.labels, probs.argmax(1), labels=classes
                )
        per_fold.append(fold)
        log(json.dumps(fold))
    report: dict[str, Any] = {
        "protocol": protocol,
        "labels": list(labels),
        "classes_scored": [labels[k] for k in classes],
        "float": clip_scores(y_true, preds["float_speaker"], labels, classes),
        "float_file": clip_scores(y_true, preds["float_file"], labels, classes),
        "sessions": {
            "float, int8": "speaker: mean of the test speaker's voiced frames",
            "float_file, int8_file": "file: each recording's own voiced frames",
        },
        "folds": per_fold,
        "model": {
            "architecture": cfg.architecture,
            "int8_bytes": size,
            "macs_per_window": macs,
            "train_seconds_per_fold": round(
                float(np.mean([f["train_seconds"] for f in per_fold])), 1
            ),
        },
        "train_config": cfg.to_dict(),
        "calibration": calibration if int8 else None,
        "gate_ranges": gate_ranges if int8 else None,
        "frontend_config": frontend.config.to_dict(),
        "data": {
            "clips": len(clips),
            "speakers": len({c.speaker for c in clips}),
            "extra_training_clips": len(extra_clips),
            "corpora": sorted({c.corpus for c in list(clips) + list(extra_clips)}),
        },
        "machine": {"python": platform.python_version(), "processor": platform.processor()},
        "seconds": round(time.time() - start, 1),
        "predictions": {"y_true": y_true, **preds},
    }
    if int8:
        report["int8"] = clip_scores(y_true, preds["int8_speaker"], labels, classes)
        report["int8_file"] = clip_scores(y_true, preds["int8_file"], labels, classes)
        for session, suffix in (("speaker", ""), ("file", "_file")):
            f, i = np.array(preds[f"float_{session}"]), np.array(preds[f"int8_{session}"])
            report[f"top1_agreement{suffix}"] = float(np.mean(f == i))
            report[f"uar_drop_points{suffix}"] = 100 * (
                report[f"float{suffix}"]["uar"] - report[f"int8{suffix}"]["uar"]
            )
    return report


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
