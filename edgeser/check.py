"""Accuracy-regression gate for a quantised emotion model: the logic of ``edgeser check``.

A check scores a model (normally the int8 ``.tflite``) on labelled recordings with the device
runtime -- the fixed-point frontend, the model's normalisation and the LiteRT interpreter
(:func:`edgeser.scoring.score_recordings` with :class:`edgeser.model.EmotionModel`; never
TensorFlow) -- and compares it with every reference it is given:

* a **reference model** scored on the same data now (normally the float32 twin that
  ``edgeser quantize`` writes beside the int8 model);
* a **baseline**: a result recorded earlier with :func:`make_baseline` (``--write-baseline``);
* **absolute floors** (``--min-uar``).

Metrics: UAR (mean of the per-class recalls over the classes present in the data), WA
(accuracy), each class's recall, and top-1 agreement with the reference model (and, for
information, with the baseline's predictions).

Criteria (each passes or fails; see :class:`Thresholds`):

``min-uar``                       UAR >= the floor
``reference.frontend``            the reference's own metadata has the model's frontend,
                                  normalisation and window (only when it has its own ``.json``)
``reference.uar-drop``/``wa-drop`` reference minus model <= ``max_drop`` points
``reference.recall-drop.CLASS``   per class, <= ``per_class_drop`` points
``reference.agreement``           top-1 agreement >= ``min_agreement`` percent
``baseline.frontend``             the baseline was recorded with the model's frontend,
                                  normalisation and window; when not, nothing else is compared
                                  with the baseline and this criterion fails
``baseline.uar-drop``/``wa-drop``/``recall-drop.CLASS``   as for the reference

Input errors (:class:`CheckError`; the command exits 2): data that holds no labelled audio,
labels the model does not know (unless ``exclude_unknown_labels``: those recordings are then
counted and listed in every report, never silently dropped), no readable audio (or any
unreadable file under ``strict``), a baseline file that is not one, a baseline recorded on
different data (its fingerprint) or with another session mode.

The float twin has no metadata of its own (``edgeser quantize`` writes ``NAME.json`` for the
int8 ``NAME.tflite`` only): a reference without a ``.json`` beside it borrows the checked
model's metadata (labels, frontend, normalisation, window) with its own tensors' dtype and
quantisation, and the interpreter's tensor shapes are checked against it.

Data fingerprint: sha256 over the sorted lines ``<sha256 of the file's bytes> <label>
<speaker>``, one per listed recording (readable or not). Moving or renaming files keeps it;
changing any byte, label or speaker, adding or removing a recording changes it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np

from edgeser.datasets import (
    CANONICAL_LABELS,
    Clip,
    accuracy,
    confusion_matrix,
    per_class_recall,
    read_corpus,
    read_manifest,
    uar,
)
from edgeser.errors import AudioError, EdgeserError
from edgeser.model import EmotionModel, ModelMeta, meta_path
from edgeser.scoring import SESSIONS, score_recordings

REPORT_FORMAT = "edgeser-check/1"
BASELINE_FORMAT = "edgeser-check-baseline/1"
FINGERPRINT_RULE = "sha256 over sorted lines '<sha256 of file bytes> <label> <speaker>'"
_EPS = 1e-9  # points; absorbs float noise in threshold comparisons


class CheckError(EdgeserError, ValueError):
    """A usage or input error of a check: the command exits with status 2."""


@dataclass(frozen=True)
class Thresholds:
    """Pass limits. Points and percents are on the 0-100 scale; None switches a criterion off.

    max_drop: largest allowed UAR and WA drop (reference or baseline minus model), points.
    per_class_drop: largest allowed drop of any class's recall, points.
    min_agreement: smallest top-1 agreement with the reference model, percent.
    min_uar: UAR floor, percent.
    """

    max_drop: float | None = 2.0
    per_class_drop: float | None = 10.0
    min_agreement: float | None = 95.0
    min_uar: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {
            "max_drop_points": self.max_drop,
            "per_class_drop_points": self.per_class_drop,
            "min_agreement_percent": self.min_agreement,
            "min_uar_percent": self.min_uar,
        }


# ---------------------------------------------------------------------------------------------
# Models


@dataclass
class LoadedModel:
    """A model ready to score, with what the reports say about it."""

    model: EmotionModel
    path: str
    sha256: str
    bytes: int
    metadata: str  # where the metadata came from
    own_metadata: bool

    @property
    def meta(self) -> ModelMeta:
        return self.model.meta

    def describe(self) -> dict[str, Any]:
        meta = self.meta
        return {
            "path": self.path,
            "name": meta.name,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "input_dtype": meta.input.dtype,
            "labels": list(meta.labels),
            "metadata": self.metadata,
            "frontend": meta.frontend.to_dict(),
            "normalisation": meta.normalisation.to_dict(),
            "window_frames": meta.window_frames,
            "backend": self.model.backend.describe(),
        }


def load_model(
    path: str | os.PathLike[str], metadata_from: LoadedModel | None = None
) -> LoadedModel:
    """Load a model for scoring. Without a ``.json`` beside ``path`` (the float32 twin),
    ``metadata_from``'s metadata is used with ``path``'s own tensor dtypes and quantisation."""
    where = Path(path)
    if not where.is_file():
        raise CheckError(f"{where}: no such model file")
    data = where.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if meta_path(where).is_file() or metadata_from is None:
        return LoadedModel(
            EmotionModel(where), str(path), digest, len(data), meta_path(where).name, True
        )
    source = Path(metadata_from.path)
    try:
        model = EmotionModel(where, metadata_from=source)
    except EdgeserError as exc:
        raise CheckError(
            f"{where}: has no {meta_path(where).name} and does not fit the metadata of "
            f"{source.name} ({str(exc).split(': ', 1)[-1]})"
        ) from None
    return LoadedModel(
        model, str(path), digest, len(data), f"{meta_path(source).name} (borrowed)", False
    )


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class Recording:
    clip: Clip
    key: str  # path relative to the data folder, POSIX separators
    sha256: str
    error: str | None = None


@dataclass
class Dataset:
    path: str
    layout: str
    recordings: list[Recording]  # every listed recording whose label is scored
    ignored: list[str]  # files the corpus reader skipped (names that do not parse)
    excluded: dict[str, int]  # recordings of labels the model lacks (exclude_unknown_labels)
    fingerprint: str

    @property
    def readable(self) -> list[Recording]:
        return [r for r in self.recordings if r.error is None]

    @property
    def unreadable(self) -> list[Recording]:
        return [r for r in self.recordings if r.error is not None]


def _find_clips(root: Path, ignored: list[Path]) -> tuple[list[Clip], str, Path]:
    """Clips, the layout's name and the folder relative paths are taken from."""
    if root.is_file():
        if root.suffix.lower() != ".csv":
            raise CheckError(f"{root}: not a corpus folder or a .csv manifest")
        return read_manifest(root), "manifest", root.parent
    if not root.is_dir():
        raise CheckError(f"{root}: no such data folder")
    csvs = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    if csvs:
        named = [p for p in csvs if p.name.lower() == "manifest.csv"]
        if not named and len(csvs) > 1:
            raise CheckError(
                f"{root}: {len(csvs)} CSV files ({', '.join(p.name for p in csvs[:4])}); "
                "name the manifest manifest.csv or pass the CSV itself"
            )
        return read_manifest((named or csvs)[0]), "manifest", root
    clips = read_corpus(root, skipped=ignored)
    layout = "+".join(sorted({c.corpus for c in clips}))
    return clips, layout, root


