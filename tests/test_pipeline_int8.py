"""End to end on a tiny model: train a few steps, convert to int8, run the device path.

Synthetic labelled clips (so it runs anywhere); the real-corpus training is a benchmark.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from converters.export import export_model
from converters.train import (
    ClipSet,
    SessionSampler,
    TrainConfig,
    epoch_order,
    fit,
    predict_clips,
    session_stats,
    window_inputs,
)
from edgeser import scoring
from edgeser.datasets import Clip
from edgeser.frontend import Frontend, FrontendConfig
from edgeser.model import EmotionModel, ModelError, read_meta
from edgeser.normalisation import Normalisation
from edgeser.synth import speech_like

LABELS = ["neutral", "anger", "sadness"]


def synthetic_clips(n_per_class: int, seed: int) -> ClipSet:
    """Three 'emotions' that differ in level and brightness, enough to learn in a few steps."""
    rng = np.random.default_rng(seed)
    clips, pcm, labels = [], [], []
    for k, label in enumerate(LABELS):
        for i in range(n_per_class):
            x = speech_like(2.0, seed=int(rng.integers(1 << 30)), level=(0.1, 0.8, 0.03)[k])
            if label == "anger":  # brighter: emphasise highs
                x = np.clip(np.diff(x.astype(np.int32), prepend=0) * 3, -32768, 32767)
                x = x.astype(np.int16)
            clips.append(Clip(f"synthetic/{label}{i}.wav", label, f"spk{i % 3}", "synthetic"))
            pcm.append(x)
            labels.append(k)
    return ClipSet(clips, pcm, np.array(labels), LABELS)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cfg = TrainConfig(
        filters=(4, 8),
        lstm_units=8,
        dense_units=8,
        epochs=3,
        patience=3,
        batch_size=8,
        augment=False,
        normalisation=Normalisation("fixed"),
    )
    train, val = synthetic_clips(6, seed=1), synthetic_clips(2, seed=2)
    result = fit(train, val, cfg)
    frontend = Frontend()
    rep = window_inputs(frontend, train, cfg, rng=None)
    out = tmp_path_factory.mktemp("model") / "tiny.tflite"
    meta = export_model(
        result.model,
        out,
        name="tiny",
        labels=LABELS,
        frontend=frontend.config,
        normalisation=cfg.normalisation,
        window_frames=cfg.window_frames,
        representative=rep,
        training={"clips": len(train.clips)},
    )
    x_val = window_inputs(frontend, val, cfg, rng=None)
    return out, meta, result.model, val, x_val, cfg


def test_int8_model_and_metadata(exported):
    out, meta, *_ = exported
    assert meta.input.dtype == "int8" and meta.output.dtype == "int8"
    assert meta.labels == tuple(LABELS) and meta.frontend == FrontendConfig()
    assert read_meta(out) == meta
    assert (out.parent / "tiny.float32.tflite").exists()


def test_int8_path_agrees_with_float_model(exported):
    out, _, keras_model, val, x_val, cfg = exported
    model = EmotionModel(out)
    frontend = Frontend()
    windows = np.stack([frontend.compute(p)[: cfg.window_frames] for p in val.pcm])
    int8_probs = model.predict(windows)
    float_probs = keras_model.predict(x_val, verbose=0)
    assert int8_probs.shape == float_probs.shape == (len(val.clips), 3)
    assert np.abs(int8_probs - float_probs).max() < 0.1
    assert np.mean(int8_probs.argmax(1) == float_probs.argmax(1)) >= 0.8


def test_tampered_or_mismatched_model_is_refused(exported, tmp_path):
    out, meta, *_ = exported
    bad = tmp_path / "bad.tflite"
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    (tmp_path / "bad.json").write_text(meta.to_json())
    with pytest.raises(ModelError, match="sha256"):
        EmotionModel(bad)
    with pytest.raises(ModelError, match="frontend"):
        EmotionModel(out, frontend=FrontendConfig(num_bands=32))
    (tmp_path / "nometa.tflite").write_bytes(out.read_bytes())
    with pytest.raises(ModelError, match="metadata"):
        EmotionModel(tmp_path / "nometa.tflite")


@pytest.mark.parametrize("session_std", [False, True])
def test_training_uses_the_device_session_stats_and_windows(session_std):
    """No train/serve skew: the session statistics and scoring windows of training are the
    device's."""
    data = synthetic_clips(2, seed=3)
    # Zero padding (as EMO-DB's) must not enter the voiced mean.
    data.pcm[0] = np.concatenate([data.pcm[0], np.zeros(8000, np.int16)])
    data.pcm[1] = data.pcm[1][:20000]  # shorter than a window: padded, one window
    frontend = Frontend()
    frames = [frontend.compute(p) for p in data.pcm]
    speakers = [c.speaker for c in data.clips]
    for session in ("speaker", "file"):
        ours = session_stats(frontend, data, session)
        device = scoring.session_stats(frames, speakers, session)
        assert all(np.array_equal(a, b) for a, b in zip(ours, device, strict=True))
    cfg = TrainConfig(normalisation=Normalisation("session", session_std=session_std))
    seen = []
    stats = session_stats(frontend, data)

    def record(batch):
        seen.append(batch)
        return np.full((batch.shape[0], 3), 1 / 3)

    predict_clips(record, frontend, data, cfg, stats)
    expected = [
        cfg.normalisation.to_float(
            scoring.recording_windows(f, cfg.window_frames, scoring.HOP_FRAMES), m, s
        )
        for f, (m, s) in zip(frames, stats, strict=True)
    ]
    assert np.array_equal(seen[0][..., 0], np.concatenate(expected))


