"""Labelled emotional-speech corpora: finding them, reading them, splitting them, scoring.

Only numpy and the standard library are used, so this module can ship with the
device runtime.

Finding the data
    :func:`data_root` resolves the corpus folder: an explicit argument, else the
    ``EDGESER_DATA`` environment variable, else ``../shared/data`` beside the
    repository when that folder exists, else ``None``.

Reading
    Every reader returns a list of :class:`Clip` whose ``label`` is one of
    :data:`CANONICAL_LABELS`.

    * :func:`read_emodb` -- a folder of EMO-DB ``SSTTTEV.wav`` files.
    * :func:`read_ravdess` -- a folder of ``Actor_NN/MM-VV-EE-II-SS-RR-AA.wav`` files
      (audio-only speech: modality 03, vocal channel 01).
    * :func:`read_manifest` -- a CSV with columns ``path,label,speaker``.
    * :func:`read_corpus` -- any of the above, detected from the path.

    Audio files whose names do not parse (or that are outside the speech subset)
    are skipped, logged with a warning, and appended to the optional ``skipped``
    list a caller passes in.  A folder with no labelled audio raises
    :class:`~edgeser.errors.DataError`.

Speaker-independent splits
    :func:`leave_one_speaker_out` and :func:`speaker_folds` return
    ``(fold_name, train_indices, test_indices)`` tuples whose train and test
    speakers never overlap.

Metrics
    :func:`uar`, :func:`accuracy`, :func:`per_class_recall` and
    :func:`confusion_matrix` in plain numpy.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeser.errors import DataError

__all__ = [
    "CANONICAL_LABELS",
    "EMODB_EMOTIONS",
    "EMODB_FEMALE_SPEAKERS",
    "RAVDESS_EMOTIONS",
    "Clip",
    "accuracy",
    "confusion_matrix",
    "data_root",
    "label_set",
    "leave_one_speaker_out",
    "per_class_recall",
    "read_corpus",
    "read_emodb",
    "read_manifest",
    "read_ravdess",
    "speaker_folds",
    "uar",
]

log = logging.getLogger(__name__)

#: Every label a :class:`Clip` may carry, in the canonical order used for class
#: indices, confusion matrices and reports.  A corpus uses a subset of them:
#: EMO-DB has 7 (no ``calm``, no ``surprise``), RAVDESS has 8 (no ``boredom``).
CANONICAL_LABELS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happiness",
    "sadness",
    "anger",
    "fear",
    "disgust",
    "boredom",
    "surprise",
)

#: EMO-DB emotion letters (German initials) -> canonical label.
#: Note that ``F`` (Freude) is happiness and ``A`` (Angst) is fear.
EMODB_EMOTIONS: Mapping[str, str] = types.MappingProxyType(
    {
        "W": "anger",  # Wut
        "L": "boredom",  # Langeweile
        "E": "disgust",  # Ekel
        "A": "fear",  # Angst
        "F": "happiness",  # Freude
        "T": "sadness",  # Trauer
        "N": "neutral",
    }
)

#: EMO-DB speakers who are female (03, 10, 12, 15 are male).
EMODB_FEMALE_SPEAKERS: frozenset[str] = frozenset({"08", "09", "13", "16"})

#: RAVDESS emotion field ``EE`` -> canonical label.
RAVDESS_EMOTIONS: Mapping[str, str] = types.MappingProxyType(
    {
        "01": "neutral",
        "02": "calm",
        "03": "happiness",
        "04": "sadness",
        "05": "anger",
        "06": "fear",
        "07": "disgust",
        "08": "surprise",
    }
)

_RAVDESS_INTENSITY = {"01": "normal", "02": "strong"}
_AUDIO_SUFFIXES = frozenset({".wav"})
_EMODB_NAME = re.compile(
    r"^(?P<speaker>\d{2})(?P<text>[a-z]\d{2})(?P<emotion>[A-Z])(?P<version>[a-z])$"
)
_RAVDESS_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
_MANIFEST_COLUMNS = ("path", "label", "speaker")


@dataclass(frozen=True)
class Clip:
    """One labelled recording.

    Attributes:
        path: the audio file.
        label: one of :data:`CANONICAL_LABELS`.
        speaker: a corpus-qualified speaker id such as ``"emodb:03"`` or
            ``"ravdess:01"`` (manifest speakers are kept verbatim).
        corpus: ``"emodb"``, ``"ravdess"``, or the manifest's ``corpus`` column
            (default ``"manifest"``).
        extra: read-only string metadata, e.g. ``gender``, ``text``, ``version``
            (EMO-DB), ``intensity`` (``normal``/``strong``), ``statement``,
            ``repetition`` (RAVDESS), or a manifest's additional columns.
    """

    path: Path
    label: str
    speaker: str
    corpus: str
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "extra", types.MappingProxyType(dict(self.extra)))
        if self.label not in CANONICAL_LABELS:
            raise DataError(
                f"unknown label {self.label!r} for {self.path}; "
                f"expected one of {', '.join(CANONICAL_LABELS)}"
            )

    def __reduce__(self) -> tuple[object, ...]:
        # mappingproxy cannot be pickled; rebuild from a plain dict (for multiprocessing).
        return (Clip, (self.path, self.label, self.speaker, self.corpus, dict(self.extra)))


# ---------------------------------------------------------------------------
# Finding the data


def data_root(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the folder holding the corpora, or ``None`` when there is none.

    Order: ``explicit`` if given; else the ``EDGESER_DATA`` environment variable if
    set and non-empty; else ``<repository>/../shared/data`` if that folder exists.
    An explicit or environment path is returned as given (expanded, not checked),
    so a wrong setting fails loudly later instead of silently skipping.
    """
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    env = os.environ.get("EDGESER_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return default if default.is_dir() else None


# ---------------------------------------------------------------------------
# Readers


def _audio_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _AUDIO_SUFFIXES
    )


