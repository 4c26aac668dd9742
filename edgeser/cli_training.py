"""Workstation commands of the ``edgeser`` command line: ``train``, ``evaluate``, ``quantize``.

They need the ``[train]`` extra (TensorFlow) and import ``converters/`` only when run, so the
device command line never loads TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np

from edgeser.cli import InputError, _fail, main
from edgeser.errors import EdgeserError
from edgeser.frontend import Frontend

if TYPE_CHECKING:  # the workstation side, imported where a command needs it
    from converters.train import TrainConfig

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
        click.option(
            "--recipe",
            help="Start from the training recipe stored with a model: 'default' (the bundled "
            "model), a model's .tflite or .json, or a NAME.train.json; options given on the "
            "command line override it.",
        ),
        click.option("--epochs", type=int, default=40, show_default=True),
        click.option(
            "--norm",
            type=click.Choice(["window", "session", "session-std", "fixed"]),
            default="window",
            show_default=True,
            help="Feature normalisation (stored in the model): window (no state), session (the "
            "session's running per-band mean: more accurate once the device has heard the "
            "speaker), session-std (mean and deviation: a per-session z-score), fixed. "
            "--recipe default gives the default model's whole recipe.",
        ),
        click.option(
            "--filters",
            default="16,16,32,32",
            show_default=True,
            help="Conv widths, one per block.",
        ),
        click.option(
            "--stem-stride",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Stride of the first conv (time and frequency), in place of its pool; 2 "
            "makes the int8 model much faster (benchmarks/architecture_speed.py).",
        ),
        click.option("--lstm", "lstm_units", type=int, default=32, show_default=True),
        click.option("--dense", "dense_units", type=int, default=32, show_default=True),
        click.option("--lr", "learning_rate", type=float, default=2e-3, show_default=True),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option(
            "--members",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Networks of this recipe (seeds --seed, --seed + 1, ...) trained and averaged "
            "in one model graph: one int8 file, one invoke, their cost summed.",
        ),
        click.option("--no-augment", is_flag=True, help="Train without augmentation."),
        click.option(
            "--session-subsets",
            "session_subsets",
            type=float,
            default=0.0,
            show_default=True,
            help="Probability of normalising a training window with the mean of a random "
            "subset of its speaker's clips (session normalisation).",
        ),
        click.option(
            "--teacher",
            "teacher_weight",
            type=float,
            default=0.0,
            show_default=True,
            help="Weight of an auxiliary loss regressing the clip's openSMILE ComParE "
            "functionals (needs the [peer] extra; training only, not in the exported model).",
        ),
        click.option(
            "--teacher-kind",
            type=click.Choice(["pca", "peer", "pca+peer"]),
            default="pca",
            show_default=True,
            help="What the teacher head regresses: principal components of the functionals, "
            "the cross-fitted peer SVM's decision values (distillation), or both.",
        ),
        click.option(
            "--distill",
            "distill_weight",
            type=click.FloatRange(min=0.0, max=1.0),
            default=0.0,
            show_default=True,
            help="Distil an ensemble into the model: each training window's target is "
            "(1 - W) x its label + W x the probabilities that --distill-members networks of "
            "this recipe, trained first, give the window; 0 is off.",
        ),
        click.option(
            "--distill-members",
            type=click.IntRange(min=1),
            default=2,
            show_default=True,
            help="Networks in the distillation teacher (seeds --seed, --seed + 1, ...).",
        ),
        click.option(
            "--periodicity-bands",
            type=click.IntRange(min=0, max=32),
            default=0,
            show_default=True,
            help="Periodicity columns after the Mel bands: the frames' autocorrelation over "
            "80-400 Hz pitch periods, in log-spaced ranges (0: none).",
        ),
        click.option(
            "--corpus-epoch",
            type=click.Choice(["smallest", "largest"]),
            default="smallest",
            show_default=True,
            help="With several corpora: each epoch takes as many clips of each as the smallest "
            "holds (larger ones sub-sampled) or as the largest holds (smaller ones repeated).",
        ),
        click.option(
            "--quant-noise",
            type=click.FloatRange(min=0.0),
            default=0.0,
            show_default=True,
            help="Train with uniform noise of this many int8 steps on the input and every "
            "activation that int8 conversion rounds (pseudo-quantisation noise, training "
            "only); 0 is off.",
        ),
        click.option(
            "--cell-clip",
            default="0",
            show_default=True,
            help="Clip the LSTM cell state to +-this at every step, in training and in the "
            "converted graph; 'tanh' is ln(511)/2 = 3.118, where int8 tanh saturates; 0 is off.",
        ),
        click.option(
            "--mixup",
            "mixup_alpha",
            type=click.FloatRange(min=0.0),
            default=0.0,
            show_default=True,
            help="Mixup: blend training windows and their labels with weights drawn from "
            "Beta(alpha, alpha); 0 is off.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


# Each training option (click parameter name) -> the TrainConfig field it sets.
RECIPE_OPTIONS = {
    "epochs": "epochs",
    "norm": "normalisation",
    "filters": "filters",
    "stem_stride": "stem_stride",
    "lstm_units": "lstm_units",
    "dense_units": "dense_units",
    "learning_rate": "learning_rate",
    "seed": "seed",
    "members": "members",
    "no_augment": "augment",
    "session_subsets": "session_subset_probability",
    "teacher_weight": "teacher_weight",
    "teacher_kind": "teacher_kind",
    "mixup_alpha": "mixup_alpha",
    "distill_weight": "distill_weight",
    "distill_members": "distill_members",
    "periodicity_bands": "periodicity_bands",
    "quant_noise": "quant_noise",
    "corpus_epoch": "corpus_epoch",
    "cell_clip": "cell_clip",
}


def read_recipe(source: str) -> dict:
    """The ``train_config`` dict stored with a model.

    Args:
        source: ``"default"`` (the bundled model), a model's ``.tflite`` or metadata ``.json``
            (its ``training.train_config``), or an ``edgeser train`` record ``NAME.train.json``.

    Raises:
        InputError: the file is missing, unreadable, or holds no training recipe.
    """
    import json as _json

    from edgeser.model import default_model_path, meta_path

    path = default_model_path() if source == "default" else Path(source)
    if path.suffix == ".tflite":
        path = meta_path(path)
    try:
        data = _json.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"--recipe {source}: cannot read {path} ({exc.strerror})") from None
    except ValueError:
        raise InputError(f"--recipe {source}: {path} is not JSON") from None
    if not isinstance(data, dict):
        data = {}
    recipe = data.get("train_config") or (data.get("training") or {}).get("train_config")
    if not isinstance(recipe, dict):
        raise InputError(f"--recipe {source}: {path} holds no training recipe (train_config)")
    return recipe


def _train_config(recipe=None, **options):
    """The TrainConfig of the command-line options: the ``--recipe``'s config (when given) with
    the options set on the command line written over it, else the options with their defaults."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ log noise
    from converters.train import TrainConfig, parse_cell_clip
    from edgeser.normalisation import Normalisation

    try:
        widths = tuple(int(f) for f in options["filters"].split(","))
    except ValueError:
        raise InputError(
            f"--filters must be comma-separated integers, got {options['filters']!r}"
        ) from None
    try:
        cell_clip = parse_cell_clip(options["cell_clip"])
    except ValueError as exc:
        raise InputError(str(exc)) from None
    values = {
        **options,
        "cell_clip": cell_clip,
        "norm": Normalisation.named(options["norm"]),
        "filters": widths,
        "no_augment": not options["no_augment"],  # the field is "augment"
    }
    given = {field: values[option] for option, field in RECIPE_OPTIONS.items()}
    if recipe is None:
        return TrainConfig(**given)
    try:
        base = TrainConfig.from_dict(read_recipe(recipe))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"--recipe {recipe}: malformed train_config ({exc})") from None
    ctx = click.get_current_context()
    explicit = {
        field
        for option, field in RECIPE_OPTIONS.items()
        if ctx.get_parameter_source(option) is click.core.ParameterSource.COMMANDLINE
    }
    return dataclasses.replace(base, **{k: v for k, v in given.items() if k in explicit})


