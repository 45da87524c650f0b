"""Logging is process-global: every test here starts and ends with mega's loggers as Python left them."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


class ListHandler(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _restore_logging(restore_logging: None) -> Iterator[None]:
    yield  # tests/conftest.py's restore_logging, for every test here


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Records of the `mega` logger and its children, whatever configure_logging did."""
    handler = ListHandler()
    mega = logging.getLogger("mega")
    mega.addHandler(handler)
    old = mega.level
    mega.setLevel(logging.DEBUG)
    yield handler.records
    mega.removeHandler(handler)
    mega.setLevel(old)
