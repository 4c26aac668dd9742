"""The fixed-point log-Mel frontend shared by training, the device runtime and firmware."""

from edgeser.frontend.config import SPEC_VERSION, FrontendConfig
from edgeser.frontend.frontend import Frontend, FrontendStream
from edgeser.frontend.requantize import Requantizer

__all__ = ["SPEC_VERSION", "Frontend", "FrontendConfig", "FrontendStream", "Requantizer"]
