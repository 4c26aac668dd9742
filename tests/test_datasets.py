"""Tests of edgeser.datasets: readers, label maps, manifests, splits and metrics.

Synthetic tests build tiny fake corpora (empty .wav files: only names matter to the
readers).  Tests on the real corpora skip when ``data_root()`` finds no data.
"""

from __future__ import annotations

import logging
import math
import pickle
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeser import datasets as ds
from edgeser.errors import DataError, EdgeserError

# ---------------------------------------------------------------------------
# helpers


def touch(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"RIFF")
        out.append(p)
    return out


def fake_clips(speakers: list[str], per_speaker: int = 3) -> list[ds.Clip]:
    return [
        ds.Clip(Path(f"/nowhere/{s}_{i}.wav"), "neutral", s, "fake")
        for s in speakers
        for i in range(per_speaker)
    ]


# ---------------------------------------------------------------------------
# data_root


def test_data_root_explicit_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGESER_DATA", "/somewhere/else")
    assert ds.data_root(tmp_path) == tmp_path
    assert ds.data_root(str(tmp_path)) == tmp_path


def test_data_root_env_then_default(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGESER_DATA", str(tmp_path))
    assert ds.data_root() == tmp_path
    monkeypatch.delenv("EDGESER_DATA")
    default = Path(ds.__file__).resolve().parents[1].parent / "shared" / "data"
    assert ds.data_root() == (default if default.is_dir() else None)


# ---------------------------------------------------------------------------
# labels and Clip


def test_canonical_labels_order():
    assert ds.CANONICAL_LABELS == (
        "neutral",
        "calm",
        "happiness",
        "sadness",
        "anger",
        "fear",
        "disgust",
        "boredom",
        "surprise",
    )


def test_emodb_letters_are_german():
    assert ds.EMODB_EMOTIONS["F"] == "happiness"  # Freude
    assert ds.EMODB_EMOTIONS["A"] == "fear"  # Angst
    assert ds.EMODB_EMOTIONS["W"] == "anger"
    assert ds.EMODB_EMOTIONS["L"] == "boredom"
    assert ds.EMODB_EMOTIONS["E"] == "disgust"
    assert ds.EMODB_EMOTIONS["T"] == "sadness"
    assert ds.EMODB_EMOTIONS["N"] == "neutral"
    assert set(ds.EMODB_EMOTIONS.values()) <= set(ds.CANONICAL_LABELS)


def test_ravdess_codes():
    assert ds.RAVDESS_EMOTIONS == {
        "01": "neutral",
        "02": "calm",
        "03": "happiness",
        "04": "sadness",
        "05": "anger",
        "06": "fear",
        "07": "disgust",
        "08": "surprise",
    }


def test_clip_is_frozen_hashable_and_picklable():
    clip = ds.Clip("/a/b.wav", "fear", "emodb:03", "emodb", {"gender": "male"})
    assert isinstance(clip.path, Path)
    with pytest.raises(AttributeError):
        clip.label = "anger"  # type: ignore[misc]
    with pytest.raises(TypeError):
        clip.extra["gender"] = "female"  # type: ignore[index]
    again = pickle.loads(pickle.dumps(clip))
    assert again == clip and hash(again) == hash(clip)
    assert len({clip, again}) == 1


def test_clip_rejects_unknown_label():
    with pytest.raises(DataError, match="happy"):
        ds.Clip("/a.wav", "happy", "s", "c")


def test_data_error_is_value_error():
    assert issubclass(DataError, ValueError) and issubclass(DataError, EdgeserError)


# ---------------------------------------------------------------------------
# EMO-DB reader


def test_read_emodb_parses_names(tmp_path):
    touch(tmp_path, "03a01Fa.wav", "16b10Ab.wav", "08a02Wc.wav", "10a07Lb.wav")
    clips = ds.read_emodb(tmp_path)
    by_name = {c.path.name: c for c in clips}
    assert by_name["03a01Fa.wav"].label == "happiness"
    assert by_name["16b10Ab.wav"].label == "fear"
    assert by_name["08a02Wc.wav"].label == "anger"
    assert by_name["10a07Lb.wav"].label == "boredom"
    c = by_name["16b10Ab.wav"]
    assert c.speaker == "emodb:16" and c.corpus == "emodb"
    assert c.extra == {"text": "b10", "version": "b", "gender": "female"}
    assert by_name["03a01Fa.wav"].extra["gender"] == "male"


def test_read_emodb_skips_and_counts_bad_names(tmp_path, caplog):
    touch(tmp_path, "03a01Fa.wav", "03a01Xa.wav", "notes.wav", "03a01Fa.txt")
    skipped: list[Path] = []
    with caplog.at_level(logging.WARNING, logger="edgeser.datasets"):
        clips = ds.read_emodb(tmp_path, skipped=skipped)
    assert [c.path.name for c in clips] == ["03a01Fa.wav"]
    assert sorted(p.name for p in skipped) == ["03a01Xa.wav", "notes.wav"]
    assert "skipped 2 audio file(s)" in caplog.text


def test_read_emodb_empty_folder(tmp_path):
    touch(tmp_path, "readme.wav")
    with pytest.raises(DataError, match="no labelled audio"):
        ds.read_emodb(tmp_path)
    with pytest.raises(DataError, match="not a folder"):
        ds.read_emodb(tmp_path / "missing")


# ---------------------------------------------------------------------------
# RAVDESS reader


def test_read_ravdess_parses_and_filters(tmp_path):
    touch(
        tmp_path,
        "Actor_01/03-01-03-02-01-01-01.wav",  # happy, strong
        "Actor_01/03-01-06-01-02-02-01.wav",  # fearful, normal
        "Actor_02/03-01-08-01-01-01-02.wav",  # surprised
        "Actor_02/03-02-03-01-01-01-02.wav",  # song: not speech
        "Actor_02/01-01-03-01-01-01-02.wav",  # audio-video: not audio only
        "Actor_02/03-01-09-01-01-01-02.wav",  # bad emotion code
        "Actor_02/garbage.wav",
    )
    skipped: list[Path] = []
    clips = ds.read_ravdess(tmp_path, skipped=skipped)
    assert [(c.label, c.speaker, c.extra["intensity"]) for c in clips] == [
        ("happiness", "ravdess:01", "strong"),
        ("fear", "ravdess:01", "normal"),
        ("surprise", "ravdess:02", "normal"),
    ]
    assert clips[0].extra["gender"] == "male" and clips[2].extra["gender"] == "female"
    assert clips[1].extra["statement"] == "02" and clips[1].extra["repetition"] == "02"
    assert len(skipped) == 4


def test_read_ravdess_nothing(tmp_path):
    touch(tmp_path, "Actor_01/03-02-03-01-01-01-01.wav")
    with pytest.raises(DataError, match="no labelled audio"):
        ds.read_ravdess(tmp_path)


# ---------------------------------------------------------------------------
# manifest reader


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_read_manifest_relative_and_extra(tmp_path):
    touch(tmp_path / "audio", "a.wav", "b.wav")
    absolute = touch(tmp_path / "elsewhere", "c.wav")[0]
    csv_path = write(
        tmp_path / "m.csv",
        "speaker,path,label,gender\n"
        "s1,audio/a.wav,fear,f\n"
        "s2,audio/b.wav, Happiness ,m\n"
        f"s2,{absolute},surprise,m\n"
        "\n",
    )
    clips = ds.read_manifest(csv_path)
    assert [c.path for c in clips] == [tmp_path / "audio/a.wav", tmp_path / "audio/b.wav", absolute]
    assert [c.label for c in clips] == ["fear", "happiness", "surprise"]
    assert [c.speaker for c in clips] == ["s1", "s2", "s2"]
    assert clips[0].corpus == "manifest" and clips[0].extra == {"gender": "f"}
    assert ds.read_corpus(csv_path) == clips


def test_read_manifest_corpus_column(tmp_path):
    touch(tmp_path, "a.wav")
    csv_path = write(tmp_path / "m.csv", "path,label,speaker,corpus\na.wav,calm,x,mine\n")
    assert ds.read_manifest(csv_path)[0].corpus == "mine"


def test_read_manifest_lists_unknown_labels(tmp_path):
    touch(tmp_path, "a.wav", "b.wav", "c.wav")
    csv_path = write(
        tmp_path / "m.csv",
        "path,label,speaker\na.wav,happy,s\nb.wav,angry,s\nc.wav,fear,s\n",
    )
    with pytest.raises(DataError, match="unknown label") as info:
        ds.read_manifest(csv_path)
    assert "'happy'" in str(info.value) and "'angry'" in str(info.value)
    assert "'fear'" not in str(info.value)


def test_read_manifest_missing_columns(tmp_path):
    csv_path = write(tmp_path / "m.csv", "file,label\na.wav,fear\n")
    with pytest.raises(DataError, match=r"lacks column.*path, speaker"):
        ds.read_manifest(csv_path)


@pytest.mark.parametrize("text", ["", "\n", "path,label,speaker\n", "path,label,speaker\n\n"])
def test_read_manifest_empty(tmp_path, text):
    csv_path = write(tmp_path / "m.csv", text)
    with pytest.raises(DataError, match=r"empty|no rows"):
        ds.read_manifest(csv_path)


def test_read_manifest_empty_cell_and_missing_audio(tmp_path):
    csv_path = write(tmp_path / "m.csv", "path,label,speaker\na.wav,fear,\n")
    with pytest.raises(DataError, match="empty 'speaker'"):
        ds.read_manifest(csv_path)
    csv_path = write(tmp_path / "n.csv", "path,label,speaker\nnope.wav,fear,s\n")
    with pytest.raises(DataError, match=r"missing audio: nope\.wav"):
        ds.read_manifest(csv_path)
    with pytest.raises(DataError, match="not found"):
        ds.read_manifest(tmp_path / "absent.csv")


# ---------------------------------------------------------------------------
# read_corpus detection


def test_read_corpus_detects_layouts(tmp_path):
    touch(tmp_path / "both/emodb", "03a01Fa.wav", "08a01Na.wav")
    touch(tmp_path / "both/ravdess", "Actor_03/03-01-02-01-01-01-03.wav")
    both = ds.read_corpus(tmp_path / "both")
    assert [c.corpus for c in both] == ["emodb", "emodb", "ravdess"]
    assert [c.corpus for c in ds.read_corpus(tmp_path / "both/emodb")] == ["emodb"] * 2
    assert [c.label for c in ds.read_corpus(tmp_path / "both/ravdess")] == ["calm"]


def test_read_corpus_errors(tmp_path):
    touch(tmp_path / "junk", "hello.wav")
    with pytest.raises(DataError, match="no labelled audio in"):
        ds.read_corpus(tmp_path / "junk")
    with pytest.raises(DataError, match="does not exist"):
        ds.read_corpus(tmp_path / "missing")
    with pytest.raises(DataError, match="not a manifest"):
        ds.read_corpus(tmp_path / "junk/hello.wav")


def test_label_set_canonical_order():
    clips = [ds.Clip("/a.wav", lab, "s", "c") for lab in ["surprise", "anger", "neutral", "anger"]]
    assert ds.label_set(clips) == ["neutral", "anger", "surprise"]


# ---------------------------------------------------------------------------
# splits


def check_folds(speakers: list[str], folds) -> None:
    tested = []
    for _name, train, test in folds:
        assert set(train).isdisjoint(test)
        assert sorted(train + test) == list(range(len(speakers)))
        assert {speakers[i] for i in train}.isdisjoint({speakers[i] for i in test})
        tested += test
    assert sorted(tested) == list(range(len(speakers)))


def test_leave_one_speaker_out():
    speakers = ["emodb:10", "emodb:03", "emodb:10", "emodb:08", "emodb:03"]
    folds = ds.leave_one_speaker_out(speakers)
    assert [f[0] for f in folds] == ["emodb:03", "emodb:08", "emodb:10"]
    assert folds[0][2] == [1, 4] and folds[0][1] == [0, 2, 3]
    check_folds(speakers, folds)
    clips = fake_clips(["a", "b"])
    check_folds([c.speaker for c in clips], ds.leave_one_speaker_out(clips))
    with pytest.raises(DataError, match="at least 2 speakers"):
        ds.leave_one_speaker_out(["a", "a"])


def test_speaker_folds_ravdess_layout():
    speakers = [f"ravdess:{a:02d}" for a in range(20, 0, -1) for _ in range(3)]
    folds = ds.speaker_folds(speakers, 5)
    assert len(folds) == 5
    check_folds(speakers, folds)
    test_actors = [sorted({int(speakers[i][-2:]) for i in test}) for _, _, test in folds]
    assert test_actors[0] == [1, 6, 11, 16]
    assert test_actors[1] == [2, 7, 12, 17]
    for actors in test_actors:
        assert len(actors) == 4
        assert sum(a % 2 for a in actors) == 2  # two male (odd), two female (even)
    assert folds[0][0] == "fold0[ravdess:01,ravdess:06,ravdess:11,ravdess:16]"


def test_speaker_folds_errors():
    with pytest.raises(DataError):
        ds.speaker_folds(["a", "b"], n_folds=3)
    with pytest.raises(DataError):
        ds.speaker_folds(["a", "b"], n_folds=1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 11), min_size=2, max_size=60).filter(lambda s: len(set(s)) >= 2),
    st.integers(2, 6),
)
def test_folds_partition_property(raw, n_folds):
    speakers = [f"spk{s}" for s in raw]
    check_folds(speakers, ds.leave_one_speaker_out(speakers))
    if len(set(speakers)) >= n_folds:
        folds = ds.speaker_folds(speakers, n_folds)
        assert len(folds) == n_folds
        check_folds(speakers, folds)
        assert folds == ds.speaker_folds(list(speakers), n_folds)  # deterministic


