"""Training of emotion models on the shared fixed-point log-Mel features (workstation only).

The features come from :class:`edgeser.Frontend` itself, on PCM from
:func:`edgeser.audio.load_pcm16`: the very code the device runs, so there is no train/serve
skew. Waveform augmentation (gain, additive noise at a random SNR, speed perturbation, time
shift) is applied to the PCM and the frontend is re-run each epoch (it computes 2 s of audio
in about a millisecond); SpecAugment-style masks act on the features.

Model input: a window of ``window_frames`` frames (198 = 2.0 s) of dB values, normalised as the
:class:`Normalisation` says; longer clips are scored by sliding windows whose class
probabilities are averaged. Model selection (the epoch) uses validation speakers taken from the
training speakers only, never the test fold.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgeser.audio import resample
from edgeser.datasets import Clip, uar
from edgeser.frontend import Frontend, FrontendConfig
from edgeser.normalisation import Normalisation


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
    normalisation: Normalisation = field(default_factory=lambda: Normalisation("session"))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class ClipSet:
    """Clips with their PCM (int16, frontend rate) and label indices."""

    clips: list[Clip]
    pcm: list[np.ndarray]
    labels: np.ndarray
    label_names: list[str]

    def subset(self, index: Sequence[int]) -> ClipSet:
        idx = list(index)
        return ClipSet(
            [self.clips[i] for i in idx],
            [self.pcm[i] for i in idx],
            self.labels[idx],
            self.label_names,
        )


def load_clipset(clips: Sequence[Clip], label_names: Sequence[str], rate: int = 16000) -> ClipSet:
    """Read every clip's PCM once (resampled to ``rate``)."""
    from edgeser.audio import load_pcm16

    index = {name: i for i, name in enumerate(label_names)}
    pcm = [load_pcm16(c.path, rate=rate) for c in clips]
    labels = np.array([index[c.label] for c in clips], dtype=np.int64)
    return ClipSet(list(clips), pcm, labels, list(label_names))


