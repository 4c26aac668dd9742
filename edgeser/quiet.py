"""Silence native libraries that print to file descriptor 2 (stderr) on their own.

LiteRT announces every XNNPACK delegate it creates, and ALSA/JACK print probe failures while
PortAudio lists devices; none of that is an error. Python exceptions are unaffected.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Redirect file descriptor 2 to /dev/null for the duration of the block."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
