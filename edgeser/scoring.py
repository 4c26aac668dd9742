"""Score labelled recordings with the device runtime (frontend, gate, model interpreter).

Used by ``edgeser check``, ``edgeser bench --data`` and the training evaluation's int8 column,
so every figure comes from the code that runs on the device.

Sessions (how the ``"session"`` normalisation's statistics are taken):

``"speaker"``
    one session per speaker: the mean of the voiced frames of all that speaker's recordings
    (the device after it has listened to the person for a while; the peer's per-speaker
    standardisation).
``"file"``
    one session per recording (the device meeting every utterance cold).

Each recording's probabilities are the mean over its windows (:func:`edgeser.classify.
window_starts`), all windows scored whether voiced or not, so every recording gets a decision.
Recordings shorter than the model window are padded with trailing zeros (silence).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from edgeser.classify import window_starts
from edgeser.errors import ConfigError
from edgeser.frontend import Frontend
from edgeser.model import EmotionModel
from edgeser.vad import VadConfig, voiced_stats

SESSIONS = ("speaker", "file")
HOP_FRAMES = 50


def recording_windows(frames_q7: np.ndarray, window_frames: int, hop_frames: int) -> np.ndarray:
    """All scoring windows of one recording's frames: (n, window_frames, bands), int16."""
    if frames_q7.shape[0] < window_frames:
        pad = np.zeros((window_frames - frames_q7.shape[0], frames_q7.shape[1]), np.int16)
        frames_q7 = np.concatenate((frames_q7, pad))
    starts = window_starts(frames_q7.shape[0], window_frames, hop_frames)
    return np.stack([frames_q7[s : s + window_frames] for s in starts])


def session_stats(
    frames: Sequence[np.ndarray],
    speakers: Sequence[str],
    session: str,
    vad: VadConfig | None = None,
    mel_bands: int | None = None,
) -> list[np.ndarray | None]:
    """The session statistics ``[mean_q7, std_q7]`` ((2, features) int64, or None when nothing
    was voiced) for each recording (``mel_bands``: as :class:`edgeser.vad.VoiceGate`)."""
    if session not in SESSIONS:
        raise ConfigError(f"session must be one of {', '.join(SESSIONS)}: {session!r}")
    if session == "file":
        return [voiced_stats([f], vad, mel_bands) for f in frames]
    groups: dict[str, list[np.ndarray]] = {}
    for f, speaker in zip(frames, speakers, strict=True):
        groups.setdefault(speaker, []).append(f)
    stats = {speaker: voiced_stats(group, vad, mel_bands) for speaker, group in groups.items()}
    return [stats[s] for s in speakers]


def no_session_stats(bands: int) -> np.ndarray:
    """The statistics used when a session has no voiced frame: mean 0, deviation 20 dB."""
    return np.stack((np.zeros(bands, np.int64), np.full(bands, 20 * 128, np.int64)))


def score_recordings(
    model: EmotionModel,
    pcm: Sequence[np.ndarray],
    speakers: Sequence[str],
    session: str = "speaker",
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Class probabilities (recordings, classes) in the model's label order.

    ``pcm``: int16 mono recordings at the model's sample rate; ``speakers``: one id each."""
    frontend = Frontend(model.meta.frontend)
    frames = [frontend.compute(p) for p in pcm]
    fe = model.meta.frontend
    all_stats = session_stats(frames, speakers, session, mel_bands=fe.num_bands)
    silent = no_session_stats(fe.num_features)
    needs_session = model.meta.normalisation.mode == "session"
    out = np.zeros((len(frames), len(model.labels)))
    for i, (f, stats) in enumerate(zip(frames, all_stats, strict=True)):
        windows = recording_windows(f, model.meta.window_frames, HOP_FRAMES)
        mean, std = silent if stats is None else stats
        probs = model.predict(windows, mean, std) if needs_session else model.predict(windows)
        out[i] = probs.mean(axis=0)
        if progress is not None:
            progress(1)
    return out
