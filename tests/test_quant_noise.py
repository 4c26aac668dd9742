"""Pseudo-quantisation noise (converters.quant_noise): training-only noise of int8 steps."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from converters.models import build_conv_lstm, count_macs  # noqa: E402
from converters.quant_noise import INT8_LEVELS, QuantNoise, strip_quant_noise  # noqa: E402

POOLS = [(2, 2), (2, 2), (2, 1), (2, 1)]


def test_noise_is_uniform_within_the_int8_step_and_off_at_inference():
    x = np.linspace(-3.0, 5.0, 64 * 1000, dtype=np.float32).reshape(64, 1000)
    step = 8.0 / INT8_LEVELS
    for strength in (1.0, 2.0):
        layer = QuantNoise(strength, seed=3)
        assert np.array_equal(np.asarray(layer(x, training=False)), x)
        noise = np.asarray(layer(x, training=True)) - x
        assert np.abs(noise).max() <= strength * step / 2 * (1 + 1e-4)
        # uniform on +-strength * step / 2: deviation strength * step / sqrt(12)
        assert np.std(noise) == pytest.approx(strength * step / np.sqrt(12), rel=0.02)
        assert abs(np.mean(noise)) < 0.01 * step
    with pytest.raises(ValueError, match="positive"):
        QuantNoise(0.0)


def test_noise_stream_follows_the_seed():
    x = np.ones((4, 10), np.float32) * np.arange(10, dtype=np.float32)
    a = np.asarray(QuantNoise(1.0, seed=1)(x, training=True))
    b = np.asarray(QuantNoise(1.0, seed=1)(x, training=True))
    c = np.asarray(QuantNoise(1.0, seed=2)(x, training=True))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_conv_lstm_noise_layers_sit_on_the_rounded_tensors_and_strip_away(tmp_path):
    shape = (198, 48, 1)
    noisy = build_conv_lstm(shape, 5, (4, 4, 8, 8), 8, 8, pool=POOLS, sequence_pooling="mean",
                            quant_noise=1.0)  # fmt: skip
    names = [layer.name for layer in noisy.layers if isinstance(layer, QuantNoise)]
    assert names == [
        "logmel_noise", "relu1_noise", "relu2_noise", "relu3_noise", "relu4_noise",
        "lstm_noise", "lstm_mean_noise", "fc_noise",
    ]  # fmt: skip
    plain = build_conv_lstm(shape, 5, (4, 4, 8, 8), 8, 8, pool=POOLS, sequence_pooling="mean")
    x = np.random.default_rng(0).normal(size=(3, *shape)).astype(np.float32)
    clean = strip_quant_noise(noisy)
    assert not any(isinstance(layer, QuantNoise) for layer in clean.layers)
    assert [w.shape for w in clean.get_weights()] == [w.shape for w in plain.get_weights()]
    assert count_macs(clean) == count_macs(plain)
    expected = np.asarray(noisy(x, training=False))
    assert np.array_equal(np.asarray(clean(x, training=False)), expected)
    assert not np.allclose(np.asarray(noisy(x, training=True)), expected)
    expected = np.asarray(clean(x, training=False))  # training moved the BatchNorm statistics
    # the weights are shared: training the noisy model trains the clean one
    assert clean.get_layer("conv1") is noisy.get_layer("conv1")
    # what is saved holds no custom layer and reloads to the same function
    path = tmp_path / "clean.keras"
    clean.save(path)
    reloaded = keras.models.load_model(path)
    assert np.allclose(np.asarray(reloaded(x, training=False)), expected, atol=1e-6)
    assert strip_quant_noise(plain) is plain


def test_strip_refuses_a_graph_that_is_not_a_chain():
    inp = keras.Input((6,))
    a = keras.layers.Dense(4)(inp)
    b = keras.layers.Dense(4)(QuantNoise(1.0)(inp))
    model = keras.Model(inp, keras.layers.Add()([a, b]))
    with pytest.raises(ValueError, match="chain"):
        strip_quant_noise(model)
