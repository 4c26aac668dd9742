"""Frontend speed: edgeser's NumPy fixed-point frontend against librosa's float log-Mel and
TFLite Micro's fixed-point ``audio_microfrontend`` op, on the same 10 s of audio, one thread
each, in one run (and the C reference for firmware, called through ctypes).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m pytest benchmarks/test_frontend_speed.py \
        --benchmark-json benchmarks/results/frontend_speed.json
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeser import Frontend
from edgeser.synth import speech_like

SECONDS = 10.0
PCM = speech_like(SECONDS, seed=1, level=0.5)


def _info(benchmark) -> None:
    benchmark.group = "frontend, 10 s of 16 kHz audio"
    benchmark.extra_info["audio_seconds"] = SECONDS


def test_edgeser_numpy_fixed_point(benchmark):
    _info(benchmark)
    fe = Frontend()
    out = benchmark(fe.compute, PCM)
    assert out.shape == (998, 40)


def test_edgeser_c_reference(benchmark):
    from firmware_bridge.cfrontend import CFrontend

    _info(benchmark)
    fe = CFrontend()
    out = benchmark(fe.compute, PCM)
    assert out.shape == (998, 40)


def test_edgeser_numpy_with_16_periodicity_columns(benchmark):
    """The optional periodicity stage's cost: 40 Mel bands + 16 pitch columns."""
    from edgeser import FrontendConfig

    _info(benchmark)
    fe = Frontend(FrontendConfig(periodicity_bands=16))
    out = benchmark(fe.compute, PCM)
    assert out.shape == (998, 56)


def test_edgeser_c_with_16_periodicity_columns(benchmark):
    from edgeser import FrontendConfig
    from firmware_bridge.cfrontend import CFrontend

    _info(benchmark)
    fe = CFrontend(FrontendConfig(periodicity_bands=16))
    out = benchmark(fe.compute, PCM)
    assert out.shape == (998, 56)


def test_librosa_float_logmel(benchmark):
    librosa = pytest.importorskip("librosa")
    _info(benchmark)
    x = PCM.astype(np.float32) / 32768.0

    def run():
        mel = librosa.feature.melspectrogram(
            y=x,
            sr=16000,
            n_fft=512,
            win_length=400,
            hop_length=160,
            window="hann",
            center=False,
            power=2.0,
            n_mels=40,
            fmin=60.0,
            fmax=8000.0,
            htk=True,
            norm=None,
        )
        return librosa.power_to_db(mel)

    out = benchmark(run)
    assert out.shape[0] == 40  # librosa frames by n_fft (512) when center=False: 997 frames


def test_tflite_micro_audio_microfrontend(benchmark):
    tf = pytest.importorskip("tensorflow")
    from tensorflow.lite.experimental.microfrontend.python.ops import (
        audio_microfrontend_op as frontend_op,
    )

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    _info(benchmark)
    audio = tf.constant(PCM)

    def run():
        return frontend_op.audio_microfrontend(
            audio,
            sample_rate=16000,
            window_size=25,
            window_step=10,
            num_channels=40,
            upper_band_limit=7999.0,
            lower_band_limit=60.0,
            out_scale=1,
            out_type=tf.uint16,
        ).numpy()

    out = benchmark(run)
    assert out.shape == (998, 40)
