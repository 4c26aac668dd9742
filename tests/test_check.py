"""Tests of ``edgeser check``, the accuracy-regression gate (edgeser/check.py, cli_check.py).

Real models on the real interpreter, no mocks:

* the embedded default model on a small EMO-DB subset (symlinks in tmp_path; skipped with a
  reason when the corpus is absent): it passes against its own baseline and its float twin;
  a frontend config changed under it fails; other data, unknown labels, unreadable audio;
* a tiny conv-LSTM trained for a few steps on synthetic clips (needs TensorFlow, skipped
  otherwise), exported normally and once more with a deliberately poor representative
  dataset (windows of near-silence): the poor int8 model must fail against its float twin
  and against the good model's baseline;
* bad input and the report formats with synthetic audio and the default model.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeser.audio import write_wav_pcm16
from edgeser.cli import main
from edgeser.datasets import read_emodb
from edgeser.model import MODELS_DIR
from edgeser.synth import speech_like

DEFAULT = MODELS_DIR / "default.tflite"
DEFAULT_FLOAT = MODELS_DIR / "default.float32.tflite"
REPO = Path(__file__).resolve().parents[1]


def run(*args: object) -> tuple[int, str, str]:
    """``edgeser check ARGS`` in-process: (exit status, stdout, stderr)."""
    result = CliRunner().invoke(main, ["check", *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def without_created(text: str) -> dict:
    data = json.loads(text)
    data.pop("created")
    return data


# ---------------------------------------------------------------------------------------------
# The default model on a small EMO-DB subset


@pytest.fixture(scope="module")
def emodb_subset(corpus_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An EMO-DB folder of 3 clips per emotion (21), as symlinks to the shared corpus."""
    if not (corpus_root / "emodb").is_dir():
        pytest.skip(f"EMO-DB not found in {corpus_root}")
    clips = read_emodb(corpus_root / "emodb")
    folder = tmp_path_factory.mktemp("emodb_subset")
    taken: dict[str, int] = {}
    for clip in clips:
        if taken.get(clip.label, 0) < 3:
            taken[clip.label] = taken.get(clip.label, 0) + 1
            (folder / clip.path.name).symlink_to(clip.path.resolve())
    return folder


