"""Device commands of the ``edgeser`` command line: ``classify``, ``listen``, ``info``.

Bad input is one line on standard error and exit status 2; in a batch of files the good ones
are still classified and reported (exit status 2 if any file failed).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np

from edgeser.cli import InputError, _fail, main
from edgeser.errors import EdgeserError


def _model_options(func):
    options = [
        click.option(
            "--model",
            "model_path",
            type=click.Path(dir_okay=False),
            help="An edgeser .tflite model (default: the embedded one).",
        ),
        click.option(
            "--backend",
            default="auto",
            show_default=True,
            help="Interpreter: auto, litert, tflite-runtime or tensorflow.",
        ),
        click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 64)),
        click.option("--delegate", type=click.Choice(["edgetpu"]), help="Run on a Coral Edge TPU."),
        click.option("--hop", "hop_s", default=0.5, show_default=True, help="Seconds per hop."),
        click.option(
            "--window",
            "window_s",
            type=float,
            help="Seconds per decision (default: the model's window).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _load_model(model_path, backend, threads, delegate):
    from edgeser.model import EmotionModel

    try:
        return EmotionModel(model_path, num_threads=threads, backend=backend, delegate=delegate)
    except EdgeserError as exc:
        raise _fail(exc) from None


def _settings(hop_s: float, window_s: float | None, **changes: Any):
    from edgeser.recognizer import RecognizerSettings

    try:
        return RecognizerSettings(hop_s=hop_s, window_s=window_s, **changes)
    except EdgeserError as exc:
        raise _fail(exc) from None


# ------------------------------------------------------------------------------------ classify
@main.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@_model_options
@click.option("--json", "as_json", is_flag=True, help="One JSON document on standard output.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on standard output.")
@click.option("--windows", is_flag=True, help="Also list every window's result.")
@click.option("--example", is_flag=True, help="Classify the example clip that ships with edgeser.")
@click.option("--session", type=click.Choice(["file", "speaker"]), default="file",
              show_default=True,
              help="Session mean of a session-normalised model: each file's own, or one over "
              "all the files (they are one speaker's).")  # fmt: skip
def classify(
    files, model_path, backend, threads, delegate, hop_s, window_s, as_json, as_csv, windows,
    example, session,
) -> None:  # fmt: skip
    """Classify WAV files: the emotion of each utterance (and of each window with --windows).

    Files of any sample rate, 8/16/24/32-bit integer or 32-bit float, any channel count."""
    from edgeser.classify import classify_files
    from edgeser.examples import example_path

    if as_json and as_csv:
        raise InputError("choose one of --json and --csv")
    paths = [str(example_path())] if example else []
    paths += list(files)
    if not paths:
        raise InputError("no input: give WAV files or --example")
    model = _load_model(model_path, backend, threads, delegate)
    settings = _settings(hop_s, window_s)
    results, failed = [], 0
    for outcome in classify_files(paths, model, settings, shared_session=session == "speaker"):
        if isinstance(outcome, EdgeserError):
            failed += 1
            click.echo(f"edgeser: error: {str(outcome).splitlines()[0]}", err=True)
        else:
            results.append(outcome)
    if as_json:
        doc = {
            "model": model.meta.name,
            "labels": list(model.labels),
            "files": [
                r.to_dict() if windows else {**r.to_dict(), "windows": None} for r in results
            ],
        }
        for entry in doc["files"]:
            if entry["windows"] is None:
                del entry["windows"]
        click.echo(json.dumps(doc, indent=2))
    elif as_csv:
        click.echo(_classify_csv(results, model.labels, windows), nl=False)
    else:
        click.echo(_classify_table(results, windows, model.meta.name, model.backend.describe()))
    if failed:
        sys.exit(2)


def _classify_csv(results, labels, windows: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "start_s", "end_s", "label", "confidence", "arousal", "valence",
                     *[f"p_{label}" for label in labels]])  # fmt: skip
    for r in results:
        rows = ([r.decision] if r.decision else []) + (r.windows if windows else [])
        if not rows:
            writer.writerow([r.source, "", "", "no speech", "", "", ""] + [""] * len(labels))
        for e in rows:
            writer.writerow([r.source, e.start_s, e.end_s, e.label, f"{e.confidence:.4f}",
                             f"{e.arousal:.4f}", f"{e.valence:.4f}",
                             *[f"{e.probabilities[label]:.4f}" for label in labels]])  # fmt: skip
    return out.getvalue()


def _classify_table(results, windows: bool, model_name: str, backend: str) -> str:
    lines = [f"model {model_name} on {backend}"]
    header = (
        f"{'file':<32} {'seconds':>7}  {'emotion':<10} {'conf':>5} {'arousal':>7} {'valence':>7}"
    )
    lines.append(header)
    for r in results:
        name = Path(r.source).name if len(r.source) > 32 else r.source
        name = name if len(name) <= 32 else "..." + name[-29:]
        d = r.decision
        if d is None:
            lines.append(f"{name:<32} {r.duration_s:>7.2f}  {'no speech':<10}")
        else:
            lines.append(
                f"{name:<32} {r.duration_s:>7.2f}  {d.label:<10} {d.confidence:>5.2f} "
                f"{d.arousal:>+7.2f} {d.valence:>+7.2f}"
            )
        if windows:
            for w in r.windows:
                span = f"{w.start_s:.2f}-{w.end_s:.2f}s"
                lines.append(
                    f"  {span:<30} {'':>7}  {w.label:<10} {w.confidence:>5.2f} "
                    f"{w.arousal:>+7.2f} {w.valence:>+7.2f}"
                )
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- listen
@main.command()
@_model_options
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help="Read raw PCM (signed 16-bit little-endian mono at the model rate) from stdin.",
)
@click.option("--device", help="Microphone: index or part of the name (see --list-devices).")
@click.option("--list-devices", is_flag=True, help="List the microphones and exit.")
@click.option("--threshold", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Lowest confidence of an emitted event.")  # fmt: skip
@click.option("--smoothing", default=0.5, show_default=True, type=click.FloatRange(0, 0.99),
              help="Weight of the previous decision in the moving average.")  # fmt: skip
@click.option("--seconds", type=float, help="Stop after this many seconds of audio.")
@click.option("--session-idle", "session_idle_s", type=click.FloatRange(0, min_open=True),
              help="Seconds without voice after which the session mean starts over (a new "
              "speaker; session-normalised models).")  # fmt: skip
@click.option(
    "--serial", "serial_port", help="Also send each event as a frame to this serial port."
)
@click.option("--baud", default=115200, show_default=True, type=click.IntRange(1))
@click.option("--udp", "udp_target", help="Also send each event as a datagram to HOST:PORT.")
@click.option(
    "--heartbeat",
    "heartbeat_s",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds between heartbeat frames (0: none).",
)
def listen(
    model_path, backend, threads, delegate, hop_s, window_s, from_stdin, device, list_devices,
    threshold, smoothing, seconds, session_idle_s, serial_port, baud, udp_target, heartbeat_s,
) -> None:  # fmt: skip
    """Stream emotion events from the microphone (or --stdin): one JSON object per line on
    standard output, until stopped (Ctrl-C, end of input or --seconds). A summary goes to
    standard error at the end.

    With --serial and/or --udp, each event (and a heartbeat every --heartbeat seconds) also
    goes out as a COBS + CRC-16 frame of the event protocol (firmware_bridge/PROTOCOL.md)."""
    if list_devices:
        _print_devices()
        return
    model = _load_model(model_path, backend, threads, delegate)
    settings = _settings(
        hop_s, window_s, threshold=threshold, smoothing=smoothing, session_idle_s=session_idle_s
    )
    from edgeser.recognizer import Recognizer

    recognizer = Recognizer(model, settings)
    link = _EventLink.open(model, serial_port, baud, udp_target, heartbeat_s)
    rate = model.meta.frontend.sample_rate
    limit = None if seconds is None else round(seconds * rate)
    started = time.perf_counter()
    mic = None
    stopped_by = "end of input"
    stop = threading.Event()
    try:
        if from_stdin:
            chunks = _stdin_chunks(rate // 10)
        else:
            from edgeser.microphone import Microphone

            try:
                mic = Microphone(device, rate=rate, chunk_samples=rate // 10)
                mic.open()
            except EdgeserError as exc:
                raise _fail(exc) from None
            chunks = mic.chunks(stop=stop)
        samples = 0
        # Reading stdin blocks in a system call, which a KeyboardInterrupt ends cleanly; the
        # microphone's queue is left by setting ``stop``, never by an exception inside it.
        with _StopSignals(None if from_stdin else stop):
            source = "stdin" if from_stdin else (mic.device.name if mic.device else "default")
            click.echo(
                f"edgeser listen: {model.meta.name} on {source} at {rate} Hz; Ctrl-C to stop",
                err=True,
            )
            for chunk in chunks:
                if limit is not None:
                    chunk = chunk[: limit - samples]
                samples += chunk.shape[0]
                events = recognizer.feed(chunk)
                _emit(events)
                link.send(events, recognizer.stream_seconds, mic)
                if limit is not None and samples >= limit:
                    stopped_by = "--seconds"
                    break
        if stop.is_set():
            stopped_by = "interrupt"
    except KeyboardInterrupt:
        stopped_by = "interrupt"
    except BrokenPipeError:
        stopped_by = "closed output"
    finally:
        if mic is not None:
            mic.close()
    with contextlib.suppress(BrokenPipeError):
        events = recognizer.flush()
        _emit(events)
        link.send(events, recognizer.stream_seconds, mic)
    summary = {
        "stopped_by": stopped_by,
        "audio_s": round(recognizer.stream_seconds, 3),
        "wall_s": round(time.perf_counter() - started, 3),
        "windows_scored": recognizer.windows_scored,
        "sessions": recognizer.sessions_started,
        "windows_unvoiced": recognizer.windows_unvoiced,
    }
    if mic is not None:
        summary["overflows"] = mic.overflows
        summary["dropped_chunks"] = mic.dropped_chunks
    summary.update(link.close())
    click.echo("edgeser listen: " + json.dumps(summary), err=True)


class _EventLink:
    """The event-protocol senders of ``listen`` (none, serial, UDP or both)."""

    def __init__(self, senders: dict[str, Any], model_id: int, heartbeat_s: float) -> None:
        from firmware_bridge.protocol import SequenceCounter

        self.senders = senders
        self.model_id = model_id
        self.heartbeat_s = heartbeat_s
        self.seq = SequenceCounter()
        self._last_beat = time.monotonic()
        self._audio_dropped = 0
        self._sender_dropped = 0

    @classmethod
    def open(cls, model, serial_port, baud, udp_target, heartbeat_s) -> _EventLink:
        senders: dict[str, Any] = {}
        if serial_port is None and udp_target is None:
            return cls(senders, 0, 0.0)
        from edgeser.transport import SerialSender, UdpSender, parse_udp_target
        from firmware_bridge.protocol import model_id_of

        try:
            if udp_target is not None:
                senders["udp"] = UdpSender(*parse_udp_target(udp_target))
            if serial_port is not None:
                senders["serial"] = SerialSender(serial_port, baud)
        except EdgeserError as exc:
            for sender in senders.values():
                sender.close(timeout=0.1)
            raise _fail(exc) from None
        return cls(senders, model_id_of(model.path), heartbeat_s)

    def send(self, events, stream_s: float, mic) -> None:
        if not self.senders:
            return
        from firmware_bridge.protocol import event_record_from

        for e in events:
            record = event_record_from(
                list(e.probabilities.values()),
                seq=self.seq.next(),
                time_ms=round(e.end_s * 1000),
                model_id=self.model_id,
                confidence=e.confidence,
                arousal=e.arousal,
                valence=e.valence,
            )
            for sender in self.senders.values():
                sender.send(record)
        now = time.monotonic()
        if self.heartbeat_s > 0 and now - self._last_beat >= self.heartbeat_s:
            self._last_beat = now
            self._beat(stream_s, mic)

    def _beat(self, stream_s: float, mic) -> None:
        from firmware_bridge.protocol import HeartbeatRecord, Status

        audio_dropped = mic.dropped_chunks + mic.overflows if mic is not None else 0
        sender_dropped = sum(s.dropped for s in self.senders.values())
        flags = Status.AUDIO_RUNNING | Status.MODEL_LOADED
        if audio_dropped > self._audio_dropped:
            flags |= Status.AUDIO_OVERRUN
        if sender_dropped > self._sender_dropped:
            flags |= Status.SENDER_DROPS
        self._audio_dropped, self._sender_dropped = audio_dropped, sender_dropped
        beat = HeartbeatRecord(
            seq=self.seq.next(),
            time_ms=round(stream_s * 1000) & 0xFFFFFFFF,
            model_id=self.model_id,
            dropped_audio=audio_dropped & 0xFFFFFFFF,
            dropped_events=sender_dropped & 0xFFFFFFFF,
            flags=int(flags),
        )
        for sender in self.senders.values():
            sender.send(beat)

    def close(self) -> dict[str, Any]:
        stats = {}
        for name, sender in self.senders.items():
            sender.close(timeout=1.0)
            stats[name] = sender.stats()
        return stats


def _emit(events) -> None:
    for event in events:
        sys.stdout.write(json.dumps(event.to_dict()) + "\n")
    if events:
        sys.stdout.flush()


class _StopSignals:
    """Ctrl-C (SIGINT) and SIGTERM end the stream cleanly with a summary: with an event, by
    setting it (the capture loop looks at it); without, by raising KeyboardInterrupt."""

    def __init__(self, stop: threading.Event | None) -> None:
        self._stop = stop

    def __enter__(self) -> None:
        self._old = {s: signal.signal(s, self._handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def _handler(self, signum, frame) -> None:
        if self._stop is None:
            raise KeyboardInterrupt
        self._stop.set()

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)


def _stdin_chunks(samples: int) -> Iterator[np.ndarray]:
    stream = sys.stdin.buffer
    carry = b""
    while True:
        data = stream.read1(2 * samples) if hasattr(stream, "read1") else stream.read(2 * samples)
        if not data:
            if carry:
                click.echo("edgeser listen: ignored a trailing odd byte on stdin", err=True)
            return
        data = carry + data
        even = len(data) - len(data) % 2
        carry = data[even:]
        if even:
            yield np.frombuffer(data[:even], dtype="<i2").astype(np.int16)


def _print_devices() -> None:
    from edgeser.microphone import list_devices

    try:
        devices = list_devices()
    except EdgeserError as exc:
        raise _fail(exc) from None
    if not devices:
        click.echo("no input devices")
        return
    click.echo(f"{'index':>5}  {'name':<40} {'channels':>8} {'rate':>7}  host api")
    for d in devices:
        mark = " (default)" if d.is_default else ""
        click.echo(
            f"{d.index:>5}  {d.name[:40]:<40} {d.channels:>8} {d.default_rate:>7.0f}  "
            f"{d.host_api}{mark}"
        )


# ---------------------------------------------------------------------------------------- info
@main.command()
@click.argument("model_path", required=False, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="The metadata and checks as JSON.")
@click.option("--edgetpu", is_flag=True, help="Show the full Edge TPU compatibility table.")
@click.option("--backend", default="auto", show_default=True)
def info(model_path, as_json, edgetpu, backend) -> None:
    """Describe a model (default: the embedded one): labels, frontend, normalisation, tensors,
    quantisation, hash, size, MACs, training and metrics, and Edge TPU compatibility."""
    from edgeser.edgetpu import compatibility_report

    model = _load_model(model_path, backend, 1, None)
    meta = model.meta
    try:
        report = compatibility_report(model.path, backend=backend)
    except EdgeserError as exc:
        raise _fail(exc) from None
    if as_json:
        doc = json.loads(meta.to_json())
        doc["path"] = str(model.path)
        doc["backend"] = model.backend.describe()
        doc["edgetpu"] = report.to_dict()
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    click.echo(_info_text(model, report, full_edgetpu=edgetpu))


def _metric_lines(metrics: dict) -> list[str]:
    """One line per protocol and kind (float, int8): UAR and WA with speaker sessions, and the
    file-session (cold start) UAR where the report has it."""
    reports = metrics.get("by_protocol") or {metrics.get("protocol", ""): metrics}
    lines = []
    for protocol, report in reports.items():
        for which in ("float", "int8"):
            m = report.get(which)
            if not (isinstance(m, dict) and "uar" in m):
                continue
            wa = 100 * m.get("wa", 0)
            line = f"{which:<11} {protocol} UAR {100 * m['uar']:.1f}% WA {wa:.1f}%"
            cold = report.get(f"{which}_file")
            if isinstance(cold, dict) and "uar" in cold:
                line += f" (speaker sessions; file sessions UAR {100 * cold['uar']:.1f}%)"
            lines.append(line)
    return lines


def _info_text(model, report, full_edgetpu: bool) -> str:
    meta = model.meta
    fe = meta.frontend
    norm = meta.normalisation
    lines = [
        f"model       {meta.name}",
        f"file        {model.path} ({meta.tflite_bytes:,} bytes, sha256 {meta.tflite_sha256})",
        f"backend     {model.backend.describe()}",
        f"labels      {', '.join(meta.labels)}",
        f"window      {meta.window_frames} frames x {fe.num_features} features "
        f"({((meta.window_frames - 1) * fe.hop_samples + fe.window_samples) / fe.sample_rate:g} s)",
        f"frontend    spec v{fe.spec_version}: {fe.sample_rate} Hz, {fe.window_samples}-sample "
        f"window, {fe.hop_samples}-sample hop, {fe.fft_size}-point, {fe.num_bands} HTK Mel bands "
        f"{fe.lower_hz:g}-{fe.upper_hz:g} Hz"
        + (f", {fe.periodicity_bands} periodicity columns" if fe.periodicity_bands else ""),
        f"normalise   {norm.mode} (scale {norm.scale_db:g} dB"
        + (f", offset {norm.offset_db:g} dB)" if norm.mode == "fixed" else ")"),
        f"input       {meta.input.dtype} {list(meta.input.shape)} scale {meta.input.scale:.6g} "
        f"zero point {meta.input.zero_point}",
        f"output      {meta.output.dtype} {list(meta.output.shape)} scale "
        f"{meta.output.scale:.6g} zero point {meta.output.zero_point}",
        f"work        {meta.macs:,} multiply-accumulates per window",
    ]
    recipe = (meta.training or {}).get("train_config") or {}
    members, seed = recipe.get("members", 1), recipe.get("seed", 0)
    if isinstance(members, int) and isinstance(seed, int) and members > 1:
        lines.append(
            f"networks    {members}, their probabilities averaged in one graph (seeds "
            f"{seed}-{seed + members - 1})"
        )
    data = meta.training.get("data") if meta.training else None
    if data:
        lines.append(f"trained on  {json.dumps(data, sort_keys=True)}")
    lines += _metric_lines(meta.metrics or {})
    lines.append(
        f"edge tpu    {report.mapped} of {len(report.ops)} operators would map (static "
        "estimate; --edgetpu for the table)"
    )
    if full_edgetpu:
        lines.append(report.format())
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- export
@main.command()
@click.argument("model_path", required=False, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["c"]), default="c", show_default=True)
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write (created).")  # fmt: skip
def export(model_path, fmt, out_dir) -> None:
    """Export an int8 model for TFLite Micro firmware: the model as a C array, the frontend
    tables and C sources, golden vectors and a C program that checks them bit for bit."""
    from firmware_bridge.export import export_c

    try:
        files = export_c(model_path, out_dir)
    except (EdgeserError, ValueError) as exc:
        raise _fail(exc) from None
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot write: {exc.strerror or exc}") from None
    total = sum(f.stat().st_size for f in files)
    click.echo(f"wrote {len(files)} files ({total:,} bytes) to {out_dir}; build and check with:")
    click.echo(f"  make -C {out_dir} check")
