"""Training of emotion models on the shared fixed-point log-Mel features (workstation only).

The features come from :class:`edgeser.Frontend` itself, on PCM from
:func:`edgeser.audio.load_pcm16`: the very code the device runs, so there is no train/serve
skew. Waveform augmentation (gain, additive noise at a random SNR, speed perturbation, time
shift) is applied to the PCM and the frontend is re-run each epoch (it computes 2 s of audio
in about a millisecond); SpecAugment-style masks act on the features.

Model input: a window of ``window_frames`` frames (198 = 2.0 s) of dB values, normalised as the
:class:`Normalisation` says. Everything that the device defines is taken from the device code,
so training and serving cannot drift apart:

* the ``"session"`` statistics (per-band mean, and deviation for ``session_std``) are those of
  the *voiced* frames (:func:`edgeser.vad.voiced_flags`, :class:`edgeser.vad.SessionMean`, as
  :func:`edgeser.scoring.session_stats`), never of the zero padding or pauses;
* clips are scored by the windows of :func:`edgeser.scoring.recording_windows` (the device's
  :func:`edgeser.classify.window_starts`), whose class probabilities are averaged.

Training crops are random crops of the frames. With ``session_subset_probability`` > 0 a
training window is normalised with the mean of a random subset of its speaker's clips (always
including the clip itself; one clip alone is the device meeting an utterance cold), so the
model tolerates the short-session means the device sees. A gain augmentation moves the session
mean with it (the device's session hears the same gain).

Model selection (the epoch) uses validation speakers taken from the training speakers only,
never the test fold. With more than one corpus in the training set, every epoch draws the same
number of windows from each corpus (:func:`epoch_order`), and class weights balance the classes
within each corpus.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from converters.fast_resample import resample as augment_resample
from edgeser.datasets import Clip, uar
from edgeser.frontend import Frontend, FrontendConfig
from edgeser.normalisation import Normalisation
from edgeser.scoring import HOP_FRAMES, no_session_stats, recording_windows
from edgeser.vad import gated_session, voiced_flags


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (recorded in reports and model metadata)."""

    architecture: str = "conv_lstm"
    filters: tuple[int, ...] = (16, 16, 32, 32)
    lstm_units: int = 32
    dense_units: int = 32
    dropout: float = 0.3
    # Frequency is pooled in the first two blocks only (40 -> 10 bands), and the LSTM states
    # are averaged over time: on EMO-DB folds 03, 09 and 10 this took the float UAR from
    # 41 % (four (2, 2) pools, last state) to 51 % (window normalisation) and 61 % (session).
    # None: (2, 2) for the first two blocks, (2, 1) after (see default_pools).
    pools: tuple[tuple[int, int], ...] | None = None
    # Stride of the first conv in time and frequency; above 1 it replaces the first block's
    # pool (converters.models.build_conv_lstm). int8 kernels handle a one-channel full-size
    # input worst: stride 2 took the conv blocks' int8 invoke from 0.12 to 0.07 ms.
    stem_stride: int = 1
    sequence_pooling: str = "mean"
    window_frames: int = 198
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 2e-3
    patience: int = 10
    seed: int = 0
    augment: bool = True
    # Milder than the usual recipes: on one EMO-DB fold, noise at 5-30 dB SNR half the time,
    # +-10 % speed and two masks of each kind left a 22 k-parameter model underfitting
    # (train UAR 0.62 after 40 epochs).
    noise_probability: float = 0.3
    snr_db: tuple[float, float] = (10.0, 40.0)
    gain_db: tuple[float, float] = (-3.0, 3.0)
    speed: tuple[float, float] = (0.95, 1.05)
    time_masks: int = 1
    time_mask_frames: int = 15
    band_masks: int = 1
    band_mask_bands: int = 4
    # Probability that a training window's session mean comes from a random subset of its
    # speaker's clips (the clip itself plus 0..n-1 others, the size log-uniform) instead of
    # all of them ("session" normalisation only).
    session_subset_probability: float = 0.0
    normalisation: Normalisation = field(default_factory=lambda: Normalisation("session"))
    # How evaluation picks the epoch: "validation" holds out validation speakers from the
    # training speakers and keeps the epoch with their best UAR; "fixed" trains on every
    # training speaker for the whole cosine schedule and keeps the last epoch (nothing is
    # selected on any speaker; the schedule is fixed before the run).
    epoch_selection: str = "validation"
    # Weight of the auxiliary teacher loss (0: none). With a weight, a linear head on the
    # utterance summary regresses the clip's teacher targets (see converters/teacher.py:
    # principal components of openSMILE ComParE functionals, fitted on the training clips
    # only); the head is training-only and is not part of the exported model.
    teacher_weight: float = 0.0
    teacher_dims: int = 16
    # What the teacher head regresses (converters.teacher.TEACHER_KINDS): "pca" the
    # functionals' principal components, "peer" the cross-fitted peer SVM's decision values
    # (distillation), "pca+peer" both.
    teacher_kind: str = "pca"
    # Mixup (Zhang et al. 2018): with alpha > 0 every training window is blended with another
    # window of the same epoch, x = l * x_i + (1 - l) * x_j with l ~ Beta(alpha, alpha); the
    # one-hot labels, loss weights and teacher targets are blended alike. 0: off.
    mixup_alpha: float = 0.0
    # Networks trained (seeds seed, seed + 1, ...; otherwise this same recipe) and averaged in
    # one graph (converters.ensemble.average_members): one int8 model whose cost is the
    # members' summed, one input and one output as a single network's.
    members: int = 1
    # Distillation from an ensemble: with a weight w > 0, every training window's target is
    # (1 - w) * its one-hot label + w * the class probabilities that a teacher gives that very
    # window (augmented as the student sees it). The teacher is distill_members networks of
    # this recipe without distillation (distill_teacher_config), trained first on the same
    # clips; it is training-only: the exported model is the one student network. 0: off.
    distill_weight: float = 0.0
    distill_members: int = 2
    # Periodicity columns after the 40 Mel bands (edgeser.frontend.periodicity): the frames'
    # autocorrelation over 80..400 Hz pitch periods, the pitch that the Mel bands barely
    # resolve. 0: none (the frontend of every model before this field).
    periodicity_bands: int = 0
    # Pseudo-quantisation noise (converters.quant_noise): while training, uniform noise of
    # this many int8 steps on the input and on every activation the int8 graph rounds, so the
    # float weights learn to tolerate the rounding (float vs int8 agreement). 0: off.
    quant_noise: float = 0.0
    # With several corpora in the training set, how many clips of each an epoch holds
    # (epoch_order): "smallest", the smallest corpus' size (a larger corpus is sub-sampled: with
    # EMO-DB's 411 clips beside RAVDESS's 1,200, RAVDESS gets a third of its per-corpus
    # exposure); "largest", the largest's (a smaller corpus repeated; epochs cost more).
    corpus_epoch: str = "smallest"
    # Bound of the LSTM's cell state, applied at every step in training and in the converted
    # graph alike (converters.models.ClippedLSTMCell; TANH_SATURATION = 3.118 is where int8
    # tanh saturates). Unclipped, the state's calibrated int8 range grows about one unit per
    # step (+-11 over 12 steps), the largest rounding error left in the int8 LSTM. 0: off.
    cell_clip: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def frontend_config(self) -> FrontendConfig:
        """The frontend this recipe trains on (and its model runs on)."""
        return FrontendConfig(periodicity_bands=self.periodicity_bands)

    def distill_teacher_config(self) -> TrainConfig:
        """The recipe of the distillation teacher: ``distill_members`` networks of this recipe
        (seeds ``seed``, ``seed + 1``, ...) without distillation, averaged."""
        if self.distill_members < 1:
            raise ValueError(f"distill_members must be >= 1, got {self.distill_members}")
        return dataclasses.replace(
            self, members=self.distill_members, distill_weight=0.0, distill_members=2
        )

    def member_configs(self) -> list[TrainConfig]:
        """The recipe of each network of the model: ``members`` single networks, seeds
        ``seed``, ``seed + 1``, ... (just this recipe when ``members`` is 1)."""
        if self.members < 1:
            raise ValueError(f"members must be >= 1, got {self.members}")
        return [
            dataclasses.replace(self, members=1, seed=self.seed + i) for i in range(self.members)
        ]

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Inverse of :meth:`to_dict` (JSON lists back to tuples)."""
        tc = dict(data)
        tc["normalisation"] = Normalisation.from_dict(tc["normalisation"])
        for key in ("filters", "snr_db", "gain_db", "speed"):
            tc[key] = tuple(tc[key])
        if tc.get("pools") is not None:
            tc["pools"] = tuple(tuple(p) for p in tc["pools"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in tc.items() if k in known})


@dataclass
class ClipSet:
    """Clips with their PCM (int16, frontend rate) and label indices; the clean frames and
    their voiced flags are computed once per frontend config, on first use
    (:meth:`frames_of`)."""

    clips: list[Clip]
    pcm: list[np.ndarray]
    labels: np.ndarray
    label_names: list[str]
    frames: list[np.ndarray] | None = None
    voiced: list[np.ndarray] | None = None
    frames_config: FrontendConfig | None = None
    """The config that ``frames`` and ``voiced`` were computed with."""

    def subset(self, index: Sequence[int]) -> ClipSet:
        idx = list(index)
        return ClipSet(
            [self.clips[i] for i in idx],
            [self.pcm[i] for i in idx],
            self.labels[idx],
            self.label_names,
            [self.frames[i] for i in idx] if self.frames is not None else None,
            [self.voiced[i] for i in idx] if self.voiced is not None else None,
            self.frames_config,
        )

    def frames_of(self, frontend: Frontend) -> list[np.ndarray]:
        """The frontend's frames of every clip (no augmentation), cached; another frontend
        config computes them afresh."""
        if self.frames is None or self.frames_config != frontend.config:
            self.frames = [frontend.compute(p) for p in self.pcm]
            self.voiced = None
            self.frames_config = frontend.config
        return self.frames

    def voiced_of(self, frontend: Frontend) -> list[np.ndarray]:
        """The device's voiced flags of every clip (a fresh gate per clip), cached."""
        frames = self.frames_of(frontend)
        if self.voiced is None:
            mel = frontend.config.num_bands
            self.voiced = [voiced_flags(f, mel_bands=mel) for f in frames]
        return self.voiced

    @property
    def speakers(self) -> list[str]:
        return [c.speaker for c in self.clips]