# ---------------------------------------------------------------------------
# metrics


def test_metrics_hand_computed():
    y_true = ["a", "a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "a", "b", "b", "a", "a"]
    # recalls: a 3/4, b 1/2, c 0/1 -> UAR 5/12; WA 4/7
    assert ds.uar(y_true, y_pred) == pytest.approx(5 / 12)
    assert ds.accuracy(y_true, y_pred) == pytest.approx(4 / 7)
    assert ds.per_class_recall(y_true, y_pred, ["a", "b", "c"]) == {"a": 0.75, "b": 0.5, "c": 0.0}
    cm = ds.confusion_matrix(y_true, y_pred, ["a", "b", "c"])
    assert cm.tolist() == [[3, 1, 0], [1, 1, 0], [1, 0, 0]]


def test_uar_excludes_absent_classes_and_penalises_foreign_predictions():
    labels = ["neutral", "anger", "fear"]
    y_true = ["neutral", "neutral", "anger", "anger"]
    y_pred = ["neutral", "calm", "anger", "fear"]  # "calm" is not a class of this corpus
    rec = ds.per_class_recall(y_true, y_pred, labels)
    assert rec["neutral"] == 0.5 and rec["anger"] == 0.5 and math.isnan(rec["fear"])
    assert ds.uar(y_true, y_pred, labels) == pytest.approx(0.5)  # fear excluded
    cm = ds.confusion_matrix(y_true, y_pred, labels)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]  # "calm" lands in no column


