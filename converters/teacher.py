"""Teacher targets for the auxiliary head (workstation only; see ``TrainConfig.teacher_weight``).

The small network is asked, besides its emotion classes, to regress a compact summary of the
clip's openSMILE ComParE_2016 functionals (6,373 hand-crafted prosodic, voice-quality and
spectral statistics: what the classic peer classifies). The summary is fitted on the training
clips of a fold only: each feature is standardised with the training mean and standard
deviation, then projected on the leading principal components, whitened (unit variance per
component). No label and no test clip is used. Every training window of a clip gets the
clip's targets (a 2 s crop of a longer clip is regressed on the whole clip's statistics). The
head is dropped at export: the device model and its cost are unchanged.

Two kinds of target (``TrainConfig.teacher_kind``):

``"pca"``  (:func:`teacher_targets`) the whitened principal components above: no labels.
``"peer"`` (:func:`peer_targets`) the classic peer's opinion of each training clip, i.e.
           distillation from openSMILE + linear SVM: the features are z-scored per speaker
           (the peer's best form, 81 % UAR on EMO-DB LOSO) and every training clip gets the
           decision values of an SVM fitted on *other* training speakers (cross-fitted by
           speaker groups), so the targets carry the peer's confusions, not the labels
           themselves. Labels and speakers of the training clips only; no test clip.
``"pca+peer"`` both, side by side (each column unit variance).

The network never sees speaker identity: per-speaker statistics shape its training targets
only, and the device model is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def teacher_targets(features: np.ndarray, dims: int) -> np.ndarray:
    """Whitened principal components of standardised ``features`` (clips, n) fitted on those
    rows: returns (clips, ``dims``) float32 with zero mean and unit variance per column."""
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[0] <= dims:
        raise ValueError(f"need more than {dims} rows of 2-D features, got shape {x.shape}")
    std = x.std(axis=0)
    keep = std > 1e-12
    z = (x[:, keep] - x[:, keep].mean(axis=0)) / std[keep]
    u, _, _ = np.linalg.svd(z, full_matrices=False)
    comps = u[:, :dims] * np.sqrt(x.shape[0])  # whitened scores: unit variance per column
    return comps.astype(np.float32)


TEACHER_KINDS = ("pca", "peer", "pca+peer")


def per_speaker_zscore(features: np.ndarray, speakers: Sequence[str]) -> np.ndarray:
    """Each speaker's rows z-scored with that speaker's own mean and standard deviation
    (a constant column becomes 0)."""
    x = np.asarray(features, np.float64)
    out = np.zeros_like(x)
    spk = np.asarray(speakers)
    for s in np.unique(spk):
        rows = spk == s
        sd = x[rows].std(axis=0)
        sd[sd < 1e-12] = 1.0
        out[rows] = (x[rows] - x[rows].mean(axis=0)) / sd
    return out


def peer_targets(
    features: np.ndarray,
    labels: Sequence[int],
    speakers: Sequence[str],
    groups: int = 8,
    c: float = 1e-3,
) -> np.ndarray:
    """Cross-fitted peer decision values (clips, classes) of the training clips, each column
    standardised to zero mean and unit variance.

    The speakers are dealt into ``groups`` groups (at most one per speaker); each group's clips
    are scored by a linear SVM (libsvm, C ``c``, balanced class weights: the peer's choice of C
    on every EMO-DB fold's inner search) fitted on the other groups, on per-speaker z-scored
    features. Needs at least two speakers and two classes."""
    from sklearn.svm import SVC

    y = np.asarray(labels)
    spk = np.asarray(speakers)
    names = sorted(set(spk.tolist()))
    classes = np.unique(y)
    if len(names) < 2 or len(classes) < 2:
        raise ValueError("peer targets need at least two speakers and two classes")
    z = per_speaker_zscore(features, spk)
    gram = z @ z.T
    k = min(groups, len(names))
    group_of = {s: i % k for i, s in enumerate(names)}
    g = np.array([group_of[s] for s in spk])
    out = np.zeros((len(y), len(classes)))
    for i in range(k):
        test, fit = np.flatnonzero(g == i), np.flatnonzero(g != i)
        present = np.unique(y[fit])
        svm = SVC(kernel="precomputed", C=c, class_weight="balanced")
        svm.fit(gram[np.ix_(fit, fit)], y[fit])
        scores = svm.decision_function(gram[np.ix_(test, fit)])
        if len(present) == 2:  # binary: one column, positive means the second class
            scores = np.stack([-scores, scores], axis=1)
        cols = np.searchsorted(classes, present)
        out[np.ix_(test, cols)] = scores
    sd = out.std(axis=0)
    sd[sd < 1e-12] = 1.0
    return ((out - out.mean(axis=0)) / sd).astype(np.float32)


def fold_teacher_targets(
    kind: str,
    features: np.ndarray,
    dims: int,
    labels: Sequence[int],
    speakers: Sequence[str],
) -> np.ndarray:
    """The targets of ``kind`` (:data:`TEACHER_KINDS`) for a fold's training rows."""
    if kind == "pca":
        return teacher_targets(features, dims)
    if kind == "peer":
        return peer_targets(features, labels, speakers)
    if kind == "pca+peer":
        return np.concatenate(
            [teacher_targets(features, dims), peer_targets(features, labels, speakers)], axis=1
        )
    raise ValueError(f"teacher kind must be one of {', '.join(TEACHER_KINDS)}: {kind!r}")
