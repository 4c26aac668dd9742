"""The frontend's one configuration object.

A :class:`FrontendConfig` fixes every parameter of the fixed-point log-Mel frontend. It is
frozen, hashable, serialises to JSON and travels with every model, so training, the device
runtime and the C firmware reference all compute the very same features from it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from edgeser.errors import ConfigError

#: Version of the fixed-point specification (algorithm, Q-formats and rounding). It changes
#: whenever the same config would give different integer output.
SPEC_VERSION = 1

#: Fixed size of the first spectrum pass: the N-point DFT is computed as 32-point DFTs
#: followed by (N/32)-point DFTs (see :mod:`edgeser.frontend.spectrum`), chosen for the
#: fewest multiply-adds in the BLAS passes (31 k per 512-point frame, against 44 k with 16).
FIRST_PASS_SIZE = 32

#: Largest number of periodicity columns (:mod:`edgeser.frontend.periodicity`).
MAX_PERIODICITY_BANDS = 32


@dataclass(frozen=True)
class FrontendConfig:
    """Parameters of the fixed-point log-Mel frontend.

    Attributes:
        sample_rate: input rate in Hz; input is mono int16 PCM at this rate.
        window_samples: analysis window length in samples (400 = 25 ms at 16 kHz).
        hop_samples: frame hop in samples (160 = 10 ms at 16 kHz).
        fft_size: DFT length in samples (a power of two, 64..512, >= window_samples); the
            window is zero-padded to it.
        num_bands: number of Mel bands (the first output columns).
        periodicity_bands: number of periodicity columns after the Mel bands (0: none; see
            :mod:`edgeser.frontend.periodicity`): the frame's autocorrelation r(L)/r(0) in Q11
            over log-spaced ranges of pitch periods (80..400 Hz).
        lower_hz: lower edge of the lowest Mel triangle, Hz.
        upper_hz: upper edge of the highest Mel triangle, Hz (at most sample_rate / 2).
        spec_version: version of the fixed-point specification these parameters are for.
    """

    sample_rate: int = 16000
    window_samples: int = 400
    hop_samples: int = 160
    fft_size: int = 512
    num_bands: int = 40
    lower_hz: float = 60.0
    upper_hz: float = 8000.0
    spec_version: int = SPEC_VERSION
    periodicity_bands: int = 0

    def __post_init__(self) -> None:
        for name in ("sample_rate", "window_samples", "hop_samples", "fft_size", "num_bands"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"FrontendConfig.{name} must be a positive int, got {value!r}")
        if self.spec_version != SPEC_VERSION:
            raise ConfigError(
                f"FrontendConfig.spec_version {self.spec_version} is not supported "
                f"(this edgeser implements spec version {SPEC_VERSION})"
            )
        n = self.fft_size
        if n & (n - 1) or not 64 <= n <= 512:
            raise ConfigError(f"FrontendConfig.fft_size must be a power of two in 64..512, got {n}")
        if not 2 <= self.window_samples <= n:
            raise ConfigError(
                f"FrontendConfig.window_samples must be in 2..fft_size ({n}), "
                f"got {self.window_samples}"
            )
        if self.hop_samples > self.window_samples:
            raise ConfigError("FrontendConfig.hop_samples must not exceed window_samples")
        if not self.num_bands <= 128:
            raise ConfigError(f"FrontendConfig.num_bands must be at most 128, got {self.num_bands}")
        self._check_periodicity()
        nyquist = self.sample_rate / 2
        if not 0.0 <= float(self.lower_hz) < float(self.upper_hz) <= nyquist:
            raise ConfigError(
                f"FrontendConfig needs 0 <= lower_hz < upper_hz <= {nyquist:g} Hz, "
                f"got {self.lower_hz!r}..{self.upper_hz!r}"
            )
        object.__setattr__(self, "lower_hz", float(self.lower_hz))
        object.__setattr__(self, "upper_hz", float(self.upper_hz))

    def _check_periodicity(self) -> None:
        b = self.periodicity_bands
        if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b <= MAX_PERIODICITY_BANDS:
            raise ConfigError(
                f"FrontendConfig.periodicity_bands must be an int in 0..{MAX_PERIODICITY_BANDS}, "
                f"got {b!r}"
            )
        if b == 0:
            return
        from edgeser.frontend import periodicity

        edges = periodicity.lag_edges(self.sample_rate, b)
        if not np.all(np.diff(edges) > 0):
            raise ConfigError(
                f"FrontendConfig.periodicity_bands {b} is too many for {self.sample_rate} Hz: "
                "two columns would share a pitch period"
            )
        if float(self.lower_hz) >= periodicity.UPPER_HZ or edges[-1] > self.fft_size:
            raise ConfigError(
                "FrontendConfig with periodicity_bands needs lower_hz below "
                f"{periodicity.UPPER_HZ:g} Hz and fft_size above {int(edges[-1]) - 1} samples"
            )

    @property
    def num_features(self) -> int:
        """Columns of each output frame: the Mel bands, then the periodicity columns."""
        return self.num_bands + self.periodicity_bands

    @property
    def num_bins(self) -> int:
        """Number of one-sided spectrum bins (fft_size / 2 + 1)."""
        return self.fft_size // 2 + 1

    def num_frames(self, num_samples: int) -> int:
        """Frames produced by ``num_samples`` samples: frame t covers samples
        [t * hop, t * hop + window), and only whole windows make frames (no padding)."""
        if num_samples < self.window_samples:
            return 0
        return 1 + (num_samples - self.window_samples) // self.hop_samples

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form: all fields, including ``spec_version``; ``periodicity_bands`` only
        when it is not 0, so configs without the stage keep the JSON (and the cache keys and
        model metadata) they had before it existed."""
        data = asdict(self)
        if not self.periodicity_bands:
            del data["periodicity_bands"]
        return data

    def to_json(self) -> str:
        """Canonical JSON text: sorted keys, no whitespace, so equal configs give equal text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrontendConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, missing keys take defaults."""
        if not isinstance(data, dict):
            raise ConfigError(f"a frontend config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown frontend config keys: {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> FrontendConfig:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"frontend config is not valid JSON: {exc}") from None
        return cls.from_dict(data)