def test_metric_errors():
    with pytest.raises(DataError, match="items"):
        ds.uar(["a"], ["a", "b"])
    with pytest.raises(DataError, match="empty"):
        ds.accuracy([], [])
    with pytest.raises(DataError, match="not in labels"):
        ds.uar(["a", "z"], ["a", "a"], labels=["a", "b"])


def test_metrics_accept_integer_classes():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    assert ds.uar(y_true, y_pred, [0, 1, 2]) == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    assert ds.confusion_matrix(y_true, y_pred, [0, 1, 2]).sum() == 6


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcde"), st.sampled_from("abcdef")), min_size=1, max_size=80
    )
)
def test_metrics_match_sklearn(pairs):
    skm = pytest.importorskip("sklearn.metrics")
    y_true = [t for t, _ in pairs]
    y_pred = [p for _, p in pairs]
    labels = list("abcdef")
    assert ds.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    np.testing.assert_array_equal(
        ds.confusion_matrix(y_true, y_pred, labels),
        skm.confusion_matrix(y_true, y_pred, labels=labels),
    )
    present = sorted(set(y_true))
    recalls = skm.recall_score(y_true, y_pred, labels=present, average=None, zero_division=0)
    assert ds.uar(y_true, y_pred, labels) == pytest.approx(float(np.mean(recalls)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when y_pred has classes not in y_true
        expected = skm.balanced_accuracy_score(y_true, y_pred)
    assert ds.uar(y_true, y_pred) == pytest.approx(expected)


# ---------------------------------------------------------------------------
# the real corpora (counts from /work/shared/data/README.md)

# ``corpus_root`` (tests/conftest.py) skips with a reason when data_root() is None.


def _real(root: Path, sub: str) -> Path:
    folder = root / sub
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (corpus subfolder not provided)")
    return folder


@pytest.mark.corpus
def test_real_emodb_counts(corpus_root):
    skipped: list[Path] = []
    clips = ds.read_emodb(_real(corpus_root, "emodb"), skipped=skipped)
    assert len(clips) == 411 and skipped == []
    assert Counter(c.label for c in clips) == {
        "anger": 100,
        "boredom": 65,
        "neutral": 63,
        "happiness": 55,
        "fear": 47,
        "sadness": 45,
        "disgust": 36,
    }
    speakers = {c.speaker for c in clips}
    assert speakers == {f"emodb:{s}" for s in ["03", "08", "09", "10", "12", "13", "15", "16"]}
    genders = {c.speaker: c.extra["gender"] for c in clips}
    assert sorted(s for s, g in genders.items() if g == "female") == [
        "emodb:08",
        "emodb:09",
        "emodb:13",
        "emodb:16",
    ]
    folds = ds.leave_one_speaker_out(clips)
    assert len(folds) == 8
    check_folds([c.speaker for c in clips], folds)


@pytest.mark.corpus
def test_real_ravdess_counts(corpus_root):
    skipped: list[Path] = []
    clips = ds.read_ravdess(_real(corpus_root, "ravdess"), skipped=skipped)
    # The README says actors 01-20 with 60 clips each (the full corpus has 24 actors).
    assert len(clips) == 1200 and skipped == []
    per_actor = Counter(c.speaker for c in clips)
    assert sorted(per_actor) == [f"ravdess:{a:02d}" for a in range(1, 21)]
    assert set(per_actor.values()) == {60}
    labels = Counter(c.label for c in clips)
    assert labels["neutral"] == 80
    assert all(labels[lab] == 160 for lab in labels if lab != "neutral") and len(labels) == 8
    assert Counter(c.extra["intensity"] for c in clips) == {"normal": 640, "strong": 560}
    assert not any(c.label == "neutral" and c.extra["intensity"] == "strong" for c in clips)
    folds = ds.speaker_folds(clips, 5)
    check_folds([c.speaker for c in clips], folds)
    for _, _, test in folds:
        assert len(test) == 240
        assert Counter(clips[i].extra["gender"] for i in test) == {"male": 120, "female": 120}


@pytest.mark.corpus
def test_real_read_corpus_root(corpus_root):
    if not any((corpus_root / sub).is_dir() for sub in ("emodb", "ravdess")):
        pytest.skip(f"{corpus_root} holds neither emodb/ nor ravdess/")
    clips = ds.read_corpus(corpus_root)
    corpora = Counter(c.corpus for c in clips)
    if (corpus_root / "emodb").is_dir():
        assert corpora["emodb"] == 411
    if (corpus_root / "ravdess").is_dir():
        assert corpora["ravdess"] == 1200
