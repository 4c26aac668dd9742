"""edgeser: speech emotion recognition on the edge.

The device runtime: numpy and a TFLite interpreter (LiteRT) only, never TensorFlow.

    from edgeser import Recognizer
    recognizer = Recognizer()               # the embedded default model
    events = recognizer.feed(pcm_chunk)     # int16 mono 16 kHz, any length
"""

from edgeser.backends import BackendError
from edgeser.classify import Classification, classify_file, classify_files, classify_pcm
from edgeser.errors import AudioError, ConfigError, DataError, EdgeserError
from edgeser.events import EmotionEvent
from edgeser.frontend import Frontend, FrontendConfig, FrontendStream, Requantizer
from edgeser.model import EmotionModel, ModelError
from edgeser.recognizer import Recognizer, RecognizerSettings
from edgeser.vad import VadConfig

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "BackendError",
    "Classification",
    "ConfigError",
    "DataError",
    "EdgeserError",
    "EmotionEvent",
    "EmotionModel",
    "Frontend",
    "FrontendConfig",
    "FrontendStream",
    "ModelError",
    "Recognizer",
    "RecognizerSettings",
    "Requantizer",
    "VadConfig",
    "__version__",
    "classify_file",
    "classify_files",
    "classify_pcm",
]
