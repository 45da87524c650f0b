"""Every error code raised in src/mega is unique and listed in docs/reference/errors.md."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from mega.config._problems import PROBLEM_CODES

ROOT = Path(__file__).resolve().parents[2]
CODE = r"[a-z_]+\.[a-z_]+"
RAISED = re.compile(
    rf'(?:Error\(\s*"({CODE})"|default_code = "([a-z_.]+)"|code="({CODE})"|"code": "({CODE})"'
    rf'|_error(?:_body)?\(\s*"({CODE})"|_(?:send_)?problem\(\s*"({CODE})")'
)


def documented() -> list[str]:
    text = (ROOT / "docs/reference/errors.md").read_text()
    return re.findall(r"^\| `([a-z_.]+)` \|", text, re.M)


def raised() -> set[str]:
    found: set[str] = set(PROBLEM_CODES)
    for path in (ROOT / "src/mega").rglob("*.py"):
        for match in RAISED.finditer(path.read_text()):
            found.update(g for g in match.groups() if g)
    return found


def test_codes_are_listed_once():
    dupes = [code for code, n in Counter(documented()).items() if n > 1]
    assert dupes == []


def test_every_raised_code_is_documented():
    missing = sorted(raised() - set(documented()))
    assert missing == [], f"add these to docs/reference/errors.md: {missing}"


def test_the_scan_finds_codes():
    codes = raised()
    assert {"route.not_found", "config.unknown_key", "http.headers_too_large", "internal"} <= codes
