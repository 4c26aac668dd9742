"""The ``edgeser`` command line.

Every command reports bad input as one line on standard error and a non-zero exit status
(1 for a failed job, 2 for a usage or input error), never a traceback.
"""

from __future__ import annotations

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
        + (f", {config.periodicity_bands} periodicity columns" if config.periodicity_bands else "")
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


# The device commands (classify, listen, info) and the workstation commands (train, evaluate,
# quantize) register themselves on ``main``, one module each.
from edgeser import cli_runtime  # noqa: E402, F401, I001
from edgeser import cli_check  # noqa: E402, F401
from edgeser import cli_training  # noqa: E402, F401
from edgeser import cli_bench  # noqa: E402, F401

if __name__ == "__main__":
    main()
