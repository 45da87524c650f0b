"""One check for numbers written by clients and config files."""

from __future__ import annotations

__all__ = ["ascii_digits"]


def ascii_digits(text: str) -> bool:
    """Whether `text` is one or more ASCII digits 0-9. `str.isdigit()` alone also takes "²" and "٣"
    (which `int()` then refuses or reads); callers bound the length before `int()`, which refuses
    4,300+ digits."""
    return text.isascii() and text.isdigit()
