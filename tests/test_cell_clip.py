"""Tests of the clipped LSTM cell state (converters.models.ClippedLSTMCell, ``--cell-clip``):
the float cell against a NumPy LSTM, its model file, its MACs, its int8 graph through the real
converter and LiteRT, and the command-line option end to end (workstation side; TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert.interpreter")

import keras
from ai_edge_litert.interpreter import Interpreter
from click.testing import CliRunner

from converters.gate_ranges import TANH_SATURATION
from converters.models import ClippedLSTMCell, build_conv_lstm, count_macs, load_model
from converters.quantize import convert_int8
from converters.train import parse_cell_clip
from edgeser.cli import main

INPUT_SHAPE = (40, 40, 1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _numpy_lstm(x: np.ndarray, kernel, recurrent, bias, clip: float | None) -> np.ndarray:
    """Hidden states (batch, steps, units) of an LSTM with Keras' gate order i, f, g, o; the
    cell state clipped to +-``clip`` after each step (None: unclipped)."""
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units))
    c = np.zeros_like(h)
    out = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        if clip is not None:
            c = np.clip(c, -clip, clip)
        h = _sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


def _growing_weights(layer) -> None:
    """Forget gates open (bias +5) and candidates positive (bias +3): the cell state grows by
    about one unit per step, past any small clip."""
    kernel, recurrent, bias = layer.cell.get_weights()
    units = recurrent.shape[0]
    bias[units : 2 * units] = 5.0
    bias[2 * units : 3 * units] = 3.0
    layer.cell.set_weights([kernel, recurrent, bias])


def test_clipped_cell_is_keras_lstm_with_the_cell_state_clipped():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).standard_normal((5, 9, 3)).astype(np.float32)
    clipped = keras.layers.RNN(ClippedLSTMCell(4, cell_clip=1.5), return_sequences=True)
    plain = keras.layers.LSTM(4, return_sequences=True, unroll=True)
    clipped(x), plain(x)
    _growing_weights(clipped)
    plain.cell.set_weights(clipped.cell.get_weights())
    weights = [w.astype(np.float64) for w in clipped.cell.get_weights()]
    want = _numpy_lstm(x.astype(np.float64), *weights, clip=1.5)
    unclipped = _numpy_lstm(x.astype(np.float64), *weights, clip=None)
    assert np.abs(want - unclipped).max() > 0.05  # the clip is active on these weights
    np.testing.assert_allclose(np.asarray(clipped(x)), want, atol=2e-5)
    np.testing.assert_allclose(np.asarray(plain(x)), unclipped, atol=2e-5)  # same gate layout


def test_clipped_conv_lstm_reloads_and_costs_the_same_macs(tmp_path: Path):
    keras.utils.set_random_seed(2)
    kw = {"input_shape": INPUT_SHAPE, "n_classes": 3, "filters": (4, 4), "lstm_units": 8}
    model = build_conv_lstm(**kw, cell_clip=TANH_SATURATION)
    assert isinstance(model.get_layer("lstm").cell, ClippedLSTMCell)
    assert count_macs(model) == count_macs(build_conv_lstm(**kw)) > 0
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    assert again.get_layer("lstm").cell.cell_clip == pytest.approx(TANH_SATURATION)
    x = np.random.default_rng(3).standard_normal((4, *INPUT_SHAPE)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_clipped_model_converts_with_the_cell_state_on_the_clip_grid(tmp_path: Path):
    """The int8 graph is integer, holds the clip as MINIMUM and MAXIMUM, rounds every step's
    clipped cell state on a grid of at most 2 * 3.118 / 255, and follows the float network."""
    keras.utils.set_random_seed(4)
    model = build_conv_lstm(
        INPUT_SHAPE, 3, (4, 4), lstm_units=8, dense_units=8, cell_clip=TANH_SATURATION
    )
    _growing_weights(model.get_layer("lstm"))
    model.save(tmp_path / "m.keras")
    rng = np.random.default_rng(5)
    rep = rng.standard_normal((48, *INPUT_SHAPE)).astype(np.float32)
    probe = rng.standard_normal((48, *INPUT_SHAPE)).astype(np.float32)
    report = convert_int8(tmp_path / "m.keras", rep, tmp_path / "m.tflite", model_name="clip")
    assert not report.integer_errors and report.input_dtype == "int8"
    it = Interpreter(model_path=str(tmp_path / "m.tflite"))
    it.allocate_tensors()
    ops = {op["op_name"] for op in it._get_ops_details()}
    assert {"MINIMUM", "MAXIMUM"} <= ops
    clipped = [t for t in it.get_tensor_details() if t["name"].endswith("/clip_by_value")]
    assert len(clipped) == 10  # one per step: 40 frames / (2 * 2) time pools
    for t in clipped:
        assert 0 < t["quantization"][0] <= 2 * TANH_SATURATION / 255 * 1.001, t["name"]
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    (s_in, z_in), (s_out, z_out) = inp["quantization"], out["quantization"]
    probs = []
    for w in probe:
        q = np.clip(np.round(w / s_in) + z_in, -128, 127)[None].astype(np.int8)
        it.set_tensor(inp["index"], q)
        it.invoke()
        probs.append((it.get_tensor(out["index"])[0].astype(np.float32) - z_out) * s_out)
    assert np.mean(np.abs(np.array(probs) - model.predict(probe, verbose=0))) < 0.01


def test_cell_clip_values():
    assert parse_cell_clip("tanh") == TANH_SATURATION == pytest.approx(3.118185)
    assert parse_cell_clip(" TANH ") == TANH_SATURATION
    assert parse_cell_clip("0") == 0.0 and parse_cell_clip("2.5") == 2.5
    for bad in ("-1", "inf", "nan", "wide", ""):
        with pytest.raises(ValueError, match="--cell-clip takes 'tanh' or a number >= 0"):
            parse_cell_clip(bad)
    with pytest.raises(ValueError, match="cell_clip must be positive"):
        ClippedLSTMCell(4, cell_clip=0.0)
    with pytest.raises(ValueError, match="no dropout"):
        ClippedLSTMCell(4, dropout=0.1)
    with pytest.raises(ValueError, match="cell_clip must be >= 0"):
        build_conv_lstm(INPUT_SHAPE, 3, (4, 4), cell_clip=-1.0)


def test_cell_clip_option_is_recorded_and_bad_values_are_one_line(tmp_path: Path):
    runner = CliRunner()
    result = runner.invoke(main, ["train", "--cell-clip", "wide", "-o", str(tmp_path / "m.keras")])
    assert result.exit_code == 2 and "--cell-clip takes 'tanh'" in result.output, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "m.keras").exists()
