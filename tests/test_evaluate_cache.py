"""converters.evaluate end to end on a tiny corpus: session_std normalisation through training,
int8 conversion and the device runtime, and the fold-model cache."""

from __future__ import annotations

import dataclasses
import json

import pytest

from converters.evaluate import evaluate, folds_for
from converters.train import TrainConfig
from edgeser.audio import write_wav_pcm16
from edgeser.datasets import Clip
from edgeser.normalisation import Normalisation
from edgeser.synth import speech_like

pytest.importorskip("tensorflow")

LABELS = ["anger", "neutral", "sadness"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    out = []
    for s in range(3):
        for k, label in enumerate(LABELS):
            for i in range(2):
                path = folder / f"s{s}_{label}_{i}.wav"
                level = (0.6, 0.15, 0.04)[k] * (1 + 0.2 * s)
                pcm = speech_like(2.0, seed=100 * s + 10 * k + i, level=level)
                write_wav_pcm16(path, pcm, 16000)
                out.append(Clip(str(path), label, f"spk{s}", "synthetic"))
    return out


# A tiny recipe: two epochs of a 4/8-filter network, every training speaker, no augmentation.
TINY = TrainConfig(
    filters=(4, 8),
    lstm_units=8,
    dense_units=8,
    epochs=2,
    batch_size=8,
    augment=False,
    epoch_selection="fixed",
)


def test_session_std_fold_scores_through_int8_and_the_cache_skips_training(clips, tmp_path):
    cfg = dataclasses.replace(
        TINY,
        session_subset_probability=0.5,
        normalisation=Normalisation("session", session_std=True),
    )
    fold = folds_for("emodb-loso", clips)[0][0]
    cache = tmp_path / "cache"
    first = evaluate(clips, "emodb-loso", cfg, LABELS, folds=[fold], model_cache=cache, log=str)
    kept = sorted(p.name for p in cache.iterdir())
    assert len(kept) == 2 and kept[0].endswith(".json") and kept[1].endswith(".keras")
    second = evaluate(clips, "emodb-loso", cfg, LABELS, folds=[fold], model_cache=cache, log=str)
    assert sorted(p.name for p in cache.iterdir()) == kept  # nothing trained or stored again
    for report in (first, second):
        assert report["model"]["int8_bytes"] > 0
        assert 0.0 <= report["int8"]["uar"] <= 1.0
    strip = ("seconds", "date_utc", "machine")
    a = {k: v for k, v in first.items() if k not in strip}
    b = {k: v for k, v in second.items() if k not in strip}
    assert json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
    other = dataclasses.replace(cfg, epochs=3)
    evaluate(clips, "emodb-loso", other, LABELS, folds=[fold], model_cache=cache, int8=False,
             log=str)  # fmt: skip
    assert len(list(cache.iterdir())) == 4  # another recipe is another model


def test_ensemble_fold_reuses_cached_members_and_trains_only_the_new_seed(clips, tmp_path):
    """members=2 caches each network under its one-network key: after a seed-0 run, the
    ensemble trains seed 1 only; the ensemble's int8 file holds both networks."""
    cfg = TINY
    fold = folds_for("emodb-loso", clips)[0][0]
    cache = tmp_path / "cache"
    single = evaluate(clips, "emodb-loso", cfg, LABELS, folds=[fold], model_cache=cache, log=str)
    assert len(list(cache.iterdir())) == 2
    pair = dataclasses.replace(cfg, members=2)
    both = evaluate(clips, "emodb-loso", pair, LABELS, folds=[fold], model_cache=cache, log=str)
    assert len(list(cache.iterdir())) == 4  # seed 1 trained and stored; seed 0 reused
    assert both["train_config"]["members"] == 2
    assert both["model"]["macs_per_window"] == 2 * single["model"]["macs_per_window"]
    assert 1.6 * single["model"]["int8_bytes"] < both["model"]["int8_bytes"]
    seed1 = dataclasses.replace(cfg, seed=1)
    again = evaluate(clips, "emodb-loso", seed1, LABELS, folds=[fold], model_cache=cache,
                     int8=False, log=str)  # fmt: skip
    assert len(list(cache.iterdir())) == 4  # the ensemble's second network is seed 1's
    assert again["folds"][0]["best_epoch"] == 1


def test_distilled_fold_takes_its_teacher_networks_from_the_cache(clips, tmp_path):
    """distill_weight > 0: the teacher is the recipe's two-seed ensemble, whose networks are
    cached under their own keys (a later members=2 run trains nothing); the student is one
    network of its own, different from seed 0's."""
    fold = folds_for("emodb-loso", clips)[0][0]
    cache = tmp_path / "cache"
    student = dataclasses.replace(TINY, distill_weight=0.5)
    taught = evaluate(clips, "emodb-loso", student, LABELS, folds=[fold], model_cache=cache,
                      int8=False, log=str)  # fmt: skip
    kept = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(kept) == 6  # teacher seeds 0 and 1, and the student
    pair = dataclasses.replace(TINY, members=2)
    evaluate(clips, "emodb-loso", pair, LABELS, folds=[fold], model_cache=cache, int8=False,
             log=str)  # fmt: skip
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == kept
    assert (
        taught["model"]["macs_per_window"] * 2
        == evaluate(
            clips, "emodb-loso", pair, LABELS, folds=[fold], model_cache=cache, int8=False, log=str
        )["model"]["macs_per_window"]
    )


def test_distillation_targets_follow_the_teacher(clips):
    """With distill_weight 1 the labels are replaced by the teacher's probabilities: a teacher
    that always says "anger" pulls the student's predictions there; without it they are not."""
    import keras
    import numpy as np

    from converters.train import fit, keras_predict, load_clipset, session_stats, window_inputs
    from edgeser.frontend import Frontend

    data = load_clipset(clips, LABELS)
    constant = keras.Sequential([
        keras.Input((TINY.window_frames, 40, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax", kernel_initializer="zeros",
                           bias_initializer=keras.initializers.Constant([6.0, 0.0, 0.0])),
    ])  # fmt: skip
    frontend = Frontend()
    x = window_inputs(frontend, data, TINY, rng=None, stats=session_stats(frontend, data))
    share = {}
    for weight in (0.0, 1.0):
        cfg = dataclasses.replace(TINY, epochs=6, distill_weight=weight)
        student = fit(data, None, cfg, fixed_epochs=6, distill_teacher=constant).model
        share[weight] = float(np.mean(keras_predict(student, x).argmax(axis=1) == 0))
    assert share[1.0] >= 0.9 and share[1.0] - share[0.0] >= 0.3, share