def _require_dir(folder: str | os.PathLike[str]) -> Path:
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise DataError(f"not a folder: {path}")
    return path


def _report_skipped(where: Path, bad: list[tuple[Path, str]], skipped: list[Path] | None) -> None:
    if not bad:
        return
    if skipped is not None:
        skipped.extend(p for p, _ in bad)
    examples = "; ".join(f"{p.name} ({why})" for p, why in bad[:3])
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    log.warning("skipped %d audio file(s) in %s: %s%s", len(bad), where, examples, more)


def read_emodb(folder: str | os.PathLike[str], *, skipped: list[Path] | None = None) -> list[Clip]:
    """Read a folder of EMO-DB files named ``SSTTTEV.wav``.

    ``SS`` speaker, ``TTT`` text, ``E`` emotion letter (see :data:`EMODB_EMOTIONS`),
    ``V`` version.  Speakers become ``"emodb:SS"``.  ``extra`` holds ``text``,
    ``version`` and ``gender``.  Files whose names do not parse are skipped.

    Raises:
        DataError: the folder does not exist or holds no EMO-DB clip.
    """
    root = _require_dir(folder)
    clips: list[Clip] = []
    bad: list[tuple[Path, str]] = []
    for path in _audio_files(root):
        m = _EMODB_NAME.match(path.stem)
        if m is None:
            bad.append((path, "not an EMO-DB name"))
            continue
        label = EMODB_EMOTIONS.get(m["emotion"])
        if label is None:
            bad.append((path, f"unknown emotion letter {m['emotion']!r}"))
            continue
        speaker = m["speaker"]
        gender = "female" if speaker in EMODB_FEMALE_SPEAKERS else "male"
        extra = {"text": m["text"], "version": m["version"], "gender": gender}
        clips.append(Clip(path, label, f"emodb:{speaker}", "emodb", extra))
    _report_skipped(root, bad, skipped)
    if not clips:
        raise DataError(f"no labelled audio in {root} (expected EMO-DB names like 03a01Fa.wav)")
    return clips