def load_clipset(clips: Sequence[Clip], label_names: Sequence[str], rate: int = 16000) -> ClipSet:
    """Read every clip's PCM once (resampled to ``rate``)."""
    from edgeser.audio import load_pcm16

    index = {name: i for i, name in enumerate(label_names)}
    pcm = [load_pcm16(c.path, rate=rate) for c in clips]
    labels = np.array([index[c.label] for c in clips], dtype=np.int64)
    return ClipSet(list(clips), pcm, labels, list(label_names))


def _subset_stats(
    frames: Sequence[np.ndarray], voiced: Sequence[np.ndarray], index: Sequence[int]
) -> np.ndarray | None:
    """The device's session statistics (:func:`edgeser.vad.voiced_stats`: ``[mean_q7,
    std_q7]``, (2, bands)) over clips ``index`` (not empty)."""
    return gated_session([frames[i] for i in index], [voiced[i] for i in index]).stats_q7()


def session_stats(
    frontend: Frontend, data: ClipSet, session: str = "speaker"
) -> list[np.ndarray | None]:
    """Each clip's session statistics ``[mean_q7, std_q7]`` (2, bands) as the device defines
    them (:func:`edgeser.scoring.session_stats`): ``"speaker"``, the voiced frames of all that
    speaker's clips; ``"file"``, of the clip alone. None where nothing was voiced."""
    frames, voiced = data.frames_of(frontend), data.voiced_of(frontend)
    if session == "file":
        return [_subset_stats(frames, voiced, [i]) for i in range(len(frames))]
    if session != "speaker":
        raise ValueError(f"session must be 'speaker' or 'file', got {session!r}")
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(data.speakers):
        groups.setdefault(s, []).append(i)
    by_speaker = {s: _subset_stats(frames, voiced, idx) for s, idx in groups.items()}
    return [by_speaker[s] for s in data.speakers]


