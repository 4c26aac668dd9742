"""The ``edgeser`` command line.

Every command reports bad input as one line on standard error and a non-zero exit status
(1 for a failed job, 2 for a usage or input error), never a traceback.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
import numpy as np

from edgeser.errors import EdgeserError
from edgeser.frontend import Frontend, FrontendConfig


class InputError(click.ClickException):
    """A usage or input error: one line on stderr, exit status 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"edgeser: error: {self.format_message()}", err=True)


def _fail(exc: BaseException) -> InputError:
    return InputError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgeser")
def main() -> None:
    """edgeser: speech emotion recognition on the edge."""


def _load_config(path: str | None) -> FrontendConfig:
    if path is None:
        return FrontendConfig()
    try:
        return FrontendConfig.from_json(Path(path).read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read frontend config: {exc.strerror}") from None
    except EdgeserError as exc:
        raise InputError(f"{path}: {exc}") from None


@main.command()
@click.argument("wav", required=False, type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write the int16 frames (.npy)."
)
@click.option(
    "--engine",
    type=click.Choice(["numpy", "c"]),
    default="numpy",
    show_default=True,
    help="numpy: the runtime's frontend; c: the C99 firmware reference (built with cc).",
)
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="Frontend config JSON."
)
@click.option("--example", is_flag=True, help="Use the example clip that ships with edgeser.")
def features(
    wav: str | None, output: str | None, engine: str, config_path: str | None, example: bool
) -> None:
    """Compute fixed-point log-Mel frames of WAV and summarise them.

    Frames are int16 Mel band power in dB as Q7 (value / 128 = dB), shape (frames, bands).
    Any wav encoding is read and resampled to the frontend's rate.
    """
    from edgeser.audio import load_pcm16
    from edgeser.examples import example_path

    if example == (wav is not None):
        raise InputError("give either a WAV file or --example")
    path = str(example_path()) if example else str(wav)
    config = _load_config(config_path)
    try:
        pcm = load_pcm16(path, rate=config.sample_rate)
        if engine == "c":
            from firmware_bridge.cfrontend import CFrontend

            frontend: Frontend | CFrontend = CFrontend(config)
        else:
            frontend = Frontend(config)
        frames = frontend.compute(pcm)
        timings = []
        for _ in range(5):  # warm runs: the first call also pays for BLAS start-up
            start = time.perf_counter()
            frontend.compute(pcm)
            timings.append(time.perf_counter() - start)
        elapsed = float(np.median(timings))
    except EdgeserError as exc:
        raise _fail(exc) from None
    if output is not None:
        try:
            np.save(output, frames)
        except OSError as exc:
            raise InputError(f"{output}: cannot write: {exc.strerror}") from None
    _summarise(path, pcm, frames, config, engine, elapsed, output)