def read_ravdess(
    folder: str | os.PathLike[str], *, skipped: list[Path] | None = None
) -> list[Clip]:
    """Read RAVDESS speech from ``folder/Actor_NN/*.wav`` (and any wav directly in ``folder``).

    Names are ``MM-VV-EE-II-SS-RR-AA.wav``.  Only modality ``03`` (audio only) and
    vocal channel ``01`` (speech) are kept; other files are skipped, as are names
    that do not parse.  Speakers become ``"ravdess:AA"`` (from the name).  ``extra``
    holds ``intensity`` (``normal``/``strong``), ``statement``, ``repetition`` and
    ``gender`` (odd actors male, even female).

    Raises:
        DataError: the folder does not exist or holds no RAVDESS speech clip.
    """
    root = _require_dir(folder)
    files = _audio_files(root)
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("Actor_")):
        files.extend(_audio_files(sub))
    clips: list[Clip] = []
    bad: list[tuple[Path, str]] = []
    for path in files:
        m = _RAVDESS_NAME.match(path.stem)
        if m is None:
            bad.append((path, "not a RAVDESS name"))
            continue
        modality, channel, emotion, intensity, statement, repetition, actor = m.groups()
        if modality != "03" or channel != "01":
            bad.append((path, f"modality {modality} / vocal channel {channel} is not audio speech"))
            continue
        label = RAVDESS_EMOTIONS.get(emotion)
        if label is None or intensity not in _RAVDESS_INTENSITY or actor == "00":
            bad.append((path, "emotion, intensity or actor field out of range"))
            continue
        extra = {
            "intensity": _RAVDESS_INTENSITY[intensity],
            "statement": statement,
            "repetition": repetition,
            "gender": "male" if int(actor) % 2 else "female",
        }
        clips.append(Clip(path, label, f"ravdess:{actor}", "ravdess", extra))
    _report_skipped(root, bad, skipped)
    if not clips:
        raise DataError(
            f"no labelled audio in {root} (expected Actor_NN/03-01-EE-II-SS-RR-AA.wav files)"
        )
    return clips


def read_manifest(csv_path: str | os.PathLike[str]) -> list[Clip]:
    """Read a CSV manifest with header ``path,label,speaker`` (any column order).

    Relative paths are resolved against the CSV's folder.  Labels must be canonical
    names (:data:`CANONICAL_LABELS`; surrounding spaces and case are ignored).  An
    optional ``corpus`` column sets :attr:`Clip.corpus` (default ``"manifest"``);
    other columns go to :attr:`Clip.extra`.

    Raises:
        DataError: the file is missing or empty, a required column is missing, a
            cell is empty, labels are unknown (all of them are listed), or listed
            audio files do not exist.
    """
    path = Path(csv_path).expanduser()
    if not path.is_file():
        raise DataError(f"manifest not found: {path}")
    base = path.parent
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DataError(f"manifest {path} is empty (expected a header 'path,label,speaker')")
        names = [h.strip().lower() for h in header]
        missing = [c for c in _MANIFEST_COLUMNS if c not in names]
        if missing:
            raise DataError(
                f"manifest {path} lacks column(s) {', '.join(missing)} "
                f"(header is {','.join(header)}; expected path,label,speaker)"
            )
        rows = [(n, row) for n, row in enumerate(reader, start=2) if any(c.strip() for c in row)]
    if not rows:
        raise DataError(f"manifest {path} has a header but no rows")

    col = {name: i for i, name in reversed(list(enumerate(names)))}
    unknown: dict[str, list[int]] = {}
    absent: list[str] = []
    clips: list[Clip] = []
    for line, row in rows:
        if len(row) < len(names):
            row = row + [""] * (len(names) - len(row))
        cells = {name: row[i].strip() for name, i in col.items()}
        for name in _MANIFEST_COLUMNS:
            if not cells[name]:
                raise DataError(f"manifest {path} line {line}: empty {name!r}")
        label = cells["label"].lower()
        if label not in CANONICAL_LABELS:
            unknown.setdefault(cells["label"], []).append(line)
            continue
        audio = Path(cells["path"]).expanduser()
        if not audio.is_absolute():
            audio = base / audio
        if not audio.is_file():
            absent.append(f"{cells['path']} (line {line})")
            continue
        extra = {
            k: v for k, v in cells.items() if k not in _MANIFEST_COLUMNS and k != "corpus" and k
        }
        corpus = cells.get("corpus") or "manifest"
        clips.append(Clip(audio, label, cells["speaker"], corpus, extra))
    if unknown:
        listed = ", ".join(
            f"{lab!r} (line {', '.join(map(str, ls[:5]))})" for lab, ls in unknown.items()
        )
        raise DataError(
            f"manifest {path} has unknown label(s): {listed}; "
            f"labels must be one of {', '.join(CANONICAL_LABELS)}"
        )
    if absent:
        more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
        raise DataError(f"manifest {path} lists missing audio: {'; '.join(absent[:5])}{more}")
    return clips


