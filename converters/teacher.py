"""Teacher targets for the auxiliary head (workstation only; see ``TrainConfig.teacher_weight``).

The small network is asked, besides its emotion classes, to regress a compact summary of the
clip's openSMILE ComParE_2016 functionals (6,373 hand-crafted prosodic, voice-quality and
spectral statistics: what the classic peer classifies). The summary is fitted on the training
clips of a fold only: each feature is standardised with the training mean and standard
deviation, then projected on the leading principal components, whitened (unit variance per
component). No label and no test clip is used. Every training window of a clip gets the
clip's targets (a 2 s crop of a longer clip is regressed on the whole clip's statistics). The
head is dropped at export: the device model and its cost are unchanged.
"""

from __future__ import annotations

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
