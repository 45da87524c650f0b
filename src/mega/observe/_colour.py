"""ANSI colours for the pretty formats, used only when the stream is a terminal."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["BOLD_RED", "CYAN", "DIM", "GREEN", "RED", "RESET", "YELLOW", "status_colour", "wants_colour"]

RESET = "\x1b[0m"
DIM = "\x1b[2m"
RED = "\x1b[31m"
GREEN = "\x1b[32m"
YELLOW = "\x1b[33m"
CYAN = "\x1b[36m"
BOLD_RED = "\x1b[1;31m"


def wants_colour(stream: Any) -> bool:
    """A TTY gets colour unless NO_COLOR is set (https://no-color.org); files and pipes never do."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (OSError, ValueError):  # a closed or detached stream
        return False


def status_colour(status: int) -> str:
    if status >= 500:
        return RED
    if status >= 400:
        return YELLOW
    if status >= 300:
        return CYAN
    return GREEN
