"""Tests of converters.gate_ranges: LSTM gate pre-activations quantised over their saturation
range instead of their calibrated range (workstation side; needs TensorFlow).

A tiny conv-LSTM whose LSTM kernels are scaled up (gate pre-activations far beyond +-6.24) is
calibrated by the real converter, its ranges are edited, and both conversions
(``gate_ranges="calibrated"`` and ``"saturated"``) run through LiteRT against the float network.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert.interpreter")

import keras
from ai_edge_litert.interpreter import Interpreter

from converters._convert_worker import make_converter, set_int8
from converters.gate_ranges import SIGMOID_SATURATION, saturate_gate_ranges
from converters.models import build_conv_lstm
from converters.quantize import ConversionError, convert_int8

INPUT_SHAPE = (40, 40, 1)


def _inputs(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *INPUT_SHAPE)).astype(np.float32)


def _model(lstm: bool = True) -> keras.Model:
    """The tiny conv-LSTM with two output-gate units biased to +30 (always open), so the
    calibrated range of every step's gate tensor spans +-30 while the other gates' inputs
    are a few units wide; or (``lstm=False``) a conv + dense network with no gates at all."""
    keras.utils.set_random_seed(3)
    if not lstm:
        inputs = keras.Input(shape=INPUT_SHAPE)
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model = build_conv_lstm(
        input_shape=INPUT_SHAPE, n_classes=3, filters=(4, 4), lstm_units=8, dense_units=8
    )
    (layer,) = [x for x in model.layers if isinstance(x, keras.layers.LSTM)]
    kernel, recurrent, bias = layer.cell.get_weights()
    units = recurrent.shape[0]
    bias[3 * units : 3 * units + 2] = 30.0  # Keras gate order i, f, g, o
    layer.cell.set_weights([kernel * 2.0, recurrent * 2.0, bias])
    return model


def _calibrated(model: keras.Model, rep: np.ndarray) -> bytes:
    """The converter's calibrate-only flatbuffer (float ops, min/max per tensor), set up as the
    conversion worker sets it up."""
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "m.keras")
        converter, _ = make_converter(Path(tmp) / "m.keras", Path(tmp))
        set_int8(converter, rep, "legacy", calibrate_only=True)
        return converter.convert()


def _ranges(flatbuffer: bytes) -> dict[str, tuple[float, float]]:
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    out = {}
    for t in model.subgraphs[0].tensors:
        q = t.quantization
        if q is not None and q.min is not None and len(q.min) == 1:
            out[t.name.decode()] = (float(q.min[0]), float(q.max[0]))
    return out


def _run(path: Path, x: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]]]:
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    (s_in, z_in), (s_out, z_out) = inp["quantization"], out["quantization"]
    probs = []
    for w in x:
        it.set_tensor(
            inp["index"], np.clip(np.round(w / s_in) + z_in, -128, 127)[None].astype(np.int8)
        )
        it.invoke()
        probs.append((it.get_tensor(out["index"])[0].astype(np.float32) - z_out) * s_out)
    return np.array(probs), it.get_tensor_details()


def test_gate_ranges_are_narrowed_to_saturation_and_the_sum_before_the_bias_by_the_bias():
    model = _model()
    (layer,) = [x for x in model.layers if isinstance(x, keras.layers.LSTM)]
    bias = layer.cell.get_weights()[2]
    calibrated = _calibrated(model, _inputs(48, seed=1))
    edited, changed = saturate_gate_ranges(calibrated)
    before, after = _ranges(calibrated), _ranges(edited)
    assert changed, "the +30 output-gate bias must put gate pre-activations beyond +-6.24"
    assert {c.tensor for c in changed} == {k for k in before if before[k] != after[k]}
    assert before.keys() == after.keys()
    for c in changed:  # narrowed, never widened, never to an empty range
        assert c.calibrated[0] <= c.saturated[0] < c.saturated[1] <= c.calibrated[1]
    gates = [c for c in changed if c.tensor.split(";")[-1].rsplit("/", 1)[-1].startswith("split")]
    sums = [c for c in changed if c.tensor.endswith("/BiasAdd_1")]
    assert gates and sums  # every step's SPLIT outputs and the sums they split
    for c in gates + sums:
        assert c.saturated[0] >= -SIGMOID_SATURATION and c.saturated[1] <= SIGMOID_SATURATION
    # Before the bias (x_t W + h U): room for the bias, whose elements span [0, 30] here, so
    # the upper end is 6.24 - min(b) and the lower end stays as calibrated (above -36.24).
    partial = [c for c in changed if c.tensor.endswith("/BiasAdd")]
    assert partial
    for c in partial:
        assert c.saturated[1] == pytest.approx(SIGMOID_SATURATION - float(bias.min()), abs=1e-5)
        assert c.saturated[0] == c.calibrated[0] > -SIGMOID_SATURATION - float(bias.max())


def test_a_graph_without_lstm_gates_is_left_as_calibrated():
    rep = _inputs(16, seed=2)
    calibrated = _calibrated(_model(lstm=False), rep)
    edited, changed = saturate_gate_ranges(calibrated)
    assert changed == []
    assert _ranges(edited) == _ranges(calibrated)


def test_saturated_int8_model_follows_the_float_network_more_closely(tmp_path: Path):
    model = _model()
    model_path = tmp_path / "m.keras"
    model.save(model_path)
    rep, probe = _inputs(64, seed=4), _inputs(64, seed=5)
    reference = model.predict(probe, verbose=0)
    error = {}
    for kind in ("calibrated", "saturated"):
        path = tmp_path / f"{kind}.tflite"
        report = convert_int8(model_path, rep, path, model_name=f"tiny-{kind}", gate_ranges=kind)
        assert not report.integer_errors and report.input_dtype == "int8"
        probs, tensors = _run(path, probe)
        error[kind] = float(np.mean(np.abs(probs - reference)))
        split_scales = [t["quantization"][0] for t in tensors if t["name"].endswith("split")]
        assert split_scales
        if kind == "saturated":  # the shared gate tensor steps at most 2 * 6.24 / 255
            assert max(split_scales) <= 2 * SIGMOID_SATURATION / 255 * 1.001
        else:
            assert max(split_scales) > 2 * SIGMOID_SATURATION / 255 * 1.5
    assert error["saturated"] < error["calibrated"]


def test_bad_gate_ranges_are_refused(tmp_path: Path):
    rep = _inputs(4, seed=0)
    with pytest.raises(ValueError, match="gate_ranges must be one of"):
        convert_int8(
            tmp_path / "m.keras", rep, tmp_path / "m.tflite", model_name="m", gate_ranges="x"
        )
    with pytest.raises(ValueError, match="needs quantizer='legacy'"):
        convert_int8(
            tmp_path / "m.keras",
            rep,
            tmp_path / "m.tflite",
            model_name="m",
            gate_ranges="saturated",
            quantizer="mlir",
        )


def test_a_tensorflow_that_cannot_narrow_gate_ranges_gets_a_clear_error(tmp_path: Path):
    """The worker's exit status 4 (its TensorFlow lacks the calibrate-only internals) becomes
    a one-line ConversionError naming the way out."""
    model = _model(lstm=False)
    model.save(tmp_path / "m.keras")
    exit_4 = [sys.executable, "-c", "import sys; sys.exit(4)"]
    with pytest.raises(ConversionError) as info:
        convert_int8(
            tmp_path / "m.keras",
            _inputs(4, 0),
            tmp_path / "m.tflite",
            model_name="m",
            worker_cmd=exit_4,
        )
    first = str(info.value).splitlines()[0]
    assert "could not narrow the LSTM gate ranges" in first and "--gate-ranges calibrated" in first
    assert not (tmp_path / "m.tflite").exists()


def test_int8_sigmoid_and_tanh_saturate_where_the_bound_assumes(tmp_path: Path):
    """The premise of the saturated ranges, on LiteRT's own int8 kernels: LOGISTIC gives its end
    codes beyond +-ln(511), and TANH above 2.57 (127.5 / 128 would round up) and below -3.12
    (tanh < -127.5 / 128), so rounding wider inputs buys nothing."""
    rep = np.linspace(-20.0, 20.0, 8, dtype=np.float32)[None].repeat(2, axis=0)
    rep[1] *= -1
    codes = {}
    knees = {"sigmoid": (SIGMOID_SATURATION, SIGMOID_SATURATION), "tanh": (2.57, 3.12)}
    for fn, (knee_up, knee_down) in knees.items():
        inputs = keras.Input(shape=(8,))
        x = keras.layers.Dense(8, use_bias=False, kernel_initializer="identity")(inputs)
        keras.Model(inputs, keras.layers.Activation(fn)(x)).save(tmp_path / f"{fn}.keras")
        with tempfile.TemporaryDirectory() as tmp:
            converter, _ = make_converter(tmp_path / f"{fn}.keras", Path(tmp))
            set_int8(converter, rep, "legacy", calibrate_only=False)
            it = Interpreter(model_content=converter.convert())
        it.allocate_tensors()
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        scale, zero = inp["quantization"]
        up, down = knee_up + 2 * scale, knee_down + 2 * scale  # past by more than a step
        probe = np.array([up, 7.0, 19.0, -down, -7.0, -19.0, 0.0, 1.0])
        it.set_tensor(inp["index"], np.round(probe / scale + zero).astype(np.int8)[None])
        it.invoke()
        codes[fn] = it.get_tensor(out["index"])[0].tolist()
        assert out["quantization"][0] == (1 / 256 if fn == "sigmoid" else 1 / 128)
    for fn in ("sigmoid", "tanh"):
        assert codes[fn][:3] == [127] * 3 and codes[fn][3:6] == [-128] * 3, (fn, codes[fn])
        assert -128 < codes[fn][7] < 127  # inside the knee the output still moves
