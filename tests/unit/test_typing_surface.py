"""The public surface is typed: mypy (strict) accepts a user project and reports each wrong call.

tests/fixtures/projects/typed_user/ is a project written with annotations; its wrong_calls.py holds
one wrong call per checked line, each under a `# expect: [code] text` comment. mypy runs once per
file set, in a subprocess, with its cache in a temporary directory shared by both runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mega.testing import make_client, running

PROJECT = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "typed_user"
WRONG = PROJECT / "wrong_calls.py"
ERROR_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): error: (?P<message>.*?)  \[(?P<code>[a-z-]+)\]$")
EXPECT = re.compile(r"^\s*# expect: \[(?P<code>[a-z-]+)\] (?P<text>.+)$")


def run_mypy(cache: Path, *targets: Path) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(PROJECT / "pyproject.toml"),
           "--cache-dir", str(cache), "--sqlite-cache", "--no-error-summary", "--show-error-codes",
           "--hide-error-context", "--no-pretty", "--no-color-output", *map(str, targets)]
    done = subprocess.run(cmd, cwd=cache.parent, capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def mypy_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    cache = tmp_path_factory.mktemp("mypy") / "cache"
    return {"project": run_mypy(cache, PROJECT / "apps", PROJECT / "tools"), "wrong": run_mypy(cache, WRONG)}


def expected_errors() -> list[tuple[int, str, str]]:
    """(line, code, text) for each line under an `# expect:` comment of wrong_calls.py."""
    lines = WRONG.read_text().splitlines()
    out = []
    for number, line in enumerate(lines, start=1):
        match = EXPECT.match(line)
        if match:
            out.append((number + 1, match["code"], match["text"]))
    return out


def test_the_typed_user_project_passes_mypy_strict(mypy_results: dict[str, tuple[int, str]]) -> None:
    status, output = mypy_results["project"]
    assert (status, output.strip()) == (0, "")


def test_mypy_reports_exactly_one_error_for_each_wrong_call(
        mypy_results: dict[str, tuple[int, str]]) -> None:
    status, output = mypy_results["wrong"]
    reported = [m for m in map(ERROR_LINE.match, output.splitlines()) if m]
    unparsed = [line for line in output.splitlines() if not ERROR_LINE.match(line) and ": note: " not in line]
    assert status == 1 and not unparsed, output
    expected = expected_errors()
    assert len(expected) == 29
    assert [(int(m["line"]), m["code"]) for m in reported] == [(n, code) for n, code, _ in expected], output
    for match, (_, _, text) in zip(reported, expected, strict=True):
        assert text in match["message"], (match["message"], text)


def test_every_accessor_and_route_option_check_is_covered() -> None:
    """The wrong calls touch each typed piece: db, cache, lock, bus, session and route options."""
    calls = WRONG.read_text()
    for piece in ("ctx.db(", "ctx.cache(", "ctx.lock.", "ctx.bus", "ctx.session", "status=", "bodyy=",
                  "rate_limit=", "cors=", "csrf=", "before=", "helmet="):
        assert piece in calls, piece


async def test_the_typed_user_project_runs_as_typed(tmp_path: Path) -> None:
    """What mypy accepted also works: every handler of the fixture answers through real boot."""
    root = tmp_path / "typed_user"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("wrong_calls.py", "__pycache__"))
    async with running(root) as rt:
        await rt.apps["main"].db().execute(
            "CREATE TABLE typed_user_notes (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " title VARCHAR(200) NOT NULL, done BOOLEAN NOT NULL DEFAULT 0)")
        async with make_client(rt, headers={"x-user": "ada"}) as http:
            created = await http.post("/notes", json={"title": "typed"})
            assert created.status_code == 201, created.text
            note = created.json()["data"]
            assert note == {"id": 1, "title": "typed", "done": False}
            assert (await http.get("/notes/1")).json()["data"] == note
            listed = (await http.get("/notes")).json()["data"]
            assert listed == {"items": [note], "total": 1, "last": 1, "user": "ada"}
            assert (await http.get("/notes", params={"done": "true"})).json()["data"]["items"] == []
            assert (await http.get("/stats")).json()["data"] == {"total": 1, "doubled": 2, "lock": "memory"}
        async with make_client(rt) as anonymous:
            assert (await anonymous.get("/notes")).json()["error"]["code"] == "auth.missing"
