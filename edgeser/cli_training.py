"""Workstation commands of the ``edgeser`` command line: ``train``, ``evaluate``, ``quantize``.

They need the ``[train]`` extra (TensorFlow) and import ``converters/`` only when run, so the
device command line never loads TensorFlow.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import numpy as np

from edgeser.cli import InputError, _fail, main
from edgeser.errors import EdgeserError
from edgeser.frontend import Frontend

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
