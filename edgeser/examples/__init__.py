"""Audio that ships with edgeser, so that the README's first command works anywhere."""

from __future__ import annotations

from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent


def example_path(name: str = "hello.wav") -> Path:
    """Path of a bundled example clip (see ``edgeser/examples/README.md``)."""
    return EXAMPLES_DIR / name
