"""The emotion-recognition table: edgeser's model (float and int8, speaker and file sessions)
against the openSMILE peer (ComParE_2016 functionals + linear SVM, global and per-speaker
standardisation), on the same speaker-independent folds, in one run.

    python benchmarks/emotion_table.py --corpus emodb|ravdess|both [--epochs 40]
        [--norm session|session-std|window|fixed] [--session-subsets P] [--filters 16,16,32,32]
        [--stem-stride 2] [--pools 2x2,2x2,2x1,4x1] [--cell-clip tanh|K] [--with-other] [--no-peer]
        [--fold NAME ...]
        [--model-cache DIR]
        [--calibration first|scoring|augmented] [--gate-ranges saturated|calibrated]
        [--out benchmarks/results/emotion_table.json]

EMO-DB: leave-one-speaker-out, 7 classes. RAVDESS: 5 actor-independent folds, 8 classes.
``--with-other`` adds every clip of the other corpus to each fold's training set (the model
then has the 9 labels of both; a label the scored corpus lacks counts as an error).
The model's epoch is chosen on validation speakers drawn from each fold's training speakers;
the peer's C on an inner leave-one-speaker-out of the training speakers. The int8 figures come
from the device runtime (:func:`edgeser.scoring.score_recordings`); ``speaker`` sessions take
the session mean over all the test speaker's voiced frames, ``file`` sessions over each
recording alone (``session-std``: the mean and the deviation). A confusion-matrix PNG (int8,
speaker sessions) is written beside the JSON for each corpus. ``--model-cache DIR`` keeps each
fold's trained model, so a second run of the same recipe and folds scores them again without
training (:func:`converters.evaluate.evaluate`). ``--calibration`` says how each fold's int8
representative set is drawn from its training clips (:func:`converters.train.
representative_windows`; ``first``, each clip's first window, is the default), and
``--gate-ranges`` how its LSTM gate pre-activations are quantised (``saturated``, the default
since 2026-12-07, or ``calibrated``, as every earlier report was converted:
:mod:`converters.gate_ranges`).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import types
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import peer_opensmile

from converters.evaluate import confusion_png, evaluate
from converters.quantize import GATE_RANGES
from converters.teacher import TEACHER_KINDS
from converters.train import CALIBRATIONS, CORPUS_EPOCHS, TrainConfig, parse_cell_clip
from edgeser import datasets as ds
from edgeser.cli_training import CORPUS_LABELS
from edgeser.normalisation import NAMES as NORMALISATION_NAMES
from edgeser.normalisation import Normalisation

LABELS = CORPUS_LABELS
PROTOCOL = {"emodb": "emodb-loso", "ravdess": "ravdess-5fold"}


def read_corpus(root: Path, corpus: str) -> list[ds.Clip]:
    """The clips of ``corpus`` (emodb or ravdess) under the data root."""
    return ds.read_emodb(root / "emodb") if corpus == "emodb" else ds.read_ravdess(root / corpus)


def run_corpus(corpus: str, root: Path, cfg: TrainConfig, args) -> dict:
    clips = read_corpus(root, corpus)
    labels = list(LABELS[corpus])
    extra: list[ds.Clip] = []
    if args.with_other:
        extra = read_corpus(root, "ravdess" if corpus == "emodb" else "emodb")
        labels = ds.label_set(list(clips) + extra)
    folds = args.fold or None
    teacher = None
    if cfg.teacher_weight > 0:
        teacher, _ = peer_opensmile.load_features(
            list(clips) + list(extra), peer_opensmile.default_cache_dir(), jobs=2
        )
    ours = evaluate(
        clips,
        PROTOCOL[corpus],
        cfg,
        labels,
        extra_clips=extra,
        folds=folds,
        teacher_features=teacher,
        model_cache=Path(args.model_cache) if args.model_cache else None,
        calibration=args.calibration,
        gate_ranges=args.gate_ranges,
        log=lambda line: print(f"[{corpus}] {line}", file=sys.stderr, flush=True),
    )
    table = {
        "edgeser float (speaker sessions)": ours["float"]["uar"],
        "edgeser int8 (speaker sessions)": ours["int8"]["uar"],
        "edgeser float (file sessions)": ours["float_file"]["uar"],
        "edgeser int8 (file sessions)": ours["int8_file"]["uar"],
    }
    wa = {
        "edgeser float (speaker sessions)": ours["float"]["wa"],
        "edgeser int8 (speaker sessions)": ours["int8"]["wa"],
        "edgeser float (file sessions)": ours["float_file"]["wa"],
        "edgeser int8 (file sessions)": ours["int8_file"]["wa"],
    }
    out: dict = {"uar": table, "wa": wa, "edgeser": ours}
    if not args.no_peer and not folds:
        peer_args = types.SimpleNamespace(cache_dir=peer_opensmile.default_cache_dir(), jobs=2)
        peer = peer_opensmile.run_corpus(corpus, clips, peer_args, peer_opensmile.C_GRID)
        for form, name in (("global", "global"), ("per_speaker", "per speaker")):
            key = f"openSMILE ComParE + SVM ({name})"
            table[key] = peer["forms"][form]["uar"]
            wa[key] = peer["forms"][form]["wa"]
        out["peer"] = peer
    return out


def _parse_pools(text: str, blocks: int) -> tuple[tuple[int, int], ...]:
    """``--pools`` ("2x2,2x2,2x1,4x1") as one (time, frequency) pool per conv block."""
    try:
        pools = tuple(tuple(int(v) for v in pool.split("x")) for pool in text.split(","))
    except ValueError:
        pools = ()
    if len(pools) != blocks or any(len(q) != 2 or min(q) < 1 for q in pools):
        raise ValueError(f"--pools takes {blocks} comma-separated TxF pools of positive integers")
    return pools  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", choices=["emodb", "ravdess", "both"], default="emodb")
    p.add_argument("--data", default=None)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--norm", default="session", choices=list(NORMALISATION_NAMES))
    p.add_argument("--session-subsets", type=float, default=0.0)
    p.add_argument("--filters", default="16,16,32,32")
    p.add_argument("--stem-stride", type=int, default=1, help="stride of the first conv")
    p.add_argument(
        "--pools",
        default=None,
        help="each conv block's max pool, time x frequency, e.g. 2x2,2x2,2x1,4x1 (default: 2x2 "
        "for the first two blocks, 2x1 after; the LSTM sees the window's frames / product of "
        "the time factors steps)",
    )
    p.add_argument("--lstm", type=int, default=32)
    p.add_argument("--dense", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--members", type=int, default=1, help="networks (seeds seed, seed+1, ...) averaged"
    )
    p.add_argument(
        "--epoch-selection",
        choices=["validation", "fixed"],
        default="validation",
        help="validation: epoch by held-out training speakers; fixed: all training "
        "speakers, whole schedule, last epoch",
    )
    p.add_argument("--teacher", type=float, default=0.0, help="teacher head loss weight")
    p.add_argument("--teacher-dims", type=int, default=16)
    p.add_argument("--teacher-kind", default="pca", choices=TEACHER_KINDS)
    p.add_argument("--mixup", type=float, default=0.0, help="mixup alpha (0: off)")
    p.add_argument("--distill", type=float, default=0.0, help="ensemble distillation weight")
    p.add_argument("--distill-members", type=int, default=2)
    p.add_argument("--periodicity-bands", type=int, default=0, help="periodicity columns")
    p.add_argument("--quant-noise", type=float, default=0.0, help="int8 steps of training noise")
    p.add_argument(
        "--cell-clip",
        default="0",
        help="LSTM cell state bound: 'tanh' (ln(511)/2, where int8 tanh saturates), a number, "
        "or 0 (unclipped)",
    )
    p.add_argument("--corpus-epoch", default="smallest", choices=CORPUS_EPOCHS)
    p.add_argument("--with-other", "--with-ravdess", dest="with_other", action="store_true")
    p.add_argument("--fold", action="append", help="only this fold (repeatable; no peer)")
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--model-cache", default=None, help="keep/reuse each fold's trained model")
    p.add_argument(
        "--calibration", default="first", choices=CALIBRATIONS, help="int8 representative set"
    )
    p.add_argument(
        "--gate-ranges",
        default="saturated",
        choices=GATE_RANGES,
        help="int8 LSTM gate pre-activation ranges",
    )
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if (
        args.members < 1
        or args.distill_members < 1
        or not 0.0 <= args.distill <= 1.0
        or not 0 <= args.periodicity_bands <= 32
        or not args.quant_noise >= 0
    ):
        p.error(
            "--members and --distill-members must be >= 1, --distill in [0, 1], "
            "--periodicity-bands in 0..32, --quant-noise >= 0"
        )
    try:
        pools = _parse_pools(args.pools, len(args.filters.split(","))) if args.pools else None
        cell_clip = parse_cell_clip(args.cell_clip)
    except ValueError as exc:
        p.error(str(exc))
    root = ds.data_root(args.data)
    if root is None:
        print("emotion_table: no corpus (set --data or EDGESER_DATA)", file=sys.stderr)
        return 2
    cfg = TrainConfig(
        filters=tuple(int(f) for f in args.filters.split(",")),
        stem_stride=args.stem_stride,
        pools=pools,
        lstm_units=args.lstm,
        dense_units=args.dense,
        epochs=args.epochs,
        seed=args.seed,
        members=args.members,
        epoch_selection=args.epoch_selection,
        teacher_weight=args.teacher,
        teacher_dims=args.teacher_dims,
        mixup_alpha=args.mixup,
        distill_weight=args.distill,
        distill_members=args.distill_members,
        periodicity_bands=args.periodicity_bands,
        quant_noise=args.quant_noise,
        corpus_epoch=args.corpus_epoch,
        cell_clip=cell_clip,
        teacher_kind=args.teacher_kind,
        session_subset_probability=args.session_subsets,
        normalisation=Normalisation.named(args.norm),
    )
    start = time.time()
    corpora = ["emodb", "ravdess"] if args.corpus == "both" else [args.corpus]
    out = Path(args.out or "benchmarks/results/emotion_table.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "command": shlex.join(
            ["python", "benchmarks/emotion_table.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": peer_opensmile.machine_info(2),
        "train_config": cfg.to_dict(),
        "corpora": {},
    }
    for corpus in corpora:
        report["corpora"][corpus] = run_corpus(corpus, root, cfg, args)
        report["seconds"] = round(time.time() - start, 1)
        out.write_text(json.dumps(report, indent=2, default=float) + "\n")  # after each corpus
        png = out.with_name(f"{out.stem}_{corpus}.png")
        confusion_png(report["corpora"][corpus]["edgeser"], png)
        ours = report["corpora"][corpus]["edgeser"]
        print(f"[{corpus}] {ours['protocol']}, wrote {out} and {png}")
        for name, value in report["corpora"][corpus]["uar"].items():
            print(f"  {name:42s} UAR {100 * value:5.1f}%")
        print(
            f"  int8/float top-1 agreement {100 * ours['top1_agreement']:.1f}% (speaker), "
            f"{100 * ours['top1_agreement_file']:.1f}% (file); int8 {ours['model']['int8_bytes']} "
            f"bytes, {ours['model']['macs_per_window']} MACs per window",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