def read_corpus(path: str | os.PathLike[str], *, skipped: list[Path] | None = None) -> list[Clip]:
    """Read labelled clips from ``path``, detecting its layout.

    * a ``.csv`` file -> :func:`read_manifest`;
    * a folder with ``emodb/`` and/or ``ravdess/`` subfolders -> both, EMO-DB first;
    * a folder with ``Actor_*`` subfolders -> :func:`read_ravdess`;
    * a folder of EMO-DB-named wavs -> :func:`read_emodb`.

    Raises:
        DataError: the path does not exist, or holds no labelled audio.
    """
    root = Path(path).expanduser()
    if root.is_file():
        if root.suffix.lower() == ".csv":
            return read_manifest(root)
        raise DataError(f"not a manifest (.csv) or corpus folder: {root}")
    if not root.is_dir():
        raise DataError(f"corpus path does not exist: {root}")

    clips: list[Clip] = []
    found_sub = False
    if (root / "emodb").is_dir():
        found_sub = True
        clips += read_emodb(root / "emodb", skipped=skipped)
    if (root / "ravdess").is_dir():
        found_sub = True
        clips += read_ravdess(root / "ravdess", skipped=skipped)
    if found_sub:
        return clips
    if any(p.is_dir() and p.name.startswith("Actor_") for p in root.iterdir()):
        return read_ravdess(root, skipped=skipped)
    wavs = _audio_files(root)
    if any(_EMODB_NAME.match(p.stem) for p in wavs):
        return read_emodb(root, skipped=skipped)
    if any(_RAVDESS_NAME.match(p.stem) for p in wavs):
        return read_ravdess(root, skipped=skipped)
    raise DataError(
        f"no labelled audio in {root} (expected a .csv manifest, emodb/ or ravdess/ "
        "subfolders, Actor_* subfolders, or EMO-DB-named wavs)"
    )


def label_set(clips: Iterable[Clip]) -> list[str]:
    """The labels present in ``clips``, in :data:`CANONICAL_LABELS` order."""
    present = {c.label for c in clips}
    return [lab for lab in CANONICAL_LABELS if lab in present]


# ---------------------------------------------------------------------------
# Speaker-independent splits


def _speakers_of(clips: Sequence[Clip] | Sequence[str]) -> list[str]:
    return [c.speaker if isinstance(c, Clip) else str(c) for c in clips]


def _natural_key(text: str) -> tuple[object, ...]:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


def leave_one_speaker_out(
    clips: Sequence[Clip] | Sequence[str],
) -> list[tuple[str, list[int], list[int]]]:
    """Leave-one-speaker-out folds (the EMO-DB protocol).

    ``clips`` may be clips or plain speaker ids.  Returns one
    ``(speaker, train_indices, test_indices)`` per speaker, in natural speaker order
    (``emodb:03`` before ``emodb:10``); indices are ascending and index ``clips``.
    Every clip is tested exactly once and never trained on in its own fold.

    Raises:
        DataError: fewer than two speakers.
    """
    speakers = _speakers_of(clips)
    unique = sorted(set(speakers), key=_natural_key)
    if len(unique) < 2:
        raise DataError(f"leave-one-speaker-out needs at least 2 speakers, got {len(unique)}")
    folds = []
    for spk in unique:
        test = [i for i, s in enumerate(speakers) if s == spk]
        train = [i for i, s in enumerate(speakers) if s != spk]
        folds.append((spk, train, test))
    return folds


def speaker_folds(
    clips: Sequence[Clip] | Sequence[str], n_folds: int = 5
) -> list[tuple[str, list[int], list[int]]]:
    """Deterministic speaker-independent folds (the RAVDESS actor-independent protocol).

    Speakers are sorted in natural order and speaker number ``k`` (0-based) goes to
    fold ``k % n_folds``.  For RAVDESS's 20 actors (odd male, even female) this gives
    5 folds of 4 actors, each 2 male + 2 female: fold 0 tests actors 01, 06, 11, 16;
    fold 1 tests 02, 07, 12, 17; and so on.  Returns
    ``(name, train_indices, test_indices)`` with names like
    ``"fold0[ravdess:01,ravdess:06,ravdess:11,ravdess:16]"``; test sets partition
    all indices and share no speaker with their training set.

    Raises:
        DataError: ``n_folds`` < 2 or more folds than speakers.
    """
    if n_folds < 2:
        raise DataError(f"n_folds must be at least 2, got {n_folds}")
    speakers = _speakers_of(clips)
    unique = sorted(set(speakers), key=_natural_key)
    if len(unique) < n_folds:
        raise DataError(
            f"{n_folds} speaker folds need at least {n_folds} speakers, got {len(unique)}"
        )
    fold_of = {spk: k % n_folds for k, spk in enumerate(unique)}
    folds = []
    for f in range(n_folds):
        members = [spk for spk in unique if fold_of[spk] == f]
        test = [i for i, s in enumerate(speakers) if fold_of[s] == f]
        train = [i for i, s in enumerate(speakers) if fold_of[s] != f]
        folds.append((f"fold{f}[{','.join(members)}]", train, test))
    return folds


