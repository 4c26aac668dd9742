"""The streaming Recognizer on the embedded default model (real LiteRT interpreter)."""

import numpy as np
import pytest

from edgeser import EmotionModel, Recognizer, RecognizerSettings
from edgeser.audio import load_pcm16
from edgeser.errors import ConfigError
from edgeser.examples import example_path
from edgeser.frontend import Frontend
from edgeser.synth import speech_like
from edgeser.vad import SessionMean, voiced_flags, voiced_stats


@pytest.fixture(scope="module")
def model():
    return EmotionModel()


@pytest.fixture(scope="module")
def hello():
    return load_pcm16(example_path())


def _stream(rec, pcm, sizes):
    events, i, k = [], 0, 0
    while i < pcm.shape[0]:
        n = sizes[k % len(sizes)]
        events += rec.feed(pcm[i : i + n])
        i, k = i + n, k + 1
    return events + rec.flush()


def test_events_do_not_depend_on_chunking(model, hello):
    rec = Recognizer(model)
    reference = _stream(rec, hello, [hello.shape[0]])
    assert len(reference) >= 3
    rng = np.random.default_rng(0)
    for sizes in ([1, 159, 161], [4000], list(rng.integers(1, 5000, 20))):
        rec.reset()
        assert _stream(rec, hello, sizes) == reference


def test_event_timing_follows_the_hop_and_window(model, hello):
    events = _stream(Recognizer(model), hello, [1600])
    window_s = ((model.meta.window_frames - 1) * 160 + 400) / 16000
    for i, e in enumerate(events[:-1]):
        assert e.start_s == pytest.approx(0.5 * i)
        assert e.end_s == pytest.approx(0.5 * i + window_s)
    assert events[-1].end_s <= hello.shape[0] / 16000 + 1e-9
    for e in events:
        assert set(e.probabilities) == set(model.labels)
        assert sum(e.probabilities.values()) == pytest.approx(1.0, abs=0.05)
        assert e.label == max(e.probabilities, key=e.probabilities.get)
        assert -1 <= e.arousal <= 1 and -1 <= e.valence <= 1


def test_unsmoothed_event_is_the_model_on_the_window_with_the_running_session_mean(model, hello):
    rec = Recognizer(model, RecognizerSettings(smoothing=0.0))
    first = rec.feed(hello[:32000])
    assert len(first) == 1
    frames = Frontend().compute(hello[:32000])[: model.meta.window_frames]
    mean, std = voiced_stats([frames])
    expected = model.predict(frames, mean, std)[0]
    got = np.array([first[0].probabilities[label] for label in model.labels])
    assert np.array_equal(got, expected)


def test_a_session_std_model_gets_the_running_deviation_too(hello, session_std_twin):
    """The recognizer's event is the model on the window with the running mean and deviation
    of the voiced frames."""
    z_model = EmotionModel(session_std_twin)
    first = Recognizer(z_model, RecognizerSettings(smoothing=0.0)).feed(hello[:32000])
    frames = Frontend().compute(hello[:32000])[: z_model.meta.window_frames]
    mean, std = voiced_stats([frames])
    expected = z_model.predict(frames, mean, std)[0]
    assert not np.array_equal(expected, EmotionModel().predict(frames, mean)[0])
    got = np.array([first[0].probabilities[label] for label in z_model.labels])
    assert np.array_equal(got, expected)


def test_hop_and_longer_decision_window(model, hello):
    one_s = _stream(Recognizer(model, RecognizerSettings(hop_s=1.0)), hello, [800])
    assert [e.start_s for e in one_s[:-1]] == [0.0, 1.0]
    long = _stream(Recognizer(model, RecognizerSettings(window_s=3.0, smoothing=0)), hello, [800])
    assert long[0].start_s == 0.0 and long[2].start_s == 0.0  # averages up to 3 model windows
    assert long[-1].end_s - long[-1].start_s == pytest.approx(3.0, abs=0.02)


def test_silence_and_steady_noise_give_no_events(model):
    rec = Recognizer(model)
    assert _stream(rec, np.zeros(5 * 16000, np.int16), [1600]) == []
    noise = np.random.default_rng(0).normal(0, 200, 5 * 16000).astype(np.int16)
    rec.reset()
    assert _stream(rec, noise, [1600]) == []
    assert rec.windows_scored == 0 and rec.windows_unvoiced > 0


def test_threshold_suppresses_uncertain_events(model, hello):
    all_events = _stream(Recognizer(model), hello, [1600])
    top = max(e.confidence for e in all_events)
    strict = _stream(
        Recognizer(model, RecognizerSettings(threshold=min(1.0, top + 1e-6))), hello, [1600]
    )
    assert strict == []


