"""Exception types raised by the edgeser runtime.

Every error that bad input can cause is one of these, so callers can catch
``EdgeserError`` (or a more specific subclass) and print its one-line message.
"""

from __future__ import annotations


class EdgeserError(Exception):
    """Base class of every error edgeser raises on purpose."""


class AudioError(EdgeserError, ValueError):
    """Audio that cannot be read or used: missing, empty, corrupt, unsupported or non-finite."""


class ConfigError(EdgeserError, ValueError):
    """An invalid or mismatched frontend or model configuration."""


class DataError(EdgeserError, ValueError):
    """A corpus folder or manifest that holds no usable labelled audio, or is malformed."""
