"""Pseudo-quantisation noise: train a float network to tolerate its own int8 rounding.

Full-integer conversion rounds the input and every activation tensor to 256 levels of a
per-tensor scale (``(max - min) / 255`` over the calibration windows).  That rounding adds an
error of at most half a step, close to uniform noise of variance ``step ** 2 / 12``.  A network
trained without it can sit near a decision tie that this noise tips over: the float and int8
models then disagree.  :class:`QuantNoise` adds that noise during training (Defossez et al.
2021, "Differentiable model compression via pseudo quantization noise"), so the weights learn
to tolerate it; at inference it is the identity and adds no op to the converted graph.

* :class:`QuantNoise` -- uniform noise of ``strength`` int8 steps (``strength`` 1: exactly one
  step wide, +-half a step), the step taken from the batch's own range of the tensor
  (``(max - min) / 255``, not differentiated).  Training only.
* :func:`strip_quant_noise` -- the same network without its noise layers (shared weights):
  what is saved, converted and shipped, so no model file ever holds a custom layer.

Workstation side (imports Keras).
"""

from __future__ import annotations

import keras
from keras import layers, ops

__all__ = ["INT8_LEVELS", "QuantNoise", "strip_quant_noise"]

#: Steps between the lowest and highest int8 value.
INT8_LEVELS = 255


@keras.saving.register_keras_serializable(package="edgeser")
class QuantNoise(layers.Layer):
    """Add uniform noise of ``strength`` int8 steps to a tensor while training.

    The step is the batch's range of the tensor over 255 (the per-tensor scale an int8
    converter would calibrate on this batch); the noise is uniform on
    ``[-strength * step / 2, +strength * step / 2]``.  Outside training the layer returns its
    input unchanged.

    Args:
        strength: noise width in int8 steps (> 0).
        seed: seed of the layer's noise stream (None: drawn from Keras' global seed).
    """

    def __init__(self, strength: float = 1.0, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not strength > 0:
            raise ValueError(f"strength must be positive, got {strength}")
        self.strength = float(strength)
        self.seed = seed
        self._generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training:
            return x
        step = ops.stop_gradient(ops.max(x) - ops.min(x)) / INT8_LEVELS
        u = keras.random.uniform(ops.shape(x), -0.5, 0.5, seed=self._generator, dtype=x.dtype)
        return x + u * (self.strength * step)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "strength": self.strength, "seed": self.seed}


def strip_quant_noise(model: keras.Model) -> keras.Model:
    """``model`` without its :class:`QuantNoise` layers, sharing every other layer (and so
    every weight) with it; ``model`` itself when it has none.

    Only for a chain of single-input layers (the conv-LSTM): anything else raises
    ``ValueError`` rather than guessing a graph.
    """
    if not any(isinstance(layer, QuantNoise) for layer in model.layers):
        return model
    x = inputs = keras.Input(tuple(model.inputs[0].shape[1:]), name=model.inputs[0].name)
    previous = model.inputs[0]
    for layer in model.layers[1:]:
        if layer.input is not previous:
            raise ValueError(f"strip_quant_noise needs a chain of layers; {layer.name!r} is not")
        previous = layer.output
        if not isinstance(layer, QuantNoise):
            x = layer(x)
    return keras.Model(inputs, x, name=model.name)