def _relative(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return path.as_posix()


def load_data(
    path: str | os.PathLike[str],
    labels: Sequence[str],
    *,
    exclude_unknown_labels: bool = False,
) -> Dataset:
    """List and fingerprint the labelled recordings in ``path`` (read nothing but bytes).

    Raises :class:`CheckError` for no labelled audio or labels outside ``labels``."""
    root = Path(path).expanduser()
    ignored: list[Path] = []
    try:
        clips, layout, base = _find_clips(root, ignored)
    except CheckError:
        raise
    except EdgeserError as exc:
        raise CheckError(str(exc).splitlines()[0]) from None
    known = set(labels)
    unknown: dict[str, int] = {}
    for clip in clips:
        if clip.label not in known:
            unknown[clip.label] = unknown.get(clip.label, 0) + 1
    if unknown and not exclude_unknown_labels:
        listed = ", ".join(f"{lab} ({_count(n)})" for lab, n in _canonical_items(unknown))
        raise CheckError(
            f"{root}: label(s) the model does not know: {listed}; the model's labels are "
            f"{', '.join(labels)} (pass --exclude-unknown-labels to score without them)"
        )
    recordings = []
    lines = []
    for clip in clips:
        try:
            digest = hashlib.sha256(clip.path.read_bytes()).hexdigest()
            error = None
        except OSError as exc:
            digest, error = "unreadable", f"cannot read file ({exc.strerror or exc})"
        lines.append(f"{digest} {clip.label} {clip.speaker}\n")
        if clip.label in known:
            recordings.append(Recording(clip, _relative(clip.path, base), digest, error))
    if not recordings:
        raise CheckError(f"{root}: no recordings of the model's labels ({', '.join(labels)})")
    fingerprint = hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()
    recordings.sort(key=lambda r: r.key)
    return Dataset(
        path=str(path),
        layout=layout,
        recordings=recordings,
        ignored=sorted(_relative(p, base) for p in ignored),
        excluded=dict(_canonical_items(unknown)),
        fingerprint=fingerprint,
    )


def _count(n: int) -> str:
    return f"{n} recording" if n == 1 else f"{n} recordings"


def _canonical_items(counts: dict[str, int]) -> list[tuple[str, int]]:
    order = {lab: i for i, lab in enumerate(CANONICAL_LABELS)}
    return sorted(counts.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))


