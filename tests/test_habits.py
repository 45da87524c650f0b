"""Habits of this suite that a new test could quietly break."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SOURCES = sorted(p for p in TESTS.rglob("*.py") if p.name != "test_habits.py")


def offending(pattern: str) -> list[str]:
    found = re.compile(pattern)
    return [f"{path.relative_to(TESTS)}:{n}" for path in SOURCES
            for n, line in enumerate(path.read_text().splitlines(), 1) if found.search(line)]


def test_no_importorskip_hides_an_import_error_in_mega() -> None:
    # mega and its hard dependencies are installed for the suite: a failing import is a regression.
    assert offending(r"importorskip\(") == []


def test_a_down_service_is_reported_through_tests_services() -> None:
    # A hand-written skip would stay a skip under CI, where a down service must fail the run.
    assert offending(r"pytest\.skip\(.*(reachable|not answer|not installed)") == []
    assert offending(r"skipif\(.*_up\(\)") == []
