import json

import pytest

from edgeser import ConfigError, FrontendConfig


def test_defaults_match_the_design():
    cfg = FrontendConfig()
    assert (cfg.sample_rate, cfg.window_samples, cfg.hop_samples) == (16000, 400, 160)
    assert (cfg.fft_size, cfg.num_bands, cfg.lower_hz, cfg.upper_hz) == (512, 40, 60.0, 8000.0)
    assert cfg.num_bins == 257


def test_json_round_trip_and_canonical_text():
    cfg = FrontendConfig(num_bands=32, lower_hz=100)
    text = cfg.to_json()
    assert FrontendConfig.from_json(text) == cfg
    assert json.loads(text)["spec_version"] == 1
    assert FrontendConfig.from_dict(json.loads(text)).to_json() == text
    assert hash(cfg) == hash(FrontendConfig.from_json(text))


def test_frozen():
    with pytest.raises(AttributeError):
        FrontendConfig().num_bands = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fft_size": 500}, "power of two"),
        ({"fft_size": 1024}, "power of two"),
        ({"window_samples": 600}, "window_samples"),
        ({"hop_samples": 0}, "positive int"),
        ({"hop_samples": 500}, "hop_samples"),
        ({"num_bands": 0}, "positive int"),
        ({"upper_hz": 9000}, "upper_hz"),
        ({"lower_hz": 8000}, "lower_hz"),
        ({"sample_rate": 16000.0}, "positive int"),
        ({"spec_version": 2}, "spec_version"),
    ],
)
def test_invalid_configs_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        FrontendConfig(**kwargs)


def test_bad_json():
    with pytest.raises(ConfigError, match="not valid JSON"):
        FrontendConfig.from_json("{nope")
    with pytest.raises(ConfigError, match="unknown frontend config keys: colour"):
        FrontendConfig.from_dict({"colour": 1})
    with pytest.raises(ConfigError, match="JSON object"):
        FrontendConfig.from_json("[1, 2]")


@pytest.mark.parametrize("samples, frames", [(0, 0), (399, 0), (400, 1), (559, 1), (560, 2)])
def test_frame_count(samples, frames):
    assert FrontendConfig().num_frames(samples) == frames