def _stats_or_default(stats: np.ndarray | None, bands: int) -> np.ndarray:
    """As :func:`edgeser.scoring.score_recordings`: no voiced frame -> :func:`edgeser.scoring.
    no_session_stats`."""
    return no_session_stats(bands) if stats is None else np.asarray(stats, np.int64)


class SessionSampler:
    """Session statistics for training windows: the speaker's (all their clips) or, with
    probability ``p``, those of a random subset of the speaker's clips that contains the clip
    itself (size log-uniform in 1..n), as a device that has heard only a few utterances."""

    def __init__(self, frontend: Frontend, data: ClipSet, p: float) -> None:
        self.frames, self.voiced = data.frames_of(frontend), data.voiced_of(frontend)
        self.bands = frontend.config.num_features
        self.p = p
        self.speaker_stats = session_stats(frontend, data, "speaker")
        self.groups: dict[str, list[int]] = {}
        for i, s in enumerate(data.speakers):
            self.groups.setdefault(s, []).append(i)
        self.speakers = data.speakers

    def stats(self, i: int, rng: np.random.Generator | None) -> np.ndarray:
        """Clip ``i``'s session statistics ``[mean_q7, std_q7]`` (2, bands)."""
        if rng is None or self.p <= 0 or rng.random() >= self.p:
            return _stats_or_default(self.speaker_stats[i], self.bands)
        others = [j for j in self.groups[self.speakers[i]] if j != i]
        n = len(others) + 1
        k = min(n, int(np.exp(rng.uniform(0.0, np.log(n + 1.0)))))  # 1..n, log-uniform
        chosen = [i] + (rng.choice(others, size=k - 1, replace=False).tolist() if k > 1 else [])
        return _stats_or_default(_subset_stats(self.frames, self.voiced, chosen), self.bands)


