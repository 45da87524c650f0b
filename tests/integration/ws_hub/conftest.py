"""The bridge tests boot projects in this process with the environment's MEGA_ENV, which configures
mega's loggers for the process (mega stops propagating to root): put them back after each test, so
later tests that read logs through caplog still see them."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _logging_restored(restore_logging: None) -> None:
    """Each test here gets `restore_logging` (tests/conftest.py)."""