@pytest.fixture(scope="module")
def subset_baseline(emodb_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("baseline") / "baseline.json"
    code, out, err = run("--model", DEFAULT, "--data", emodb_subset, "--write-baseline", path)
    assert code == 0, out + err
    return path


def test_default_model_passes_against_its_baseline_and_float_twin(
    emodb_subset: Path, subset_baseline: Path, tmp_path: Path
) -> None:
    baseline = json.loads(subset_baseline.read_text())
    assert baseline["format"] == "edgeser-check-baseline/1"
    assert (
        baseline["model"]["sha256"]
        == json.loads(DEFAULT.with_suffix(".json").read_text())["tflite_sha256"]
    )
    assert baseline["frontend"]["num_bands"] == 40 and baseline["data"]["recordings"] == 21
    assert len(baseline["data"]["fingerprint"]) == 64

    reports = []
    for i in range(2):
        paths = {k: tmp_path / f"report{i}.{k}" for k in ("json", "junit", "md", "png")}
        code, out, err = run(
            "--model", DEFAULT, "--reference", DEFAULT_FLOAT, "--data", emodb_subset,
            "--baseline", subset_baseline, "--min-agreement", "80", "--per-class-drop", "34",
            "--json", paths["json"], "--junit", paths["junit"], "--markdown", paths["md"],
            "--confusion-png", paths["png"],
        )  # fmt: skip
        assert code == 0, out + err
        reports.append(paths)
    assert out.startswith("edgeser check: PASSED")
    assert "metadata default.json (borrowed)" in out
    # Deterministic JSON: byte-identical apart from the timestamp.
    first, second = (r["json"].read_text() for r in reports)
    assert without_created(first) == without_created(second)
    lines = [a != b for a, b in zip(first.splitlines(), second.splitlines(), strict=True)]
    # at most the timestamp line differs (none when both runs fall in the same second)
    assert sum(lines) <= 1
    assert not any(lines) or '"created"' in first.splitlines()[lines.index(True)]
    report = json.loads(first)
    assert report["passed"] and report["exit_status"] == 0
    assert report["results"]["baseline"]["uar"] == report["results"]["model"]["uar"]
    assert report["agreement"]["baseline"]["percent"] == 100.0
    ids = {c["id"] for c in report["criteria"]}
    assert {"reference.uar-drop", "reference.agreement", "baseline.frontend"} <= ids
    assert "baseline.recall-drop.anger" in ids
    # JUnit: one testcase per criterion, no failures.
    root = ET.parse(reports[0]["junit"]).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == len(report["criteria"]) and not root.findall(".//failure")
    assert root.find("testsuite").get("failures") == "0"
    assert reports[0]["md"].read_text().startswith("### ✅ edgeser check passed")
    assert reports[0]["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_frontend_changed_under_the_model_fails(
    emodb_subset: Path, subset_baseline: Path, tmp_path: Path
) -> None:
    """The same weights with a different frontend in their metadata (a consistent model:
    the .json still matches the .tflite's hash): the baseline check says so and fails."""
    shutil.copy(DEFAULT, tmp_path / "changed.tflite")
    meta = json.loads(DEFAULT.with_suffix(".json").read_text())
    meta["frontend"]["upper_hz"] = 4000.0
    meta["frontend"]["lower_hz"] = 20.0
    (tmp_path / "changed.json").write_text(json.dumps(meta))
    junit = tmp_path / "junit.xml"
    code, out, err = run(
        "--model", tmp_path / "changed.tflite", "--data", emodb_subset,
        "--baseline", subset_baseline, "--junit", junit,
    )  # fmt: skip
    assert code == 1, out + err
    assert out.startswith("edgeser check: FAILED")
    first = out.splitlines()[1]
    assert first.startswith("  FAIL  baseline.frontend: not comparable")
    assert "frontend.upper_hz 8000.0 (baseline) vs 4000.0 (model)" in first
    assert "frontend.lower_hz 60.0 (baseline) vs 20.0 (model)" in first
    assert "baseline.uar-drop" not in out  # not compared across frontends
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert len(failures) == 1 and "upper_hz" in failures[0].get("message")

    # The float twin with its own metadata (the original frontend) as the reference: the
    # frontend difference fails, and the accuracy is compared on the same data.
    shutil.copy(DEFAULT_FLOAT, tmp_path / "twin.tflite")
    original = json.loads(DEFAULT.with_suffix(".json").read_text())
    original["input"].update(dtype="float32", scale=0.0, zero_point=0)
    original["output"].update(dtype="float32", scale=0.0, zero_point=0)
    original["tflite_sha256"] = hashlib.sha256(DEFAULT_FLOAT.read_bytes()).hexdigest()
    original["tflite_bytes"] = DEFAULT_FLOAT.stat().st_size
    (tmp_path / "twin.json").write_text(json.dumps(original))
    code, out, err = run(
        "--model", tmp_path / "changed.tflite", "--reference", tmp_path / "twin.tflite",
        "--data", emodb_subset, "--min-agreement", "0", "--max-drop", "100",
        "--per-class-drop", "100",
    )  # fmt: skip
    assert code == 1, out + err
    assert "FAIL  reference.frontend: frontend.lower_hz 60.0 (reference) vs 20.0 (model)" in out
    assert "metadata twin.json" in out


def test_reference_with_other_labels_is_an_input_error(
    synthetic_data: Path, tmp_path: Path
) -> None:
    shutil.copy(DEFAULT_FLOAT, tmp_path / "twin.tflite")
    meta = json.loads(DEFAULT.with_suffix(".json").read_text())
    meta["labels"] = [("calm" if x == "boredom" else x) for x in meta["labels"]]
    meta["input"].update(dtype="float32", scale=0.0, zero_point=0)
    meta["output"].update(dtype="float32", scale=0.0, zero_point=0)
    meta["tflite_sha256"] = hashlib.sha256(DEFAULT_FLOAT.read_bytes()).hexdigest()
    meta["tflite_bytes"] = DEFAULT_FLOAT.stat().st_size
    (tmp_path / "twin.json").write_text(json.dumps(meta))
    code, out, err = run(
        "--model", DEFAULT, "--reference", tmp_path / "twin.tflite", "--data", synthetic_data
    )  # fmt: skip
    assert code == 2 and out == ""
    assert "the reference's labels" in err and "calm" in err


def test_a_baseline_recorded_before_a_config_field_existed_still_compares(
    emodb_subset: Path, subset_baseline: Path, tmp_path: Path
) -> None:
    """Fields added to the normalisation later (session_std) take their defaults."""
    old = json.loads(subset_baseline.read_text())
    del old["normalisation"]["session_std"]
    path = tmp_path / "old_baseline.json"
    path.write_text(json.dumps(old))
    code, out, err = run("--model", DEFAULT, "--data", emodb_subset, "--baseline", path,
                         "--per-class-drop", "34")  # fmt: skip
    assert code == 0, out + err
    assert "baseline.frontend" in out or "identical" in out


def test_baseline_on_other_data_is_an_input_error(
    emodb_subset: Path, subset_baseline: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    for link in sorted(emodb_subset.iterdir())[:-1]:  # one recording fewer
        (other / link.name).symlink_to(link.resolve())
    code, out, err = run("--model", DEFAULT, "--data", other, "--baseline", subset_baseline)
    assert code == 2 and out == ""
    assert err.startswith("edgeser: error: ") and len(err.strip().splitlines()) == 1
    assert "recorded on other data (21 recordings" in err and "(20 recordings" in err
    code, _, err = run(
        "--model", DEFAULT, "--data", emodb_subset, "--baseline", subset_baseline,
        "--session", "file",
    )  # fmt: skip
    assert code == 2 and "--session speaker" in err


def test_unreadable_audio_is_skipped_or_strict(emodb_subset: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for link in emodb_subset.iterdir():
        (data / link.name).symlink_to(link.resolve())
    (data / "16b10Wz.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")  # an EMO-DB name
    report = tmp_path / "r.json"
    code, out, err = run("--model", DEFAULT, "--data", data, "--min-uar", "0", "--json", report)
    assert code == 0, out + err
    assert "skipped    1 unreadable: 16b10Wz.wav" in out
    data_report = json.loads(report.read_text())["data"]
    assert data_report["recordings"] == 22 and data_report["scored"] == 21
    assert data_report["unreadable"][0]["path"] == "16b10Wz.wav"
    code, out, err = run("--model", DEFAULT, "--data", data, "--min-uar", "0", "--strict")
    assert code == 2 and "16b10Wz.wav" in err and "--strict" in err


# ---------------------------------------------------------------------------------------------
# A real regression: a tiny model quantised with a poor representative dataset

LABELS = ["neutral", "anger", "sadness"]


def _synthetic(n_per_class: int, seed: int, folder: Path | None = None):
    """Three 'emotions' that differ in level and brightness (as tests/test_pipeline_int8.py);
    written as wav files with a manifest when ``folder`` is given."""
    from converters.train import ClipSet
    from edgeser.datasets import Clip

    rng = np.random.default_rng(seed)
    clips, pcm, labels = [], [], []
    for k, label in enumerate(LABELS):
        for i in range(n_per_class):
            x = speech_like(2.0, seed=int(rng.integers(1 << 30)), level=(0.1, 0.8, 0.03)[k])
            if label == "anger":  # brighter: emphasise highs
                x = np.clip(np.diff(x.astype(np.int32), prepend=0) * 3, -32768, 32767)
                x = x.astype(np.int16)
            path = Path(folder or "synthetic") / f"{label}{i}.wav"
            if folder is not None:
                write_wav_pcm16(path, x, 16000)
            clips.append(Clip(path, label, f"spk{i % 3}", "synthetic"))
            pcm.append(x)
            labels.append(k)
    if folder is not None:
        rows = "".join(f"{c.path.name},{c.label},{c.speaker}\n" for c in clips)
        (folder / "manifest.csv").write_text("path,label,speaker\n" + rows)
    return ClipSet(clips, pcm, np.array(labels), LABELS)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tiny.tflite (calibrated on training windows) + tiny.float32.tflite + tiny.json, and
    poor.tflite + poor.json: the same weights calibrated on near-silent windows. The three
    conversions run in child processes, two at a time (about a minute)."""
    pytest.importorskip("tensorflow")
    from converters.export import export_model
    from converters.train import TrainConfig, fit, window_inputs
    from edgeser.frontend import Frontend
    from edgeser.normalisation import Normalisation

    cfg = TrainConfig(
        filters=(4, 8),
        lstm_units=8,
        dense_units=8,
        dropout=0.0,
        epochs=6,
        patience=6,
        batch_size=8,
        learning_rate=0.01,
        augment=False,
        normalisation=Normalisation("fixed"),
    )
    d = tmp_path_factory.mktemp("tiny")
    (d / "data").mkdir()
    _synthetic(8, seed=3, folder=d / "data")
    train = _synthetic(8, seed=1)
    result = fit(train, _synthetic(3, seed=2), cfg)
    frontend = Frontend()
    good = window_inputs(frontend, train, cfg, rng=None)
    quiet = _synthetic(2, seed=4)
    quiet.pcm[:] = [speech_like(2.0, seed=i, level=0.001) for i in range(len(quiet.pcm))]
    poor = window_inputs(frontend, quiet, cfg, rng=None)  # calibrated on near-silence
    common = {
        "labels": LABELS,
        "frontend": frontend.config,
        "normalisation": cfg.normalisation,
        "window_frames": cfg.window_frames,
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [
            pool.submit(
                export_model, result.model, d / "tiny.tflite", name="tiny", representative=good,
                **common,
            ),
            pool.submit(
                export_model, result.model, d / "poor.tflite", name="tiny-poor",
                representative=poor, float_twin=False, **common,
            ),
        ]  # fmt: skip
        for job in jobs:
            job.result()
    return {
        "good": d / "tiny.tflite",
        "float": d / "tiny.float32.tflite",
        "poor": d / "poor.tflite",
        "data": d / "data",
    }


def test_well_quantised_tiny_model_passes(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    assert not tiny_models["float"].with_suffix(".json").exists()  # the twin has no metadata
    code, out, err = run(
        "--model", tiny_models["good"], "--reference", tiny_models["float"],
        "--data", tiny_models["data"], "--write-baseline", tmp_path / "b.json",
    )  # fmt: skip
    assert code == 0, out + err
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["metrics"]["uar"] >= 0.8  # the float model learnt something to lose


def test_poorly_quantised_model_fails_vs_float_and_baseline(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    baseline = tmp_path / "good.json"
    code, out, err = run(
        "--model", tiny_models["good"], "--data", tiny_models["data"], "--write-baseline", baseline
    )  # fmt: skip
    assert code == 0, out + err
    junit, md, report = tmp_path / "j.xml", tmp_path / "r.md", tmp_path / "r.json"
    code, out, err = run(
        "--model", tiny_models["poor"], "--reference", tiny_models["float"],
        "--data", tiny_models["data"], "--baseline", baseline,
        "--junit", junit, "--markdown", md, "--json", report,
    )  # fmt: skip
    assert code == 1, out + err
    lines = out.splitlines()
    assert lines[0].startswith("edgeser check: FAILED (")
    fails = [ln for ln in lines if ln.startswith("  FAIL  ")]
    passes = [ln for ln in lines if ln.startswith("  pass  ")]
    assert lines[1 : 1 + len(fails)] == fails  # failing criteria first
    assert lines.index(fails[-1]) < min((lines.index(p) for p in passes), default=len(lines))
    text = "\n".join(fails)
    for cid in ("reference.uar-drop", "reference.agreement", "baseline.uar-drop"):
        assert f"FAIL  {cid}: " in text
    uar_line = next(f for f in fails if "reference.uar-drop" in f)
    assert "(model) vs" in uar_line and "(reference): drop" in uar_line and "> max 2" in uar_line
    data = json.loads(report.read_text())
    assert data["exit_status"] == 1 and not data["passed"]
    assert data["results"]["reference"]["uar"] - data["results"]["model"]["uar"] > 0.2
    root = ET.parse(junit).getroot()
    failed = {c.get("name") for c in root.findall(".//testcase") if c.find("failure") is not None}
    assert failed == {c["id"] for c in data["criteria"] if not c["passed"]}
    assert int(root.find("testsuite").get("failures")) == len(failed)
    assert md.read_text().startswith("### ❌ edgeser check FAILED")


def test_labels_the_model_lacks(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """'calm' and 'fear' are canonical labels the 3-class tiny model does not have."""
    wavs = sorted(tiny_models["data"].glob("*.wav"))
    rows = [f"{p},{p.stem.rstrip('0123456789')},s1" for p in wavs[:6]]
    rows += [f"{p},calm,s1" for p in wavs[6:8]] + [f"{wavs[8]},fear,s2"]
    (tmp_path / "manifest.csv").write_text("path,label,speaker\n" + "\n".join(rows) + "\n")
    code, out, err = run("--model", tiny_models["good"], "--data", tmp_path, "--min-uar", "0")
    assert code == 2 and out == ""
    assert "the model does not know: calm (2 recordings), fear (1 recording)" in err
    report = tmp_path / "r.json"
    code, out, err = run(
        "--model", tiny_models["good"], "--data", tmp_path, "--min-uar", "0",
        "--exclude-unknown-labels", "--json", report,
    )  # fmt: skip
    assert code == 0, out + err
    assert "excluded   labels the model lacks: calm (2 recordings), fear (1 recording)" in out
    data = json.loads(report.read_text())["data"]
    assert data["excluded_labels"] == {"calm": 2, "fear": 1} and data["scored"] == 6


# ---------------------------------------------------------------------------------------------
# Bad input and usage (synthetic audio, the default model)


@pytest.fixture()
def synthetic_data(tmp_path: Path) -> Path:
    folder = tmp_path / "synthetic"
    folder.mkdir()
    rows = []
    for i, label in enumerate(["neutral", "anger", "sadness", "boredom"] * 2):
        write_wav_pcm16(folder / f"c{i}.wav", speech_like(1.5, seed=i, level=0.3), 16000)
        rows.append(f"c{i}.wav,{label},s{i % 2}\n")
    (folder / "manifest.csv").write_text("path,label,speaker\n" + "".join(rows))
    return folder


def test_synthetic_manifest_folder_scores(synthetic_data: Path, tmp_path: Path) -> None:
    code, out, err = run("--model", DEFAULT, "--data", synthetic_data, "--min-uar", "0")
    assert code == 0, out + err
    assert "manifest, 8 recordings scored, 2 speakers, 4 classes" in out
    code, out, err = run("--model", DEFAULT, "--data", synthetic_data, "--min-uar", "101")
    assert code == 2 and "--min-uar must be between 0 and 100" in err
    code, out, err = run("--model", DEFAULT, "--data", synthetic_data, "--min-uar", "99.9")
    assert code == 1 and out.splitlines()[1].startswith("  FAIL  min-uar: UAR ")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("empty", "no labelled audio"),
        ("missing", "no such data folder"),
        ("bad_label", "unknown label(s): 'happy'"),
        ("nothing_to_check", "nothing to check against"),
        ("not_json_baseline", "not a baseline (not JSON"),
        ("other_json_baseline", "not an edgeser check baseline"),
        ("no_model", "no such model file"),
        ("model_without_metadata", "metadata nometa.json is missing"),
        ("missing_option", "Missing option '--model'"),
        ("bad_number", "Invalid value for '--max-drop'"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    setup: str, message: str, synthetic_data: Path, tmp_path: Path
) -> None:
    args: list[object] = ["--model", DEFAULT, "--data", synthetic_data, "--min-uar", "0"]
    if setup == "empty":
        (tmp_path / "empty").mkdir()
        args[3] = tmp_path / "empty"
    elif setup == "missing":
        args[3] = tmp_path / "nowhere"
    elif setup == "bad_label":
        manifest = synthetic_data / "manifest.csv"
        manifest.write_text(manifest.read_text().replace(",anger,", ",happy,", 1))
    elif setup == "nothing_to_check":
        args = args[:4]
    elif setup == "not_json_baseline":
        (tmp_path / "b.json").write_text("{not json")
        args += ["--baseline", tmp_path / "b.json"]
    elif setup == "other_json_baseline":
        (tmp_path / "b.json").write_text(DEFAULT.with_suffix(".json").read_text())
        args += ["--baseline", tmp_path / "b.json"]
    elif setup == "no_model":
        args[1] = tmp_path / "none.tflite"
    elif setup == "model_without_metadata":
        shutil.copy(DEFAULT, tmp_path / "nometa.tflite")
        args[1] = tmp_path / "nometa.tflite"
    elif setup == "missing_option":
        args = args[2:]
    elif setup == "bad_number":
        args += ["--max-drop", "two"]
    code, out, err = run(*args)
    assert code == 2, out + err
    assert out == ""
    assert err.startswith("edgeser: error: ") and len(err.strip().splitlines()) == 1
    assert message in err


def test_real_process_exit_status_and_no_traceback(synthetic_data: Path, tmp_path: Path) -> None:
    base = [sys.executable, "-m", "edgeser", "check", "--model", str(DEFAULT)]
    cases = [
        (["--data", str(synthetic_data), "--min-uar", "0"], 0),
        (["--data", str(synthetic_data), "--min-uar", "99.9"], 1),
        (["--data", str(tmp_path / "nowhere"), "--min-uar", "0"], 2),
    ]
    for extra, expected in cases:
        proc = subprocess.run(
            [*base, *extra], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == expected, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("edgeser: error: ")


def test_check_never_imports_tensorflow(synthetic_data: Path) -> None:
    code = (
        "import sys\n"
        "from edgeser.check import run_check, Thresholds\n"
        f"report = run_check({str(DEFAULT)!r}, {str(synthetic_data)!r}, "
        "thresholds=Thresholds(min_uar=0))\n"
        "assert report['passed']\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'converters')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
