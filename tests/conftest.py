"""Shared fixtures: the shared corpora (skipped with a reason when absent) and the C frontend."""

from __future__ import annotations

import pytest

from edgeser.datasets import data_root
from edgeser.synth import speech_like

__all__ = ["speech_like"]


@pytest.fixture(scope="session")
def corpus_root():
    """The shared corpora folder; tests that need it skip, saying why, when it is absent."""
    root = data_root()
    if root is None:
        pytest.skip("corpus not found: set EDGESER_DATA or provide ../shared/data")
    return root


@pytest.fixture(scope="session")
def c_frontend_library():
    """Build the C reference frontend with the system compiler (-std=c99 -Wall -Wextra -Werror)."""
    from firmware_bridge.cfrontend import load_library

    return load_library()
