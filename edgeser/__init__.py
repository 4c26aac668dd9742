"""edgeser: speech emotion recognition on the edge.

The device runtime: numpy and the LiteRT interpreter only, never TensorFlow.
"""

from edgeser.errors import AudioError, ConfigError, DataError, EdgeserError
from edgeser.frontend import Frontend, FrontendConfig, FrontendStream, Requantizer

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "ConfigError",
    "DataError",
    "EdgeserError",
    "Frontend",
    "FrontendConfig",
    "FrontendStream",
    "Requantizer",
    "__version__",
]
