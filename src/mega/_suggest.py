"""The one did-you-mean of mega's messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["close_match"]


def close_match(word: object, options: Iterable[str]) -> str | None:
    """The option `word` was most likely meant to be, or None."""
    if not isinstance(word, str):
        return None
    found = difflib.get_close_matches(word, list(options), n=1)
    return found[0] if found else None
