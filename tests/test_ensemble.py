"""One-graph ensembles: converters.ensemble.average_members, TrainConfig.members, and the int8
ensemble through the device runtime."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from converters.ensemble import average_members
from converters.evaluate import fold_model_key
from converters.models import build_conv_lstm, count_macs
from converters.train import TrainConfig

SHAPE = (48, 16, 1)


def _members(n: int, classes: int = 3) -> list:
    import keras

    nets = []
    for seed in range(n):
        keras.utils.set_random_seed(seed)
        nets.append(build_conv_lstm(SHAPE, classes, (4, 8), 8, 8, 0.0, sequence_pooling="mean"))
    return nets


def _inputs(n: int, seed: int = 0) -> np.ndarray:
    """Float model inputs (n, frames, bands, 1) of the order of normalised log-Mel values."""
    return np.random.default_rng(seed).normal(0, 1.5, size=(n, *SHAPE)).astype(np.float32)


def test_output_is_the_mean_of_the_members():
    members = _members(3)
    x = _inputs(5)
    expected = np.mean([m.predict(x, verbose=0) for m in members], axis=0)
    ensemble = average_members(members)
    got = ensemble.predict(x, verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert [m.name for m in members] == ["member0", "member1", "member2"]
    assert count_macs(ensemble) == sum(count_macs(m) for m in members)


def test_bad_members_raise_value_error():
    (one,) = _members(1)
    with pytest.raises(ValueError, match="at least two"):
        average_members([one])
    other = build_conv_lstm((48, 16, 1), 4, (4, 8), 8, 8, 0.0)
    with pytest.raises(ValueError, match="output shape"):
        average_members([one, other])
    wider = build_conv_lstm((64, 16, 1), 3, (4, 8), 8, 8, 0.0)
    with pytest.raises(ValueError, match="input shape"):
        average_members([one, wider])


def test_saved_ensemble_loads_with_the_same_outputs(tmp_path):
    import keras

    ensemble = average_members(_members(2))
    ensemble.save(tmp_path / "e.keras")
    again = keras.models.load_model(tmp_path / "e.keras")
    x = _inputs(3, seed=1)
    np.testing.assert_array_equal(again.predict(x, verbose=0), ensemble.predict(x, verbose=0))


def test_int8_ensemble_is_one_graph_close_to_the_float_ensemble(tmp_path):
    """The converted ensemble: one int8 input and output, fully integer (export_model raises
    otherwise), about the members' bytes summed, and its probabilities (through the device
    runtime) within int8 error of the float ensemble's."""
    from converters.export import export_model
    from edgeser.frontend import FrontendConfig
    from edgeser.model import EmotionModel
    from edgeser.normalisation import Normalisation

    members = _members(2)
    ensemble = average_members(members)
    norm = Normalisation("fixed")
    rng = np.random.default_rng(2)
    windows_q7 = rng.normal(60 * 128, 25 * 128, size=(64, SHAPE[0], SHAPE[1])).astype(np.int16)
    common = dict(
        labels=["a", "b", "c"],
        frontend=FrontendConfig(num_bands=SHAPE[1]),
        normalisation=norm,
        window_frames=SHAPE[0],
        representative=norm.to_float(windows_q7)[..., None].astype(np.float32),
        float_twin=False,
    )
    export_model(members[0], tmp_path / "one.tflite", name="one", **common)
    meta = export_model(ensemble, tmp_path / "two.tflite", name="two", **common)
    single = (tmp_path / "one.tflite").stat().st_size
    assert 1.6 * single < meta.tflite_bytes < 2.2 * single
    model = EmotionModel(tmp_path / "two.tflite")
    assert model.meta.input.dtype == "int8" and model.meta.output.dtype == "int8"
    got = model.predict(windows_q7)
    q = model.meta.input
    x_int8 = model.model_input(windows_q7).astype(np.float32)
    want = ensemble.predict((x_int8 - q.zero_point) * q.scale, verbose=0)
    assert np.abs(got - want).max() < 0.08
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.9


def test_member_configs_and_cache_keys():
    cfg = TrainConfig(seed=4, members=3)
    seeds = [m.seed for m in cfg.member_configs()]
    assert seeds == [4, 5, 6]
    assert all(m.members == 1 for m in cfg.member_configs())
    assert TrainConfig().member_configs() == [TrainConfig()]
    with pytest.raises(ValueError):
        TrainConfig(members=0).member_configs()
    # A recipe recorded before the field existed reads as one network.
    old = TrainConfig().to_dict()
    added = (
        "members", "distill_weight", "distill_members", "periodicity_bands", "quant_noise",
        "corpus_epoch", "cell_clip",
    )  # fmt: skip
    for name in added:  # fields added since keys were first made
        del old[name]
    assert TrainConfig.from_dict(old).members == 1
    # A member's cache key is the key it had before ensembles existed.
    import hashlib
    import json

    what = {"train_config": old, "protocol": "p", "fold": "f", "labels": ["a"], "train": []}
    before = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()
    assert fold_model_key(TrainConfig(), "p", "f", ["a"], []) == before[:20]
    clipped = dataclasses.replace(TrainConfig(), cell_clip=3.0)  # a new field's value: a new key
    assert fold_model_key(clipped, "p", "f", ["a"], []) != before[:20]
    with pytest.raises(ValueError, match="one network"):
        fold_model_key(dataclasses.replace(cfg), "p", "f", ["a"], [])
    distilled = TrainConfig(distill_weight=0.5)
    assert fold_model_key(distilled, "p", "f", ["a"], []) != before[:20]
    assert fold_model_key(TrainConfig(quant_noise=1.0), "p", "f", ["a"], []) != before[:20]
    largest = TrainConfig(corpus_epoch="largest")
    assert fold_model_key(largest, "p", "f", ["a"], []) != before[:20]
    teacher = distilled.distill_teacher_config()
    assert teacher.members == 2 and teacher.distill_weight == 0.0
    assert [m.seed for m in teacher.member_configs()] == [0, 1]
    # the teacher's networks are the plain recipe's seeds 0 and 1: the same cache keys
    assert fold_model_key(teacher.member_configs()[0], "p", "f", ["a"], []) == before[:20]
