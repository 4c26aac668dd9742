"""Mixup of training windows (converters.train.mixup): blends inputs, targets, weights alike."""

from __future__ import annotations

import numpy as np

from converters.train import mixup


def _batch(n: int = 64, classes: int = 4):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, 10, 5, 1)).astype(np.float32)
    labels = rng.integers(0, classes, n)
    weights = rng.uniform(0.5, 2.0, n).astype(np.float32)
    teacher = rng.standard_normal((n, 3)).astype(np.float32)
    return x, labels, weights, teacher


def test_mixup_blends_every_part_with_one_coefficient_per_row():
    x, labels, weights, teacher = _batch()
    mx, my, mw, mt = mixup(x, labels, 4, weights, teacher, 0.4, np.random.default_rng(0))
    assert mx.shape == x.shape and my.shape == (64, 4) and mw.shape == (64,)
    assert mt is not None and mt.shape == teacher.shape
    assert np.allclose(my.sum(axis=1), 1.0, atol=1e-6)
    # Recover each row's coefficient from its label mix and check that the inputs, weights
    # and teacher targets were blended with that same coefficient and the same partner.
    rng = np.random.default_rng(0)
    lam = rng.beta(0.4, 0.4, size=64)
    partner = rng.permutation(64)
    for i in range(64):
        j = partner[i]
        assert np.allclose(mx[i], lam[i] * x[i] + (1 - lam[i]) * x[j], atol=1e-5)
        assert np.isclose(mw[i], lam[i] * weights[i] + (1 - lam[i]) * weights[j], atol=1e-5)
        assert np.allclose(mt[i], lam[i] * teacher[i] + (1 - lam[i]) * teacher[j], atol=1e-5)
        expected = np.zeros(4)
        expected[labels[i]] += lam[i]
        expected[labels[j]] += 1 - lam[i]
        assert np.allclose(my[i], expected, atol=1e-6)
    # Not a no-op: most rows moved.
    assert np.mean(np.abs(mx - x).reshape(64, -1).max(axis=1) > 1e-3) > 0.5


def test_mixup_without_teacher_and_small_alpha_stays_close_to_hard_labels():
    x, labels, weights, _ = _batch()
    _, my, _, mt = mixup(x, labels, 4, weights, None, 0.01, np.random.default_rng(1))
    assert mt is None
    # Beta(0.01, 0.01) puts almost all mass near 0 or 1: each row is nearly one clip.
    assert np.mean(my.max(axis=1) > 0.95) > 0.9