def _summarise(
    path: str,
    pcm: np.ndarray,
    frames: np.ndarray,
    config: FrontendConfig,
    engine: str,
    elapsed: float,
    output: str | None,
) -> None:
    seconds = pcm.shape[0] / config.sample_rate
    echo = click.echo
    echo(f"file      {path}")
    echo(f"audio     {seconds:.2f} s, {pcm.shape[0]} samples at {config.sample_rate} Hz")
    echo(
        f"frontend  {config.num_bands} HTK Mel bands {config.lower_hz:g}-{config.upper_hz:g} Hz, "
        f"{config.window_samples}-sample window, {config.hop_samples}-sample hop, "
        f"{config.fft_size}-point spectrum, engine {engine}"
    )
    if frames.shape[0] == 0:
        echo(f"frames    0 (audio shorter than one {config.window_samples}-sample window)")
        return
    db = frames.astype(np.float64) / 128.0
    speed = seconds / elapsed if elapsed > 0 else float("inf")
    echo(f"frames    {frames.shape[0]} x {frames.shape[1]} int16, dB in Q7 (value / 128 = dB)")
    echo(f"level     min {db.min():.1f} dB, median {np.median(db):.1f} dB, max {db.max():.1f} dB")
    echo(f"speed     {elapsed * 1e3:.2f} ms, {speed:.0f}x real time (median of 5 warm runs)")
    # A coarse picture: mean level per band group and per time slice, as a character ramp.
    ramp = " .:-=+*#%@"
    lo, hi = np.percentile(db, 5), db.max()
    cols = min(64, frames.shape[0])
    edges = np.linspace(0, frames.shape[0], cols + 1).astype(int)
    rows = min(10, frames.shape[1])
    band_edges = np.linspace(0, frames.shape[1], rows + 1).astype(int)
    echo("spectrogram (time ->, high bands on top):")
    for r in reversed(range(rows)):
        line = []
        for c in range(cols):
            cell = db[edges[c] : edges[c + 1], band_edges[r] : band_edges[r + 1]].mean()
            level = 0.0 if hi <= lo else (cell - lo) / (hi - lo)
            line.append(ramp[int(np.clip(level, 0, 0.999) * len(ramp))])
        echo("  |" + "".join(line) + "|")
    if output is not None:
        echo(f"wrote     {output}")


