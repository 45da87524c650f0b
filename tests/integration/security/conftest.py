"""Fixtures of the security integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mega.security import Rejection, on_rejection
from mega.security import rejections as hook


@pytest.fixture
def heard() -> Iterator[list[Rejection]]:
    """Every security rejection of the test, through the one hook point; the listener is gone after."""
    seen: list[Rejection] = []
    remove = on_rejection(seen.append)
    yield seen
    remove()
    assert hook.LISTENERS == []
