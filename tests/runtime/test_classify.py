"""Whole-file classification (edgeser.classify) and events (edgeser.events)."""

import numpy as np
import pytest

from edgeser import AudioError, EmotionModel, classify_file, classify_files, classify_pcm
from edgeser.audio import load_pcm16, write_wav_pcm16
from edgeser.classify import window_starts
from edgeser.events import CIRCUMPLEX, EmotionEvent, arousal_valence
from edgeser.examples import example_path
from edgeser.frontend import Frontend
from edgeser.vad import voiced_stats


@pytest.fixture(scope="module")
def model():
    return EmotionModel()


def test_window_starts():
    assert window_starts(197, 198, 50) == []
    assert window_starts(198, 198, 50) == [0]
    assert window_starts(222, 198, 50) == [0]  # 24 frames left: less than half a hop
    assert window_starts(223, 198, 50) == [0, 25]
    assert window_starts(298, 198, 50) == [0, 50, 100]


def test_example_clip(model):
    result = classify_file(example_path(), model)
    assert result.duration_s == pytest.approx(3.73, abs=0.01)
    assert result.decision is not None and result.decision.label in model.labels
    assert [w.start_s for w in result.windows] == [0.0, 0.5, 1.0, 1.5]
    mean = np.mean([list(w.probabilities.values()) for w in result.windows], axis=0)
    assert np.allclose(list(result.decision.probabilities.values()), mean)
    doc = result.to_dict()
    assert doc["decision"]["label"] == result.decision.label and len(doc["windows"]) == 4


def test_same_audio_in_other_formats_gives_the_same_decision(model, tmp_path):
    pcm = load_pcm16(example_path())
    stereo = tmp_path / "stereo.wav"
    write_wav_pcm16(stereo, np.stack([pcm, pcm], axis=1), 16000)
    a = classify_file(example_path(), model).decision
    b = classify_file(stereo, model).decision
    assert a.probabilities == b.probabilities


def test_too_short_and_silent_audio(model):
    with pytest.raises(AudioError, match="shorter than the model"):
        classify_pcm(np.zeros(16000, np.int16), model)
    silent = classify_pcm(np.zeros(48000, np.int16), model)
    assert silent.decision is None and silent.windows == []


def test_classify_files_with_a_shared_speaker_session(model, tmp_path):
    """One speaker's files: the session mean over all their voiced frames (a bad file in the
    batch is reported in its place and left out of the mean); without: each file's own."""
    pcm = load_pcm16(example_path())
    quieter = (pcm.astype(np.int32) // 2).astype(np.int16)  # the same voice 6 dB down
    reversed_ = pcm[::-1].copy()
    paths = [tmp_path / "a.wav", tmp_path / "short.wav", tmp_path / "b.wav", tmp_path / "c.wav"]
    for path, audio in zip(paths, (pcm, pcm[:8000], quieter, reversed_), strict=True):
        write_wav_pcm16(path, audio, 16000)
    frames = [Frontend().compute(a) for a in (pcm, quieter, reversed_)]
    shared_mean, shared_std = voiced_stats(frames)
    shared = classify_files(paths, model, shared_session=True)
    own = classify_files(paths, model)
    assert isinstance(shared[1], AudioError) and isinstance(own[1], AudioError)
    assert "shorter than the model" in str(shared[1])
    for k, audio in zip((0, 2, 3), (pcm, quieter, reversed_), strict=True):
        expected = classify_pcm(
            audio, model, session_mean_q7=shared_mean, session_std_q7=shared_std
        ).decision
        assert shared[k].decision == expected
        assert own[k].decision == classify_file(paths[k], model).decision
    if model.meta.normalisation.mode == "session":  # the default model's: the mean matters
        assert any(shared[k].decision != own[k].decision for k in (0, 2, 3))


def test_a_session_std_model_classifies_with_the_files_mean_and_deviation(session_std_twin):
    from edgeser.errors import ConfigError

    twin = EmotionModel(session_std_twin)
    pcm = load_pcm16(example_path())
    mean, std = voiced_stats([Frontend().compute(pcm)])
    own = classify_file(example_path(), twin)
    given = classify_pcm(pcm, twin, session_mean_q7=mean, session_std_q7=std)
    assert own.decision == given.decision
    assert own.decision != classify_file(example_path()).decision  # the deviation is used
    with pytest.raises(ConfigError, match="deviation"):
        classify_pcm(pcm, twin, session_mean_q7=mean)


def test_arousal_valence_mapping():
    labels = ["anger", "sadness", "neutral"]
    assert arousal_valence(labels, np.array([1.0, 0, 0])) == CIRCUMPLEX["anger"]
    a, v = arousal_valence(labels, np.array([0.5, 0.5, 0]))
    assert a == pytest.approx((0.8 - 0.5) / 2) and v == pytest.approx((-0.6 - 0.7) / 2)
    assert arousal_valence(["unknown"], np.array([1.0])) == (0.0, 0.0)
    for arousal, valence in CIRCUMPLEX.values():
        assert -1 <= arousal <= 1 and -1 <= valence <= 1


def test_event_from_probabilities():
    e = EmotionEvent.from_probabilities(["a", "b"], np.array([0.25, 0.75]), 0.0, 2.0, 0.5)
    assert e.label == "b" and e.confidence == 0.75
    assert e.to_dict()["probabilities"] == {"a": 0.25, "b": 0.75}