def run() -> None:
    """Entry point that turns any unexpected EdgeserError into one line (no traceback)."""
    try:
        main(standalone_mode=True)
    except EdgeserError as exc:  # pragma: no cover - commands convert their own errors
        click.echo(f"edgeser: error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()


# --------------------------------------------------------------------------- training (workstation)
# These commands need the [train] extra (TensorFlow); they import converters/ only when run.

CORPUS_LABELS = {
    "emodb": ["neutral", "happiness", "sadness", "anger", "fear", "disgust", "boredom"],
    "ravdess": ["neutral", "calm", "happiness", "sadness", "anger", "fear", "disgust", "surprise"],
}


def _training_options(func):
    options = [
        click.option(
            "--data",
            "data_dir",
            type=click.Path(),
            help="Corpora folder (default: $EDGESER_DATA or ../shared/data).",
        ),
        click.option("--epochs", type=int, default=40, show_default=True),
        click.option(
            "--norm",
            type=click.Choice(["window", "session", "fixed"]),
            default="session",
            show_default=True,
            help="Feature normalisation (stored in the model).",
        ),
        click.option(
            "--filters",
            default="16,16,32,32",
            show_default=True,
            help="Conv widths, one per block.",
        ),
        click.option("--lstm", "lstm_units", type=int, default=32, show_default=True),
        click.option("--dense", "dense_units", type=int, default=32, show_default=True),
        click.option("--lr", "learning_rate", type=float, default=2e-3, show_default=True),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--no-augment", is_flag=True, help="Train without augmentation."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _train_config(epochs, norm, filters, lstm_units, dense_units, learning_rate, seed, no_augment):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ log noise
    from converters.train import TrainConfig
    from edgeser.normalisation import Normalisation

    try:
        widths = tuple(int(f) for f in filters.split(","))
    except ValueError:
        raise InputError(f"--filters must be comma-separated integers, got {filters!r}") from None
    return TrainConfig(
        filters=widths,
        lstm_units=lstm_units,
        dense_units=dense_units,
        epochs=epochs,
        learning_rate=learning_rate,
        seed=seed,
        augment=not no_augment,
        normalisation=Normalisation(norm),
    )


def _corpus_clips(data_dir: str | None, corpus: str):
    from edgeser.datasets import data_root, read_corpus, read_emodb, read_ravdess

    root = data_root(data_dir)
    if root is None:
        raise InputError("no corpus folder: pass --data DIR or set EDGESER_DATA")
    try:
        if corpus == "emodb":
            return read_emodb(root / "emodb")
        if corpus == "ravdess":
            return read_ravdess(root / "ravdess")
        return read_corpus(root)
    except EdgeserError as exc:
        raise _fail(exc) from None


@main.command()
@click.option(
    "--protocol",
    type=click.Choice(["emodb-loso", "ravdess-5fold"]),
    default="emodb-loso",
    show_default=True,
)
@click.option(
    "--with-ravdess", is_flag=True, help="Add RAVDESS to every EMO-DB fold's training set."
)
@click.option("--fold", "folds", multiple=True, help="Only these folds (e.g. emodb:03).")
@click.option("--no-int8", is_flag=True, help="Score the float model only.")
@click.option(
    "-o",
    "--out",
    "out_json",
    type=click.Path(dir_okay=False),
    default="evaluation.json",
    show_default=True,
)
@click.option(
    "--png", type=click.Path(dir_okay=False), help="Confusion-matrix PNG (default: beside --out)."
)
@_training_options
def evaluate(protocol, with_ravdess, folds, no_int8, out_json, png, data_dir, **train_args) -> None:
    """Train and score per speaker-independent fold: float and int8 side by side."""
    import json as _json

    from converters.evaluate import confusion_png
    from converters.evaluate import evaluate as run_evaluation

    cfg = _train_config(**train_args)
    corpus = "emodb" if protocol == "emodb-loso" else "ravdess"
    clips = _corpus_clips(data_dir, corpus)
    labels = list(CORPUS_LABELS[corpus])
    extra = []
    if with_ravdess and corpus == "emodb":
        extra = _corpus_clips(data_dir, "ravdess")
        labels += [x for x in CORPUS_LABELS["ravdess"] if x not in labels]
    report = run_evaluation(
        clips,
        protocol,
        cfg,
        labels,
        extra_clips=extra,
        folds=list(folds) or None,
        int8=not no_int8,
        log=lambda line: click.echo(line, err=True),
    )
    Path(out_json).write_text(_json.dumps(report, indent=2, default=float) + "\n")
    png_path = png or str(Path(out_json).with_suffix(".png"))
    confusion_png(report, png_path)
    f, i = report["float"], report.get("int8")
    click.echo(f"{protocol}: float UAR {100 * f['uar']:.1f}% WA {100 * f['wa']:.1f}%", nl=False)
    if i:
        click.echo(
            f"; int8 UAR {100 * i['uar']:.1f}% WA {100 * i['wa']:.1f}%; "
            f"agreement {100 * report['top1_agreement']:.1f}%"
        )
    else:
        click.echo()
    click.echo(f"wrote {out_json} and {png_path}")


def _labels_of(clips) -> list[str]:
    from edgeser.datasets import label_set

    return label_set(clips)


def _clips_for(data_dir: str | None, corpus: str):
    if corpus == "both":
        return _corpus_clips(data_dir, "emodb") + _corpus_clips(data_dir, "ravdess")
    return _corpus_clips(data_dir, corpus)


@main.command()
@click.option(
    "--corpus",
    type=click.Choice(["emodb", "ravdess", "both", "auto"]),
    default="emodb",
    show_default=True,
    help="Which corpus in the data folder (auto: detect; a manifest CSV works).",
)
@click.option(
    "-o",
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="The Keras model to write (NAME.keras); NAME.train.json goes beside it.",
)
@_training_options
def train(corpus, out_path, data_dir, **train_args) -> None:
    """Train an emotion model on every speaker of a corpus (epoch chosen on two held-out
    training speakers)."""
    import json as _json

    from converters.evaluate import validation_speakers
    from converters.train import fit, load_clipset

    cfg = _train_config(**train_args)
    clips = _clips_for(data_dir, corpus)
    labels = _labels_of(clips)
    val = validation_speakers(clips, 0)
    data = load_clipset(clips, labels)
    tr = [i for i, c in enumerate(clips) if c.speaker not in val]
    va = [i for i, c in enumerate(clips) if c.speaker in val]
    with click.progressbar(length=cfg.epochs, label="training", file=sys.stderr) as bar:
        result = fit(data.subset(tr), data.subset(va), cfg, log=lambda _line: bar.update(1))
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.model.save(out)
    record = {
        "labels": labels,
        "train_config": cfg.to_dict(),
        "normalisation": cfg.normalisation.to_dict(),
        "data": {
            "root": str(data_dir or ""),
            "corpus": corpus,
            "clips": len(clips),
            "speakers": len({c.speaker for c in clips}),
        },
        "validation_speakers": sorted(val),
        "best_epoch": result.best_epoch,
        "val_uar": result.best_val_uar,
        "history": result.history,
        "seconds": round(result.seconds, 1),
    }
    out.with_suffix(".train.json").write_text(_json.dumps(record, indent=2, default=float) + "\n")
    click.echo(
        f"wrote {out} (best epoch {result.best_epoch}, validation UAR "
        f"{100 * result.best_val_uar:.1f}% on {', '.join(sorted(val))})"
    )


@main.command()
@click.argument("keras_model", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    help="The int8 model (default: beside KERAS_MODEL, .tflite).",
)
@click.option("--name", help="Model name for the metadata (default: the file's stem).")
@click.option(
    "--data", "data_dir", type=click.Path(), help="Corpora folder for the representative set."
)
@click.option(
    "--metrics",
    "metrics_json",
    type=click.Path(dir_okay=False),
    help="An evaluation report whose figures go into the metadata.",
)
def quantize(keras_model, out_path, name, data_dir, metrics_json) -> None:
    """Convert a trained model to full-integer int8 TFLite (plus its float32 twin), verify
    every operator is integer, and write the metadata beside it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads
    import json as _json

    import keras

    from converters.export import export_model
    from converters.models import count_macs
    from converters.quantize import ConversionError
    from converters.train import TrainConfig, load_clipset, speaker_means, window_inputs
    from edgeser.normalisation import Normalisation

    src = Path(keras_model)
    record_path = src.with_suffix(".train.json")
    if not src.is_file() or not record_path.is_file():
        raise InputError(f"{src}: needs the model and its {record_path.name} (from edgeser train)")
    record = _json.loads(record_path.read_text())
    tc = dict(record["train_config"])
    tc["normalisation"] = Normalisation.from_dict(tc["normalisation"])
    for key in ("filters", "snr_db", "gain_db", "speed"):
        tc[key] = tuple(tc[key])
    if tc.get("pools") is not None:
        tc["pools"] = tuple(tuple(p) for p in tc["pools"])
    cfg = TrainConfig(**tc)
    clips = _clips_for(data_dir or record["data"]["root"] or None, record["data"]["corpus"])
    labels = record["labels"]
    rng = np.random.default_rng(cfg.seed)
    pick = rng.choice(len(clips), size=min(400, len(clips)), replace=False)
    data = load_clipset([clips[i] for i in sorted(pick)], labels)
    model = keras.models.load_model(src)
    means = speaker_means(Frontend(), data) if cfg.normalisation.mode == "session" else None
    out = Path(out_path) if out_path else src.with_suffix(".tflite")
    metrics = _json.loads(Path(metrics_json).read_text()) if metrics_json else {}
    summary = {
        k: metrics[k] for k in ("protocol", "float", "int8", "top1_agreement") if k in metrics
    }
    try:
        meta = export_model(
            model,
            out,
            name=name or src.stem,
            labels=labels,
            frontend=Frontend().config,
            normalisation=cfg.normalisation,
            window_frames=cfg.window_frames,
            representative=window_inputs(Frontend(), data, cfg, rng=None, means=means),
            macs=count_macs(model),
            training=record,
            metrics=summary,
        )
    except ConversionError as exc:
        raise InputError(str(exc).splitlines()[0]) from None
    click.echo(
        f"wrote {out} ({meta.tflite_bytes} bytes, input scale {meta.input.scale:.5f} "
        f"zero point {meta.input.zero_point}) and {out.with_suffix('.json').name}"
    )