def read_audio(data: Dataset, rate: int) -> dict[str, np.ndarray]:
    """int16 PCM at ``rate`` of every readable recording (by key); failures are recorded in
    the recording's ``error`` and skipped."""
    from edgeser.audio import load_pcm16

    pcm: dict[str, np.ndarray] = {}
    for rec in data.recordings:
        if rec.error is not None:
            continue
        try:
            pcm[rec.key] = load_pcm16(rec.clip.path, rate)
        except AudioError as exc:
            message = str(exc)
            prefix = f"{rec.clip.path}: "
            rec.error = message[len(prefix) :] if message.startswith(prefix) else message
    return pcm


# ---------------------------------------------------------------------------------------------
# Scoring


def metrics(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """UAR, WA, per-class recall (data classes) and the confusion matrix (rows: data classes,
    columns: the model's labels)."""
    recall = per_class_recall(y_true, y_pred, list(classes))
    cm = confusion_matrix(y_true, y_pred, list(labels))
    rows = [list(labels).index(c) for c in classes]
    return {
        "uar": _r(uar(y_true, y_pred, list(classes))),
        "wa": _r(accuracy(y_true, y_pred)),
        "per_class_recall": {c: _r(recall[c]) for c in classes},
        "confusion": {"rows": list(classes), "columns": list(labels), "counts": cm[rows].tolist()},
    }


def _r(x: float) -> float:
    return round(float(x), 6)


def predict(
    model: LoadedModel, data: Dataset, pcm: dict[str, np.ndarray], session: str
) -> list[str]:
    """Top-1 label of each readable recording (in ``data.readable`` order)."""
    recs = data.readable
    probs = score_recordings(
        model.model, [pcm[r.key] for r in recs], [r.clip.speaker for r in recs], session
    )
    return [model.meta.labels[i] for i in probs.argmax(axis=1)]


# ---------------------------------------------------------------------------------------------
# Baselines


def read_baseline(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A baseline written by :func:`make_baseline`; :class:`CheckError` for anything else."""
    where = Path(path)
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckError(f"{where}: no such baseline file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckError(f"{where}: cannot read the baseline ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckError(
            f"{where}: not a baseline (not JSON: {exc.msg} at line {exc.lineno})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckError(
            f"{where}: not an edgeser check baseline (format {found!r}, expected "
            f"{BASELINE_FORMAT!r}; write one with edgeser check --write-baseline)"
        )
    required = {
        "": ("frontend", "normalisation", "window_frames", "session", "model", "metrics", "data"),
        "metrics": ("uar", "wa", "per_class_recall"),
        "data": ("fingerprint", "recordings"),
    }
    for section, keys in required.items():
        holder = data[section] if section else data
        missing = [k for k in keys if not isinstance(holder, dict) or k not in holder]
        if missing:
            where_in = f"{section}." if section else ""
            raise CheckError(
                f"{where}: malformed baseline (no {', '.join(where_in + k for k in missing)})"
            )
    return data


def make_baseline(report: dict[str, Any]) -> dict[str, Any]:
    """The baseline record of a check report (the model's result on its data)."""
    model = report["model"]
    return {
        "format": BASELINE_FORMAT,
        "created": report["created"],
        "edgeser_version": report["edgeser_version"],
        "model": {
            k: model[k] for k in ("path", "name", "sha256", "bytes", "input_dtype", "labels")
        },
        "frontend": model["frontend"],
        "normalisation": model["normalisation"],
        "window_frames": model["window_frames"],
        "session": report["session"],
        "data": {
            k: report["data"][k]
            for k in (
                "path",
                "layout",
                "fingerprint",
                "fingerprint_rule",
                "recordings",
                "scored",
                "speakers",
                "classes",
            )
        },
        "metrics": report["results"]["model"],
        "predictions": [
            {
                "path": r["path"],
                "sha256": r["sha256"],
                "label": r["label"],
                "speaker": r["speaker"],
                "prediction": r["model"],
            }
            for r in report["recordings"]
            if r.get("model") is not None
        ],
    }


def _recorded(kind: type, data: dict[str, Any]) -> dict[str, Any]:
    """A baseline's frontend or normalisation as today's config reads it: fields added since
    it was recorded take their defaults. A record that no longer reads is compared as it is."""
    try:
        return kind.from_dict(data).to_dict()
    except EdgeserError:
        return dict(data)


def _baseline_differences(baseline: dict[str, Any], meta: ModelMeta) -> list[str]:
    out = []
    for key, mine in (
        ("frontend", meta.frontend.to_dict()),
        ("normalisation", meta.normalisation.to_dict()),
    ):
        theirs = _recorded(type(getattr(meta, key)), baseline[key])
        for name in sorted(set(theirs) | set(mine)):
            if theirs.get(name) != mine.get(name):
                out.append(
                    f"{key}.{name} {theirs.get(name)!r} (baseline) vs {mine.get(name)!r} (model)"
                )
    if int(baseline["window_frames"]) != meta.window_frames:
        out.append(
            f"window_frames {baseline['window_frames']} (baseline) vs {meta.window_frames} (model)"
        )
    return out


def _reference_differences(ref: ModelMeta, meta: ModelMeta) -> list[str]:
    out = []
    for key in ("frontend", "normalisation"):
        a, b = getattr(ref, key).to_dict(), getattr(meta, key).to_dict()
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                out.append(f"{key}.{name} {a.get(name)!r} (reference) vs {b.get(name)!r} (model)")
    if ref.window_frames != meta.window_frames:
        out.append(f"window_frames {ref.window_frames} (reference) vs {meta.window_frames} (model)")
    return out


# ---------------------------------------------------------------------------------------------
# Criteria


def _criterion(
    cid: str,
    text: str,
    passed: bool,
    value: float | None,
    limit: float | None,
    unit: str,
    detail: str,
) -> dict[str, Any]:
    return {
        "id": cid,
        "criterion": text,
        "passed": bool(passed),
        "value": None if value is None else _r(value),
        "limit": limit,
        "unit": unit,
        "detail": detail,
    }


def _drop_criteria(
    prefix: str, who: str, mine: dict[str, Any], theirs: dict[str, Any], th: Thresholds
) -> list[dict[str, Any]]:
    out = []
    if th.max_drop is not None:
        for key, name in (("uar", "UAR"), ("wa", "WA")):
            drop = 100 * (theirs[key] - mine[key])
            ok = drop <= th.max_drop + _EPS
            out.append(
                _criterion(
                    f"{prefix}.{key}-drop",
                    f"{name} drop vs {who} <= {th.max_drop:g} points",
                    ok,
                    drop,
                    th.max_drop,
                    "points",
                    f"{name} {100 * mine[key]:.1f}% (model) vs {100 * theirs[key]:.1f}% ({who}): "
                    f"{_signed(drop)} {'<=' if ok else '>'} max {th.max_drop:g}",
                )
            )
    if th.per_class_drop is not None:
        for label, recall in mine["per_class_recall"].items():
            if label not in theirs["per_class_recall"]:
                continue
            ref = theirs["per_class_recall"][label]
            drop = 100 * (ref - recall)
            ok = drop <= th.per_class_drop + _EPS
            out.append(
                _criterion(
                    f"{prefix}.recall-drop.{label}",
                    f"{label} recall drop vs {who} <= {th.per_class_drop:g} points",
                    ok,
                    drop,
                    th.per_class_drop,
                    "points",
                    f"{label} recall {100 * recall:.1f}% (model) vs {100 * ref:.1f}% ({who}): "
                    f"{_signed(drop)} {'<=' if ok else '>'} max {th.per_class_drop:g}",
                )
            )
    return out


def _signed(drop: float) -> str:
    if abs(drop) < 0.05:
        return "no drop"
    return f"drop {drop:.1f} points" if drop > 0 else f"gain {-drop:.1f} points"


# ---------------------------------------------------------------------------------------------
# The check


def run_check(
    model_path: str | os.PathLike[str],
    data_path: str | os.PathLike[str],
    *,
    reference_path: str | os.PathLike[str] | None = None,
    baseline_path: str | os.PathLike[str] | None = None,
    thresholds: Thresholds | None = None,
    session: str = "speaker",
    strict: bool = False,
    exclude_unknown_labels: bool = False,
    require_criteria: bool = True,
) -> dict[str, Any]:
    """Score and compare; return the report (see :func:`to_json`). Raises :class:`CheckError`
    (or another :class:`EdgeserError`) for usage and input errors."""
    from edgeser import __version__

    th = thresholds or Thresholds()
    if session not in SESSIONS:
        raise CheckError(f"session must be one of {', '.join(SESSIONS)}, not {session!r}")
    if require_criteria and reference_path is None and baseline_path is None and th.min_uar is None:
        raise CheckError(
            "nothing to check against: give --reference, --baseline or --min-uar "
            "(or --write-baseline to record a result)"
        )
    started = time.perf_counter()
    baseline = read_baseline(baseline_path) if baseline_path is not None else None
    model = load_model(model_path)
    reference = None
    if reference_path is not None:
        reference = load_model(reference_path, metadata_from=model)
        if set(reference.meta.labels) != set(model.meta.labels):
            raise CheckError(
                f"{reference_path}: the reference's labels "
                f"({', '.join(reference.meta.labels)}) are not the model's "
                f"({', '.join(model.meta.labels)}): not a reference for it"
            )
    data = load_data(data_path, model.meta.labels, exclude_unknown_labels=exclude_unknown_labels)
    if baseline is not None:
        _check_baseline_input(baseline, baseline_path, data, session)
    pcm = read_audio(data, model.meta.frontend.sample_rate)
    unreadable = data.unreadable
    if unreadable and strict:
        first = unreadable[0]
        more = f" and {len(unreadable) - 1} more" if len(unreadable) > 1 else ""
        raise CheckError(f"unreadable audio (--strict): {first.key}: {first.error}{more}")
    if not data.readable:
        raise CheckError(
            f"{data_path}: none of the {len(data.recordings)} recordings is readable audio "
            f"({unreadable[0].key}: {unreadable[0].error})"
        )
    recs = data.readable
    y_true = [r.clip.label for r in recs]
    classes = [lab for lab in model.meta.labels if lab in set(y_true)]
    y_model = predict(model, data, pcm, session)
    y_ref = None
    if reference is not None:
        ref_pcm = pcm
        if reference.meta.frontend.sample_rate != model.meta.frontend.sample_rate:
            ref_pcm = read_audio(data, reference.meta.frontend.sample_rate)
        y_ref = predict(reference, data, ref_pcm, session)
    seconds = time.perf_counter() - started

    results: dict[str, Any] = {"model": metrics(y_true, y_model, classes, model.meta.labels)}
    agreement: dict[str, Any] = {}
    criteria: list[dict[str, Any]] = []
    if th.min_uar is not None:
        value = 100 * results["model"]["uar"]
        ok = value >= th.min_uar - _EPS
        criteria.append(
            _criterion(
                "min-uar",
                f"UAR >= {th.min_uar:g}%",
                ok,
                value,
                th.min_uar,
                "percent",
                f"UAR {value:.1f}% {'>=' if ok else '<'} {th.min_uar:g}%",
            )
        )
    if reference is not None and y_ref is not None:
        results["reference"] = metrics(y_true, y_ref, classes, reference.meta.labels)
        same = [a == b for a, b in zip(y_model, y_ref, strict=True)]
        agree = 100 * float(np.mean(same))
        agreement["reference"] = {
            "percent": _r(agree),
            "differ": len(same) - sum(same),
            "of": len(same),
        }
        if reference.own_metadata:
            diffs = _reference_differences(reference.meta, model.meta)
            criteria.append(
                _criterion(
                    "reference.frontend",
                    "reference has the model's frontend config",
                    not diffs,
                    None,
                    None,
                    "",
                    "; ".join(diffs) if diffs else "frontend, normalisation and window identical",
                )
            )
        criteria += _drop_criteria(
            "reference", "reference", results["model"], results["reference"], th
        )
        if th.min_agreement is not None:
            ok = agree >= th.min_agreement - _EPS
            criteria.append(
                _criterion(
                    "reference.agreement",
                    f"top-1 agreement with reference >= {th.min_agreement:g}%",
                    ok,
                    agree,
                    th.min_agreement,
                    "percent",
                    f"{agree:.1f}% {'>=' if ok else '<'} {th.min_agreement:g}% "
                    f"({len(same) - sum(same)} of {len(same)} recordings differ)",
                )
            )
    if baseline is not None:
        results["baseline"] = baseline["metrics"]
        diffs = _baseline_differences(baseline, model.meta)
        criteria.append(
            _criterion(
                "baseline.frontend",
                "baseline was recorded with the model's frontend config",
                not diffs,
                None,
                None,
                "",
                (
                    "not comparable, nothing else compared with the baseline: "
                    + "; ".join(diffs)
                    + "; re-record the baseline with --write-baseline if the change is intended"
                )
                if diffs
                else "frontend, normalisation and window identical",
            )
        )
        if not diffs:
            criteria += _drop_criteria(
                "baseline", "baseline", results["model"], baseline["metrics"], th
            )
        agreement["baseline"] = _baseline_agreement(baseline, recs, y_model)

    failed = [c for c in criteria if not c["passed"]]
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "created": _timestamp(),
        "edgeser_version": __version__,
        "passed": not failed,
        "exit_status": 1 if failed else 0,
        "summary": f"{len(failed)} of {len(criteria)} criteria failed"
        if failed
        else f"all {len(criteria)} criteria passed",
        "criteria": failed + [c for c in criteria if c["passed"]],
        "thresholds": th.to_dict(),
        "session": session,
        "model": model.describe(),
        "reference": reference.describe() if reference is not None else None,
        "baseline": _describe_baseline(baseline, baseline_path) if baseline is not None else None,
        "data": {
            "path": data.path,
            "layout": data.layout,
            "fingerprint": data.fingerprint,
            "fingerprint_rule": FINGERPRINT_RULE,
            "recordings": len(data.recordings),
            "scored": len(recs),
            "speakers": len({r.clip.speaker for r in recs}),
            "classes": {c: sum(1 for y in y_true if y == c) for c in classes},
            "unreadable": [{"path": r.key, "error": r.error} for r in unreadable],
            "ignored_files": data.ignored,
            "excluded_labels": data.excluded,
        },
        "results": results,
        "agreement": agreement,
        "recordings": _recording_rows(data, y_model, y_ref),
    }
    report["_seconds"] = seconds  # terminal only; dropped by to_json
    return report


def _check_baseline_input(
    baseline: dict[str, Any], where: Any, data: Dataset, session: str
) -> None:
    theirs = baseline["data"]
    if theirs["fingerprint"] != data.fingerprint:
        theirs_fp, mine_fp = str(theirs["fingerprint"])[:12], data.fingerprint[:12]
        raise CheckError(
            f"{where}: the baseline was recorded on other data ({theirs.get('recordings')} "
            f"recordings in {theirs.get('path')}, fingerprint {theirs_fp}) than {data.path} "
            f"({len(data.recordings)} recordings, fingerprint {mine_fp}): not comparable; "
            "check on the baseline's data or re-record it with --write-baseline"
        )
    if baseline["session"] != session:
        raise CheckError(
            f"{where}: the baseline was recorded with --session {baseline['session']}, "
            f"this check uses --session {session}"
        )


def _baseline_agreement(
    baseline: dict[str, Any], recs: list[Recording], y_model: list[str]
) -> dict[str, Any]:
    theirs = {
        (p["sha256"], p["label"], p["speaker"]): p["prediction"]
        for p in baseline.get("predictions", [])
    }
    pairs = [
        (theirs[(r.sha256, r.clip.label, r.clip.speaker)], y)
        for r, y in zip(recs, y_model, strict=True)
        if (r.sha256, r.clip.label, r.clip.speaker) in theirs
    ]
    if not pairs:
        return {"percent": None, "differ": 0, "of": 0}
    differ = sum(1 for a, b in pairs if a != b)
    return {
        "percent": _r(100 * (len(pairs) - differ) / len(pairs)),
        "differ": differ,
        "of": len(pairs),
    }


def _describe_baseline(baseline: dict[str, Any], path: Any) -> dict[str, Any]:
    return {
        "path": str(path),
        "created": baseline.get("created"),
        "model_name": baseline["model"].get("name"),
        "model_sha256": baseline["model"].get("sha256"),
        "frontend": baseline["frontend"],
        "normalisation": baseline["normalisation"],
        "window_frames": baseline["window_frames"],
    }


def _recording_rows(
    data: Dataset, y_model: list[str], y_ref: list[str] | None
) -> list[dict[str, Any]]:
    predicted = {r.key: i for i, r in enumerate(data.readable)}
    rows = []
    for r in data.recordings:
        i = predicted.get(r.key)
        row: dict[str, Any] = {
            "path": r.key,
            "sha256": r.sha256,
            "label": r.clip.label,
            "speaker": r.clip.speaker,
            "model": None if i is None else y_model[i],
        }
        if y_ref is not None:
            row["reference"] = None if i is None else y_ref[i]
        if r.error is not None:
            row["error"] = r.error
        rows.append(row)
    return rows


def _timestamp() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    when = (
        _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc)
        if epoch.isdigit()
        else _dt.datetime.now(_dt.timezone.utc)
    )
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# Reports


def to_json(report: dict[str, Any]) -> str:
    """Deterministic JSON: the same model and data give the same bytes but for ``created``."""
    clean = {k: v for k, v in report.items() if not k.startswith("_")}
    return json.dumps(clean, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _metric_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    res = report["results"]
    cols = [k for k in ("model", "reference", "baseline") if k in res]
    rows = [
        ["UAR", *[_pct(res[c]["uar"]) for c in cols]],
        ["WA", *[_pct(res[c]["wa"]) for c in cols]],
    ]
    counts = report["data"]["classes"]
    for label in res["model"]["per_class_recall"]:
        rows.append(
            [
                f"recall {label} ({counts.get(label, 0)})",
                *[_pct(res[c]["per_class_recall"].get(label)) for c in cols],
            ]
        )
    agree = report["agreement"]
    if agree:
        rows.append(
            [
                "agreement with model",
                *[
                    ""
                    if c == "model"
                    else (
                        "-"
                        if agree.get(c, {}).get("percent") is None
                        else f"{agree[c]['percent']:.1f}%"
                    )
                    for c in cols
                ],
            ]
        )
    return ["metric", *cols], rows


def render_text(report: dict[str, Any]) -> str:
    """The terminal summary: the verdict, failing criteria first, then what was compared."""
    lines = []
    crit = report["criteria"]
    verdict = "PASSED" if report["passed"] else "FAILED"
    lines.append(f"edgeser check: {verdict} ({report['summary']})")
    grouped: dict[str, list[dict[str, Any]]] = {}
    for c in crit:
        if not c["passed"]:
            lines.append(f"  FAIL  {c['id']}: {c['detail']}")
        elif ".recall-drop." in c["id"]:  # passing per-class criteria: one line per reference
            grouped.setdefault(c["id"].split(".recall-drop.")[0], []).append(c)
        else:
            lines.append(f"  pass  {c['id']}: {c['detail']}")
    for prefix, group in grouped.items():
        worst = max(group, key=lambda c: c["value"])
        label = worst["id"].split(".recall-drop.")[1]
        largest = (
            f"largest drop {worst['value']:.1f} points ({label})"
            if worst["value"] >= 0.05
            else "no class's recall drops"
        )
        lines.append(
            f"  pass  {prefix}.recall-drop ({len(group)} classes): {largest} "
            f"<= max {worst['limit']:g}"
        )
    lines.append("")
    m = report["model"]
    lines.append(
        f"model      {m['path']}: {m['name']}, {m['input_dtype']}, "
        f"sha256 {m['sha256'][:12]}, {m['backend']}"
    )
    if report["reference"]:
        r = report["reference"]
        lines.append(
            f"reference  {r['path']}: {r['input_dtype']}, sha256 {r['sha256'][:12]}, "
            f"metadata {r['metadata']}"
        )
    if report["baseline"]:
        b = report["baseline"]
        lines.append(
            f"baseline   {b['path']}: model {b['model_name']} "
            f"sha256 {str(b['model_sha256'])[:12]}, recorded {b['created']}"
        )
    d = report["data"]
    lines.append(
        f"data       {d['path']}: {d['layout']}, {d['scored']} recordings scored, "
        f"{d['speakers']} speakers, "
        f"{len(d['classes'])} classes, fingerprint {d['fingerprint'][:12]}"
    )
    if d["unreadable"]:
        lines.append(
            f"skipped    {len(d['unreadable'])} unreadable: "
            + "; ".join(f"{u['path']} ({u['error']})" for u in d["unreadable"][:5])
            + (" ..." if len(d["unreadable"]) > 5 else "")
        )
    if d["excluded_labels"]:
        lines.append(
            "excluded   labels the model lacks: "
            + ", ".join(f"{k} ({_count(v)})" for k, v in d["excluded_labels"].items())
        )
    if d["ignored_files"]:
        lines.append(
            f"ignored    {len(d['ignored_files'])} file(s) whose names are not corpus names: "
            + ", ".join(d["ignored_files"][:5])
        )
    fe = report["model"]["frontend"]
    lines.append(
        f"session    {report['session']}; frontend {fe['num_bands']} bands "
        + (f"+ {fe['periodicity_bands']} periodicity " if fe.get("periodicity_bands") else "")
        + f"{fe['lower_hz']:g}-{fe['upper_hz']:g} Hz, "
        f"{fe['sample_rate']} Hz, window {report['model']['window_frames']} frames, "
        f"normalisation {report['model']['normalisation']['mode']}"
    )
    lines.append("")
    header, rows = _metric_rows(report)
    width0 = max(len(r[0]) for r in [header, *rows])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(1, len(header))]
    lines.append(
        header[0].ljust(width0)
        + "".join("  " + h.rjust(w) for h, w in zip(header[1:], widths, strict=True))
    )
    for row in rows:
        lines.append(
            row[0].ljust(width0)
            + "".join("  " + v.rjust(w) for v, w in zip(row[1:], widths, strict=True))
        )
    if "_seconds" in report:
        lines.append("")
        lines.append(f"scored in {report['_seconds']:.1f} s")
    return "\n".join(lines) + "\n"


def render_markdown(report: dict[str, Any]) -> str:
    """A PR comment: verdict, criteria table (failures first), metrics table."""
    icon = "✅" if report["passed"] else "❌"
    m, d = report["model"], report["data"]
    out = [
        f"### {icon} edgeser check {'passed' if report['passed'] else 'FAILED'}: "
        f"{report['summary']}",
        "",
        f"Model `{m['path']}` ({m['name']}, {m['input_dtype']}, sha256 `{m['sha256'][:12]}`) on "
        f"`{d['path']}` ({d['scored']} recordings, {d['speakers']} speakers, "
        f"session {report['session']}).",
        "",
        "| | criterion | result |",
        "|---|---|---|",
    ]
    for c in report["criteria"]:
        out.append(f"| {'✅' if c['passed'] else '❌'} | {c['criterion']} | {_md(c['detail'])} |")
    header, rows = _metric_rows(report)
    out += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        out.append("| " + " | ".join(row) + " |")
    notes = []
    if d["unreadable"]:
        notes.append(
            f"{len(d['unreadable'])} unreadable recording(s) skipped: "
            + ", ".join(f"`{u['path']}`" for u in d["unreadable"][:10])
        )
    if d["excluded_labels"]:
        notes.append(
            "excluded labels the model lacks: "
            + ", ".join(f"{k} ({v})" for k, v in d["excluded_labels"].items())
        )
    if notes:
        out += ["", *[f"- {n}" for n in notes]]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_junit(report: dict[str, Any]) -> str:
    """JUnit XML: one testcase per criterion, a failed criterion as ``<failure>``."""
    crit = report["criteria"]
    failures = sum(1 for c in crit if not c["passed"])
    suites = ET.Element(
        "testsuites", name="edgeser check", tests=str(len(crit)), failures=str(failures)
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="edgeser check",
        tests=str(len(crit)),
        failures=str(failures),
        errors="0",
        skipped="0",
        timestamp=report["created"],
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("model", report["model"]["path"]),
        ("model_sha256", report["model"]["sha256"]),
        ("data", report["data"]["path"]),
        ("data_fingerprint", report["data"]["fingerprint"]),
        ("session", report["session"]),
    ):
        ET.SubElement(props, "property", name=name, value=str(value))
    for c in crit:
        case = ET.SubElement(suite, "testcase", classname="edgeser.check", name=c["id"])
        if not c["passed"]:
            failure = ET.SubElement(case, "failure", message=c["detail"], type="regression")
            failure.text = f"{c['criterion']}: {c['detail']}"
        else:
            ET.SubElement(case, "system-out").text = c["detail"]
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def write_confusion_png(report: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Confusion matrices of the model (and the reference) as a PNG. Raises ImportError when
    matplotlib is not installed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(k, report["results"][k]) for k in ("model", "reference") if k in report["results"]]
    n_rows = len(panels[0][1]["confusion"]["rows"])
    n_cols = len(panels[0][1]["confusion"]["columns"])
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(len(panels) * (1.2 + 0.6 * n_cols), 1.2 + 0.6 * n_rows),
        dpi=120,
        squeeze=False,
    )
    for ax, (name, res) in zip(axes[0], panels, strict=True):
        cm = np.array(res["confusion"]["counts"], dtype=float)
        rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(
                    j,
                    i,
                    f"{int(cm[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if rows[i, j] > 0.5 else "black",
                )
        ax.set_xticks(
            range(n_cols), res["confusion"]["columns"], rotation=45, ha="right", fontsize=7
        )
        ax.set_yticks(range(n_rows), res["confusion"]["rows"], fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
        ax.set_title(f"{name}: UAR {100 * res['uar']:.1f}%, WA {100 * res['wa']:.1f}%", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
