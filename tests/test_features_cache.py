"""converters.features: a second pass reads the cache; changed content or config misses it."""

import numpy as np

from converters.features import FeatureStore
from edgeser import Frontend, FrontendConfig
from edgeser.audio import load_pcm16, write_wav_pcm16
from edgeser.synth import speech_like


def test_cache_hits_and_keys(tmp_path):
    wav = tmp_path / "a.wav"
    write_wav_pcm16(wav, speech_like(1.0), 16000)
    store = FeatureStore(root=tmp_path / "cache")
    first = store.frames(wav)
    assert np.array_equal(first, Frontend().compute(load_pcm16(wav)))
    assert np.array_equal(store.frames(wav), first)
    assert (store.hits, store.misses) == (1, 1)
    write_wav_pcm16(wav, speech_like(1.0, seed=5), 16000)  # new content: new key
    store.frames(wav)
    assert store.misses == 2
    other = FeatureStore(FrontendConfig(num_bands=32), root=tmp_path / "cache")
    assert other.frames(wav).shape[1] == 32 and other.misses == 1
