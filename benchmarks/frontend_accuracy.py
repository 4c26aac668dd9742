"""Frontend accuracy on the shared corpora: bit-exactness of the C reference against the NumPy
frontend on every clip, and faithfulness of the fixed-point log-Mel to a float64 reference.

    python benchmarks/frontend_accuracy.py [--data DIR] [--out FILE.json]

Faithfulness: |fixed - float| in dB over the (frame, band) bins within 60 dB of each clip's
peak bin; the float reference uses the same int16 PCM, periodic Hann window, |rfft|**2 and the
same HTK triangles (unquantised weights from librosa when installed, else ours / 1024).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from edgeser import Frontend, FrontendConfig
from edgeser.audio import load_pcm16
from edgeser.datasets import data_root, read_emodb, read_ravdess
from edgeser.frontend import filterbank


def float_logmel_db(pcm: np.ndarray, cfg: FrontendConfig, weights: np.ndarray) -> np.ndarray:
    frames = cfg.num_frames(pcm.size)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(cfg.window_samples) / cfg.window_samples)
    idx = np.arange(frames)[:, None] * cfg.hop_samples + np.arange(cfg.window_samples)
    power = np.abs(np.fft.rfft(pcm.astype(np.float64)[idx] * hann, cfg.fft_size)) ** 2
    return 10 * np.log10(np.maximum(power @ weights.T, 1.0))


def mel_weights(cfg: FrontendConfig) -> tuple[np.ndarray, str]:
    try:
        import librosa

        w = librosa.filters.mel(
            sr=cfg.sample_rate,
            n_fft=cfg.fft_size,
            n_mels=cfg.num_bands,
            fmin=cfg.lower_hz,
            fmax=cfg.upper_hz,
            htk=True,
            norm=None,
        )
        return w.astype(np.float64), f"librosa {librosa.__version__} (htk=True, norm=None)"
    except ImportError:
        tables = filterbank.filterbank_tables(cfg)
        return filterbank.weight_matrix(tables) / 1024, "edgeser Q10 weights / 1024"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=None, help="corpora folder (default: EDGESER_DATA or ../shared/data)"
    )
    parser.add_argument("--out", default="benchmarks/results/frontend_accuracy.json")
    parser.add_argument("--no-c", action="store_true", help="skip the C bit-exactness check")
    args = parser.parse_args(argv)
    root = data_root(args.data)
    if root is None:
        print("frontend_accuracy: no corpus found (set --data or EDGESER_DATA)", file=sys.stderr)
        return 2
    clips = read_emodb(root / "emodb") + read_ravdess(root / "ravdess")
    cfg = FrontendConfig()
    fe = Frontend(cfg)
    cfe = None
    if not args.no_c:
        from firmware_bridge.cfrontend import CFrontend

        cfe = CFrontend(cfg)
    weights, weights_from = mel_weights(cfg)
    per_corpus: dict[str, dict] = {}
    start = time.time()
    for clip in clips:
        pcm = load_pcm16(clip.path)
        ours = fe.compute(pcm)
        stats = per_corpus.setdefault(
            clip.corpus, {"clips": 0, "frames": 0, "bit_exact_clips": 0, "errors": []}
        )
        stats["clips"] += 1
        stats["frames"] += ours.shape[0]
        if cfe is not None and np.array_equal(cfe.compute(pcm), ours):
            stats["bit_exact_clips"] += 1
        ref = float_logmel_db(pcm, cfg, weights)
        keep = ref >= ref.max() - 60
        stats["errors"].append(np.abs(ours / 128 - ref)[keep])
    report: dict = {
        "command": "python benchmarks/frontend_accuracy.py",
        "frontend_config": cfg.to_dict(),
        "float_reference_weights": weights_from,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpu": platform.processor() or platform.machine(),
        },
        "seconds": round(time.time() - start, 1),
        "corpora": {},
    }
    all_errors = []
    for corpus, stats in per_corpus.items():
        errs = np.concatenate(stats.pop("errors"))
        all_errors.append(errs)
        report["corpora"][corpus] = {
            **stats,
            "c_checked": cfe is not None,
            "bins_compared": int(errs.size),
            "abs_error_db": {
                "p50": float(np.percentile(errs, 50)),
                "p99": float(np.percentile(errs, 99)),
                "p99.9": float(np.percentile(errs, 99.9)),
                "max": float(errs.max()),
            },
        }
    errs = np.concatenate(all_errors)
    report["all"] = {
        "bins_compared": int(errs.size),
        "p99_abs_error_db": float(np.percentile(errs, 99)),
        "max_abs_error_db": float(errs.max()),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
