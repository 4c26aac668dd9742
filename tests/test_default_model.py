"""The embedded default model loads, is int8, matches its metadata, and runs on the device
path (voice gate, session mean, whole-file classification)."""

from edgeser import Frontend
from edgeser.audio import load_pcm16
from edgeser.classify import classify_file
from edgeser.examples import example_path
from edgeser.model import EmotionModel, default_model_path
from edgeser.normalisation import Normalisation
from edgeser.vad import voiced_stats

EMODB = {"neutral", "happiness", "sadness", "anger", "fear", "disgust", "boredom"}
RAVDESS = {"neutral", "calm", "happiness", "sadness", "anger", "fear", "disgust", "surprise"}


def test_default_model_loads_and_predicts():
    model = EmotionModel()
    meta = model.meta
    assert default_model_path().stat().st_size == meta.tflite_bytes <= 256 * 1024
    assert meta.input.dtype == "int8" and meta.output.dtype == "int8"
    assert set(model.labels) >= EMODB
    assert meta.macs > 0
    assert meta.metrics["int8"]["uar"] > 0.5
    frames = Frontend(meta.frontend).compute(load_pcm16(example_path()))
    mean, std = voiced_stats([frames]) if meta.normalisation.mode == "session" else (None, None)
    probs = model.predict(frames[: meta.window_frames], session_mean_q7=mean, session_std_q7=std)
    assert probs.shape == (1, len(model.labels))
    assert abs(probs.sum() - 1) < 0.05


def test_default_model_metadata_describes_its_training_and_figures():
    meta = EmotionModel().meta
    assert meta.training["labels"] == list(meta.labels)
    recipe_norm = Normalisation.from_dict(meta.training["train_config"]["normalisation"])
    assert recipe_norm == meta.normalisation
    by_protocol = meta.metrics.get("by_protocol", {})
    assert by_protocol, "the metadata should carry the recipe's speaker-independent figures"
    for report in by_protocol.values():
        assert set(report["classes_scored"]) <= set(meta.labels)
        assert 0 <= report["int8"]["uar"] <= 1


def test_default_model_classifies_the_example():
    result = classify_file(example_path())
    assert result.decision is not None
    assert result.decision.label in EmotionModel().labels