def _augment_pcm(pcm: np.ndarray, cfg: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    x = pcm.astype(np.float64)
    if cfg.speed[1] > cfg.speed[0]:
        factor = rng.uniform(*cfg.speed)
        # Playing faster by `factor` = resampling to rate / factor (pitch and tempo change).
        # The new rate is a multiple of 320 Hz so the polyphase ratio stays small (fast).
        x = resample(x, 16000, 320 * round(16000 / factor / 320))
    gain = 10 ** (rng.uniform(*cfg.gain_db) / 20)
    x = x * gain
    if rng.random() < cfg.noise_probability:
        power = np.mean(x**2) + 1e-9
        snr = rng.uniform(*cfg.snr_db)
        noise = rng.standard_normal(x.size)
        if rng.random() < 0.5:  # pink-ish: integrate white noise, remove drift
            noise = np.cumsum(noise)
            noise -= np.convolve(noise, np.ones(64) / 64, mode="same")
        noise *= np.sqrt(power / 10 ** (snr / 10) / (np.mean(noise**2) + 1e-12))
        x = x + noise
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _crop(frames: np.ndarray, length: int, rng: np.random.Generator | None) -> np.ndarray:
    """A ``length``-frame window: random offset (training) or centred, zero-dB padded."""
    t = frames.shape[0]
    if t >= length:
        start = int(rng.integers(0, t - length + 1)) if rng is not None else (t - length) // 2
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


def speaker_means(frontend: Frontend, data: ClipSet) -> dict[str, np.ndarray]:
    """Per-band mean (dB, Q7 int64) of each speaker over all their clips' frames."""
    sums: dict[str, list[np.ndarray]] = {}
    for clip, pcm in zip(data.clips, data.pcm, strict=True):
        sums.setdefault(clip.speaker, []).append(frontend.compute(pcm))
    return {
        s: np.round(np.concatenate(v).astype(np.float64).mean(axis=0)).astype(np.int64)
        for s, v in sums.items()
    }


def window_inputs(
    frontend: Frontend,
    data: ClipSet,
    cfg: TrainConfig,
    rng: np.random.Generator | None,
    means: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """One normalised window per clip: (clips, frames, bands, 1) float32. With ``rng``,
    augmentation and random crops; without, the centred window."""
    out = np.empty((len(data.clips), cfg.window_frames, frontend.config.num_bands, 1), np.float32)
    for i, (clip, pcm) in enumerate(zip(data.clips, data.pcm, strict=True)):
        if rng is not None and cfg.augment:
            pcm = _augment_pcm(pcm, cfg, rng)
        window = _crop(frontend.compute(pcm), cfg.window_frames, rng)
        mean = means.get(clip.speaker) if means is not None else None
        x = cfg.normalisation.to_float(window, mean)
        if rng is not None and cfg.augment:
            x = _spec_augment(x, cfg, rng)
        out[i, :, :, 0] = x
    return out


def sliding_windows(frames: np.ndarray, length: int, hop: int) -> np.ndarray:
    """All ``length``-frame windows every ``hop`` frames (at least one, zero-padded)."""
    t = frames.shape[0]
    if t <= length:
        return _crop(frames, length, None)[None]
    starts = list(range(0, t - length + 1, hop))
    if starts[-1] != t - length:
        starts.append(t - length)
    return np.stack([frames[s : s + length] for s in starts])


def predict_clips(
    predict: Callable[[np.ndarray], np.ndarray],
    frontend: Frontend,
    data: ClipSet,
    cfg: TrainConfig,
    means: dict[str, np.ndarray] | None = None,
    hop_frames: int = 50,
) -> np.ndarray:
    """Utterance-level class probabilities: the mean over each clip's sliding windows.

    ``predict`` maps a batch (n, frames, bands, 1) to probabilities (n, classes); all windows
    of all clips go through it together. Returns (clips, classes).
    """
    batches, owner = [], []
    for i, (clip, pcm) in enumerate(zip(data.clips, data.pcm, strict=True)):
        windows = sliding_windows(frontend.compute(pcm), cfg.window_frames, hop_frames)
        mean = means.get(clip.speaker) if means is not None else None
        batches.append(cfg.normalisation.to_float(windows, mean)[..., None])
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
        )
    raise ValueError(f"unknown architecture {cfg.architecture!r}")


@dataclass
class FitResult:
    model: object
    best_epoch: int
    best_val_uar: float
    history: list[dict]
    seconds: float


def fit(
    train: ClipSet,
    val: ClipSet,
    cfg: TrainConfig,
    frontend_config: FrontendConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """Train on ``train``; pick the epoch with the best UAR on ``val`` (validation speakers
    drawn from the training speakers, never the test fold)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()
    frontend = Frontend(frontend_config)
    rng = np.random.default_rng(cfg.seed)
    n_classes = len(train.label_names)
    model = build_model(cfg, n_classes, frontend.config.num_bands)
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss="sparse_categorical_crossentropy",
    )
    counts = np.bincount(train.labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    sample_weight_of = weights.astype(np.float32)
    means = None
    if cfg.normalisation.mode == "session":
        means = speaker_means(frontend, train)
        means.update(speaker_means(frontend, val))
    best = (-1.0, -1)
    best_weights = None
    history: list[dict] = []
    start = time.time()
    val_names = sorted(set(val.labels.tolist()))
    for epoch in range(cfg.epochs):
        # Cosine decay of the learning rate over the planned epochs.
        model.optimizer.learning_rate.assign(
            cfg.learning_rate * 0.5 * (1.0 + np.cos(np.pi * epoch / cfg.epochs))
        )
        x = window_inputs(frontend, train, cfg, rng, means)
        y = train.labels
        order = rng.permutation(len(y))
        h = model.fit(
            x[order],
            y[order],
            sample_weight=sample_weight_of[y[order]],
            batch_size=cfg.batch_size,
            epochs=1,
            verbose=0,
            shuffle=False,
        )
        probs = predict_clips(lambda b: keras_predict(model, b), frontend, val, cfg, means)
        val_uar = uar(val.labels, probs.argmax(axis=1), labels=val_names)
        history.append({"epoch": epoch, "loss": float(h.history["loss"][0]), "val_uar": val_uar})
        if log:
            log(f"epoch {epoch:3d} loss {history[-1]['loss']:.3f} val UAR {val_uar:.3f}")
        if val_uar > best[0]:
            best = (val_uar, epoch)
            best_weights = model.get_weights()
        elif epoch - best[1] >= cfg.patience:
            break
    if best_weights is not None:
        model.set_weights(best_weights)
    return FitResult(model, best[1], best[0], history, time.time() - start)
