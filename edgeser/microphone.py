"""Microphone input through PyAudio (the ``[mic]`` extra): device listing and a reader.

PyAudio runs a callback on its own thread; each callback's int16 samples go into a bounded
queue that :meth:`Microphone.chunks` drains. Nothing blocks the audio thread: when the reader
falls behind and the queue is full, the chunk is dropped and counted (``dropped_chunks``);
input overflows that PortAudio reports are counted too (``overflows``). Neither is an error.

Audio is opened as mono int16 at the requested rate (the model's, 16 kHz by default). Devices
that cannot capture at that rate are refused with a clear :class:`MicrophoneError`; the
``default`` and ``pulse`` devices of ALSA/PulseAudio resample for you.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np

from edgeser.errors import EdgeserError
from edgeser.quiet import quiet_stderr


class MicrophoneError(EdgeserError, RuntimeError):
    """PyAudio is missing, no input device matches, or the device cannot be opened."""


@dataclass(frozen=True)
class InputDevice:
    """A capture device as PortAudio lists it."""

    index: int
    name: str
    channels: int
    default_rate: float
    host_api: str
    is_default: bool


def _pyaudio() -> Any:
    try:
        import pyaudio
    except ImportError:
        raise MicrophoneError(
            "the microphone needs PyAudio: pip install 'edgeser[mic]' "
            "(and the system's PortAudio, e.g. apt-get install portaudio19-dev)"
        ) from None
    return pyaudio


def _portaudio(pyaudio: Any) -> Any:
    with quiet_stderr():
        return pyaudio.PyAudio()


def list_devices() -> list[InputDevice]:
    """The input (capture) devices PortAudio sees."""
    pyaudio = _pyaudio()
    pa = _portaudio(pyaudio)
    try:
        try:
            default = int(pa.get_default_input_device_info()["index"])
        except OSError:
            default = -1
        devices = []
        for i in range(pa.get_device_count()):
            info = pa.get_device_info_by_index(i)
            if int(info.get("maxInputChannels", 0)) < 1:
                continue
            api = pa.get_host_api_info_by_index(int(info["hostApi"]))["name"]
            devices.append(
                InputDevice(
                    index=i,
                    name=str(info["name"]),
                    channels=int(info["maxInputChannels"]),
                    default_rate=float(info["defaultSampleRate"]),
                    host_api=str(api),
                    is_default=i == default,
                )
            )
        return devices
    finally:
        pa.terminate()


def find_device(device: int | str | None) -> InputDevice | None:
    """The device with this index, or the first whose name contains this text (case-insensitive);
    None for the system default. Raises :class:`MicrophoneError` when nothing matches."""
    if device is None:
        return None
    devices = list_devices()
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        for d in devices:
            if d.index == int(device):
                return d
        raise MicrophoneError(f"no input device with index {device} (see --list-devices)")
    matches = [d for d in devices if str(device).lower() in d.name.lower()]
    exact = [d for d in matches if d.name.lower() == str(device).lower()]
    if exact:
        return exact[0]
    if not matches:
        raise MicrophoneError(f"no input device named like {device!r} (see --list-devices)")
    return matches[0]


class Microphone:
    """Mono int16 capture at ``rate`` Hz in chunks of ``chunk_samples``.

    with Microphone(rate=16000) as mic:
        for pcm in mic.chunks():      # int16 arrays; ends when the stream is closed
            ...
    """

    def __init__(
        self,
        device: int | str | None = None,
        rate: int = 16000,
        chunk_samples: int = 1600,
        queue_chunks: int = 64,
    ) -> None:
        self.device = find_device(device)
        self.rate = rate
        self.chunk_samples = chunk_samples
        self.overflows = 0
        self.dropped_chunks = 0
        self.samples_captured = 0
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=queue_chunks)
        self._pa: Any = None
        self._stream: Any = None

    def __enter__(self) -> Microphone:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        pyaudio = _pyaudio()
        self._flags_overflow = pyaudio.paInputOverflow
        self._continue = pyaudio.paContinue
        self._pa = _portaudio(pyaudio)
        index = self.device.index if self.device is not None else None
        try:
            with quiet_stderr():
                self._stream = self._pa.open(
                    format=pyaudio.paInt16,
                    channels=1,
                    rate=self.rate,
                    input=True,
                    input_device_index=index,
                    frames_per_buffer=self.chunk_samples,
                    stream_callback=self._callback,
                )
        except (OSError, ValueError) as exc:
            self._pa.terminate()
            self._pa = None
            name = self.device.name if self.device else "the default input device"
            raise MicrophoneError(
                f"cannot open {name} for mono 16-bit capture at {self.rate} Hz ({exc}); "
                "try --device default or --device pulse"
            ) from None

    def _callback(self, data: bytes, frame_count: int, time_info: Any, status: int) -> tuple:
        if status & self._flags_overflow:
            self.overflows += 1
        pcm = np.frombuffer(data, dtype="<i2").astype(np.int16)
        self.samples_captured += pcm.shape[0]
        try:
            self._queue.put_nowait(pcm)
        except queue.Full:
            self.dropped_chunks += 1
        return None, self._continue

    def chunks(
        self, timeout_s: float = 1.0, stop: threading.Event | None = None
    ) -> Iterator[np.ndarray]:
        """Captured int16 chunks, in order, until :meth:`close` or until ``stop`` is set (it is
        looked at every chunk and at least every 0.1 s). A chunk that does not arrive within
        ``timeout_s`` while the stream is active is simply waited for again.

        ``stop`` is how a signal handler ends the capture: setting an event is safe anywhere,
        whereas an exception raised inside ``queue.Queue.get`` can leave its lock broken."""
        wait_s = timeout_s if stop is None else min(timeout_s, 0.1)
        while stop is None or not stop.is_set():
            try:
                item = self._queue.get(timeout=wait_s)
            except queue.Empty:
                if self._stream is None or not self._stream.is_active():
                    return
                continue
            if item is None:
                return
            yield item

    def close(self) -> None:
        """Stop capture and release the device (safe to call twice)."""
        if self._stream is not None:
            try:
                self._stream.stop_stream()
                self._stream.close()
            except OSError:
                pass
            self._stream = None
        if self._pa is not None:
            self._pa.terminate()
            self._pa = None
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
