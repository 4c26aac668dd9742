"""``edgeser check``: the accuracy-regression gate for CI (logic in :mod:`edgeser.check`).

Exit status 0 when every criterion holds, 1 when any fails, 2 for a usage or input error
(one line on stderr). Device-side only: numpy, the frontend and the LiteRT interpreter.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgeser.cli import InputError, _fail, main
from edgeser.errors import EdgeserError

_DEFAULTS = {"max_drop": 2.0, "per_class_drop": 10.0, "min_agreement": 95.0}


class _OneLineUsage(click.Command):
    """Usage errors (missing or malformed options) as one line on stderr, exit status 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise InputError(f"check: {exc.format_message()} (see edgeser check --help)") from None


def _write(path: str, text: str, what: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write the {what}: {exc.strerror or exc}") from None


@main.command(cls=_OneLineUsage)
@click.option(
    "--model",
    "model_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The model to gate (normally int8 .tflite, with its .json beside it).",
)
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(),
    help="Labelled recordings: an EMO-DB or RAVDESS folder, a folder with a "
    "path,label,speaker CSV manifest, or the CSV itself.",
)
@click.option(
    "--reference",
    "reference_path",
    type=click.Path(dir_okay=False),
    help="Reference model scored on the same data now (normally NAME.float32.tflite; "
    "without its own .json it borrows --model's metadata).",
)
@click.option(
    "--baseline",
    "baseline_path",
    type=click.Path(dir_okay=False),
    help="A result recorded earlier with --write-baseline.",
)
@click.option(
    "--max-drop",
    type=float,
    default=_DEFAULTS["max_drop"],
    show_default=True,
    help="Largest allowed UAR and WA drop vs the reference and the baseline, points.",
)
@click.option("--min-uar", type=float, help="UAR floor, percent.")
@click.option(
    "--min-agreement",
    type=float,
    default=_DEFAULTS["min_agreement"],
    show_default=True,
    help="Smallest top-1 agreement with the reference, percent.",
)
@click.option(
    "--per-class-drop",
    type=float,
    default=_DEFAULTS["per_class_drop"],
    show_default=True,
    help="Largest allowed drop of any class's recall vs the reference and the baseline, points.",
)
@click.option(
    "--session",
    type=click.Choice(["speaker", "file"]),
    default="speaker",
    show_default=True,
    help="Session normalisation: one session per speaker, or per recording.",
)
@click.option("--strict", is_flag=True, help="Unreadable audio is an error (exit 2), not skipped.")
@click.option(
    "--exclude-unknown-labels",
    is_flag=True,
    help="Score without recordings whose label the model lacks (counted in every report) "
    "instead of refusing the data.",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the report.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="JUnit XML.")
@click.option(
    "--markdown", "markdown_path", type=click.Path(dir_okay=False), help="Markdown (PR comment)."
)
@click.option(
    "--confusion-png",
    "png_path",
    type=click.Path(dir_okay=False),
    help="Confusion matrices (needs matplotlib).",
)
@click.option(
    "--write-baseline",
    "write_baseline",
    type=click.Path(dir_okay=False),
    help="Record this result as a baseline (model sha256, frontend config, data fingerprint).",
)
def check(
    model_path,
    data_path,
    reference_path,
    baseline_path,
    max_drop,
    min_uar,
    min_agreement,
    per_class_drop,
    session,
    strict,
    exclude_unknown_labels,
    json_path,
    junit_path,
    markdown_path,
    png_path,
    write_baseline,
) -> None:
    """Gate a (quantised) model on labelled data: score it with the device runtime, compare
    with a reference model, a stored baseline and floors; exit 0 pass, 1 fail, 2 bad input."""
    from edgeser import check as chk

    for name, value in (
        ("--max-drop", max_drop),
        ("--per-class-drop", per_class_drop),
        ("--min-agreement", min_agreement),
        ("--min-uar", min_uar),
    ):
        if value is not None and not 0 <= value <= 100:
            raise InputError(f"{name} must be between 0 and 100, got {value:g}")
    thresholds = chk.Thresholds(
        max_drop=max_drop,
        per_class_drop=per_class_drop,
        min_agreement=min_agreement,
        min_uar=min_uar,
    )
    try:
        report = chk.run_check(
            model_path,
            data_path,
            reference_path=reference_path,
            baseline_path=baseline_path,
            thresholds=thresholds,
            session=session,
            strict=strict,
            exclude_unknown_labels=exclude_unknown_labels,
            require_criteria=write_baseline is None,
        )
    except EdgeserError as exc:
        raise _fail(exc) from None
    click.echo(chk.render_text(report), nl=False)
    if json_path:
        _write(json_path, chk.to_json(report), "JSON report")
    if junit_path:
        _write(junit_path, chk.render_junit(report), "JUnit report")
    if markdown_path:
        _write(markdown_path, chk.render_markdown(report), "Markdown report")
    written = [p for p in (json_path, junit_path, markdown_path) if p]
    if png_path:
        try:
            chk.write_confusion_png(report, png_path)
            written.append(png_path)
        except ImportError:
            click.echo(
                "edgeser check: matplotlib is not installed, no confusion PNG written "
                "(pip install matplotlib)",
                err=True,
            )
        except OSError as exc:
            raise InputError(f"{png_path}: cannot write the PNG: {exc.strerror or exc}") from None
    if write_baseline:
        baseline = chk.make_baseline(report)
        _write(
            write_baseline,
            json.dumps(baseline, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
            "baseline",
        )
        click.echo(f"wrote baseline {write_baseline}")
    if written:
        click.echo(f"wrote {', '.join(written)}")
    click.get_current_context().exit(report["exit_status"])