def _augment_pcm(
    pcm: np.ndarray, cfg: TrainConfig, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Speed, gain and noise; returns the PCM and the gain applied (dB)."""
    x = pcm.astype(np.float64)
    if cfg.speed[1] > cfg.speed[0]:
        factor = rng.uniform(*cfg.speed)
        # Playing faster by `factor` = resampling to rate / factor (pitch and tempo change).
        # The new rate is a multiple of 320 Hz so the polyphase ratio stays small (fast).
        # (edgeser.audio.resample's samples exactly, in C: converters/fast_resample.py.)
        x = augment_resample(x, 16000, 320 * round(16000 / factor / 320))
    gain_db = float(rng.uniform(*cfg.gain_db))
    x = x * 10 ** (gain_db / 20)
    if rng.random() < cfg.noise_probability:
        power = np.mean(x**2) + 1e-9
        snr = rng.uniform(*cfg.snr_db)
        noise = rng.standard_normal(x.size)
        if rng.random() < 0.5:  # pink-ish: integrate white noise, remove drift
            noise = np.cumsum(noise)
            noise -= np.convolve(noise, np.ones(64) / 64, mode="same")
        noise *= np.sqrt(power / 10 ** (snr / 10) / (np.mean(noise**2) + 1e-12))
        x = x + noise
    return np.clip(np.round(x), -32768, 32767).astype(np.int16), gain_db


def _crop(frames: np.ndarray, length: int, rng: np.random.Generator | None) -> np.ndarray:
    """A ``length``-frame window: random offset (training) or the first window (as the device's
    first window), zero-dB padded at the end when the clip is shorter (random place in
    training)."""
    t = frames.shape[0]
    if t >= length:
        start = int(rng.integers(0, t - length + 1)) if rng is not None else 0
        return frames[start : start + length]
    out = np.zeros((length, frames.shape[1]), dtype=frames.dtype)
    start = int(rng.integers(0, length - t + 1)) if rng is not None else 0
    out[start : start + t] = frames
    return out


def _spec_augment(x: np.ndarray, cfg: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    x = x.copy()
    for _ in range(cfg.time_masks):
        w = int(rng.integers(0, cfg.time_mask_frames + 1))
        s = int(rng.integers(0, max(1, x.shape[0] - w)))
        x[s : s + w] = 0.0
    for _ in range(cfg.band_masks):
        w = int(rng.integers(0, cfg.band_mask_bands + 1))
        s = int(rng.integers(0, max(1, x.shape[1] - w)))
        x[:, s : s + w] = 0.0
    return x


def _training_frames(
    frontend: Frontend, pcm: np.ndarray, num_frames: int, cfg: TrainConfig, rng
) -> tuple[np.ndarray, float]:
    """Augmented frames of a random stretch of ``pcm`` a little longer than the window (the
    frontend is frame-local, so cutting the PCM first gives the frames of a crop)."""
    fc = frontend.config
    extra = int(np.ceil(cfg.window_frames * 0.1)) + 2  # room for speed perturbation
    span = cfg.window_frames + extra
    if num_frames > span:
        start = int(rng.integers(0, num_frames - span + 1))
        pcm = pcm[start * fc.hop_samples : (start + span - 1) * fc.hop_samples + fc.window_samples]
    if not cfg.augment:
        return frontend.compute(pcm), 0.0
    pcm, gain_db = _augment_pcm(pcm, cfg, rng)
    return frontend.compute(pcm), gain_db


def with_gain(session: np.ndarray, gain_db: float, mel_bands: int) -> np.ndarray:
    """Session statistics ``[mean_q7, std_q7]`` (2, features) of a session that heard the
    audio ``gain_db`` louder: the Mel bands' means move by the gain (dB Q7), periodicity
    columns (a ratio) and deviations do not."""
    moved = np.array(session, dtype=np.int64, copy=True)
    moved[0, :mel_bands] += round(gain_db * 128)
    return moved


def window_inputs(
    frontend: Frontend,
    data: ClipSet,
    cfg: TrainConfig,
    rng: np.random.Generator | None,
    stats: Sequence[np.ndarray | None] | SessionSampler | None = None,
    order: Sequence[int] | None = None,
) -> np.ndarray:
    """One normalised window per clip of ``order`` (default: every clip once):
    (n, frames, bands, 1) float32. With ``rng``, augmentation and random crops; without, each
    clip's first window. ``stats``: one session statistics array per clip (:func:`session_stats`)
    or a :class:`SessionSampler`, for ``"session"`` normalisation."""
    order = list(range(len(data.clips))) if order is None else list(order)
    bands = frontend.config.num_features
    out = np.empty((len(order), cfg.window_frames, bands, 1), np.float32)
    frames_all = data.frames_of(frontend)
    for n, i in enumerate(order):
        gain_db = 0.0
        if rng is not None:
            frames, gain_db = _training_frames(
                frontend, data.pcm[i], frames_all[i].shape[0], cfg, rng
            )
        else:
            frames = frames_all[i]
        window = _crop(frames, cfg.window_frames, rng)
        session = np.zeros((2, bands), np.int64)
        if cfg.normalisation.mode == "session":
            if isinstance(stats, SessionSampler):
                session = stats.stats(i, rng)
            elif stats is not None:
                session = _stats_or_default(stats[i], bands)
            else:
                raise ValueError("session normalisation needs session statistics")
            session = with_gain(session, gain_db, frontend.config.num_bands)
        x = cfg.normalisation.to_float(window, session[0], session[1])
        if rng is not None and cfg.augment:
            x = _spec_augment(x, cfg, rng)
        out[n, :, :, 0] = x
    return out


#: How the int8 converter's representative set is drawn (:func:`representative_windows`).
CALIBRATIONS: tuple[str, ...] = ("first", "scoring", "augmented")

#: At most this many representative windows per calibration kind (evenly spaced over the set).
CALIBRATION_WINDOWS: dict[str, int] = {"first": 500, "scoring": 2000, "augmented": 2000}


def _evenly_spaced(x: np.ndarray, at_most: int) -> np.ndarray:
    """At most ``at_most`` rows of ``x``, evenly spaced over it (all rows when it has fewer)."""
    if x.shape[0] <= at_most:
        return x
    return x[np.unique(np.linspace(0, x.shape[0] - 1, num=at_most).round().astype(int))]


def representative_windows(
    frontend: Frontend,
    data: ClipSet,
    cfg: TrainConfig,
    calibration: str = "first",
    seed: int = 0,
) -> np.ndarray:
    """The int8 converter's representative set from the clips of ``data``, normalised as the
    device normalises them; (n, frames, features, 1) float32, n at most
    :data:`CALIBRATION_WINDOWS` ``[calibration]`` (evenly spaced over the set).

    ``calibration``:

    ``"first"``
        each clip's first window, with its speaker's session statistics (the voiced frames
        of all that speaker's clips).
    ``"scoring"``
        every scoring window of every clip (:func:`edgeser.scoring.recording_windows`, the
        windows the device scores), once with the speaker's statistics and once with the
        clip's own (the ``"speaker"`` and ``"file"`` sessions of :mod:`edgeser.scoring`).
    ``"augmented"``
        ``"scoring"`` plus one pass of training windows (the recipe's augmentation and
        session subsets, generator seeded with ``seed``).

    Session statistics apply to ``"session"`` normalisation only."""
    if calibration not in CALIBRATIONS:
        raise ValueError(
            f"calibration must be one of {', '.join(CALIBRATIONS)}, got {calibration!r}"
        )
    session = cfg.normalisation.mode == "session"
    stats = session_stats(frontend, data) if session else None
    if calibration == "first":
        x = window_inputs(frontend, data, cfg, rng=None, stats=stats)
        return _evenly_spaced(x, CALIBRATION_WINDOWS[calibration])
    bands = frontend.config.num_features
    kinds = [stats, session_stats(frontend, data, "file")] if session else [None]
    parts = []
    for i, frames in enumerate(data.frames_of(frontend)):
        windows = recording_windows(frames, cfg.window_frames, HOP_FRAMES)
        for by_clip in kinds:
            s = (
                np.zeros((2, bands), np.int64)
                if by_clip is None
                else _stats_or_default(by_clip[i], bands)
            )
            parts.append(cfg.normalisation.to_float(windows, s[0], s[1])[..., None])
    x = np.concatenate(parts).astype(np.float32)
    if calibration == "augmented":
        rng = np.random.default_rng(seed)
        sampler = (
            SessionSampler(frontend, data, cfg.session_subset_probability) if session else None
        )
        x = np.concatenate((x, window_inputs(frontend, data, cfg, rng, sampler)))
    return _evenly_spaced(x, CALIBRATION_WINDOWS[calibration])


def predict_clips(
    predict: Callable[[np.ndarray], np.ndarray],
    frontend: Frontend,
    data: ClipSet,
    cfg: TrainConfig,
    stats: Sequence[np.ndarray | None] | None = None,
    hop_frames: int = HOP_FRAMES,
) -> np.ndarray:
    """Utterance-level class probabilities: the mean over each clip's scoring windows
    (:func:`edgeser.scoring.recording_windows`, as the device scores a recording).

    ``predict`` maps a batch (n, frames, bands, 1) to probabilities (n, classes); all windows
    of all clips go through it together. ``stats``: one session statistics array per clip
    (:func:`session_stats`). Returns (clips, classes).
    """
    bands = frontend.config.num_features
    batches, owner = [], []
    for i, frames in enumerate(data.frames_of(frontend)):
        windows = recording_windows(frames, cfg.window_frames, hop_frames)
        session = np.zeros((2, bands), np.int64)
        if cfg.normalisation.mode == "session":
            session = _stats_or_default(stats[i] if stats is not None else None, bands)
        batches.append(cfg.normalisation.to_float(windows, session[0], session[1])[..., None])
        owner += [i] * windows.shape[0]
    probs = predict(np.concatenate(batches))
    owner_arr = np.array(owner)
    out = np.zeros((len(data.clips), probs.shape[1]))
    np.add.at(out, owner_arr, probs)
    return out / np.bincount(owner_arr, minlength=len(data.clips))[:, None]


def keras_predict(model, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Inference in batches by calling the model directly (no tf.data pipeline per call)."""
    return np.concatenate(
        [np.asarray(model(x[i : i + batch], training=False)) for i in range(0, len(x), batch)]
    )


def parse_cell_clip(text: str) -> float:
    """A ``--cell-clip`` value: ``"tanh"`` for :data:`converters.gate_ranges.TANH_SATURATION`
    (ln(511) / 2 = 3.118, where int8 tanh saturates), else a bound >= 0 (0: unclipped).

    Raises:
        ValueError: neither ``"tanh"`` nor a finite number >= 0.
    """
    from converters.gate_ranges import TANH_SATURATION

    if text.strip().lower() == "tanh":
        return TANH_SATURATION
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value < float("inf"):
        raise ValueError(f"--cell-clip takes 'tanh' or a number >= 0, got {text!r}")
    return value


def default_pools(blocks: int) -> tuple[tuple[int, int], ...]:
    """Pool time and frequency in the first two conv blocks, time only after them."""
    return tuple((2, 2) if i < 2 else (2, 1) for i in range(blocks))


def build_model(cfg: TrainConfig, n_classes: int, bands: int):  # -> keras.Model
    from converters import models

    shape = (cfg.window_frames, bands, 1)
    if cfg.architecture == "conv_lstm":
        return models.build_conv_lstm(
            shape,
            n_classes,
            cfg.filters,
            cfg.lstm_units,
            cfg.dense_units,
            cfg.dropout,
            pool=cfg.pools or default_pools(len(cfg.filters)),
            sequence_pooling=cfg.sequence_pooling,
            stem_stride=cfg.stem_stride,
            quant_noise=cfg.quant_noise,
            cell_clip=cfg.cell_clip,
        )
    raise ValueError(f"unknown architecture {cfg.architecture!r}")


def with_teacher_head(model, dims: int):  # -> keras.Model
    """A two-output training model: ``model``'s class probabilities and a linear ``teacher``
    head of ``dims`` outputs on the input of its first hidden dense layer (``fc``: the
    utterance summary). The layers are shared, so training it trains ``model``."""
    import keras

    summary = model.get_layer("fc").input
    teacher = keras.layers.Dense(int(dims), name="teacher")(summary)
    return keras.Model(model.inputs, {"probs": model.outputs[0], "teacher": teacher})


def class_weights(data: ClipSet) -> np.ndarray:
    """Per-clip loss weights: classes balanced within each corpus, mean weight 1."""
    corpora = np.array([c.corpus for c in data.clips])
    w = np.zeros(len(data.clips))
    for corpus in np.unique(corpora):
        idx = np.flatnonzero(corpora == corpus)
        labels, counts = np.unique(data.labels[idx], return_counts=True)
        of = dict(zip(labels.tolist(), counts.tolist(), strict=True))
        for i in idx:
            w[i] = len(idx) / (len(labels) * of[int(data.labels[i])])
    return w.astype(np.float32)


#: How many clips of each corpus an epoch holds when training on several (TrainConfig.corpus_epoch).
CORPUS_EPOCHS = ("smallest", "largest")


def epoch_order(data: ClipSet, rng: np.random.Generator, size: str = "smallest") -> np.ndarray:
    """The clips of one epoch: a permutation of all clips for one corpus. With several, the
    same number from each corpus: with ``size`` "smallest", the size of the smallest corpus (an
    epoch costs what the smallest corpus times the number of corpora costs, and a larger corpus
    contributes a different random part each epoch, every clip once before any repeats); with
    "largest", the size of the largest (every clip of every corpus in every epoch, a smaller
    corpus repeated: whole shuffled passes, then a random part of one more)."""
    if size not in CORPUS_EPOCHS:
        raise ValueError(f"corpus epoch size must be one of {CORPUS_EPOCHS}, got {size!r}")
    corpora = np.array([c.corpus for c in data.clips])
    names = np.unique(corpora)
    if len(names) == 1:
        return rng.permutation(len(data.clips))
    counts = [int(np.sum(corpora == corpus)) for corpus in names]
    per = min(counts) if size == "smallest" else max(counts)
    parts = []
    for corpus, count in zip(names, counts, strict=True):
        members = np.flatnonzero(corpora == corpus)
        passes = [rng.permutation(members) for _ in range(-(-per // count))]
        parts.append(np.concatenate(passes)[:per])
    return rng.permutation(np.concatenate(parts))


def validation_uar(data: ClipSet, pred: np.ndarray) -> float:
    """UAR on validation clips, the mean over corpora of each corpus's UAR on its own classes."""
    corpora = np.array([c.corpus for c in data.clips])
    scores = []
    for corpus in np.unique(corpora):
        idx = np.flatnonzero(corpora == corpus)
        y = data.labels[idx]
        scores.append(uar(y, pred[idx], labels=sorted(set(y.tolist()))))
    return float(np.mean(scores))


def mixup(
    x: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    weights: np.ndarray,
    teacher: np.ndarray | None,
    alpha: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Mixup of one epoch's windows: each row blended with a random other row of the batch by
    l ~ Beta(alpha, alpha). ``labels``: class indices, or (n, classes) target rows.
    Returns the blended inputs, one-hot targets (rows sum to 1),
    loss weights and teacher targets (None stays None)."""
    n = len(x)
    lam = rng.beta(alpha, alpha, size=n).astype(np.float32)
    partner = rng.permutation(n)
    onehot = labels if labels.ndim == 2 else np.eye(n_classes, dtype=np.float32)[labels]

    def blend(a: np.ndarray) -> np.ndarray:
        shape = (n,) + (1,) * (a.ndim - 1)
        return lam.reshape(shape) * a + (1.0 - lam.reshape(shape)) * a[partner]

    mixed_teacher = None if teacher is None else blend(teacher).astype(np.float32)
    return (
        blend(x).astype(np.float32),
        blend(onehot).astype(np.float32),
        blend(weights.astype(np.float32)).astype(np.float32),
        mixed_teacher,
    )


@dataclass
class FitResult:
    model: object
    best_epoch: int
    best_val_uar: float
    history: list[dict]
    seconds: float


def combine_fits(results: Sequence[FitResult]) -> FitResult:
    """The fit of the one-graph ensemble of ``results``' networks
    (:func:`converters.ensemble.average_members`): ``best_epoch`` the members' latest,
    ``best_val_uar`` their mean (each member's own, not the ensemble's), ``history`` every
    member's records tagged with ``"member"``, ``seconds`` their sum. One result is returned
    as it is."""
    from converters.ensemble import average_members

    if len(results) == 1:
        return results[0]
    return FitResult(
        average_members([r.model for r in results]),
        max(r.best_epoch for r in results),
        float(np.mean([r.best_val_uar for r in results])),
        [{"member": i, **h} for i, r in enumerate(results) for h in r.history],
        sum(r.seconds for r in results),
    )


def fit(
    train: ClipSet,
    val: ClipSet | None,
    cfg: TrainConfig,
    log: Callable[[str], None] | None = None,
    fixed_epochs: int | None = None,
    teacher: np.ndarray | None = None,
    distill_teacher=None,  # keras.Model | None
) -> FitResult:
    """Train on ``train``; pick the epoch with the best UAR on ``val`` (validation speakers
    drawn from the training speakers, never the test fold). With ``fixed_epochs`` (and
    ``val`` None) train exactly that many epochs of the same schedule and keep the last.
    ``teacher``: (clips, dims) regression targets of the training clips, needed when
    ``cfg.teacher_weight`` > 0 (:func:`with_teacher_head`). With ``cfg.members`` > 1 each
    network of :meth:`TrainConfig.member_configs` is trained so, one after the other, and the
    result is their one-graph ensemble (:func:`combine_fits`). With ``cfg.distill_weight`` > 0
    the targets blend in ``distill_teacher``'s probabilities (a Keras model of the same input;
    when None, :meth:`TrainConfig.distill_teacher_config` is trained here first, on the same
    clips)."""
    if cfg.distill_weight > 0 and distill_teacher is None:
        distill_teacher = fit(
            train, val, cfg.distill_teacher_config(), log, fixed_epochs, teacher
        ).model
    if cfg.members != 1:
        return combine_fits(
            [
                fit(train, val, m, log, fixed_epochs, teacher, distill_teacher)
                for m in cfg.member_configs()
            ]
        )
    import keras
    import tensorflow as tf

    from converters.quant_noise import strip_quant_noise

    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()
    frontend = Frontend(cfg.frontend_config())
    rng = np.random.default_rng(cfg.seed)
    n_classes = len(train.label_names)
    model = build_model(cfg, n_classes, frontend.config.num_features)
    use_teacher = cfg.teacher_weight > 0
    use_mixup = cfg.mixup_alpha > 0
    use_distill = cfg.distill_weight > 0
    # Mixup and distillation blend targets, so they train on target rows (the same loss on
    # hard labels).
    soft = use_mixup or use_distill
    class_loss = "categorical_crossentropy" if soft else "sparse_categorical_crossentropy"
    mix_rng = np.random.default_rng([cfg.seed, 1])
    if use_teacher:
        if teacher is None or teacher.ndim != 2 or teacher.shape[0] != len(train.clips):
            raise ValueError(
                f"teacher_weight > 0 needs teacher targets of shape ({len(train.clips)}, dims)"
            )
        trainer = with_teacher_head(model, teacher.shape[1])
        trainer.compile(
            optimizer=keras.optimizers.Adam(cfg.learning_rate),
            loss={"probs": class_loss, "teacher": "mse"},
            loss_weights={"probs": 1.0, "teacher": float(cfg.teacher_weight)},
        )
    else:
        trainer = model
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss=class_loss)
    weights = class_weights(train)
    session = cfg.normalisation.mode == "session"
    sampler = SessionSampler(frontend, train, cfg.session_subset_probability) if session else None
    val_stats = session_stats(frontend, val) if session and val is not None else None
    best = (-1.0, -1)
    best_weights = None
    history: list[dict] = []
    start = time.time()
    epochs = cfg.epochs if fixed_epochs is None else min(fixed_epochs, cfg.epochs)
    for epoch in range(epochs):
        # Cosine decay of the learning rate over the planned epochs.
        trainer.optimizer.learning_rate.assign(
            cfg.learning_rate * 0.5 * (1.0 + np.cos(np.pi * epoch / cfg.epochs))
        )
        order = epoch_order(train, rng, cfg.corpus_epoch)
        x = window_inputs(frontend, train, cfg, rng, sampler, order=order)
        y: np.ndarray | dict = train.labels[order]
        w = weights[order]
        t = teacher[order].astype(np.float32) if use_teacher else None
        if use_distill:
            onehot = np.eye(n_classes, dtype=np.float32)[y]
            taught = keras_predict(distill_teacher, x).astype(np.float32)
            y = (1.0 - cfg.distill_weight) * onehot + cfg.distill_weight * taught
        if use_mixup:
            x, y, w, t = mixup(x, y, n_classes, w, t, cfg.mixup_alpha, mix_rng)
        if use_teacher:
            y = {"probs": y, "teacher": t}
        h = trainer.fit(
            x,
            y,
            sample_weight=w,
            batch_size=cfg.batch_size,
            epochs=1,
            verbose=0,
            shuffle=False,
        )
        record = {"epoch": epoch, "loss": float(h.history["loss"][0])}
        if val is None:
            history.append(record)
            if log:
                log(f"epoch {epoch:3d} loss {record['loss']:.3f}")
            continue
        probs = predict_clips(lambda b: keras_predict(model, b), frontend, val, cfg, val_stats)
        record["val_uar"] = validation_uar(val, probs.argmax(axis=1))
        history.append(record)
        if log:
            log(f"epoch {epoch:3d} loss {record['loss']:.3f} val UAR {record['val_uar']:.3f}")
        if record["val_uar"] > best[0]:
            best = (record["val_uar"], epoch)
            best_weights = model.get_weights()
        elif epoch - best[1] >= cfg.patience:
            break
    if val is None:
        best = (float("nan"), epochs - 1)
    elif best_weights is not None:
        model.set_weights(best_weights)
    model = strip_quant_noise(model)
    return FitResult(model, best[1], best[0], history, time.time() - start)
