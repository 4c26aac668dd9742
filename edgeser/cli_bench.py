"""``edgeser bench``: latency, resources and accuracy of the runtime on this machine.

Registers itself on :data:`edgeser.cli.main`; the measuring is in :mod:`edgeser.bench`.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import click

from edgeser.cli import InputError, _fail, main
from edgeser.errors import EdgeserError

COMPARE_KEYS = ("model", "backend", "threads")


def _parse_compare(specs: tuple[str, ...]) -> dict[str, list[str]]:
    axes: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip().lower()
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or key not in COMPARE_KEYS or not items:
            raise InputError(
                f"--compare {spec!r}: expected KEY=V1,V2 with KEY one of {', '.join(COMPARE_KEYS)}"
                " (e.g. threads=1,2 / backend=litert,tensorflow / model=int8,float32)"
            )
        if key in axes:
            raise InputError(f"--compare {key} given twice")
        axes[key] = items
    return axes


def _model_choice(value: str, main_model: Path) -> tuple[Path, Path | None]:
    """(model, metadata source) for a --compare model= value: int8 (--model itself), float32
    (its twin, borrowing its metadata) or a path; a path without its own .json borrows from
    its int8 sibling (NAME.float32.tflite -> NAME.tflite) when there is one, else --model."""
    from edgeser.bench import twin_path

    if value.lower() in ("int8", "main", "default"):
        return main_model, _twin_source(main_model)
    if value.lower() in ("float32", "float"):
        return twin_path(main_model), main_model
    return Path(value), _twin_source(Path(value)) or main_model


def _twin_source(model: Path) -> Path | None:
    """For ``NAME.float32.tflite`` without its own ``.json``: ``NAME.tflite`` (whose metadata it
    borrows) when that has one; else None."""
    from edgeser.model import meta_path

    suffix = ".float32.tflite"
    if meta_path(model).is_file() or not model.name.endswith(suffix):
        return None
    sibling = model.with_name(model.name[: -len(suffix)] + ".tflite")
    return sibling if sibling.is_file() and meta_path(sibling).is_file() else None


def _threads(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(f"threads must be an integer, got {value!r}") from None


def build_configs(
    model_path: str | None,
    backend: str,
    threads: int,
    delegate: str | None,
    compare: tuple[str, ...],
) -> list[Any]:
    """The configurations of a run: the options, varied along each ``--compare`` axis (their
    cartesian product, in the order given)."""
    from edgeser.bench import Config
    from edgeser.model import default_model_path

    main_model = Path(model_path) if model_path is not None else default_model_path()
    axes = _parse_compare(compare)
    models = [_model_choice(v, main_model) for v in axes.get("model", ["int8"])]
    backends = axes.get("backend", [backend])
    thread_counts = [_threads(v) for v in axes.get("threads", [str(threads)])]
    configs = []
    for (model, meta_from), be, th in itertools.product(models, backends, thread_counts):
        configs.append(Config(model, be, th, delegate, meta_from))
    return configs


def _ignore_failed_delegate_cleanup(unraisable: Any) -> None:
    """The interpreter packages' ``Delegate.__del__`` raises AttributeError when loading the
    delegate failed; that is already reported as one line, so keep its traceback quiet."""
    obj = getattr(unraisable, "object", None)
    if (
        isinstance(unraisable.exc_value, AttributeError)
        and getattr(obj, "__qualname__", "") == "Delegate.__del__"
    ):
        return
    sys.__unraisablehook__(unraisable)


def _read_against(path: str) -> dict[str, Any]:
    from edgeser.bench import FORMAT

    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path}: not an edgeser bench result (format {FORMAT})")
    return data


class _Bar:
    """Fractions of the whole run -> a click progress bar on stderr."""

    STEPS = 1000

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.done = 0.0
        self.shown = 0

    def __call__(self, fraction: float) -> None:
        self.done = min(1.0, self.done + fraction)
        target = int(self.done * self.STEPS)
        if target > self.shown:
            self.bar.update(target - self.shown)
            self.shown = target


@main.command()
@click.option("--model", "model_path", help="The .tflite model (default: the embedded model).")
@click.option(
    "--reference",
    "reference_path",
    help="A float model scored beside --model on --data (a .tflite without its own .json "
    "borrows --model's metadata).",
)
@click.option("--threads", type=int, default=1, show_default=True, help="Interpreter threads.")
@click.option(
    "--backend",
    default="auto",
    show_default=True,
    help="auto, litert, tflite-runtime or tensorflow.",
)
@click.option("--delegate", help="edgetpu: run the model on a Coral Edge TPU.")
@click.option(
    "--compare",
    multiple=True,
    metavar="KEY=V1,V2",
    help="Measure side by side in one run: threads=1,2 / backend=litert,tensorflow / "
    "model=int8,float32 (float32: NAME.float32.tflite beside --model) or model=A.tflite,B.tflite."
    " Repeat to combine (cartesian product).",
)
@click.option(
    "--repeats", type=int, default=1000, show_default=True, help="Timed calls per model stage."
)
@click.option(
    "--seconds",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds of audio through the frontend and the recognizer.",
)
@click.option(
    "--chunk-ms",
    type=int,
    default=100,
    show_default=True,
    help="Chunk size fed to the recognizer (divides 1000).",
)
@click.option("--audio", "audio_path", help="Real audio (any wav) instead of synthetic audio.")
@click.option(
    "--data", "data_path", help="Labelled clips for accuracy: a corpus folder or a manifest .csv."
)
@click.option(
    "--session",
    type=click.Choice(["speaker", "file"]),
    default="speaker",
    show_default=True,
    help="Session normalisation for --data: per speaker or per file.",
)
@click.option("--json", "json_path", help="Write every figure and the machine description.")
@click.option("--against", "against_path", help="An earlier --json result to compare with.")
@click.option(
    "--rounds",
    type=int,
    default=5,
    show_default=True,
    help="Interleaved rounds: configurations take turns so load changes hit all alike.",
)
@click.option("--no-import-time", is_flag=True, help="Skip timing 'import edgeser' (3 s).")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.pass_context
def bench(
    ctx: click.Context,
    model_path: str | None,
    reference_path: str | None,
    threads: int,
    backend: str,
    delegate: str | None,
    compare: tuple[str, ...],
    repeats: int,
    seconds: float,
    chunk_ms: int,
    audio_path: str | None,
    data_path: str | None,
    session: str,
    json_path: str | None,
    against_path: str | None,
    rounds: int,
    no_import_time: bool,
    no_progress: bool,
) -> None:
    """Measure latency (frontend per hop, model per window, recognizer per second of audio),
    resource use and, with --data, accuracy of the runtime on this machine.

    Input is synthetic speech-like audio unless --audio is given. Prints tables; --json writes
    every figure with the machine description; --against compares with an earlier --json.
    """
    from edgeser import bench as bench_mod

    old = _read_against(against_path) if against_path else None
    configs = build_configs(model_path, backend, threads, delegate, compare)
    options = bench_mod.BenchOptions(
        configs=configs,
        seconds=seconds,
        repeats=repeats,
        chunk_ms=chunk_ms,
        audio=audio_path,
        data=data_path,
        reference=Path(reference_path) if reference_path else None,
        session=session,
        import_time=not no_import_time,
        rounds=rounds,
    )
    hook = sys.unraisablehook
    sys.unraisablehook = _ignore_failed_delegate_cleanup
    try:
        bench_mod.validate(options)
        if no_progress:
            result = bench_mod.run(options)
        else:
            with click.progressbar(
                length=_Bar.STEPS, label="edgeser bench", file=sys.stderr
            ) as bar:
                result = bench_mod.run(options, progress=_Bar(bar))
    except EdgeserError as exc:
        raise _fail(exc) from None
    finally:
        sys.unraisablehook = hook
    result["options"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in ctx.params.items()}
    if old is not None:
        result["against"] = bench_mod.against(result, old)
        result["against"]["path"] = against_path
    if json_path:
        try:
            Path(json_path).write_text(json.dumps(result, indent=2, default=float) + "\n")
        except OSError as exc:
            raise InputError(f"{json_path}: cannot write: {exc.strerror}") from None
    click.echo(bench_mod.format_report(result))
    if old is not None:
        click.echo("")
        click.echo(bench_mod.format_against(result["against"]))
    if json_path:
        click.echo(f"\nwrote {json_path}")
