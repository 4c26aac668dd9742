"""Ensembles in one graph: several networks on one input, their class probabilities averaged.

:func:`average_members` wraps trained member networks (same input and output shapes) into one
Keras model: the input feeds every member and the output is the mean of their softmax
probabilities. It converts to one full-integer int8 model (:mod:`converters.quantize`: each
member's operators, then an int8 ADD and MUL), so the device runtime, the C frontend and the
TFLite Micro export are those of a single network: one input tensor, one output tensor, one
invoke. Cost: the members' MACs and flatbuffer bytes add up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def average_members(members: Sequence[Any], name: str = "ensemble") -> Any:  # -> keras.Model
    """One Keras model whose output is the mean of ``members``' outputs on a shared input.

    Args:
        members: two or more trained Keras models with the same input shape (frames, bands, 1)
            and the same output shape (classes,): class probabilities. They are renamed
            ``member0``, ``member1``, ... (nested models need distinct names) and their weights
            are shared with the result, not copied.
        name: the ensemble model's name.

    Returns:
        An uncompiled Keras model: input ``logmel`` (None, frames, bands, 1) float32, output
        ``probs`` (None, classes), the mean of the members' probabilities.

    Raises:
        ValueError: fewer than two members, or their input or output shapes differ.
    """
    import keras

    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
    in_shapes = {tuple(m.input.shape[1:]) for m in members}
    out_shapes = {tuple(m.output.shape[1:]) for m in members}
    if len(in_shapes) != 1:
        raise ValueError(f"ensemble members differ in input shape: {sorted(in_shapes)}")
    if len(out_shapes) != 1:
        raise ValueError(f"ensemble members differ in output shape: {sorted(out_shapes)}")
    inputs = keras.Input(shape=next(iter(in_shapes)), name="logmel")
    outputs = []
    for i, member in enumerate(members):
        member.name = f"member{i}"
        outputs.append(member(inputs))
    probs = keras.layers.Average(name="probs")(outputs)
    return keras.Model(inputs, probs, name=name)
