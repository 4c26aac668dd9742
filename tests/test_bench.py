"""``edgeser bench``: the result's fields and their consistency, --compare, --against, --data,
and bad input as one line on stderr. Correctness only, never timings (small --repeats)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeser import bench, machine
from edgeser.cli import main
from edgeser.model import default_model_path

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--repeats", "12", "--seconds", "3", "--no-import-time", "--no-progress"]
TWIN = default_model_path().with_name("default.float32.tflite")


def _bench(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["bench", *FAST, *args], catch_exceptions=False)
    return result.exit_code, result.output


def _process(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "edgeser", "bench", *FAST, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def _check_stats(stats: dict) -> None:
    assert stats["n"] >= 1
    assert 0 < stats["min"] <= stats["p50"] <= stats["p90"] <= stats["p99"] <= stats["max"]
    assert stats["min"] <= stats["mean"] <= stats["max"]
    assert stats["rtf"] == pytest.approx(stats["p50"] / stats["audio_s"])
    assert stats["x_real_time"] == pytest.approx(1 / stats["rtf"])


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "first.json"
    code, text = _bench("--json", str(out))
    assert code == 0, text
    return json.loads(out.read_text()), text


def test_json_has_the_documented_fields(first_run):
    result, text = first_run
    assert result["format"] == bench.FORMAT
    m = result["machine"]
    for key in ("date", "edgeser", "cpu", "cores", "cores_usable", "python", "numpy"):
        assert m[key], key
    for key in ("governor", "load_average", "backends", "peak", "simd", "os", "arch"):
        assert key in m, key
    assert m["backends"]["ai-edge-litert"]
    assert set(result["input"]) >= {"kind", "source", "seconds", "repeats", "chunk_ms", "rounds"}
    assert result["input"]["kind"] == "synthetic"
    assert len(result["configs"]) == 1
    cfg = result["configs"][0]
    assert cfg["label"] == f"int8 {cfg['backend']} 1t"
    assert cfg["model"]["path"] == str(default_model_path())
    assert cfg["model"]["bytes"] == default_model_path().stat().st_size
    assert cfg["model"]["metadata"] == "own"
    assert set(cfg["stages"]) == set(bench.STAGES)
    for stage in bench.STAGES:
        _check_stats(cfg["stages"][stage])
    assert cfg["stages"]["invoke"]["n"] == 12
    assert cfg["stages"]["recognizer_1s"]["n"] == 3
    assert cfg["stages"]["recognizer_1s"]["audio_s"] == 1.0
    assert cfg["stages"]["frontend_hop"]["audio_s"] == pytest.approx(0.01)
    res = cfg["resources"]
    assert res["model_bytes"] == cfg["model"]["bytes"]
    assert res["arena_bytes"] is None and "n/a" in res["arena_note"]
    assert res["cpu_s_per_audio_s"] > 0
    assert res["windows_scored"] > 0  # the synthetic audio passes the voice gate
    comp = cfg["compute"]
    assert comp["macs_per_window"] > 0
    assert comp["achieved_macs_per_s"] == pytest.approx(
        comp["macs_per_window"] / cfg["stages"]["invoke"]["p50"]
    )
    top = result["resources"]
    assert top["peak_rss_bytes"] >= top["rss_end_bytes"] > 10 * 2**20
    assert top["rss_start_bytes"] > 10 * 2**20 and top["audio_s_per_config"] == 3
    assert result["input"]["rounds"] == 3  # at most one round per second of audio
    # each round's median: 3 rounds of every stage; judged only with >= 5 samples a round
    hops = cfg["stages"]["frontend_hop"]
    assert len(hops["round_p50"]) == 3 and min(hops["round_p50"]) >= hops["min"]
    spread = max(hops["round_p50"]) / min(hops["round_p50"]) - 1
    assert hops["round_spread"] == pytest.approx(spread)
    assert cfg["stages"]["invoke"]["round_spread"] is None  # 4 calls a round
    rec = cfg["stages"]["recognizer_1s"]  # one second of audio a round: its sample is its p50
    assert len(rec["round_p50"]) == 3 and rec["round_spread"] is None
    assert sorted(rec["round_p50"])[1] == pytest.approx(rec["p50"])
    steady = result["steadiness"]
    assert steady["limit"] == bench.STEADY_SPREAD and steady["config"] == cfg["label"]
    assert steady["spread"] >= hops["round_spread"]
    assert steady["steady"] == (steady["spread"] <= bench.STEADY_SPREAD)
    assert ("steadiness: the 3 rounds'" in text) == steady["steady"]
    assert ("warning: the 3 rounds'" in text) == (not steady["steady"])
    assert result["accuracy"] is None
    assert result["options"]["repeats"] == 12
    for title in bench.STAGE_TITLES.values():
        assert title in text


def test_against_two_real_runs(first_run, tmp_path):
    old_path = tmp_path / "old.json"
    old_path.write_text(json.dumps(first_run[0]))
    new_path = tmp_path / "new.json"
    code, text = _bench("--json", str(new_path), "--against", str(old_path))
    assert code == 0, text
    diff = json.loads(new_path.read_text())["against"]
    assert [row["stage"] for row in diff["stages"]] == list(bench.STAGES)
    new = json.loads(new_path.read_text())["configs"][0]["stages"]
    for row in diff["stages"]:
        assert row["old_p50"] == first_run[0]["configs"][0]["stages"][row["stage"]]["p50"]
        assert row["ratio"] == pytest.approx(new[row["stage"]]["p50"] / row["old_p50"])
    assert "new/old" in text and "recognizer_1s" in text


def test_compare_float_twin_and_threads(tmp_path):
    if not TWIN.is_file():
        pytest.skip("the default model has no float32 twin")
    out = tmp_path / "cmp.json"
    code, text = _bench(
        "--compare", "model=int8,float32", "--compare", "threads=1,2", "--json", str(out)
    )
    assert code == 0, text
    configs = json.loads(out.read_text())["configs"]
    backend = configs[0]["backend"]
    assert [c["label"] for c in configs] == [
        f"{kind} {backend} {t}t" for kind in ("int8", "float32") for t in (1, 2)
    ]
    assert [c["threads"] for c in configs] == [1, 2, 1, 2]
    assert configs[2]["model"]["path"] == str(TWIN)
    assert configs[2]["model"]["metadata"].startswith("borrowed from")
    assert configs[2]["compute"]["macs_per_window"] == configs[0]["compute"]["macs_per_window"]
    for cfg in configs:
        for stage in bench.STAGES:
            _check_stats(cfg["stages"][stage])
    assert "p50 vs 1st" in text


def test_real_audio_file():
    from edgeser.examples import example_path

    code, text = _bench("--audio", str(example_path()))
    assert code == 0, text
    assert str(example_path()) in text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--model", "/no/such/model.tflite"], "no such model file"),
        (["--backend", "nonsense"], "unknown backend 'nonsense'"),
        (["--compare", "backend=litert,nonsense"], "unknown backend 'nonsense'"),
        (["--delegate", "edgetpu"], "Edge TPU"),
        (["--compare", "colour=red"], "--compare"),
        (["--threads", "0"], "at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, words):
    if args[0] == "--delegate":
        from ctypes.util import find_library

        if find_library("edgetpu"):
            pytest.skip("an Edge TPU runtime is installed here")
    result = _process(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("edgeser: error: ") and words in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_data_folder_without_labelled_audio(tmp_path):
    (tmp_path / "notes.txt").write_text("no audio here")
    (tmp_path / "random.wav").write_bytes(b"RIFF")
    result = _process("--data", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no labelled audio" in lines[0], result.stderr


@pytest.mark.corpus
def test_data_on_a_small_corpus_manifest(corpus_root, tmp_path):
    from edgeser.datasets import read_emodb

    if not (corpus_root / "emodb").is_dir():
        pytest.skip("EMO-DB is not in the corpus folder")
    clips = read_emodb(corpus_root / "emodb")
    chosen = [c for c in clips if c.speaker in ("emodb:03", "emodb:08")][::4]
    manifest = tmp_path / "small.csv"
    rows = ["path,label,speaker"] + [f"{c.path},{c.label},{c.speaker}" for c in chosen]
    manifest.write_text("\n".join(rows) + "\n")
    out = tmp_path / "acc.json"
    args = ["--data", str(manifest), "--json", str(out)]
    if TWIN.is_file():
        args += ["--reference", str(TWIN)]
    code, text = _bench(*args)
    assert code == 0, text
    acc = json.loads(out.read_text())["accuracy"]
    assert acc["clips"] == len(chosen) and acc["speakers"] == 2
    model = acc["model"]
    recalls = [model["per_class_recall"][lab] for lab in model["labels"]]
    assert model["uar"] == pytest.approx(np.mean(recalls))
    assert 0.0 <= model["wa"] <= 1.0
    assert sum(map(sum, model["confusion"])) == len(chosen)
    if TWIN.is_file():
        assert acc["reference"]["dtype"] == "float32"
        assert 0.0 <= acc["top1_agreement"] <= 1.0
        assert "top-1 agreement" in text
    assert "UAR" in text


def test_summarise_orders_percentiles():
    rng = np.random.default_rng(0)
    for size in (1, 2, 7, 1000):
        stats = bench.summarise(rng.exponential(1e-3, size), 0.5)
        assert stats["min"] <= stats["p50"] <= stats["p90"] <= stats["p99"] <= stats["max"]
    with pytest.raises(bench.BenchError):
        bench.summarise([], 1.0)


def test_peak_estimate_from_flags():
    assert machine.simd_class({"sse2", "ssse3", "avx2"}) == ("avx2", 64, 16)
    assert machine.simd_class({"fp", "asimd", "asimddp"}) == ("asimddp", 32, 8)
    assert machine.simd_class(set()) == (None, None, None)
    desc = {"cores_usable": 4, "peak": {"ghz": 2.0, "int8_macs_per_cycle": 32}}
    assert machine.peak_macs_per_s(desc, 2) == pytest.approx(2 * 2e9 * 32)
    assert machine.peak_macs_per_s(desc, 8) == pytest.approx(4 * 2e9 * 32)  # capped at cores
    assert machine.peak_macs_per_s(desc, 1, "fp32") is None
    assert machine.peak_macs_per_s(desc, 1, delegate="edgetpu") == machine.EDGETPU_PEAK_MACS


def test_float_twin_as_model_borrows_the_int8_metadata(tmp_path):
    if not TWIN.is_file():
        pytest.skip("the default model has no float32 twin")
    out = tmp_path / "twin.json"
    code, text = _bench("--model", str(TWIN), "--json", str(out))
    assert code == 0, text
    cfg = json.loads(out.read_text())["configs"][0]
    assert cfg["model"]["dtype"] == "float32"
    assert cfg["model"]["metadata"] == f"borrowed from {default_model_path()}"


def test_compared_float_twins_borrow_from_their_own_int8_sibling(tmp_path):
    """--compare model=A.tflite,A.float32.tflite,B.float32.tflite: each twin without a .json
    borrows from its own NAME.tflite (its MACs and labels), not from --model."""
    import shutil

    if not TWIN.is_file():
        pytest.skip("the default model has no float32 twin")
    meta = json.loads(default_model_path().with_suffix(".json").read_text())
    shutil.copy(default_model_path(), tmp_path / "a.tflite")
    (tmp_path / "a.json").write_text(json.dumps({**meta, "macs": 111}))
    for name in ("a", "b"):  # b's twin has no int8 sibling: it borrows --model's metadata
        shutil.copy(TWIN, tmp_path / f"{name}.float32.tflite")
    out = tmp_path / "r.json"
    models = ",".join(
        str(tmp_path / n) for n in ("a.tflite", "a.float32.tflite", "b.float32.tflite")
    )
    code, text = _bench("--compare", f"model={models}", "--json", str(out))
    assert code == 0, text
    configs = json.loads(out.read_text())["configs"]
    assert [c["model"]["metadata"] for c in configs] == [
        "own",
        f"borrowed from {tmp_path / 'a.tflite'}",
        f"borrowed from {default_model_path()}",
    ]
    assert [c["compute"]["macs_per_window"] for c in configs] == [111, 111, meta["macs"]]


def test_against_matches_by_label_and_lists_the_rest():
    def result(labels, p50):
        stages = {s: {"p50": p50} for s in bench.STAGES}
        return {
            "machine": {"date": "d", "cpu": "c", "edgeser": "v"},
            "configs": [{"label": label, "stages": stages} for label in labels],
        }

    diff = bench.against(result(["a", "b"], 2.0), result(["b", "c"], 1.0))
    assert {row["config"] for row in diff["stages"]} == {"b"}
    assert all(row["ratio"] == 2.0 and row["change_percent"] == 100.0 for row in diff["stages"])
    assert diff["unmatched"] == ["a"]
    # one configuration on each side always pairs, whatever the labels
    single = bench.against(result(["x"], 1.0), result(["y"], 4.0))
    assert len(single["stages"]) == len(bench.STAGES) and single["unmatched"] == []
    assert "0.25x" in bench.format_against(single)
    assert single["old_steady"] is None and "disagreed" not in bench.format_against(single)
    shaky = {**result(["x"], 1.0), "steadiness": {"steady": False}}
    note = bench.format_against(bench.against(result(["x"], 1.0), shaky))
    assert "the earlier run's rounds disagreed by more than 10%" in note


def test_labels_tell_same_named_models_apart():
    """Two releases of one model (v4/default.tflite, v13/default.tflite) compared side by side
    get labels that differ: as much of each path as tells them apart; an exact repeat is
    numbered; a configuration alone keeps the short label."""

    def cfg(path, dtype="int8", threads=1):
        return {
            "model": {"path": path, "dtype": dtype},
            "backend": "litert",
            "threads": threads,
            "delegate": None,
        }

    results = [
        cfg("/tmp/v4/default.tflite"),
        cfg("/tmp/v4/default.float32.tflite", "float32"),
        cfg("/tmp/v13/default.tflite"),
        cfg("/tmp/v13/default.tflite", threads=2),
        cfg("/tmp/v13/default.tflite"),
    ]
    bench.label_configs(results)
    assert [r["label"] for r in results] == [
        "v4/default.tflite int8 litert 1t",
        "float32 litert 1t",
        "v13/default.tflite int8 litert 1t #1",
        "int8 litert 2t",
        "v13/default.tflite int8 litert 1t #2",
    ]
    pair = [cfg("a/m.tflite"), cfg("b/n.tflite")]
    bench.label_configs(pair)
    assert [r["label"] for r in pair] == ["m.tflite int8 litert 1t", "n.tflite int8 litert 1t"]


def test_steadiness_finds_the_widest_round_spread():
    """Round medians: a machine that slowed down in one round is reported with the stage and
    configuration where it showed most; rounds with too few samples are not judged."""
    steady = [np.full(10, 1.0), np.full(10, 1.05)]
    slowed = [np.full(10, 1.0), np.full(10, 1.6), np.full(10, 1.0)]
    few = [np.full(3, 1.0), np.full(3, 9.0)]
    assert bench.round_figures(steady)["round_spread"] == pytest.approx(0.05)
    assert bench.round_figures(few) == {"round_p50": [1.0, 9.0], "round_spread": None}
    assert bench.round_figures([np.full(10, 1.0)])["round_spread"] is None

    def cfg(label, rounds_by_stage):
        stages = {s: bench.round_figures(rounds_by_stage.get(s, steady)) for s in bench.STAGES}
        return {"label": label, "stages": stages}

    configs = [cfg("a", {}), cfg("b", {"invoke": slowed, "predict": few})]
    result = bench.steadiness(configs)
    assert result["stage"] == "invoke" and result["config"] == "b"
    assert result["spread"] == pytest.approx(0.6) and result["steady"] is False
    line = bench.format_steadiness(result, 3)
    assert line.startswith("warning: the 3 rounds' medians differ by up to 60.0%")
    assert "interpreter invoke, b" in line and line.count("\n") == 0
    calm = bench.steadiness([cfg("a", {})])
    assert calm["steady"] is True
    assert bench.format_steadiness(calm, 2).startswith(
        "steadiness: the 2 rounds' medians agree within 5.0%"
    )
    unjudged = bench.steadiness([cfg("a", dict.fromkeys(bench.STAGES, few))])
    assert unjudged["spread"] is None and unjudged["steady"] is None
    assert "not judged" in bench.format_steadiness(unjudged, 1)
