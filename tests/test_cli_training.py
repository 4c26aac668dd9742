"""`edgeser train` then `edgeser quantize` on a small manifest corpus of synthetic clips."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("tensorflow")

from edgeser.audio import write_wav_pcm16
from edgeser.cli import main
from edgeser.model import EmotionModel
from edgeser.normalisation import Normalisation
from edgeser.synth import speech_like


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    rows = ["path,label,speaker"]
    for speaker in range(4):
        for k, (label, level) in enumerate((("neutral", 0.1), ("anger", 0.8), ("sadness", 0.02))):
            name = f"s{speaker}_{label}.wav"
            pcm = speech_like(2.0, rate=22050, seed=10 * speaker + k, level=level)
            write_wav_pcm16(root / name, pcm, 22050)
            rows.append(f"{name},{label},spk{speaker}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def _export_passes_golden_check(runner, model, tmp_path) -> None:
    """`edgeser export` of ``model`` builds with the system C compiler (when there is one) and
    its golden vectors (frontend, VAD, session statistics, int8 input) match in C."""
    if shutil.which(os.environ.get("CC", "cc")) is None:
        return
    out = tmp_path / "firmware"
    result = runner.invoke(main, ["export", str(model.path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    sources = sorted(str(p) for p in out.glob("*.c"))
    cc = [os.environ.get("CC", "cc"), "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
    build = subprocess.run([*cc, "-o", str(out / "check"), *sources], capture_output=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(out / "check")], capture_output=True, text=True)
    assert run.returncode == 0 and "golden vectors match" in run.stdout, run.stdout


def test_train_then_quantize(manifest, tmp_path):
    runner = CliRunner()
    keras_path = tmp_path / "tiny.keras"
    args = [
        "train",
        "--data",
        str(manifest),
        "--corpus",
        "auto",
        "-o",
        str(keras_path),
        "--epochs",
        "2",
        "--filters",
        "4,8",
        "--stem-stride",
        "2",
        "--lstm",
        "8",
        "--dense",
        "8",
        "--no-augment",
        "--norm",
        "session-std",
    ]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record = json.loads(keras_path.with_suffix(".train.json").read_text())
    assert record["train_config"]["normalisation"]["session_std"] is True
    assert record["labels"] == ["neutral", "sadness", "anger"]
    assert len(record["validation_speakers"]) == 2
    assert record["train_config"]["stem_stride"] == 2

    result = runner.invoke(
        main, ["quantize", str(keras_path), "--data", str(manifest)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    model = EmotionModel(keras_path.with_suffix(".tflite"))
    assert model.labels == ("neutral", "sadness", "anger")
    assert model.meta.macs > 0 and model.meta.input.dtype == "int8"
    assert model.meta.normalisation == Normalisation("session", session_std=True)
    mean, std = np.zeros(40, np.int64), np.full(40, 6 * 128, np.int64)
    probs = model.predict(np.zeros((198, 40), np.int16), session_mean_q7=mean, session_std_q7=std)
    assert probs.shape == (1, 3) and abs(probs.sum() - 1) < 0.05


def test_train_all_speakers_then_quantize_with_metrics(manifest, tmp_path):
    runner = CliRunner()
    keras_path = tmp_path / "all.keras"
    args = ["train", "--data", str(manifest), "--corpus", "auto", "-o", str(keras_path)]
    args += ["--epochs", "1", "--filters", "4", "--lstm", "4", "--dense", "4", "--all-speakers"]
    args += ["--norm", "window", "--mixup", "0.2"]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record = json.loads(keras_path.with_suffix(".train.json").read_text())
    assert record["all_speakers"] and record["validation_speakers"] == []
    assert record["data"]["clips"] == 12 and len(record["history"]) == 1
    assert record["train_config"]["mixup_alpha"] == 0.2
    report = {
        "protocol": "emodb-loso",
        "classes_scored": ["neutral", "anger"],
        "float": {"uar": 0.5, "wa": 0.5},
        "int8": {"uar": 0.5, "wa": 0.5},
    }
    (tmp_path / "report.json").write_text(json.dumps(report))
    args = ["quantize", str(keras_path), "--data", str(manifest)]
    args += ["--metrics", str(tmp_path / "report.json"), "--note", "tiny"]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    meta = EmotionModel(keras_path.with_suffix(".tflite")).meta
    assert meta.normalisation.mode == "window"
    assert meta.metrics["int8"]["uar"] == 0.5 and meta.metrics["note"] == "tiny"
    assert set(meta.metrics["by_protocol"]) == {"emodb-loso"}
    assert meta.training["calibration"] == "first"
    assert meta.training["gate_ranges"] == "saturated"
    # --calibration augmented: every scored window under speaker and file sessions plus one
    # augmented pass calibrates the converter; the metadata says which set it was.
    out = tmp_path / "augmented.tflite"
    args = ["quantize", str(keras_path), "--data", str(manifest), "-o", str(out)]
    result = runner.invoke(main, [*args, "--calibration", "augmented"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    meta = EmotionModel(out).meta
    assert meta.training["calibration"] == "augmented" and meta.input.dtype == "int8"
    result = runner.invoke(main, [*args, "--calibration", "all"])
    assert result.exit_code == 2 and "Invalid value for '--calibration'" in result.output
    # --gate-ranges calibrated: the conversion of every model before 2026-12-07
    result = runner.invoke(main, [*args, "--gate-ranges", "calibrated"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert EmotionModel(out).meta.training["gate_ranges"] == "calibrated"
    result = runner.invoke(main, [*args, "--gate-ranges", "wide"])
    assert result.exit_code == 2 and "Invalid value for '--gate-ranges'" in result.output


def test_train_two_members_then_quantize_one_int8_graph(manifest, tmp_path):
    """--members 2: two seeds trained, saved as one model averaging them; quantize gives one
    int8 file (one input, one output) whose MACs are the two networks'."""
    runner = CliRunner()
    keras_path = tmp_path / "pair.keras"
    args = ["train", "--data", str(manifest), "--corpus", "auto", "-o", str(keras_path)]
    args += ["--epochs", "1", "--filters", "4", "--lstm", "4", "--dense", "4", "--all-speakers"]
    args += ["--norm", "session", "--members", "2", "--seed", "5"]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record = json.loads(keras_path.with_suffix(".train.json").read_text())
    assert record["train_config"]["members"] == 2 and record["train_config"]["seed"] == 5
    assert [h["member"] for h in record["history"]] == [0, 1]
    result = runner.invoke(
        main, ["quantize", str(keras_path), "--data", str(manifest)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    model = EmotionModel(keras_path.with_suffix(".tflite"))
    assert model.meta.training["train_config"]["members"] == 2
    info = runner.invoke(main, ["info", str(keras_path.with_suffix(".tflite"))])
    assert "networks    2, their probabilities averaged in one graph (seeds 5-6)" in info.output
    # The firmware export takes it as any model: its golden vectors pass in C.
    _export_passes_golden_check(runner, model, tmp_path)
    mean = np.full(40, 60 * 128, np.int64)
    probs = model.predict(np.full((198, 40), 60 * 128, np.int16), session_mean_q7=mean)
    assert probs.shape == (1, 3) and abs(probs.sum() - 1) < 0.05


def test_ensemble_of_separately_trained_seeds_equals_train_members(manifest, tmp_path):
    """`edgeser ensemble` joins seeds trained apart into the model `train --members 2` gives
    (training is deterministic per seed): the same recipe record and the same outputs."""
    import keras

    runner = CliRunner()
    base = ["train", "--data", str(manifest), "--corpus", "auto", "--all-speakers"]
    base += ["--epochs", "1", "--filters", "4", "--lstm", "4", "--dense", "4", "--norm", "window"]
    paths = {}
    for name, extra in (("pair", ["--members", "2"]), ("s0", []), ("s1", ["--seed", "1"])):
        paths[name] = tmp_path / f"{name}.keras"
        result = runner.invoke(main, [*base, *extra, "-o", str(paths[name])])
        assert result.exit_code == 0, result.output
    joined = tmp_path / "joined.keras"
    result = runner.invoke(
        main, ["ensemble", str(paths["s0"]), str(paths["s1"]), "-o", str(joined)]
    )
    assert result.exit_code == 0, result.output
    rec = {n: json.loads(p.with_suffix(".train.json").read_text()) for n, p in paths.items()}
    rec["joined"] = json.loads(joined.with_suffix(".train.json").read_text())
    assert rec["joined"]["train_config"] == rec["pair"]["train_config"]
    assert rec["joined"]["history"] == rec["pair"]["history"]
    x = np.random.default_rng(0).normal(size=(2, 198, 40, 1)).astype(np.float32)
    a = keras.models.load_model(paths["pair"]).predict(x, verbose=0)
    b = keras.models.load_model(joined).predict(x, verbose=0)
    np.testing.assert_allclose(a, b, atol=1e-6)

    # Members that do not make one recipe are one-line input errors.
    cases = [
        ([paths["s1"], paths["s0"]], "consecutive"),
        ([paths["s0"], paths["pair"]], "one network"),
        ([paths["s0"]], "at least two"),
        ([paths["s0"], tmp_path / "missing.keras"], "missing.train.json"),
    ]
    other = tmp_path / "other.keras"
    result = runner.invoke(main, [*base, "--seed", "1", "--lstm", "8", "-o", str(other)])
    assert result.exit_code == 0, result.output
    cases.append(([paths["s0"], other], "beyond the seed"))
    broken = tmp_path / "broken.keras"
    broken.write_bytes(paths["s1"].read_bytes())
    broken.with_suffix(".train.json").write_text("not json")
    cases.append(([paths["s0"], broken], "malformed broken.train.json"))
    for members, message in cases:
        args = ["ensemble", *map(str, members), "-o", str(tmp_path / "bad.keras")]
        result = runner.invoke(main, args)
        assert result.exit_code == 2 and message in result.output, (message, result.output)
        assert "Traceback" not in result.output
    assert not (tmp_path / "bad.keras").exists()


def test_evaluate_members_with_a_model_cache(tmp_path):
    """`edgeser evaluate --members 2 --model-cache`: one fold of an EMO-DB-named corpus, each
    network cached; the one-network run of seed 0 afterwards trains nothing."""
    folder = tmp_path / "data" / "emodb"
    folder.mkdir(parents=True)
    for s, speaker in enumerate(("03", "08", "09")):
        for k, (letter, level) in enumerate((("W", 0.7), ("N", 0.1), ("T", 0.02))):
            for version in "ab":
                pcm = speech_like(
                    1.5, rate=16000, seed=100 * s + 10 * k + ord(version), level=level
                )
                write_wav_pcm16(folder / f"{speaker}a01{letter}{version}.wav", pcm, 16000)
    cache = tmp_path / "cache"
    args = ["evaluate", "--data", str(tmp_path / "data"), "--fold", "emodb:03", "--no-int8"]
    args += ["--epochs", "1", "--filters", "4", "--lstm", "4", "--dense", "4", "--no-augment"]
    args += ["--model-cache", str(cache), "--norm", "window"]
    result = CliRunner().invoke(main, [*args, "--members", "2", "-o", str(tmp_path / "two.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "two.json").read_text())
    assert report["train_config"]["members"] == 2 and [f["fold"] for f in report["folds"]] == [
        "emodb:03"
    ]
    kept = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(kept) == 4  # a .keras and a .json per network
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "one.json")])
    assert result.exit_code == 0, result.output
    # seed 0 came from the cache: nothing trained or written again
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == kept
    one = json.loads((tmp_path / "one.json").read_text())
    assert one["model"]["macs_per_window"] * 2 == report["model"]["macs_per_window"]
    # Periodicity columns are another recipe: a network of its own under its own key.
    pitch = [*args, "--periodicity-bands", "8", "-o", str(tmp_path / "pitch.json")]
    result = CliRunner().invoke(main, pitch)
    assert result.exit_code == 0, result.output
    assert len(list(cache.iterdir())) == 6
    wide = json.loads((tmp_path / "pitch.json").read_text())
    assert wide["frontend_config"]["periodicity_bands"] == 8
    assert wide["train_config"]["periodicity_bands"] == 8
    assert wide["model"]["macs_per_window"] > one["model"]["macs_per_window"]


def test_train_with_distillation_gives_one_network(manifest, tmp_path):
    """--distill trains the two-network teacher first, then one student network: the record
    holds the recipe, the model is one network (a single network's MACs)."""
    runner = CliRunner()
    small = ["--epochs", "1", "--filters", "4", "--lstm", "4", "--dense", "4", "--all-speakers"]
    common = ["train", "--data", str(manifest), "--corpus", "auto", *small, "--norm", "window"]
    taught, plain = tmp_path / "taught.keras", tmp_path / "plain.keras"
    args = [*common, "--distill", "0.5", "-o", str(taught)]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, [*common, "-o", str(plain)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record = json.loads(taught.with_suffix(".train.json").read_text())
    assert record["train_config"]["distill_weight"] == 0.5
    assert record["train_config"]["distill_members"] == 2
    import keras

    from converters.models import count_macs

    a, b = keras.models.load_model(taught), keras.models.load_model(plain)
    assert count_macs(a) == count_macs(b)
    pairs = zip(a.get_weights(), b.get_weights(), strict=True)
    assert not all(np.array_equal(u, v) for u, v in pairs)
    result = runner.invoke(main, [*common, "--distill", "1.5", "-o", str(plain)])
    assert result.exit_code == 2 and "--distill" in result.output

    # The same student from a teacher trained apart: seeds 0 and 1 joined (edgeser ensemble).
    for seed in (0, 1):
        args = [*common, "--seed", str(seed), "-o", str(tmp_path / f"s{seed}.keras")]
        assert runner.invoke(main, args).exit_code == 0
    pair = tmp_path / "pair.keras"
    args = ["ensemble", str(tmp_path / "s0.keras"), str(tmp_path / "s1.keras"), "-o", str(pair)]
    assert runner.invoke(main, args).exit_code == 0
    again = tmp_path / "again.keras"
    args = [*common, "--distill", "0.5", "--distill-from", str(pair), "-o", str(again)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    c = keras.models.load_model(again)
    for u, v in zip(a.get_weights(), c.get_weights(), strict=True):
        np.testing.assert_allclose(u, v, atol=1e-5)
    assert json.loads(again.with_suffix(".train.json").read_text())["distilled_from"] == str(pair)
    # A teacher of another recipe, or no --distill, is a one-line error.
    for extra, words in (
        (["--distill", "0.5", "--lstm", "8"], "not this recipe's teacher"),
        ([], "needs --distill"),
    ):
        args = [*common, *extra, "--distill-from", str(pair), "-o", str(tmp_path / "x.keras")]
        result = runner.invoke(main, args)
        assert result.exit_code == 2 and words in result.output, result.output


@pytest.mark.parametrize("members", ["0", "-1"])
def test_members_below_one_is_a_usage_error(tmp_path, members):
    args = ["train", "--members", members, "-o", str(tmp_path / "m.keras")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "--members" in result.output


def test_quantize_without_training_record_is_one_line_error(tmp_path):
    (tmp_path / "x.keras").write_bytes(b"not a model")
    result = CliRunner().invoke(main, ["quantize", str(tmp_path / "x.keras")])
    assert result.exit_code == 2
    assert "x.train.json" in result.output


def test_recipe_default_with_overrides(manifest, tmp_path):
    """--recipe default takes the bundled model's recipe; options on the command line win."""
    runner = CliRunner()
    first = tmp_path / "from_default.keras"
    small = ["--epochs", "1", "--filters", "4,8", "--lstm", "8", "--dense", "8", "--teacher", "0"]
    common = ["train", "--data", str(manifest), "--corpus", "auto"]
    args = [*common, "--recipe", "default", *small, "-o", str(first)]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    got = json.loads(first.with_suffix(".train.json").read_text())["train_config"]
    default = json.loads((EmotionModel().path.with_suffix(".json")).read_text())
    recipe = default["training"]["train_config"]
    overridden = {"epochs": 1, "filters": [4, 8], "lstm_units": 8, "dense_units": 8}
    overridden["teacher_weight"] = 0.0
    assert recipe["session_subset_probability"] > 0  # so the test can tell the source apart
    for key, value in recipe.items():
        if key == "normalisation":  # fields added since the recipe was stored take defaults
            assert Normalisation.from_dict(got[key]) == Normalisation.from_dict(value)
            continue
        assert got[key] == overridden.get(key, value), key

    # A training record is a recipe too: the same config back, with --seed changed.
    second = tmp_path / "from_record.keras"
    args = [*common, "--recipe", str(first.with_suffix(".train.json")), "--seed", "3"]
    result = runner.invoke(main, [*args, "-o", str(second)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    again = json.loads(second.with_suffix(".train.json").read_text())["train_config"]
    assert again == {**got, "seed": 3}


@pytest.mark.parametrize("content", [None, "not json", "[1, 2]", '{"labels": []}'])
def test_recipe_errors_are_one_line(tmp_path, content):
    path = tmp_path / "recipe.json"
    if content is not None:
        path.write_text(content)
    args = ["train", "--recipe", str(path), "-o", str(tmp_path / "m.keras")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "--recipe" in result.output, result.output
    assert "Traceback" not in result.output


def test_train_with_periodicity_columns_end_to_end(manifest, tmp_path):
    """--periodicity-bands 8 (and --quant-noise 1, whose noise layers never reach the saved
    model, and --cell-clip tanh, whose clip does): the recipe's frontend has 40 Mel bands + 8
    periodicity columns; the int8 model's input is 48 wide, the streaming recognizer feeds it
    the same windows and session statistics as the one-shot path, and the firmware export's
    golden vectors (C frontend with the periodicity stage, VAD on the Mel bands) pass."""
    from edgeser import Recognizer, RecognizerSettings
    from edgeser.frontend import Frontend, FrontendConfig
    from edgeser.vad import voiced_flags, voiced_stats

    runner = CliRunner()
    keras_path = tmp_path / "pitch.keras"
    args = ["train", "--data", str(manifest), "--corpus", "auto", "-o", str(keras_path)]
    args += ["--epochs", "1", "--filters", "4", "--lstm", "4", "--dense", "4", "--all-speakers"]
    args += ["--norm", "session", "--periodicity-bands", "8", "--quant-noise", "1"]
    args += ["--corpus-epoch", "largest"]  # one corpus here: recorded, no effect
    args += ["--cell-clip", "tanh"]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record = json.loads(keras_path.with_suffix(".train.json").read_text())
    assert record["train_config"]["periodicity_bands"] == 8
    assert record["train_config"]["quant_noise"] == 1.0  # training only: the model is plain
    assert record["train_config"]["corpus_epoch"] == "largest"
    assert record["train_config"]["cell_clip"] == pytest.approx(0.5 * np.log(511))
    result = runner.invoke(
        main, ["quantize", str(keras_path), "--data", str(manifest)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    model = EmotionModel(keras_path.with_suffix(".tflite"))
    cfg = FrontendConfig(periodicity_bands=8)
    assert model.meta.frontend == cfg
    assert tuple(model.meta.input.shape) == (1, 198, 48, 1)
    info = runner.invoke(main, ["info", str(model.path)])
    assert "198 frames x 48 features" in info.output and "8 periodicity columns" in info.output

    # A quiet talker: the gate passes 93 of the window's frames on the Mel bands' level, 37
    # if the periodicity columns were averaged in, so the session statistics tell them apart.
    pcm = speech_like(2.5, rate=16000, seed=77, level=0.001)
    rec = Recognizer(model, RecognizerSettings(smoothing=0.0))
    events = rec.feed(pcm[:32000])
    assert len(events) == 1
    frames = Frontend(cfg).compute(pcm[:32000])[:198]
    assert not np.array_equal(voiced_flags(frames, mel_bands=40), voiced_flags(frames))
    mean, std = voiced_stats([frames], mel_bands=40)
    expected = model.predict(frames, mean, std)[0]
    got = np.array([events[0].probabilities[label] for label in model.labels])
    assert np.array_equal(got, expected)
    _export_passes_golden_check(runner, model, tmp_path)
