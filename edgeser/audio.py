"""WAV input/output, resampling and PCM conversion for the edgeser runtime (numpy only).

The one entry point training and the device runtime share is :func:`load_pcm16`: WAV file ->
mono int16 PCM at the frontend's sample rate.  Everything it does is deterministic: the same file
gives bit-identical output on the same numpy build.

Conventions: sample rates are integers in Hz; lengths are counted in samples (per channel,
"frames" for multi-channel audio); float audio is float64 with nominal full scale [-1, 1].
"""

from __future__ import annotations

import functools
import math
import operator
import os
import struct
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from edgeser.errors import AudioError

__all__ = ["load_pcm16", "read_wav", "read_wav_bytes", "resample", "to_pcm16", "write_wav_pcm16"]

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
# Trailing 14 bytes of every standard KSDATAFORMAT_SUBTYPE_* GUID (the first 2 are the format tag).
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_TAG_NAMES = {
    0x0002: "MS ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MPEG layer 3",
    0x0161: "WMA",
}


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a RIFF/WAVE file; return ``(samples, rate)``, see :func:`read_wav_bytes`."""
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except FileNotFoundError:
        raise AudioError(f"{name}: no such file") from None
    except OSError as exc:
        raise AudioError(f"{name}: cannot read file ({exc.strerror or exc})") from None
    return read_wav_bytes(data, name)


def read_wav_bytes(data: bytes, name: str = "<bytes>") -> tuple[np.ndarray, int]:
    """Decode an in-memory RIFF/WAVE file.

    Returns ``(samples, rate)``: float64 samples of shape (frames, channels) and the sample rate
    in Hz.  Supported encodings, plain or as WAVE_FORMAT_EXTENSIBLE subformats, little-endian:

    * PCM 8-bit unsigned: ``(x - 128) / 128``
    * PCM 16-bit: ``x / 32768``; 24-bit: ``x / 2**23``; 32-bit: ``x / 2**31``
      (integer PCM thus lands in [-1, 1); a 20-bit extensible file in a 24-bit container is
      decoded by its container)
    * IEEE float 32 and 64-bit: values passed through unchanged (nominal range [-1, 1]; overs
      are kept, :func:`to_pcm16` clips them)

    Unknown chunks (LIST, fact, ...) are skipped, honouring the pad byte after odd-sized chunks.
    A data chunk whose declared size runs past the end of the file (streaming writers put
    0xFFFFFFFF there), or is 0 but followed by bytes that are not a chunk, is read to the end of
    the file; a partial last frame is dropped.  ``name`` is only used in error messages.

    Raises :class:`AudioError` for an empty or non-RIFF/WAVE input, a missing fmt or data chunk,
    an unsupported encoding (naming its format tag), zero channels or rate, zero-length audio or
    NaN/infinite float samples.
    """
    data = bytes(data)
    if not data:
        raise AudioError(f"{name}: empty file")
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX", b"RF64") or data[8:12] != b"WAVE":
        raise AudioError(f"{name}: not a RIFF/WAVE file")
    if data[:4] != b"RIFF":
        raise AudioError(f"{name}: {data[:4].decode()} WAV files are not supported")
    fmt = None
    span = None  # (offset, size) of the sample data
    pos = 12
    while pos + 8 <= len(data) and (fmt is None or span is None):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if cid == b"fmt " and fmt is None:
            if body + size > len(data):
                raise AudioError(f"{name}: fmt chunk is truncated")
            fmt = data[body : body + size]
        elif cid == b"data" and span is None:
            if size == 0 and not _chunk_at(data, body):
                size = len(data) - body  # streaming writer left the size at 0: read to EOF
            span = (body, min(size, len(data) - body))
        pos = body + size + (size & 1)
    if fmt is None:
        raise AudioError(f"{name}: no fmt chunk (truncated or corrupt header)")
    if span is None:
        raise AudioError(f"{name}: no data chunk (truncated or corrupt file)")
    tag, channels, rate, bits = _parse_fmt(fmt, name)
    width = bits // 8
    nframes = span[1] // (width * channels)
    if nframes == 0:
        raise AudioError(f"{name}: zero-length audio (no complete frame in the data chunk)")
    count, off = nframes * channels, span[0]
    if tag == _FLOAT:
        raw = np.frombuffer(data, "<f4" if bits == 32 else "<f8", count, off)
        out = raw.astype(np.float64)
        if not np.isfinite(out).all():
            raise AudioError(f"{name}: float samples contain NaN or infinity")
    elif bits == 8:
        out = (np.frombuffer(data, np.uint8, count, off).astype(np.float64) - 128.0) / 128.0
    elif bits == 24:
        b = np.frombuffer(data, np.uint8, count * 3, off).reshape(count, 3)
        word = np.zeros((count, 4), np.uint8)
        word[:, 1:] = b  # little-endian: the 24-bit value becomes the top of an int32
        out = word.view("<i4")[:, 0] / 2147483648.0
    else:
        out = np.frombuffer(data, f"<i{width}", count, off) / float(2 ** (bits - 1))
    return out.reshape(nframes, channels), rate


def _chunk_at(data: bytes, pos: int) -> bool:
    """Tell whether a plausible chunk header (printable id, size in the file) starts at pos."""
    if pos + 8 > len(data):
        return pos >= len(data)
    size = struct.unpack_from("<I", data, pos + 4)[0]
    return all(32 <= c < 127 for c in data[pos : pos + 4]) and pos + 8 + size <= len(data)


def _parse_fmt(fmt: bytes, name: str) -> tuple[int, int, int, int]:
    """Validate a fmt chunk body; return (format tag, channels, rate in Hz, container bits)."""
    if len(fmt) < 16:
        raise AudioError(f"{name}: fmt chunk too short ({len(fmt)} bytes)")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE:
        if len(fmt) < 40:
            raise AudioError(f"{name}: WAVE_FORMAT_EXTENSIBLE fmt chunk too short ({len(fmt)})")
        guid = fmt[24:40]
        if guid[2:] != _GUID_TAIL:
            raise AudioError(f"{name}: unsupported WAVE_FORMAT_EXTENSIBLE subformat {guid.hex()}")
        tag = struct.unpack_from("<H", guid)[0]
    if tag not in (_PCM, _FLOAT):
        label = _TAG_NAMES.get(tag, "unknown")
        raise AudioError(f"{name}: unsupported WAV encoding format tag 0x{tag:04X} ({label})")
    allowed = (8, 16, 24, 32) if tag == _PCM else (32, 64)
    if bits not in allowed:
        kind = "PCM" if tag == _PCM else "float"
        raise AudioError(f"{name}: unsupported {kind} sample size {bits} bits")
    if channels == 0:
        raise AudioError(f"{name}: zero channels")
    if rate == 0:
        raise AudioError(f"{name}: zero sample rate")
    if block_align != channels * bits // 8:
        raise AudioError(f"{name}: block align {block_align} != {channels} channels x {bits} bits")
    return tag, channels, rate, bits


def write_wav_pcm16(path: str | os.PathLike[str], pcm: np.ndarray, rate: int) -> None:
    """Write int16 samples, shape (samples,) or (frames, channels), as a 16-bit PCM WAV file.

    ``rate`` is in Hz.  Float audio must go through :func:`to_pcm16` first; any other dtype
    raises :class:`AudioError`.
    """
    name = os.fspath(path)
    pcm = np.asarray(pcm)
    if pcm.dtype.kind != "i" or pcm.dtype.itemsize != 2:
        raise AudioError(f"{name}: write_wav_pcm16 needs int16 samples, got {pcm.dtype}")
    if pcm.ndim not in (1, 2) or (pcm.ndim == 2 and pcm.shape[1] == 0):
        raise AudioError(f"{name}: samples must have shape (n,) or (frames, channels>0)")
    rate = _check_rate(rate, name)
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    payload = np.ascontiguousarray(pcm, "<i2").tobytes()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(payload),
        b"WAVE",
        b"fmt ",
        16,
        _PCM,
        channels,
        rate,
        rate * channels * 2,
        channels * 2,
        16,
        b"data",
        len(payload),
    )
    try:
        Path(name).write_bytes(header + payload)
    except OSError as exc:
        raise AudioError(f"{name}: cannot write file ({exc.strerror or exc})") from None


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Convert float audio (full scale [-1, 1], any shape) to int16 PCM.

    Scales by 32768 (the inverse of :func:`read_wav`'s int16 convention, so int16 round trips
    exactly), rounds half to even (``np.rint``) and clips to [-32768, 32767].  Raises
    :class:`AudioError` for NaN/infinite values and for non-floating input (no silent casting).
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise AudioError(f"to_pcm16 needs floating-point audio, got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise AudioError("to_pcm16: audio contains NaN or infinity")
    return np.clip(np.rint(x.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def load_pcm16(path: str | os.PathLike[str], rate: int = 16000) -> np.ndarray:
    """Read a WAV file as 1-D mono int16 PCM at ``rate`` Hz: the frontend's input.

    Steps: :func:`read_wav`, mean over channels, :func:`resample` to ``rate``,
    :func:`to_pcm16`.  Deterministic; raises :class:`AudioError` for any unusable file.
    """
    rate = _check_rate(rate, os.fspath(path))
    samples, rate_in = read_wav(path)
    return to_pcm16(resample(samples.mean(axis=1), rate_in, rate))


# ---------------------------------------------------------------------------------------------
# Resampling
_CUTOFF = 0.95  # -6 dB point of the low-pass, as a fraction of the lower Nyquist frequency
_ATTEN_DB = 90.0  # Kaiser design target (>= 80 dB required; margin for the tap quantisation)
_MAX_PHASES = 2048  # above this many polyphase branches, evaluate coefficients per block


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample 1-D float audio from ``rate_in`` to ``rate_out`` Hz (rational polyphase).

    Ratio ``L/M = rate_out/rate_in`` reduced by gcd (22050 -> 16000 is 320/441).  Output sample
    ``n`` is taken at time ``n / rate_out`` s, so sample 0 maps to sample 0 (the filter delay is
    compensated); the signal is zero-padded beyond both ends.  Output length is
    ``ceil(len(x) * rate_out / rate_in)`` samples; equal rates return a float64 copy.

    Filter: Kaiser-windowed sinc, -6 dB cutoff at 0.95 x the lower Nyquist frequency,
    transition band 0.90-1.00 x the lower Nyquist (stop-band starts exactly at it), designed
    for 90 dB; each polyphase branch is normalised to unit DC gain.  About
    ``(90 - 8) / (14.36 * 0.05 * min(1, L/M))`` taps per output sample (158 for 22050 -> 16000,
    344 for 48000 -> 16000).  Measured on the effective prototype filters for 22050, 48000,
    44100, 32000, 24000, 11025 and 8000 -> 16000 and 16000 -> 22050: pass-band (0 - 0.90 x the
    lower Nyquist) ripple <= 0.00053 dB peak-to-peak, stop-band (>= the lower Nyquist, i.e. all
    aliases and images) attenuation >= 89.6 dB, -6 dB point at 0.950 x Nyquist.  Measured speed
    (numpy 2.4, 2-core x86 VM, median): 2 s at 22050 Hz -> 16 kHz 1.8 ms, 1 s at 48 kHz ->
    16 kHz 5.7 ms, 1 s at 8 kHz -> 16 kHz 1.8 ms; the first call for a rate pair also builds its
    branch table (+2 to 7 ms, then cached).

    The work is vectorised: a Python loop runs over at most ``min(L, 2048)`` filter phases (each
    a matrix-vector product over all outputs of that phase), never over output samples.  Exotic
    ratios with L > 2048 (e.g. 16001 -> 16000) evaluate the coefficients per block of outputs
    instead: same filter, but ~0.3 s per second of audio.
    Raises :class:`AudioError` for non-1-D or non-floating ``x``, NaN/inf, or bad rates.
    """
    x = np.asarray(x)
    if x.ndim != 1 or not np.issubdtype(x.dtype, np.floating):
        raise AudioError(f"resample needs 1-D float audio, got shape {x.shape} {x.dtype}")
    if not np.isfinite(x).all():
        raise AudioError("resample: audio contains NaN or infinity")
    rate_in, rate_out = _check_rate(rate_in, "resample"), _check_rate(rate_out, "resample")
    x = x.astype(np.float64)
    if rate_in == rate_out:
        return x
    up, down = _ratio(rate_in, rate_out)
    n_out = -(-len(x) * up // down)
    if n_out == 0:
        return np.zeros(0)
    half, _, _, _ = _design(up, down)
    taps = 2 * half
    xp = _padded(x, half)
    windows = sliding_window_view(xp, taps)  # view: row i is the window for integer time i
    y = np.empty(n_out)
    if up <= _MAX_PHASES:
        table = _phase_table(up, down)
        for r in range(min(up, n_out)):  # outputs r, r+up, ... share one phase
            start, phase = divmod(r * down, up)
            count = (n_out - 1 - r) // up + 1
            y[r::up] = windows[start::down][:count] @ table[phase]
        return y
    block = max(1, 65536 // taps)
    for s in range(0, n_out, block):
        start, phase = np.divmod(np.arange(s, min(s + block, n_out), dtype=np.int64) * down, up)
        coef = _kernel(phase / up, up, down)
        y[s : s + len(start)] = np.einsum("ij,ij->i", windows[start], coef)
    return y


def _ratio(rate_in: int, rate_out: int) -> tuple[int, int]:
    """The reduced ratio ``(up, down) = rate_out / rate_in`` (22050 -> 16000: 320, 441)."""
    g = math.gcd(rate_in, rate_out)
    return rate_out // g, rate_in // g


def _padded(x: np.ndarray, half: int) -> np.ndarray:
    """``x`` (float64) zero-padded for ``2 * half`` taps: ``x[m]`` at ``xp[m + half - 1]``.

    Output n sits at input time n*down/up = i_n + frac_n and uses x[i_n - half + 1 : i_n + half
    + 1], i.e. ``xp[i_n : i_n + 2 * half]``.
    """
    xp = np.zeros(len(x) + 2 * half - 1)
    xp[half - 1 : half - 1 + len(x)] = x
    return xp


def _check_rate(rate: int, name: str) -> int:
    """Return ``rate`` as a positive int (Hz) or raise AudioError."""
    try:
        if isinstance(rate, bool):
            raise TypeError
        value = operator.index(rate)
    except TypeError:
        raise AudioError(f"{name}: sample rate must be an integer in Hz, got {rate!r}") from None
    if value <= 0:
        raise AudioError(f"{name}: sample rate must be positive, got {value}")
    return value


@functools.lru_cache(maxsize=64)
def _design(up: int, down: int) -> tuple[int, float, float, float]:
    """Return the Kaiser design for ratio up/down.

    That is (half the taps per branch, -6 dB cutoff in cycles per input sample, window half-width
    in input samples, Kaiser beta).
    """
    nyq = 0.5 * min(1.0, up / down)  # lower Nyquist in cycles per input sample
    fc = _CUTOFF * nyq
    transition = 2.0 * (nyq - fc)
    length = (_ATTEN_DB - 7.95) / (14.36 * transition) + 1.0
    half_width = (length - 1.0) / 2.0
    beta = 0.1102 * (_ATTEN_DB - 8.7)
    return math.ceil(half_width), fc, half_width, beta


def _kernel(frac: np.ndarray, up: int, down: int) -> np.ndarray:
    """Return branch coefficients, shape (len(frac), taps), for fractional times in [0, 1).

    Row i is the windowed sinc at t = frac[i] - j (input samples) for j = -half+1 .. half, the
    weights of x[i_n + j]; each row is normalised to sum to 1 (unit DC gain).
    """
    half, fc, half_width, beta = _design(up, down)
    t = frac[:, None] - np.arange(1 - half, half + 1)[None, :]
    inside = np.clip(1.0 - (t / half_width) ** 2, 0.0, None)
    window = np.where(np.abs(t) <= half_width, np.i0(beta * np.sqrt(inside)), 0.0)
    coef = np.sinc(2.0 * fc * t) * window
    return coef / coef.sum(axis=1, keepdims=True)


@functools.lru_cache(maxsize=16)
def _phase_table(up: int, down: int) -> np.ndarray:
    """Read-only (up, taps) table of all polyphase branches for ratio up/down."""
    table = _kernel(np.arange(up) / up, up, down)
    table.flags.writeable = False
    return table