def test_session_subsets_include_the_clip_and_balance_corpora():
    data = synthetic_clips(4, seed=4)
    frontend = Frontend()
    sampler = SessionSampler(frontend, data, p=1.0)
    rng = np.random.default_rng(0)
    speaker_mean = session_stats(frontend, data)
    file_mean = session_stats(frontend, data, "file")
    draws = [sampler.stats(0, rng) for _ in range(50)]
    # Each draw is a mean over the clip plus some of its speaker's other clips.
    assert any(np.array_equal(d, file_mean[0]) for d in draws)
    assert any(np.array_equal(d, speaker_mean[0]) for d in draws)
    assert np.array_equal(SessionSampler(frontend, data, 0.0).stats(0, rng), speaker_mean[0])
    two = ClipSet(
        data.clips[:3] + [Clip(c.path, c.label, c.speaker, "other") for c in data.clips[3:]],
        data.pcm,
        data.labels,
        LABELS,
    )
    order = epoch_order(two, np.random.default_rng(0))
    corpora = [two.clips[i].corpus for i in order]
    assert corpora.count("synthetic") == corpora.count("other") == 3
    assert len(set(order.tolist())) == 6
    # Two corpora of 2 and 5 clips: "smallest" takes 2 of each (each epoch another 2 of the
    # five), "largest" 5 of each (the pair repeated: both twice, one of them thrice).
    uneven = ClipSet(
        data.clips[:2] + [Clip(c.path, c.label, c.speaker, "other") for c in data.clips[2:7]],
        data.pcm[:7],
        data.labels[:7],
        LABELS,
    )
    rng = np.random.default_rng(1)
    small = [epoch_order(uneven, rng) for _ in range(5)]
    assert all(sorted(o[o < 2].tolist()) == [0, 1] and np.sum(o >= 2) == 2 for o in small)
    assert len({int(i) for o in small for i in o if i >= 2}) > 2  # the five take turns
    large = epoch_order(uneven, rng, "largest")
    counts = np.bincount(large, minlength=7)
    assert len(large) == 10 and sorted(counts[:2].tolist()) == [2, 3]
    assert counts[2:].tolist() == [1] * 5
    with pytest.raises(ValueError, match="largest"):
        epoch_order(uneven, rng, "biggest")


def test_training_is_deterministic():
    cfg = TrainConfig(
        filters=(4,),
        lstm_units=4,
        dense_units=4,
        epochs=1,
        batch_size=8,
        session_subset_probability=0.5,
        normalisation=Normalisation("session"),
    )
    train, val = synthetic_clips(3, seed=5), synthetic_clips(1, seed=6)
    a, b = fit(train, val, cfg), fit(train, val, cfg)
    assert a.history == b.history
    pairs = zip(a.model.get_weights(), b.model.get_weights(), strict=True)
    assert all(np.array_equal(x, y) for x, y in pairs)


def test_clip_frames_follow_the_frontend_config():
    """A ClipSet's cached frames and voiced flags belong to one frontend config: another config
    (periodicity columns) computes them afresh, and subsets carry the config along."""
    data = synthetic_clips(1, seed=6)
    mel, wide = Frontend(), Frontend(FrontendConfig(periodicity_bands=8))
    assert data.frames_of(mel)[0].shape[1] == 40
    flags = data.voiced_of(mel)
    assert data.frames_of(wide)[0].shape[1] == 48
    assert data.voiced is None  # dropped with the old frames
    assert all(np.array_equal(a, b) for a, b in zip(data.voiced_of(wide), flags, strict=True))
    part = data.subset([0, 2])
    assert part.frames_config == wide.config and part.frames_of(wide)[0].shape[1] == 48
    stats = session_stats(wide, data)
    assert stats[0].shape == (2, 48)
    x = window_inputs(wide, data, TrainConfig(periodicity_bands=8), rng=None, stats=stats)
    assert x.shape == (3, 198, 48, 1)


def test_gain_augmentation_moves_only_the_mel_means():
    from converters.train import with_gain

    session = np.stack((np.full(48, 7000, np.int64), np.full(48, 900, np.int64)))
    moved = with_gain(session, 2.5, mel_bands=40)
    assert (moved[0, :40] == 7000 + 320).all() and (moved[0, 40:] == 7000).all()
    assert (moved[1] == 900).all() and (session[0] == 7000).all()