def _teacher_features(cfg, clips) -> np.ndarray | None:
    """The clips' openSMILE functionals when ``cfg`` trains a teacher head, else None."""
    if cfg.teacher_weight <= 0:
        return None
    from converters.functionals import default_cache_dir, load_features

    try:
        features, _ = load_features(list(clips), default_cache_dir(), jobs=2)
    except ImportError:  # opensmile (or joblib) is imported when features are computed
        raise InputError("--teacher needs openSMILE: pip install 'edgeser[peer]'") from None
    return features


def _fit_teacher(cfg, clips, rows, labels) -> np.ndarray | None:
    """Teacher targets of the training ``rows`` of ``clips`` (fitted on those rows only);
    ``labels``: the label index of every clip."""
    features = _teacher_features(cfg, clips)
    if features is None:
        return None
    from converters.teacher import fold_teacher_targets

    if len(rows) <= cfg.teacher_dims:
        raise InputError(
            f"--teacher needs more than {cfg.teacher_dims} training clips, got {len(rows)}"
        )
    try:
        return fold_teacher_targets(
            cfg.teacher_kind,
            features[rows],
            cfg.teacher_dims,
            np.asarray(labels)[rows],
            [clips[i].speaker for i in rows],
        )
    except ValueError as exc:
        raise InputError(f"--teacher-kind {cfg.teacher_kind}: {exc}") from None


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
    "--with-other",
    "--with-ravdess",
    "with_other",
    is_flag=True,
    help="Add the other corpus (all its speakers) to every fold's training set.",
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
@click.option(
    "--epoch-selection",
    type=click.Choice(["fixed", "validation"]),
    default="fixed",
    show_default=True,
    help="fixed: train on all of a fold's training speakers for --epochs and keep the last; "
    "validation: keep the epoch best on two held-out training speakers.",
)
@click.option(
    "--model-cache",
    type=click.Path(file_okay=False),
    help="Keep each fold's trained network here and reuse it when the same recipe, fold and "
    "clips come again (each member of --members N on its own).",
)
@_training_options
def evaluate(
    protocol,
    with_other,
    folds,
    no_int8,
    out_json,
    png,
    epoch_selection,
    model_cache,
    data_dir,
    **train_args,
) -> None:
    """Train and score per speaker-independent fold: float and int8 side by side."""
    import json as _json

    from converters.evaluate import confusion_png
    from converters.evaluate import evaluate as run_evaluation

    cfg = dataclasses.replace(_train_config(**train_args), epoch_selection=epoch_selection)
    corpus = "emodb" if protocol == "emodb-loso" else "ravdess"
    clips = _corpus_clips(data_dir, corpus)
    labels = list(CORPUS_LABELS[corpus])
    extra = []
    if with_other:
        other = "ravdess" if corpus == "emodb" else "emodb"
        extra = _corpus_clips(data_dir, other)
        labels = _labels_of(list(clips) + list(extra))
    report = run_evaluation(
        clips,
        protocol,
        cfg,
        labels,
        extra_clips=extra,
        folds=list(folds) or None,
        int8=not no_int8,
        log=lambda line: click.echo(line, err=True),
        teacher_features=_teacher_features(cfg, list(clips) + list(extra)),
        model_cache=Path(model_cache) if model_cache else None,
    )
    Path(out_json).write_text(_json.dumps(report, indent=2, default=float) + "\n")
    png_path = png or str(Path(out_json).with_suffix(".png"))
    confusion_png(report, png_path)
    f, i = report["float"], report.get("int8")
    click.echo(f"{protocol}: float UAR {100 * f['uar']:.1f}% WA {100 * f['wa']:.1f}%", nl=False)
    if i:
        click.echo(
            f"; int8 UAR {100 * i['uar']:.1f}% WA {100 * i['wa']:.1f}%; "
            f"agreement {100 * report['top1_agreement']:.1f}%; "
            f"int8 file sessions UAR {100 * report['int8_file']['uar']:.1f}%"
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


def _training_record(model_path: str | Path, who: str = "") -> tuple[dict, TrainConfig]:
    """The ``edgeser train`` record beside ``model_path`` (NAME.train.json) and its recipe as a
    TrainConfig. ``who`` prefixes the one-line InputError (missing model or record, unreadable
    or malformed record)."""
    import json as _json

    from converters.train import TrainConfig

    where = f"{who}{model_path}"
    record_path = Path(model_path).with_suffix(".train.json")
    if not Path(model_path).is_file() or not record_path.is_file():
        raise InputError(
            f"{where}: needs the model and its {record_path.name} (from edgeser train)"
        )
    try:
        record = _json.loads(record_path.read_text())
        return record, TrainConfig.from_dict(record["train_config"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{where}: malformed {record_path.name} ({exc})") from None


def _data_record(data_dir: str | None, corpus: str, clips) -> dict:
    """The ``data`` entry of a training record: where the clips came from and how many."""
    return {
        "root": str(data_dir or ""),
        "corpus": corpus,
        "clips": len(clips),
        "speakers": len({c.speaker for c in clips}),
        "per_corpus": {
            k: {
                "clips": sum(c.corpus == k for c in clips),
                "speakers": len({c.speaker for c in clips if c.corpus == k}),
            }
            for k in sorted({c.corpus for c in clips})
        },
    }


def _distill_teacher(path: str | None, cfg, labels: list[str], data: dict, val: list[str]):
    """The Keras teacher of ``--distill-from`` (None without it), checked against the recipe:
    its record must hold ``cfg``'s teacher recipe, these labels, data and validation speakers.
    """
    if path is None:
        return None
    if cfg.distill_weight <= 0:
        raise InputError("--distill-from needs --distill W (W > 0)")
    record, recipe = _training_record(path, "--distill-from ")
    if recipe != cfg.distill_teacher_config():
        raise InputError(
            f"--distill-from {path}: not this recipe's teacher (--members "
            f"{cfg.distill_members} of the same recipe and seed, without --distill)"
        )
    if record.get("labels") != labels or record.get("data") != data:
        raise InputError(f"--distill-from {path}: trained on other labels or clips")
    if record.get("validation_speakers", []) != val:
        raise InputError(f"--distill-from {path}: trained with other validation speakers")
    from converters.models import load_model as load_keras_model

    return load_keras_model(path)


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
@click.option(
    "--all-speakers",
    is_flag=True,
    help="Train on every speaker for exactly --epochs epochs (no validation speakers; take "
    "the epoch count from a speaker-independent evaluation of the same recipe).",
)
@click.option(
    "--distill-from",
    type=click.Path(dir_okay=False),
    help="With --distill: the teacher, already trained (a NAME.keras whose NAME.train.json "
    "holds this recipe's teacher: --members N of it, on the same clips), instead of training "
    "it first.",
)
@_training_options
def train(corpus, out_path, all_speakers, distill_from, data_dir, **train_args) -> None:
    """Train an emotion model on a corpus (or both): by default the epoch is chosen on two
    held-out training speakers per corpus; with --all-speakers every speaker is trained on for
    a fixed number of epochs."""
    import json as _json

    from converters.evaluate import validation_speakers_per_corpus
    from converters.train import fit, load_clipset

    cfg = _train_config(**train_args)
    clips = _clips_for(data_dir, corpus)
    labels = _labels_of(clips)
    val = set() if all_speakers else validation_speakers_per_corpus(clips, 0)
    data_record = _data_record(data_dir, corpus, clips)
    teacher_model = _distill_teacher(distill_from, cfg, labels, data_record, sorted(val))
    data = load_clipset(clips, labels)
    tr = [i for i, c in enumerate(clips) if c.speaker not in val]
    va = [i for i, c in enumerate(clips) if c.speaker in val]
    taught_here = cfg.distill_weight > 0 and teacher_model is None
    networks = cfg.members + (cfg.distill_members if taught_here else 0)
    with click.progressbar(length=cfg.epochs * networks, label="training", file=sys.stderr) as bar:
        result = fit(
            data.subset(tr),
            data.subset(va) if va else None,
            cfg,
            log=lambda _line: bar.update(1),
            fixed_epochs=cfg.epochs if all_speakers else None,
            teacher=_fit_teacher(cfg, clips, tr, data.labels),
            distill_teacher=teacher_model,
        )
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.model.save(out)
    record = {
        "labels": labels,
        "train_config": cfg.to_dict(),
        "normalisation": cfg.normalisation.to_dict(),
        "data": data_record,
        "validation_speakers": sorted(val),
        "best_epoch": result.best_epoch,
        "val_uar": None if all_speakers else result.best_val_uar,
        "history": result.history,
        "seconds": round(result.seconds, 1),
        "all_speakers": bool(all_speakers),
    }
    if distill_from:
        record["distilled_from"] = str(distill_from)
    out.with_suffix(".train.json").write_text(_json.dumps(record, indent=2, default=float) + "\n")
    if all_speakers:
        click.echo(f"wrote {out} ({cfg.epochs} epochs on all {len(clips)} clips)")
    else:
        which = "the members' mean " if cfg.members > 1 else ""
        click.echo(
            f"wrote {out} (best epoch {result.best_epoch}, {which}validation UAR "
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
    multiple=True,
    help="An evaluation report (edgeser evaluate, or benchmarks/emotion_table.py) whose "
    "figures go into the metadata; repeatable, the first is the headline.",
)
@click.option("--note", help="A sentence about the metrics, stored with them.")
@click.option(
    "--calibration",
    type=click.Choice(["first", "scoring", "augmented"]),
    default="first",
    show_default=True,
    help="The representative set: 'first', the first window of 400 random training clips; "
    "'scoring', every window the device scores of every training clip, under speaker and "
    "file sessions; 'augmented', that plus one augmented pass (at most 2,000 windows).",
)
@click.option(
    "--gate-ranges",
    type=click.Choice(["saturated", "calibrated"]),
    default="saturated",
    show_default=True,
    help="LSTM gate pre-activations: 'saturated' rounds them within +-6.24, beyond which int8 "
    "sigmoid and tanh cannot change (finer steps, the same gate outputs); 'calibrated' over "
    "the range calibration saw, as models converted before 2026-12-07 were.",
)
@click.option(
    "--strip-names",
    is_flag=True,
    help="Leave tensor names out of the int8 file (the same graph and outputs, about 17 KB "
    "smaller per network of the default architecture; the float32 twin keeps them).",
)
def quantize(
    keras_model,
    out_path,
    name,
    data_dir,
    metrics_json,
    note,
    calibration,
    gate_ranges,
    strip_names,
) -> None:
    """Convert a trained model to full-integer int8 TFLite (plus its float32 twin), verify
    every operator is integer, and write the metadata beside it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads
    import json as _json

    from converters.export import export_model
    from converters.models import count_macs
    from converters.models import load_model as load_keras_model
    from converters.quantize import ConversionError
    from converters.train import load_clipset, representative_windows

    src = Path(keras_model)
    record, cfg = _training_record(src)
    clips = _clips_for(data_dir or record["data"]["root"] or None, record["data"]["corpus"])
    labels = record["labels"]
    if calibration == "first":  # as every model before the other kinds was quantised
        rng = np.random.default_rng(cfg.seed)
        pick = rng.choice(len(clips), size=min(400, len(clips)), replace=False)
        clips = [clips[i] for i in sorted(pick)]
    data = load_clipset(clips, labels)
    model = load_keras_model(src)
    # The representative clips normalised as the device normalises them, so the int8 input
    # range matches what the device feeds.
    frontend = Frontend(cfg.frontend_config())
    out = Path(out_path) if out_path else src.with_suffix(".tflite")
    summary = metrics_summary([_json.loads(Path(m).read_text()) for m in metrics_json])
    if note:
        summary["note"] = note
    try:
        meta = export_model(
            model,
            out,
            name=name or src.stem,
            labels=labels,
            frontend=frontend.config,
            normalisation=cfg.normalisation,
            window_frames=cfg.window_frames,
            representative=representative_windows(frontend, data, cfg, calibration, cfg.seed),
            max_samples=None,
            macs=count_macs(model),
            training={
                **record,
                "calibration": calibration,
                "gate_ranges": gate_ranges,
                "strip_names": bool(strip_names),
            },
            metrics=summary,
            gate_ranges=gate_ranges,
            strip_names=strip_names,
        )
    except ConversionError as exc:
        raise InputError(str(exc).splitlines()[0]) from None
    click.echo(
        f"wrote {out} ({meta.tflite_bytes} bytes, input scale {meta.input.scale:.5f} "
        f"zero point {meta.input.zero_point}) and {out.with_suffix('.json').name}"
    )


@main.command()
@click.argument("members", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="The ensemble Keras model to write (NAME.keras); NAME.train.json goes beside it.",
)
def ensemble(members, out_path) -> None:
    """Join networks trained apart (edgeser train, the same recipe with consecutive seeds, say
    on two cores at once) into the one-graph model that `edgeser train --members N` trains in
    one go: their class probabilities averaged on one input. Quantize the result as usual."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads
    import json as _json

    from converters.models import load_model as load_keras_model
    from converters.train import FitResult, combine_fits

    records, configs = zip(*(_training_record(m) for m in members), strict=True)
    if len(records) < 2:
        raise InputError("an ensemble needs at least two member models")
    first = records[0]
    if any(c.members != 1 for c in configs):
        raise InputError("every member must be one network (trained with --members 1)")
    for member, record, cfg in zip(members[1:], records[1:], configs[1:], strict=True):
        for key in ("labels", "data", "all_speakers", "validation_speakers"):
            if record.get(key) != first.get(key):
                raise InputError(f"{member}: its {key} differ from {members[0]}'s")
        if dataclasses.replace(cfg, seed=configs[0].seed) != configs[0]:
            raise InputError(f"{member}: its recipe differs from {members[0]}'s beyond the seed")
    seeds = [c.seed for c in configs]
    if seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        raise InputError(f"member seeds must be consecutive in order (--seed N, N+1, ...): {seeds}")
    fits = [
        FitResult(
            load_keras_model(m),
            r["best_epoch"],
            float("nan") if r.get("val_uar") is None else r["val_uar"],
            r["history"],
            r["seconds"],
        )
        for m, r in zip(members, records, strict=True)
    ]
    try:
        joined = combine_fits(fits)
    except ValueError as exc:
        raise InputError(str(exc).splitlines()[0]) from None
    record = {
        **first,
        "train_config": dataclasses.replace(configs[0], members=len(configs)).to_dict(),
        "best_epoch": joined.best_epoch,
        "val_uar": None if first.get("val_uar") is None else joined.best_val_uar,
        "history": joined.history,
        "seconds": round(joined.seconds, 1),
        "joined_from": [str(m) for m in members],
    }
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    joined.model.save(out)
    out.with_suffix(".train.json").write_text(_json.dumps(record, indent=2, default=float) + "\n")
    click.echo(f"wrote {out} ({len(members)} networks, seeds {seeds[0]}..{seeds[-1]}, averaged)")


_REPORT_KEYS = (
    "protocol",
    "classes_scored",
    "float",
    "int8",
    "float_file",
    "int8_file",
    "top1_agreement",
    "top1_agreement_file",
    "uar_drop_points",
    "uar_drop_points_file",
    "model",
    "data",
)


def _one_report(report: dict, command: str | None, peer: dict | None) -> dict:
    out = {k: report[k] for k in _REPORT_KEYS if k in report}
    for k in ("float", "int8", "float_file", "int8_file"):
        if k in out:
            out[k] = {m: v for m, v in out[k].items() if m != "confusion"} | {
                "confusion": out[k].get("confusion")
            }
    if command:
        out["command"] = command
    if peer:
        out["peer_uar"] = {f: v["uar"] for f, v in peer.get("forms", {}).items()}
    return out


def metrics_summary(reports: list[dict]) -> dict:
    """Model metadata metrics from evaluation reports: the first report's figures at the top
    (``protocol``, ``float``, ``int8``, ...) and every report under ``by_protocol``."""
    flat: list[dict] = []
    for report in reports:
        if "corpora" in report:  # benchmarks/emotion_table.py
            for part in report["corpora"].values():
                flat.append(_one_report(part["edgeser"], report.get("command"), part.get("peer")))
        elif "protocol" in report:
            flat.append(_one_report(report, report.get("command"), None))
    if not flat:
        return {}
    summary = dict(flat[0])
    summary["by_protocol"] = {r["protocol"]: r for r in flat}
    return summary
