"""converters.train.representative_windows: the int8 converter's representative set kinds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import converters.train as train
from converters.train import (
    TrainConfig,
    load_clipset,
    representative_windows,
    session_stats,
    window_inputs,
)
from edgeser.datasets import Clip
from edgeser.frontend import Frontend
from edgeser.scoring import HOP_FRAMES, recording_windows
from edgeser.synth import speech_like

LABELS = ["anger", "neutral"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from edgeser.audio import write_wav_pcm16

    folder = tmp_path_factory.mktemp("corpus")
    clips = []
    for s in range(2):
        for k, label in enumerate(LABELS):
            path = folder / f"s{s}_{label}.wav"
            seconds = 2.0 if k == 0 else 3.3  # one window, and several
            write_wav_pcm16(path, speech_like(seconds, seed=10 * s + k, level=0.3), 16000)
            clips.append(Clip(str(path), label, f"spk{s}", "synthetic"))
    return load_clipset(clips, LABELS)


CFG = TrainConfig(filters=(4,), lstm_units=4, dense_units=4, session_subset_probability=0.5)


def _expected_scoring(fe: Frontend, data, cfg: TrainConfig) -> np.ndarray:
    """Every scoring window of each clip, under speaker then file statistics."""
    rows = []
    by_speaker, by_file = session_stats(fe, data, "speaker"), session_stats(fe, data, "file")
    for i, frames in enumerate(data.frames_of(fe)):
        windows = recording_windows(frames, cfg.window_frames, HOP_FRAMES)
        for stats in (by_speaker[i], by_file[i]):
            rows.append(cfg.normalisation.to_float(windows, stats[0], stats[1])[..., None])
    return np.concatenate(rows)


def test_first_is_each_clips_first_window_with_speaker_statistics(data):
    fe = Frontend(CFG.frontend_config())
    got = representative_windows(fe, data, CFG, "first")
    want = window_inputs(fe, data, CFG, rng=None, stats=session_stats(fe, data))
    assert got.dtype == np.float32 and got.shape == (4, CFG.window_frames, 40, 1)
    np.testing.assert_array_equal(got, want)


def test_scoring_is_every_scored_window_under_both_sessions(data):
    fe = Frontend(CFG.frontend_config())
    got = representative_windows(fe, data, CFG, "scoring")
    want = _expected_scoring(fe, data, CFG)
    # 2 s clips give one window, 3.3 s clips more than one; each twice (speaker, file).
    assert got.shape[0] == want.shape[0] > 2 * len(data.clips)
    np.testing.assert_array_equal(got, want)


def test_augmented_adds_one_seeded_training_pass(data):
    fe = Frontend(CFG.frontend_config())
    scoring = representative_windows(fe, data, CFG, "scoring")
    a = representative_windows(fe, data, CFG, "augmented", seed=3)
    b = representative_windows(fe, data, CFG, "augmented", seed=3)
    c = representative_windows(fe, data, CFG, "augmented", seed=4)
    assert a.shape[0] == scoring.shape[0] + len(data.clips)
    np.testing.assert_array_equal(a[: scoring.shape[0]], scoring)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sets_are_capped_evenly(data, monkeypatch):
    fe = Frontend(CFG.frontend_config())
    full = representative_windows(fe, data, CFG, "scoring")
    monkeypatch.setitem(train.CALIBRATION_WINDOWS, "scoring", 3)
    capped = representative_windows(fe, data, CFG, "scoring")
    last = full.shape[0] - 1
    np.testing.assert_array_equal(capped, full[[0, int(np.round(last / 2)), last]])


def test_window_normalisation_takes_no_session_statistics(data):
    from edgeser.normalisation import Normalisation

    cfg = dataclasses.replace(CFG, normalisation=Normalisation("window"))
    fe = Frontend(cfg.frontend_config())
    got = representative_windows(fe, data, cfg, "scoring")
    windows = [recording_windows(f, cfg.window_frames, HOP_FRAMES) for f in data.frames_of(fe)]
    assert got.shape[0] == sum(w.shape[0] for w in windows)


def test_unknown_kind_is_a_value_error(data):
    fe = Frontend(CFG.frontend_config())
    with pytest.raises(ValueError, match="calibration must be one of first, scoring, augmented"):
        representative_windows(fe, data, CFG, "everything")
