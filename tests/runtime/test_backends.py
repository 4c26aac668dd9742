"""Interpreter backends, the Edge TPU delegate and report, and model loading checks."""

import json
import shutil
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from edgeser import BackendError, EmotionModel, FrontendConfig, ModelError
from edgeser.backends import BACKENDS, available_backends, get_backend, make_interpreter
from edgeser.edgetpu import compatibility_report
from edgeser.frontend import Frontend
from edgeser.model import default_model_path
from edgeser.synth import speech_like

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def windows():
    frames = Frontend().compute(speech_like(4.0, seed=2))
    return np.stack([frames[:198], frames[-198:]])


def test_auto_picks_litert_and_reports_it():
    backend = get_backend("auto")
    assert backend.name == "litert" and backend.version
    assert "litert" in available_backends()
    assert EmotionModel().backend.name == "litert"


def test_unknown_backend_and_bad_threads():
    with pytest.raises(BackendError, match="unknown backend"):
        get_backend("onnx")
    with pytest.raises(BackendError, match="num_threads"):
        make_interpreter(default_model_path(), num_threads=0)


@pytest.mark.skipif(find_spec("tflite_runtime") is not None, reason="tflite-runtime installed")
def test_missing_legacy_backend_says_what_to_install():
    with pytest.raises(BackendError, match="pip install tflite-runtime"):
        get_backend("tflite-runtime")


def test_tensorflow_backend_gives_the_same_int8_outputs(windows):
    if find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed (the [train] extra)")
    mean, std = np.full(40, 60 * 128), np.full(40, 8 * 128)
    litert = EmotionModel(backend="litert").predict(windows, mean, std)
    tf = EmotionModel(backend="tensorflow").predict(windows, mean, std)
    assert np.array_equal(litert, tf)


def test_threads_do_not_change_outputs(windows):
    mean, std = np.full(40, 60 * 128), np.full(40, 8 * 128)
    one = EmotionModel(num_threads=1).predict(windows, mean, std)
    two = EmotionModel(num_threads=2).predict(windows, mean, std)
    assert np.array_equal(one, two)


def test_missing_edgetpu_delegate_says_what_to_install():
    with pytest.raises(BackendError, match="libedgetpu1-std"):
        EmotionModel(delegate="edgetpu")
    with pytest.raises(BackendError, match="only one is edgetpu"):
        EmotionModel(delegate="gpu")


def test_edgetpu_report_of_the_default_model():
    report = compatibility_report(default_model_path())
    ops = [(op.op, op.mapped) for op in report.ops]
    assert ops[0] == ("CONV_2D", True)
    first_cut = next(i for i, op in enumerate(report.ops) if not op.mapped)
    assert all(not op.mapped for op in report.ops[first_cut:])
    assert all(op.mapped for op in report.ops[:first_cut])
    doc = report.to_dict()
    assert doc["operators"] == len(report.ops) and doc["mapped"] == first_cut
    assert "Edge TPU" in report.format()


def test_edgetpu_report_refuses_float_models():
    float_model = default_model_path().with_name("default.float32.tflite")
    if not float_model.exists():
        pytest.skip("no float twin of the default model")
    report = compatibility_report(float_model)
    assert report.mapped == 0
    assert "float32" in report.ops[0].reason


def _copy_model(tmp_path):
    src = default_model_path()
    dst = tmp_path / "m.tflite"
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_tampered_model_is_refused(tmp_path):
    path = _copy_model(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        EmotionModel(path)


def test_mismatched_metadata_is_refused(tmp_path):
    path = _copy_model(tmp_path)
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["window_frames"] = 100
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="input shape"):
        EmotionModel(path)
    meta["window_frames"] = 198
    meta["labels"] = meta["labels"][:-1]
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="labels"):
        EmotionModel(path)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelError, match="malformed"):
        EmotionModel(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="missing"):
        EmotionModel(path)


def test_frontend_mismatch_is_refused():
    with pytest.raises(ModelError, match="frontend"):
        EmotionModel(frontend=FrontendConfig(num_bands=64))


def test_runtime_in_a_fresh_interpreter_never_imports_tensorflow():
    code = (
        "import sys, numpy as np\n"
        "import edgeser\n"
        "from edgeser.synth import speech_like\n"
        "rec = edgeser.Recognizer()\n"
        "rec.feed(speech_like(3.0)); rec.flush()\n"
        "edgeser.classify_file(edgeser.examples.example_path())\n"
        "from edgeser.edgetpu import compatibility_report\n"
        "compatibility_report(edgeser.model.default_model_path())\n"
        "heavy = ('tensorflow', 'keras', 'converters')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in heavy]\n"
        "print(','.join(bad) or 'clean')\n"
    )
    code = "import edgeser.examples, edgeser.model\n" + code
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def test_backend_names_are_documented():
    assert BACKENDS == ("litert", "tflite-runtime", "tensorflow")
