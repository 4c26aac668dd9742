"""The voice-activity gate and the session statistics (edgeser/vad.py)."""

import math

import numpy as np
import pytest

from edgeser.errors import ConfigError
from edgeser.frontend import Frontend
from edgeser.synth import speech_like
from edgeser.vad import (
    SessionMean,
    VadConfig,
    VoiceGate,
    frame_levels_q7,
    isqrt,
    voiced_flags,
    voiced_mean,
    voiced_stats,
)


def _frames(pcm):
    return Frontend().compute(pcm.astype(np.int16))


def test_digital_silence_and_quiet_noise_are_not_voiced():
    assert not voiced_flags(_frames(np.zeros(16000))).any()
    noise = np.random.default_rng(0).normal(0, 30, 32000)
    assert not voiced_flags(_frames(noise)).any()


def test_speech_after_silence_is_voiced_and_pauses_are_not():
    rng = np.random.default_rng(1)
    quiet = rng.normal(0, 20, 16000)
    loud = speech_like(1.0, seed=3, level=0.4).astype(np.float64)
    pcm = np.concatenate((quiet, loud, quiet))
    voiced = voiced_flags(_frames(pcm))
    first, middle, last = voiced[:90], voiced[110:190], voiced[-80:]
    assert not first.any()
    assert middle.mean() > 0.5
    assert not last.any()


def test_streaming_gate_equals_one_shot_for_any_split():
    frames = _frames(np.random.default_rng(2).normal(0, 3000, 48000) * np.repeat(
        np.random.default_rng(3).random(12) > 0.5, 4000))  # fmt: skip
    whole = voiced_flags(frames)
    for cut in (1, 7, 100, 250):
        gate = VoiceGate()
        parts = [gate.process(frames[i : i + cut]) for i in range(0, frames.shape[0], cut)]
        assert np.array_equal(np.concatenate(parts), whole)


def test_noise_floor_follows_dips_at_once_and_rises_slowly():
    levels = np.array([60, 40, 80, 80, 80]) * 128
    frames = np.repeat(levels[:, None], 40, axis=1).astype(np.int16)
    gate = VoiceGate(VadConfig(absolute_db=35, margin_db=12, rise_shift=8))
    voiced = gate.process(frames)
    assert voiced.tolist() == [False, False, True, True, True]
    # after a dip to 40 dB the floor climbs by 1/256 of the gap per frame
    assert 40 * 128 < gate.noise_floor_q7 < 41 * 128


def test_frame_level_is_floor_of_band_mean():
    frames = np.array([[1, 2, 2], [-1, 0, 0]], dtype=np.int16)
    assert frame_levels_q7(frames).tolist() == [1, -1]


def test_session_mean_rounds_half_to_even_and_ignores_unvoiced():
    mean = SessionMean(2)
    assert mean.mean_q7() is None
    mean.add(np.array([[1, 3], [2, 4], [100, 100]]), np.array([True, True, False]))
    assert mean.mean_q7().tolist() == [2, 4]  # 1.5 -> 2, 3.5 -> 4
    mean.add(np.array([[1, 1]]), np.array([True]))
    assert mean.mean_q7().tolist() == [1, 3]  # 4/3 -> 1, 8/3 -> 3
    mean.reset()
    assert mean.count == 0 and mean.mean_q7() is None


def test_voiced_mean_over_recordings_matches_numpy():
    rng = np.random.default_rng(4)
    recs = [_frames(speech_like(2.0, seed=s) + rng.normal(0, 5, 32000)) for s in range(3)]
    got = voiced_mean(recs)
    chosen = np.concatenate([r[voiced_flags(r)] for r in recs]).astype(np.float64)
    assert np.abs(got - chosen.mean(axis=0)).max() <= 0.5
    assert voiced_mean([]) is None
    assert voiced_mean([np.zeros((10, 40), np.int16)]) is None


def test_session_deviation_is_integer_and_matches_numpy():
    rng = np.random.default_rng(5)
    frames = rng.normal(7000, 900, (300, 40)).round().astype(np.int16)
    frames[:, 0] = 5000  # a constant band: deviation 0
    voiced = rng.random(300) < 0.7
    stats = SessionMean(40)
    assert stats.std_q7() is None and stats.stats_q7() is None
    stats.add(frames[:150], voiced[:150])
    stats.add(frames[150:], voiced[150:])
    chosen = frames[voiced].astype(np.float64)
    std = stats.std_q7()
    assert std.dtype == np.int64 and std[0] == 0
    assert np.abs(std - chosen.std(axis=0)).max() < 1.0  # floor(sqrt), about the rounded mean
    assert np.array_equal(stats.stats_q7(), np.stack((stats.mean_q7(), std)))
    gated = SessionMean(40)
    gated.add(frames, voiced_flags(frames))
    assert np.array_equal(voiced_stats([frames]), gated.stats_q7())


def test_a_session_without_deviation_says_so():
    stats = SessionMean(2, deviation=False)
    stats.add(np.array([[1, 3], [2, 4]]), np.array([True, True]))
    assert stats.mean_q7().tolist() == [2, 4]
    with pytest.raises(ConfigError, match="deviation"):
        stats.std_q7()


def test_isqrt_is_exact():
    values = np.array([0, 1, 2, 3, 4, 15, 16, 17, 2**40 - 1, 2**40, (2**26 - 1) ** 2])
    got = isqrt(values)
    assert got.tolist() == [math.isqrt(int(v)) for v in values]


def test_bad_vad_config_is_refused():
    with pytest.raises(ConfigError):
        VadConfig(rise_shift=40)
    with pytest.raises(ConfigError):
        VadConfig(margin_db=-1)
    assert VadConfig.from_dict(VadConfig().to_dict()) == VadConfig()


def test_periodicity_columns_leave_the_gate_alone():
    """With periodicity columns after the Mel bands the frame level is the Mel bands' mean
    (the same flags as without them); the session statistics cover every column."""
    from edgeser.frontend import FrontendConfig

    cfg = FrontendConfig(periodicity_bands=16)
    rng = np.random.default_rng(4)
    pcm = np.concatenate((rng.normal(0, 20, 8000), speech_like(1.0, seed=5, level=0.3)))
    wide = Frontend(cfg).compute(pcm.astype(np.int16))
    mel = wide[:, :40]
    flags = voiced_flags(wide, mel_bands=40)
    assert np.array_equal(flags, voiced_flags(mel))
    assert not np.array_equal(flags, voiced_flags(wide))  # all 56 columns: another level
    stats = voiced_stats([wide], mel_bands=40)
    assert stats.shape == (2, 56)
    assert np.array_equal(stats[:, :40], voiced_stats([mel]))
