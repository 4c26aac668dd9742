"""Tests of converters.models and converters.quantize (workstation side; needs TensorFlow).

A tiny conv-LSTM is trained for two epochs on synthetic data whose class shifts the input
mean, converted in child processes to int8 and float32 TFLite, and both files are run
through LiteRT.  Conversion crashes are exercised twice: a real one (a non-unrolled LSTM,
which the TF 2.21 full-integer converter cannot handle) and a simulated ``os.abort`` via the
``worker_cmd`` test hook.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert.interpreter")

import keras
from ai_edge_litert.interpreter import Interpreter

from converters.models import (
    build_conv_lstm,
    build_dcnn_blstm_attention,
    count_macs,
)
from converters.quantize import (
    ConversionError,
    QuantReport,
    convert_float32,
    convert_int8,
    verify_integer_graph,
)

INPUT_SHAPE = (40, 40, 1)
N_CLASSES = 4


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random log-Mel-like images whose mean depends on the class (learnable in 2 epochs)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, size=n)
    x = rng.standard_normal((n, *INPUT_SHAPE)).astype(np.float32)
    x += (y.astype(np.float32) - (N_CLASSES - 1) / 2)[:, None, None, None]
    return x, y


def _rolled_lstm_model() -> keras.Model:
    """A model the TF 2.21 full-integer converter cannot handle: a non-unrolled LSTM."""
    inputs = keras.Input(shape=INPUT_SHAPE)
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.MaxPool2D((4, 4))(x)
    x = keras.layers.Reshape((10, 40))(x)
    x = keras.layers.LSTM(8)(x)  # unroll=False: a While loop over resource variables
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def _expect_conversion_error(fn: Callable[[], object]) -> ConversionError:
    """Call ``fn`` and return the ConversionError it raises (fail if it does not)."""
    try:
        fn()
    except ConversionError as exc:
        return exc
    raise AssertionError("expected ConversionError")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Train the tiny conv-LSTM and run the three slow child conversions concurrently.

    int8 converts the saved ``.keras`` file, float32 a SavedModel export of the same model,
    and the third conversion is of a non-unrolled LSTM, which must fail in the child.

    Each child imports TensorFlow (several seconds), so the int8 and float32 conversions of
    the tiny model and the crashing conversion of a non-unrolled LSTM share the wall time.
    """
    keras.utils.set_random_seed(0)
    model = build_conv_lstm(
        input_shape=INPUT_SHAPE,
        n_classes=N_CLASSES,
        filters=(4, 4),
        lstm_units=8,
        dense_units=8,
        dropout=0.0,
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    x, y = _synthetic(192, seed=1)
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    d = tmp_path_factory.mktemp("tiny")
    keras_path = d / "tiny.keras"
    model.save(keras_path)
    saved_model_dir = d / "tiny_saved_model"
    model.export(str(saved_model_dir), format="tf_saved_model", verbose=False)
    rolled_path = d / "rolled.keras"
    _rolled_lstm_model().save(rolled_path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        f8 = pool.submit(
            convert_int8, keras_path, x[:64], d / "tiny_int8.tflite", model_name="tiny-conv-lstm"
        )
        f8_stripped = pool.submit(
            convert_int8,
            keras_path,
            x[:64],
            d / "tiny_int8_stripped.tflite",
            model_name="tiny-conv-lstm",
            strip_names=True,
        )
        f32 = pool.submit(  # the SavedModel route; int8 takes the .keras route
            convert_float32, saved_model_dir, d / "tiny_f32.tflite", model_name="tiny-conv-lstm"
        )
        fbad = pool.submit(
            _expect_conversion_error,
            lambda: convert_int8(rolled_path, x[:8], d / "bad.tflite", model_name="rolled-lstm"),
        )
        r8, r32, bad = f8.result(), f32.result(), fbad.result()
        r8_stripped = f8_stripped.result()
    x_test, _ = _synthetic(16, seed=2)
    return {
        "model": model,
        "int8": r8,
        "int8_stripped": r8_stripped,
        "float32": r32,
        "rolled_error": bad,
        "x_test": x_test,
        "dir": d,
    }


def _run(path: Path, xs: np.ndarray) -> np.ndarray:
    """Run float inputs through a .tflite file (quantising/dequantising int8 I/O)."""
    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    results = []
    for x in xs:
        if inp["dtype"] == np.int8:
            scale, zp = inp["quantization"]
            q = np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)
        else:
            q = x.astype(np.float32)
        interp.set_tensor(inp["index"], q[np.newaxis])
        interp.invoke()
        yv = interp.get_tensor(out["index"])[0]
        if out["dtype"] == np.int8:
            scale, zp = out["quantization"]
            yv = (yv.astype(np.float32) - zp) * scale
        results.append(yv)
    return np.asarray(results, dtype=np.float32)


def test_int8_report_and_integer_graph(tiny: dict[str, Any]) -> None:
    r8 = tiny["int8"]
    assert isinstance(r8, QuantReport)
    assert r8.model_name == "tiny-conv-lstm"
    assert r8.kind == "int8"
    assert r8.integer_errors == ()
    assert verify_integer_graph(r8.path) == []
    assert (r8.input_dtype, r8.output_dtype) == ("int8", "int8")
    assert r8.input_shape == (1, *INPUT_SHAPE)
    assert r8.output_shape == (1, N_CLASSES)
    assert r8.input_scale > 0 and -128 <= r8.input_zero_point <= 127
    assert r8.output_scale > 0 and -128 <= r8.output_zero_point <= 127
    data = r8.path.read_bytes()
    assert r8.size_bytes == len(data)
    assert r8.sha256 == hashlib.sha256(data).hexdigest()
    assert {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(r8.ops)
    assert not {"WHILE", "DEQUANTIZE", "READ_VARIABLE"} & set(r8.ops)
    assert r8.to_dict()["op_counts"]["CONV_2D"] == 2


def test_stripped_names_same_graph_and_outputs_fewer_bytes(tiny: dict[str, Any]) -> None:
    """``strip_names``: no tensor names, the same operators, scales and int8 outputs."""
    full, stripped = tiny["int8"], tiny["int8_stripped"]
    assert stripped.size_bytes < full.size_bytes
    assert stripped.integer_errors == () and stripped.ops == full.ops
    assert (stripped.input_scale, stripped.input_zero_point) == (
        full.input_scale,
        full.input_zero_point,
    )
    assert (stripped.output_scale, stripped.output_zero_point) == (
        full.output_scale,
        full.output_zero_point,
    )
    named = Interpreter(model_path=str(full.path)).get_tensor_details()
    bare = Interpreter(model_path=str(stripped.path)).get_tensor_details()
    assert any(t["name"] for t in named) and not any(t["name"] for t in bare)
    assert full.size_bytes - stripped.size_bytes >= sum(len(t["name"]) for t in named)
    xs = tiny["x_test"]
    np.testing.assert_array_equal(_run(stripped.path, xs), _run(full.path, xs))


def test_float32_twin_is_reported_as_float(tiny: dict[str, Any]) -> None:
    r32 = tiny["float32"]
    assert r32.kind == "float32"
    assert (r32.input_dtype, r32.output_dtype) == ("float32", "float32")
    assert r32.input_scale == 0.0 and r32.integer_errors == ()
    errors = verify_integer_graph(r32.path)
    assert errors and all("float32" in e for e in errors)
    assert any(e.startswith("op 0 CONV_2D: input 0") for e in errors)


def test_int8_agrees_with_float(tiny: dict[str, Any]) -> None:
    xs = tiny["x_test"]
    p_keras = tiny["model"].predict(xs, verbose=0)
    p32 = _run(tiny["float32"].path, xs)
    p8 = _run(tiny["int8"].path, xs)
    np.testing.assert_allclose(p32, p_keras, atol=1e-4)
    assert np.mean(p8.argmax(axis=1) == p32.argmax(axis=1)) >= 0.75
    assert np.max(np.abs(p8 - p32)) < 0.15


def test_non_unrolled_lstm_crash_is_conversion_error(tiny: dict[str, Any]) -> None:
    """A real converter failure: full-integer quantisation of a non-unrolled LSTM."""
    err = tiny["rolled_error"]
    assert err.model_name == "rolled-lstm"
    assert "rolled-lstm" in str(err)
    # TF 2.21 segfaults here; a Python-level failure (exit code 3) would also be acceptable.
    assert err.returncode != 0
    assert err.signal_name is not None or err.returncode == 3
    assert "[convert-worker]" in err.stderr_tail
    assert not (tiny["dir"] / "bad.tflite").exists()


def test_abort_in_child_hook(tiny: dict[str, Any], tmp_path: Path) -> None:
    """Test hook: a worker that calls os.abort() -> ConversionError naming SIGABRT."""
    out = tmp_path / "never.tflite"
    with pytest.raises(ConversionError) as info:
        convert_int8(
            tiny["dir"] / "tiny.keras",
            tiny["x_test"],
            out,
            model_name="abort-model",
            worker_cmd=[sys.executable, "-c", "import os; os.abort()"],
        )
    err = info.value
    assert err.signal_name == "SIGABRT" and err.returncode < 0
    assert "abort-model" in str(err) and "SIGABRT" in str(err)
    assert not out.exists()


def test_child_error_exit_code_and_stderr(tiny: dict[str, Any], tmp_path: Path) -> None:
    code = "import sys; sys.stderr.write('converter exploded\\n'); sys.exit(3)"
    with pytest.raises(ConversionError) as info:
        convert_float32(
            tiny["dir"] / "tiny.keras",
            tmp_path / "x.tflite",
            model_name="exit-model",
            worker_cmd=[sys.executable, "-c", code],
        )
    err = info.value
    assert err.returncode == 3 and err.signal_name is None
    assert "exited with code 3" in str(err)
    assert "converter exploded" in err.stderr_tail


@pytest.mark.parametrize(
    "bad",
    [np.zeros((0, *INPUT_SHAPE), np.float32), np.full((2, *INPUT_SHAPE), np.nan, np.float32)],
)
def test_bad_representative_rejected(bad: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        convert_int8(tmp_path / "m.keras", bad, tmp_path / "m.tflite", model_name="m")


def test_model_shapes_and_macs() -> None:
    model = build_conv_lstm(
        input_shape=INPUT_SHAPE, n_classes=N_CLASSES, filters=(4, 4), lstm_units=8, dense_units=8
    )
    assert model.output_shape == (None, N_CLASSES)
    lstm = model.get_layer("lstm")
    assert lstm.unroll
    # conv1 40x40x4 (k9, cin 1), conv2 20x20x4 (k9, cin 4); LSTM 10 steps x 4 x 8 x (40 + 8);
    # fc 8x8; probs 8x4
    expected = 40 * 40 * 4 * 9 + 20 * 20 * 4 * 9 * 4 + 10 * 4 * 8 * 48 + 8 * 8 + 8 * N_CLASSES
    assert count_macs(model) == expected

    att = build_dcnn_blstm_attention(
        input_shape=(40, 40, 3), n_classes=N_CLASSES, filters=(4, 4), lstm_units=8
    )
    assert att.output_shape == (None, N_CLASSES)
    assert att.get_layer("blstm").forward_layer.unroll
    probs = att.predict(np.zeros((2, 40, 40, 3), np.float32), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_stem_stride_replaces_first_pool() -> None:
    """A stride-2 first conv computes the first block's pooled grid directly: the LSTM sees the
    same sequence, the first block has no pool and its conv a quarter of the MACs."""
    pooled = build_conv_lstm(input_shape=INPUT_SHAPE, n_classes=N_CLASSES, filters=(4, 4))
    strided = build_conv_lstm(
        input_shape=INPUT_SHAPE, n_classes=N_CLASSES, filters=(4, 4), stem_stride=2
    )
    assert strided.get_layer("lstm").input.shape == pooled.get_layer("lstm").input.shape
    assert strided.get_layer("conv1").strides == (2, 2)
    assert strided.get_layer("conv1").output.shape[1:3] == (20, 20)
    names = {layer.name for layer in strided.layers}
    assert "pool1" not in names and "pool2" in names
    assert count_macs(pooled) - count_macs(strided) == 40 * 40 * 4 * 9 * 3 // 4
    with pytest.raises(ValueError, match="stem_stride"):
        build_conv_lstm(input_shape=INPUT_SHAPE, n_classes=N_CLASSES, stem_stride=0)
