"""Where a benchmark ran: the machine, the software, and an estimate of the CPU's peak MAC rate.

:func:`describe` returns a JSON-ready dict (CPU model, cores, clock, SIMD features, OS, Python,
numpy, interpreter backend versions, CPU frequency governor, load average, UTC date, edgeser
version) so that a result file says where it came from. Everything is read from the standard
library, ``/proc`` and ``/sys``; what cannot be read is ``None``.

Peak multiply-accumulate rate (an estimate, not a measurement)
    ``peak = cores used x clock (GHz) x MACs per cycle per core``, with MACs per cycle taken
    from the widest SIMD feature the CPU reports, assuming two vector pipes per core:

    ==============================  ===========  ============  =============================
    feature (cpuinfo flag)          int8 / cycle  fp32 / cycle  instruction
    ==============================  ===========  ============  =============================
    x86 AVX-512 VNNI (avx512_vnni)  128           32            2 x VPDPBUSD zmm / 2 x FMA zmm
    x86 AVX-VNNI (avx_vnni)         64            16            2 x VPDPBUSD ymm / 2 x FMA ymm
    x86 AVX2 (avx2)                 64            16            2 x VPMADDUBSW ymm / 2 x FMA ymm
    x86 SSSE3 (ssse3)               32            8             2 x PMADDUBSW xmm / 2 x MULPS+ADDPS
    Arm dot product (asimddp)       32            8             2 x SDOT q / 2 x FMLA q
    Arm64 NEON (asimd)              16            8             2 x SMLAL (8 lanes) / 2 x FMLA q
    Arm32 NEON (neon)               8             4             1 x VMLAL / 1 x VMLA q
    Coral Edge TPU (delegate)       2e12 MAC/s    --            4 TOPS (Coral datasheet)
    ==============================  ===========  ============  =============================

    The clock is ``cpuinfo_max_freq`` from cpufreq when readable, else the largest ``cpu MHz``
    in ``/proc/cpuinfo`` (in a virtual machine often the nominal clock: a core that boosts
    above it can then show more than 100% of the estimate), else half the x86 BogoMIPS.

    Real kernels reach a fraction of this (memory traffic, non-MAC operators such as the LSTM's
    sigmoid and tanh, per-operator overhead), so the achieved fraction says how far the runtime
    is from the hardware's arithmetic limit, not whether a better runtime exists. Raspberry
    Pi 4 (Cortex-A72, NEON, 1.5-1.8 GHz) estimates 24-29 int8 GMAC/s per core; Pi 5
    (Cortex-A76, dot product, 2.4 GHz) 77 GMAC/s per core.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

EDGETPU_PEAK_MACS = 2.0e12
"""Coral Edge TPU: 4 TOPS int8 = 2e12 multiply-accumulates per second (Coral's datasheet)."""

# (feature, int8 MACs/cycle/core, fp32 MACs/cycle/core), widest first.
SIMD_TABLE: tuple[tuple[str, int, int], ...] = (
    ("avx512_vnni", 128, 32),
    ("avx_vnni", 64, 16),
    ("avx2", 64, 16),
    ("ssse3", 32, 8),
    ("asimddp", 32, 8),
    ("asimd", 16, 8),
    ("neon", 8, 4),
)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _cpuinfo() -> list[tuple[str, str]]:
    text = _read("/proc/cpuinfo") or ""
    pairs = []
    for line in text.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            pairs.append((key.strip().lower(), value.strip()))
    return pairs


ARM_PARTS = {
    "0xd03": "Arm Cortex-A53",
    "0xd04": "Arm Cortex-A35",
    "0xd05": "Arm Cortex-A55",
    "0xd07": "Arm Cortex-A57",
    "0xd08": "Arm Cortex-A72",
    "0xd09": "Arm Cortex-A73",
    "0xd0a": "Arm Cortex-A75",
    "0xd0b": "Arm Cortex-A76",
    "0xd0d": "Arm Cortex-A77",
    "0xd41": "Arm Cortex-A78",
    "0xd46": "Arm Cortex-A510",
    "0xd47": "Arm Cortex-A710",
}
"""Arm ``CPU part`` numbers (implementer 0x41) of the cores found on edge boards."""


def cpu_model(info: list[tuple[str, str]] | None = None) -> str:
    """The CPU's name: x86 ``model name``; on Arm the core from ``CPU part`` with the board
    (``Model``/``Hardware``, e.g. ``Raspberry Pi 4 Model B Rev 1.4 (Arm Cortex-A72)``)."""
    info = _cpuinfo() if info is None else info
    values = dict(reversed(info))  # the first occurrence of each key wins
    if values.get("model name"):
        return values["model name"]
    part = values.get("cpu part")
    core = ARM_PARTS.get(part.lower(), f"Arm CPU part {part}") if part else None
    board = next(
        (values[k] for k in ("model", "hardware") if values.get(k) and not values[k].isdigit()),
        None,
    )
    if board and core:
        return f"{board} ({core})"
    return board or core or platform.processor() or platform.machine() or "unknown"


def _cpu_id(info: list[tuple[str, str]]) -> str | None:
    """x86 ``family F model M stepping S`` or Arm ``implementer I part P variant V``."""
    values = dict(reversed(info))
    keys = (
        ("cpu family", "model", "stepping")
        if "cpu family" in values
        else ("cpu implementer", "cpu part", "cpu variant")
    )
    found = [f"{k.removeprefix('cpu ')} {values[k]}" for k in keys if values.get(k)]
    return " ".join(found) or None


def cpu_flags(info: list[tuple[str, str]] | None = None) -> set[str]:
    """SIMD feature flags (x86 ``flags``, Arm ``Features``)."""
    info = _cpuinfo() if info is None else info
    for key, value in info:
        if key in ("flags", "features"):
            return set(value.split())
    return set()


def cpu_ghz(info: list[tuple[str, str]] | None = None) -> tuple[float | None, str]:
    """The CPU clock in GHz and where it came from (see the module docstring)."""
    khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if khz and khz.isdigit():
        return int(khz) / 1e6, "cpufreq cpuinfo_max_freq"
    info = _cpuinfo() if info is None else info
    mhz = [float(v) for k, v in info if k == "cpu mhz" and _is_float(v)]
    if mhz:
        return max(mhz) / 1e3, "/proc/cpuinfo cpu MHz"
    bogo = [float(v) for k, v in info if k == "bogomips" and _is_float(v)]
    if bogo and platform.machine() in ("x86_64", "AMD64", "i686", "i386"):
        return max(bogo) / 2e3, "BogoMIPS / 2"
    return None, "unknown"


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def simd_class(flags: set[str]) -> tuple[str | None, int | None, int | None]:
    """(feature, int8 MACs/cycle/core, fp32 MACs/cycle/core) of the widest SIMD in ``flags``."""
    for feature, int8, fp32 in SIMD_TABLE:
        if feature in flags:
            return feature, int8, fp32
    return None, None, None


def usable_cores() -> int:
    """Cores this process may run on (affinity mask), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def peak_macs_per_s(
    machine: dict[str, Any], threads: int, dtype: str = "int8", delegate: str | None = None
) -> float | None:
    """Estimated peak MAC/s for ``threads`` threads (capped at the usable cores), or None."""
    if delegate == "edgetpu":
        return EDGETPU_PEAK_MACS
    peak = machine.get("peak", {})
    per_cycle = peak.get("int8_macs_per_cycle" if dtype == "int8" else "fp32_macs_per_cycle")
    ghz = peak.get("ghz")
    if not per_cycle or not ghz:
        return None
    return min(threads, machine.get("cores_usable") or 1) * ghz * 1e9 * per_cycle


def _dist(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def backend_versions() -> dict[str, str | None]:
    """Installed interpreter packages and their versions, without importing them."""
    return {
        "ai-edge-litert": _dist("ai-edge-litert"),
        "tflite-runtime": _dist("tflite-runtime"),
        "tensorflow": _dist("tensorflow") or _dist("tensorflow-cpu"),
    }


def describe() -> dict[str, Any]:
    """A JSON-ready description of this machine and its software (see the module docstring)."""
    import numpy

    import edgeser

    info = _cpuinfo()
    flags = cpu_flags(info)
    ghz, ghz_source = cpu_ghz(info)
    feature, int8, fp32 = simd_class(flags)
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    uname = platform.uname()
    relevant = sorted(
        f for f in flags if f in {feat for feat, _, _ in SIMD_TABLE} | {"fma", "i8mm", "sve"}
    )
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "edgeser": edgeser.__version__,
        "host": uname.node,
        "os": f"{uname.system} {uname.release}",
        "arch": uname.machine,
        "cpu": cpu_model(info),
        "cpu_id": _cpu_id(info),
        "cores": os.cpu_count(),
        "cores_usable": usable_cores(),
        "simd": relevant,
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "load_average": load,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": numpy.__version__,
        "backends": backend_versions(),
        "executable": sys.executable,
        "peak": {
            "ghz": round(ghz, 3) if ghz else None,
            "ghz_source": ghz_source,
            "simd": feature,
            "int8_macs_per_cycle": int8,
            "fp32_macs_per_cycle": fp32,
            "note": "estimate: cores x GHz x MACs/cycle (edgeser.machine docstring)",
        },
    }


def summary(machine: dict[str, Any]) -> str:
    """One line: CPU, cores, clock, SIMD, OS, Python, numpy, backends, governor, load."""
    peak = machine.get("peak", {})
    ghz = f"{peak['ghz']:.2f} GHz" if peak.get("ghz") else "clock unknown"
    backends = ", ".join(f"{k} {v}" for k, v in machine.get("backends", {}).items() if v)
    load = machine.get("load_average")
    return (
        f"{machine['cpu']}"
        + (f" ({machine['cpu_id']})" if machine.get("cpu_id") else "")
        + f", {machine['cores']} cores ({machine['cores_usable']} usable), {ghz}, "
        f"{peak.get('simd') or 'no known SIMD'}; {machine['os']} {machine['arch']}; "
        f"{machine['python']}, numpy {machine['numpy']}, {backends or 'no interpreter'}; "
        f"governor {machine.get('governor') or 'n/a'}; "
        f"load {' '.join(f'{x:.2f}' for x in load) if load else 'n/a'}"
    )