# ---------------------------------------------------------------------------
# Metrics


def _pair(y_true: Sequence[object], y_pred: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=object).ravel()
    p = np.asarray(y_pred, dtype=object).ravel()
    if t.shape != p.shape:
        raise DataError(f"y_true has {t.size} items but y_pred has {p.size}")
    if t.size == 0:
        raise DataError("cannot score an empty set of predictions")
    return t, p


def _labels_for(t: np.ndarray, labels: Sequence[object] | None) -> list[object]:
    if labels is None:
        present = set(t.tolist())
        canon = [lab for lab in CANONICAL_LABELS if lab in present]
        rest = sorted((x for x in present if x not in CANONICAL_LABELS), key=repr)
        return canon + rest
    labels = list(labels)
    if len(set(labels)) != len(labels):
        raise DataError(f"labels has duplicates: {labels}")
    allowed = set(labels)
    outside = sorted({x for x in t.tolist() if x not in allowed}, key=repr)
    if outside:
        raise DataError(f"y_true has label(s) {outside} that are not in labels {labels}")
    return labels


def accuracy(y_true: Sequence[object], y_pred: Sequence[object]) -> float:
    """Weighted accuracy (WA): the fraction of predictions equal to the truth."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def per_class_recall(
    y_true: Sequence[object], y_pred: Sequence[object], labels: Sequence[object] | None = None
) -> dict[object, float]:
    """Recall of each label in ``labels`` (default: labels present in ``y_true``).

    A label absent from ``y_true`` gets ``nan``.  Predictions outside ``labels``
    are simply wrong.

    Raises:
        DataError: empty or mismatched inputs, or ``y_true`` holds a label not in ``labels``.
    """
    t, p = _pair(y_true, y_pred)
    out: dict[object, float] = {}
    for lab in _labels_for(t, labels):
        mask = t == lab
        n = int(mask.sum())
        out[lab] = float(np.sum(p[mask] == lab) / n) if n else float("nan")
    return out


def uar(
    y_true: Sequence[object], y_pred: Sequence[object], labels: Sequence[object] | None = None
) -> float:
    """Unweighted average recall: the mean recall over the classes present in ``y_true``.

    Classes listed in ``labels`` but absent from ``y_true`` are excluded; predicted
    labels outside ``labels`` count as errors.  Equals sklearn's
    ``balanced_accuracy_score``.
    """
    recalls = [r for r in per_class_recall(y_true, y_pred, labels).values() if not np.isnan(r)]
    return float(np.mean(recalls))


def confusion_matrix(
    y_true: Sequence[object], y_pred: Sequence[object], labels: Sequence[object] | None = None
) -> np.ndarray:
    """Counts ``C[i, j]`` of clips with true label ``labels[i]`` predicted as ``labels[j]``.

    ``labels`` defaults to the labels present in ``y_true`` or ``y_pred`` (canonical
    ones first, in canonical order).  A prediction outside ``labels`` falls in no
    column, so a row may then sum to less than the class's support.

    Raises:
        DataError: empty or mismatched inputs, or ``y_true`` holds a label not in ``labels``.
    """
    t, p = _pair(y_true, y_pred)
    if labels is None:
        labels = _labels_for(np.concatenate([t, p]), None)
    labs = _labels_for(t, labels)
    index = {lab: i for i, lab in enumerate(labs)}
    cm = np.zeros((len(labs), len(labs)), dtype=np.int64)
    for a, b in zip(t.tolist(), p.tolist(), strict=True):
        j = index.get(b)
        if j is not None:
            cm[index[a], j] += 1
    return cm
