"""Keras model builders for speech-emotion recognition on log-Mel images (workstation only).

Both builders take a log-Mel "image" of shape ``(frames, bands, channels)`` -- by default
2.0 s of 16 kHz audio at a 10 ms hop with a 25 ms window, i.e. 198 frames x 40 bands --
and return an uncompiled :class:`keras.Model` whose last layer is a softmax over
``n_classes`` emotions.  The graphs are written only with layers that the TFLite converter
lowers to builtin ops with full-integer (int8) kernels, so
:func:`converters.quantize.convert_int8` can quantise them for the device runtime:

* every recurrent layer uses ``unroll=True``.  Full-integer quantisation of a non-unrolled
  Keras 3 LSTM (a ``While`` loop over resource variables) segfaults or fails in
  ``READ_VARIABLE`` in TF 2.21; unrolled, the LSTM becomes plain FULLY_CONNECTED,
  LOGISTIC, TANH, MUL and ADD ops (a clipped cell state, :class:`ClippedLSTMCell`, adds a
  MINIMUM and a MAXIMUM per step; load its files with :func:`load_model`).  Pooling
  therefore reduces time so the unrolled loop has a modest number of steps (198 frames -> 12
  steps with four (2, 2) pools).
* attention pooling is built from Dense / Softmax / Multiply / average-pooling layers, no
  custom layers and no ``Lambda`` (which also cannot be reloaded from a ``.keras`` file
  in safe mode).

:func:`count_macs` counts the multiply-accumulates of one forward pass.

This module imports Keras (TensorFlow backend); it belongs to the workstation side and must
never be imported by the ``edgeser`` device runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
from keras import layers, ops

from converters.gate_ranges import TANH_SATURATION
from converters.quant_noise import QuantNoise

__all__ = [
    "DEFAULT_FILTERS",
    "DEFAULT_INPUT_SHAPE",
    "PAPER_FILTERS",
    "ClippedLSTMCell",
    "build_conv_lstm",
    "build_dcnn_blstm_attention",
    "count_macs",
    "load_model",
]

#: 2.0 s at 16 kHz, 10 ms hop, 25 ms window -> 198 frames; 40 Mel bands; 1 channel.
DEFAULT_INPUT_SHAPE: tuple[int, int, int] = (198, 40, 1)

#: Default conv widths: small enough that the int8 model of the default conv-LSTM fits the
#: project's 256 KB model budget and its int8 invoke on a 2 s window its 1 ms budget.
DEFAULT_FILTERS: tuple[int, ...] = (8, 16, 16, 32)

#: Conv widths of the seed paper (Zhao, Mao & Chen 2019, 2-D CNN-LSTM).
PAPER_FILTERS: tuple[int, ...] = (64, 64, 128, 128)


def _as_pool(pool: int | tuple[int, int]) -> tuple[int, int]:
    """Normalise a pool size given as an int or a (time, frequency) pair."""
    if isinstance(pool, int):
        return (pool, pool)
    if len(pool) != 2:
        raise ValueError(f"pool must be an int or a (time, freq) pair, got {pool!r}")
    return (int(pool[0]), int(pool[1]))


def _check_args(
    input_shape: Sequence[int], n_classes: int, filters: Sequence[int], dropout: float
) -> tuple[int, int, int]:
    """Validate the common builder arguments and return the input shape as a tuple."""
    if len(input_shape) != 3 or any(int(d) <= 0 for d in input_shape):
        raise ValueError(f"input_shape must be (frames, bands, channels) > 0, got {input_shape!r}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    if len(filters) == 0 or any(int(f) <= 0 for f in filters):
        raise ValueError(f"filters must be a non-empty sequence of positive ints, got {filters!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return (int(input_shape[0]), int(input_shape[1]), int(input_shape[2]))


def _conv_blocks(
    x: keras.KerasTensor,
    filters: Sequence[int],
    pool: tuple[int, int] | Sequence[tuple[int, int]],
    prefix: str,
    stem_stride: int = 1,
    noise: Callable[[keras.KerasTensor, str], keras.KerasTensor] | None = None,
) -> keras.KerasTensor:
    """Apply ``len(filters)`` blocks of Conv2D 3x3 'same' -> BatchNorm -> ReLU -> MaxPool2D.

    With ``stem_stride`` > 1 the first convolution is strided (time and frequency) and the
    first block has no pool: it computes one output in ``stem_stride**2`` instead of all of
    them and pooling them away. Its input has a single channel, the shape that int8 kernels
    handle worst (see ``benchmarks/architecture_speed.py``).

    The convolution has no bias (BatchNormalization supplies it); the converter folds the
    BatchNormalization into the convolution, so each block is one CONV_2D (with fused ReLU)
    and one MAX_POOL_2D in the TFLite graph.  A pool dimension is skipped (set to 1) when the
    feature map is already down to a single row or column in that dimension.  ``noise``, when
    given, is applied to each ReLU output (the tensor the int8 graph rounds; max pooling keeps
    its values).
    """
    pools = [pool] * len(filters) if isinstance(pool[0], int) else list(pool)
    if len(pools) != len(filters):
        raise ValueError(f"{len(pools)} pool sizes for {len(filters)} conv blocks")
    for i, f in enumerate(filters, start=1):
        block_pool = pools[i - 1]
        stride = stem_stride if i == 1 else 1
        conv = layers.Conv2D(
            int(f), (3, 3), strides=stride, padding="same", use_bias=False, name=f"{prefix}conv{i}"
        )
        x = conv(x)
        # momentum 0.9: corpora give only ~10 steps an epoch; 0.99 leaves the moving
        # statistics far from the data for tens of epochs and inference collapses.
        x = layers.BatchNormalization(momentum=0.9, name=f"{prefix}bn{i}")(x)
        x = layers.ReLU(name=f"{prefix}relu{i}")(x)
        if noise is not None:
            x = noise(x, f"{prefix}relu{i}")
        h, w = int(x.shape[1]), int(x.shape[2])
        p = (
            block_pool[0] if h >= block_pool[0] else 1,
            block_pool[1] if w >= block_pool[1] else 1,
        )
        if p != (1, 1) and stride == 1:
            x = layers.MaxPool2D(p, name=f"{prefix}pool{i}")(x)
    return x


def _noise_after(strength: float) -> Callable[[keras.KerasTensor, str], keras.KerasTensor]:
    """``f(x, name)``: ``x`` through a ``QuantNoise(strength)`` named ``name + "_noise"``, or
    ``x`` itself when ``strength`` is 0."""

    def apply(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
        return QuantNoise(strength, name=f"{name}_noise")(x) if strength > 0 else x

    return apply


def _to_sequence(x: keras.KerasTensor) -> keras.KerasTensor:
    """Reshape a (time, freq, channels) feature map into a (time, freq * channels) sequence."""
    t, f, c = int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
    return layers.Reshape((t, f * c), name="to_sequence")(x)


@keras.saving.register_keras_serializable(package="edgeser")
class ClippedLSTMCell(layers.LSTMCell):
    """An LSTM cell whose cell state is clipped to ``[-cell_clip, +cell_clip]`` at each step.

    The gates, weights and their layout are those of :class:`keras.layers.LSTMCell`
    (``kernel``, ``recurrent_kernel``, ``bias``; gates i, f, g, o); the one change is
    ``c_t = clip(f * c_{t-1} + i * g, -cell_clip, cell_clip)`` before ``h_t = o * tanh(c_t)``.
    Trained with the clip, the float network and its int8 graph (where the clip is a
    MINIMUM and a MAXIMUM op) share it, and the cell state's int8 scale is
    ``2 * cell_clip / 255`` instead of the calibrated range over the unrolled steps (about
    +-11 for 12 steps of the default conv-LSTM).  No dropout inside the cell.

    Args:
        units: state size.
        cell_clip: bound of the cell state (> 0); by default
            :data:`converters.gate_ranges.TANH_SATURATION`, where int8 tanh saturates.
    """

    def __init__(self, units: int, cell_clip: float = TANH_SATURATION, **kwargs) -> None:
        super().__init__(units, **kwargs)
        if not cell_clip > 0:
            raise ValueError(f"cell_clip must be positive, got {cell_clip}")
        if self.dropout or self.recurrent_dropout:
            raise ValueError("ClippedLSTMCell has no dropout")
        self.cell_clip = float(cell_clip)

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states[0], states[1]
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        z_i, z_f, z_g, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        o = self.recurrent_activation(z_o)
        c = ops.clip(f * c_prev + i * self.activation(z_g), -self.cell_clip, self.cell_clip)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self) -> dict:
        return {**super().get_config(), "cell_clip": self.cell_clip}


def load_model(path, compile: bool = True) -> keras.Model:
    """``keras.models.load_model`` for a ``.keras`` file that may hold a
    :class:`ClippedLSTMCell` (registered by importing this module)."""
    return keras.models.load_model(path, compile=compile)


def _lstm(units: int, cell_clip: float, return_sequences: bool) -> layers.Layer:
    """The unrolled LSTM layer named ``"lstm"``: Keras' own, or with ``cell_clip`` > 0 an
    ``RNN`` over a :class:`ClippedLSTMCell`."""
    if cell_clip < 0:
        raise ValueError(f"cell_clip must be >= 0, got {cell_clip}")
    if cell_clip == 0:
        return layers.LSTM(units, unroll=True, return_sequences=return_sequences, name="lstm")
    cell = ClippedLSTMCell(units, cell_clip=cell_clip)
    return layers.RNN(cell, unroll=True, return_sequences=return_sequences, name="lstm")


def build_conv_lstm(
    input_shape: Sequence[int] = DEFAULT_INPUT_SHAPE,
    n_classes: int = 7,
    filters: Sequence[int] = DEFAULT_FILTERS,
    lstm_units: int = 32,
    dense_units: int = 32,
    dropout: float = 0.3,
    pool: int | tuple[int, int] | Sequence[tuple[int, int]] = (2, 2),
    sequence_pooling: str = "last",
    stem_stride: int = 1,
    quant_noise: float = 0.0,
    cell_clip: float = 0.0,
) -> keras.Model:
    """Build the seed 2-D CNN-LSTM (Zhao et al. 2019) over a log-Mel image.

    Layout: ``len(filters)`` conv blocks (Conv2D 3x3 'same', BatchNormalization, ReLU,
    MaxPool2D ``pool``) over the time x frequency image; reshape to ``(time, features)``;
    a unidirectional ``LSTM(lstm_units, unroll=True)`` returning its last state;
    ``Dense(dense_units, relu)``; ``Dropout(dropout)``; ``Dense(n_classes, softmax)``.

    With the defaults (198 x 40 x 1 input, four (2, 2) pools) the LSTM sees 12 steps of
    2 x 32 = 64 features.  Most of the default int8 file is the flatbuffer description of
    the 12 unrolled LSTM steps, not weights.  ``filters=PAPER_FILTERS`` gives the paper
    widths (64, 64, 128, 128), whose int8 file exceeds the 256 KB budget.

    Args:
        input_shape: ``(frames, bands, channels)`` of the float log-Mel input.
        n_classes: number of emotion classes (softmax outputs).
        filters: output channels of each conv block; the number of blocks is ``len(filters)``.
        lstm_units: LSTM state size.
        dense_units: width of the hidden Dense layer.
        dropout: dropout rate before the classifier (training only).
        pool: max-pool size per block, an int or a (time, freq) pair, or one pair per block.
        sequence_pooling: ``"last"``: the LSTM's last state feeds the dense layers;
            ``"mean"``: the mean of its states over time (an utterance-level summary).
        stem_stride: stride of the first convolution in time and frequency; above 1 it
            replaces the first block's pool, which is not applied (stride 2 in place of the
            default (2, 2) pool leaves the LSTM's sequence as it was).
        quant_noise: above 0, a training-only :class:`converters.quant_noise.QuantNoise` of
            this many int8 steps after the input, each ReLU, the LSTM, its time mean and the
            hidden dense layer (the tensors the int8 graph rounds); remove them with
            :func:`converters.quant_noise.strip_quant_noise` before saving or converting.
        cell_clip: above 0, the LSTM's cell state is clipped to +-``cell_clip`` at every
            step (:class:`ClippedLSTMCell`; :data:`converters.gate_ranges.TANH_SATURATION`
            is where int8 tanh saturates); 0 is Keras' own ``LSTM``.

    Returns:
        An uncompiled Keras model named ``"conv_lstm"``.
    """
    shape = _check_args(input_shape, n_classes, filters, dropout)
    p = _as_pool(pool) if isinstance(pool, int) or isinstance(pool[0], int) else list(pool)
    if sequence_pooling not in ("last", "mean"):
        raise ValueError(f"sequence_pooling must be 'last' or 'mean', got {sequence_pooling!r}")
    inputs = keras.Input(shape=shape, name="logmel")
    if stem_stride < 1:
        raise ValueError(f"stem_stride must be >= 1, got {stem_stride}")
    if quant_noise < 0:
        raise ValueError(f"quant_noise must be >= 0, got {quant_noise}")
    noise = _noise_after(quant_noise)
    x = noise(inputs, "logmel")
    x = _conv_blocks(x, filters, p, prefix="", stem_stride=int(stem_stride), noise=noise)
    x = _to_sequence(x)
    mean = sequence_pooling == "mean"
    x = _lstm(int(lstm_units), float(cell_clip), return_sequences=mean)(x)
    x = noise(x, "lstm")
    if mean:
        x = layers.GlobalAveragePooling1D(name="lstm_mean")(x)
        x = noise(x, "lstm_mean")
    x = layers.Dense(int(dense_units), activation="relu", name="fc")(x)
    x = noise(x, "fc")
    if dropout > 0:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="conv_lstm")


def build_dcnn_blstm_attention(
    input_shape: Sequence[int] = (198, 40, 3),
    n_classes: int = 7,
    filters: Sequence[int] = DEFAULT_FILTERS,
    lstm_units: int = 24,
    attention_units: int = 32,
    dense_units: int = 32,
    dropout: float = 0.3,
    pool: int | tuple[int, int] = (2, 2),
) -> keras.Model:
    """Build the DCNN-BLSTMwA variant: conv blocks, BLSTM and additive attention pooling.

    The input has 3 channels (static log-Mel, delta, delta-delta).  Layout: conv blocks as in
    :func:`build_conv_lstm`; reshape to a sequence ``H`` of shape ``(T, F)``;
    ``Bidirectional(LSTM(lstm_units, unroll=True, return_sequences=True))`` giving
    ``(T, 2 * lstm_units)``; additive (Bahdanau-style) attention pooling over time::

        e_t   = v . tanh(W h_t + b)          # Dense(attention_units, tanh), Dense(1, no bias)
        a     = softmax_t(e)                 # Reshape (T,) -> Softmax -> Reshape (T, 1)
        c     = mean_t(a_t * h_t)            # Multiply (broadcast) -> GlobalAveragePooling1D

    ``c`` is the attention-weighted sum divided by the constant ``T``; the factor is absorbed
    by the following Dense layer and keeps the int8 range of ``c`` close to that of ``h``.
    Every step lowers to a builtin op with an int8 kernel (FULLY_CONNECTED, TANH, SOFTMAX,
    RESHAPE, MUL, MEAN).  Then ``Dense(dense_units, relu)``, ``Dropout``, and
    ``Dense(n_classes, softmax)``.

    Args:
        input_shape: ``(frames, bands, channels)``; normally 3 channels.
        n_classes: number of emotion classes.
        filters: output channels of each conv block; the number of blocks is ``len(filters)``.
        lstm_units: state size of each LSTM direction.
        attention_units: width of the attention scoring layer.
        dense_units: width of the hidden Dense layer.
        dropout: dropout rate before the classifier (training only).
        pool: max-pool size per block, an int or a (time, freq) pair.

    Returns:
        An uncompiled Keras model named ``"dcnn_blstm_attention"``.
    """
    shape = _check_args(input_shape, n_classes, filters, dropout)
    p = _as_pool(pool)
    inputs = keras.Input(shape=shape, name="logmel")
    x = _conv_blocks(inputs, filters, p, prefix="")
    x = _to_sequence(x)
    steps = int(x.shape[1])
    h = layers.Bidirectional(
        layers.LSTM(int(lstm_units), unroll=True, return_sequences=True, name="lstm"),
        name="blstm",
    )(x)
    e = layers.Dense(int(attention_units), activation="tanh", name="att_proj")(h)
    e = layers.Dense(1, use_bias=False, name="att_score")(e)
    e = layers.Reshape((steps,), name="att_flat")(e)
    a = layers.Softmax(axis=-1, name="att_softmax")(e)
    a = layers.Reshape((steps, 1), name="att_weights")(a)
    c = layers.Multiply(name="att_weighted")([h, a])
    c = layers.GlobalAveragePooling1D(name="att_pool")(c)
    x = layers.Dense(int(dense_units), activation="relu", name="fc")(c)
    if dropout > 0:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="dcnn_blstm_attention")


def _rnn_macs(layer: keras.layers.Layer, steps: int, input_dim: int) -> int:
    """MACs of an LSTM (4 gates) or GRU (3 gates), Keras' own or an ``RNN`` over their cell:
    steps x gates x units x (input + units)."""
    cell = getattr(layer, "cell", None)
    if isinstance(cell, layers.LSTMCell):
        gates = 4
    elif isinstance(cell, layers.GRUCell):
        gates = 3
    else:
        return 0
    units = int(cell.units)
    return steps * gates * units * (input_dim + units)


def _layer_macs(layer: keras.layers.Layer) -> int:
    """MACs of one layer (0 for layers that are not counted; see :func:`count_macs`)."""
    if isinstance(layer, layers.Bidirectional):
        in_shape = layer.input.shape
        return sum(
            _rnn_macs(rnn, int(in_shape[1]), int(in_shape[2]))
            for rnn in (layer.forward_layer, layer.backward_layer)
        )
    if isinstance(layer, layers.DepthwiseConv2D):
        out = layer.output.shape
        kh, kw = layer.kernel_size
        return int(out[1]) * int(out[2]) * int(out[3]) * kh * kw
    if isinstance(layer, layers.Conv2D):
        out = layer.output.shape
        in_ch = int(layer.input.shape[-1])
        kh, kw = layer.kernel_size
        return int(out[1]) * int(out[2]) * int(out[3]) * kh * kw * in_ch // layer.groups
    if isinstance(layer, layers.Dense):
        in_shape = layer.input.shape
        positions = 1
        for d in in_shape[1:-1]:
            positions *= int(d)
        return positions * int(in_shape[-1]) * int(layer.units)
    if isinstance(layer, layers.RNN):
        in_shape = layer.input.shape
        return _rnn_macs(layer, int(in_shape[1]), int(in_shape[2]))
    return 0


def count_macs(model: keras.Model) -> int:
    """Count the multiply-accumulates (MACs) of one forward pass of ``model`` (batch of 1).

    Counted (the ops that dominate the cost on a CPU/MCU):

    * ``Conv2D``: ``H_out * W_out * C_out * k_h * k_w * C_in / groups``
      (``DepthwiseConv2D``: ``H_out * W_out * C_out * k_h * k_w``);
    * ``Dense``: ``positions * in_features * units``, where ``positions`` is the product of
      the non-batch, non-feature input dimensions (1 for a vector, ``T`` for a sequence);
    * ``LSTM``: ``T * 4 * units * (input_dim + units)`` -- the input and recurrent matmuls of
      the four gates at each of the ``T`` steps (``GRU``: 3 gates);
      ``Bidirectional`` counts both directions.

    Not counted: biases, BatchNormalization (folded into the convolution by the converter),
    activations, pooling, the element-wise gate products and the attention multiply/softmax;
    these are O(activations), not O(weights x positions), and contribute a few per cent at
    most.  Layers inside nested models are counted recursively.

    Args:
        model: a built Keras model with static (non-``None``) shapes apart from the batch.

    Returns:
        The MAC count as an int.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_macs(layer)
        else:
            total += _layer_macs(layer)
    return int(total)