def test_smoothing_blends_consecutive_decisions(model, hello):
    raw = _stream(Recognizer(model, RecognizerSettings(smoothing=0.0)), hello, [1600])
    smooth = _stream(Recognizer(model, RecognizerSettings(smoothing=0.5)), hello, [1600])
    p = lambda e: np.array(list(e.probabilities.values()))  # noqa: E731
    assert np.allclose(p(smooth[0]), p(raw[0]))
    assert np.allclose(p(smooth[1]), 0.5 * p(raw[0]) + 0.5 * p(raw[1]))


def test_reset_starts_a_new_session(model, hello):
    rec = Recognizer(model)
    first = _stream(rec, hello, [3000])
    rec.reset()
    assert rec.stream_seconds == 0.0
    assert _stream(rec, hello, [3000]) == first


def test_long_stream_keeps_bounded_buffers(model):
    rec = Recognizer(model)
    pcm = speech_like(30.0, seed=5)
    events = _stream(rec, pcm, [16000])
    assert len(events) > 40
    assert rec._frames.shape[0] <= model.meta.window_frames
    assert rec.stream_seconds == pytest.approx(30.0)


def test_session_mean_is_the_mean_of_voiced_frames_heard(model, hello):
    rec = Recognizer(model)
    rec.feed(hello)
    frames = Frontend().compute(hello)
    assert np.array_equal(rec._session.mean_q7(), voiced_stats([frames])[0])
    assert rec._session.count == int(voiced_flags(frames).sum())


def _two_speakers(hello: np.ndarray, gap_s: float) -> np.ndarray:
    """The example clip, ``gap_s`` of silence, then the clip 12 dB quieter (another voice)."""
    quieter = (hello.astype(np.int32) // 4).astype(np.int16)
    return np.concatenate((hello, np.zeros(round(gap_s * 16000), np.int16), quieter))


def _mean_from(frames: np.ndarray, voiced: np.ndarray, first: int) -> np.ndarray | None:
    expected = SessionMean(frames.shape[1])
    expected.add(frames[first:], voiced[first:])
    return expected.mean_q7()


@pytest.mark.parametrize(("gap_s", "idle_s"), [(3.0, 2.0), (0.3, 0.2)])
def test_session_starts_over_after_an_idle_gap(model, hello, gap_s, idle_s):
    """With ``session_idle_s`` the session mean covers the voiced frames from the first voiced
    frame after the last long enough unvoiced gap; a short idle (0.2 s, under the 0.5 s hop)
    puts the end of one voice and the start of the next in one hop."""
    stream = _two_speakers(hello, gap_s)
    frames = Frontend().compute(stream)
    voiced = voiced_flags(frames)  # one gate over the whole stream, as the recognizer's
    heard = np.flatnonzero(voiced)
    gaps = np.flatnonzero(np.diff(heard) > round(idle_s * 100))  # 10 ms hops
    restart = int(heard[gaps[-1] + 1])
    assert restart > hello.shape[0] // 160  # the last restart is the second voice's start
    for sizes in ([stream.shape[0]], [1600], [1, 3999, 12345]):
        rec = Recognizer(model, RecognizerSettings(session_idle_s=idle_s))
        _stream(rec, stream, sizes)
        assert rec.sessions_started == 1 + gaps.size
        assert np.array_equal(rec._session.mean_q7(), _mean_from(frames, voiced, restart))
    rec = Recognizer(model)  # no idle rule: one session over everything voiced
    _stream(rec, stream, [1600])
    assert rec.sessions_started == 1
    assert np.array_equal(rec._session.mean_q7(), _mean_from(frames, voiced, 0))
    rec = Recognizer(model, RecognizerSettings(session_idle_s=gap_s + 1.0))  # gap too short
    _stream(rec, stream, [1600])
    assert rec.sessions_started == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"hop_s": 0},
        {"threshold": 1.5},
        {"smoothing": 1.0},
        {"min_voiced": -0.1},
        {"window_s": 1.0},
        {"session_idle_s": 0.0},
    ],
)
def test_bad_settings_are_refused(model, changes):
    with pytest.raises(ConfigError):
        Recognizer(model, RecognizerSettings(**changes))


def test_bad_pcm_is_refused(model):
    rec = Recognizer(model)
    with pytest.raises(ValueError):
        rec.feed(np.zeros(100, dtype=np.float32))
    with pytest.raises(ValueError):
        rec.feed(np.zeros((100, 2), dtype=np.int16))
