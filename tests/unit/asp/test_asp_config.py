"""The `asp` section: off unless written, both a secret and paths needed, secrets never echoed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mega.asp._settings import AspSettings
from mega.config import ConfigError, ConfigProblem, load_project_config
from mega.testing import write_project

WEB = "apps/web/app_config.py"
SECRET = "s" * 40
CACHES = "{'replay': {'driver': 'memory'}}"


def settings(tmp_path: Path, asp: Any, environ: dict[str, str] | None = None) -> AspSettings | None:
    files = {
        "mega_config.py": f"config = {{'services': {{'caches': {CACHES}}}}}\n",
        "apps/web/app_config.py": "config = {}\n" if asp is ... else f"config = {{'asp': {asp!r}}}\n",
    }
    project = load_project_config(write_project(tmp_path, files), environ=environ or {})
    result: AspSettings | None = project.apps["web"].settings["asp"]
    return result


def problems(tmp_path: Path, asp: Any, environ: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        settings(tmp_path, asp, environ)
    return info.value.problems


def test_off_unless_written_even_with_the_secret_in_the_environment(tmp_path: Path) -> None:
    env = {"ASP_MASTER_SECRET": SECRET}
    assert settings(tmp_path / "a", ..., env) is None
    assert settings(tmp_path / "b", None, env) is None
    assert settings(tmp_path / "c", False, env) is None


def test_a_secret_and_paths_turn_it_on(tmp_path: Path) -> None:
    got = settings(tmp_path, {"secret": SECRET, "paths": ["/api/*", "/pay", "/pay"], "drift": "2m"})
    assert got == AspSettings((SECRET,), ("/api/*", "/pay"), 120.0, None)
    assert SECRET not in repr(got)
    listed = settings(tmp_path / "l", {"secret": [SECRET, "o" * 32], "paths": ["/x"],
                                       "replay_cache": "replay"})
    assert listed is not None and listed.secrets == (SECRET, "o" * 32) and listed.replay_cache == "replay"
    assert listed.drift == 60.0


def test_the_secret_comes_from_the_environment_comma_separated_for_rotation(tmp_path: Path) -> None:
    got = settings(tmp_path, {"paths": ["/x"]}, {"ASP_MASTER_SECRET": f"{SECRET},{'o' * 32}"})
    assert got is not None and got.secrets == (SECRET, "o" * 32)


@pytest.mark.parametrize(("asp", "key", "fragment"), [
    ({"paths": ["/api/*"]}, "asp.secret", "is missing (and ASP_MASTER_SECRET is not set)"),
    ({"secret": SECRET}, "asp.paths", "is empty, but asp is configured"),
    ({"secret": SECRET, "paths": []}, "asp.paths", "ASP needs both a secret and the paths"),
])
def test_one_without_the_other_names_what_is_missing(tmp_path: Path, asp: dict[str, Any], key: str,
                                                     fragment: str) -> None:
    [problem] = problems(tmp_path, asp)
    assert (problem.code, problem.key, problem.file) == ("config.invalid_value", key, WEB)
    assert fragment in problem.message


def test_neither_reports_both(tmp_path: Path) -> None:
    assert [p.key for p in problems(tmp_path, {})] == ["asp.paths", "asp.secret"]


@pytest.mark.parametrize(("asp", "key", "fragment"), [
    ({"secret": "short-but-secret", "paths": ["/x"]}, "asp.secret", "at least 32 characters"),
    ({"secret": [SECRET, "short-but-secret"], "paths": ["/x"]}, "asp.secret[1]", "at least 32 characters"),
    ({"secret": [], "paths": ["/x"]}, "asp.secret", "non-empty list"),
    ({"secret": SECRET, "paths": ["api"]}, "asp.paths[0]", "is not a path"),
    ({"secret": SECRET, "paths": ["/a*"]}, "asp.paths[0]", "only allowed as a final '/*'"),
    ({"secret": SECRET, "paths": ["/*/x"]}, "asp.paths[0]", "only allowed as a final '/*'"),
    ({"secret": SECRET, "paths": ["/x"], "drift": 0}, "asp.drift", "a duration > 0"),
    ({"secret": SECRET, "paths": ["/x"], "drift": "2h"}, "asp.drift", "at most 1 hours"),
    ({"secret": SECRET, "paths": ["/x"], "replay_cache": "replai"}, "asp.replay_cache", "not declared"),
    ({"secret": SECRET, "paths": ["/x"], "driftt": 5}, "asp.driftt", "did you mean 'asp.drift'"),
])
def test_bad_values_are_refused(tmp_path: Path, asp: dict[str, Any], key: str, fragment: str) -> None:
    found = problems(tmp_path, asp)
    assert [p.key for p in found] == [key], [p.message for p in found]
    assert fragment in found[0].message


def test_a_short_secret_from_the_environment_is_reported_there_and_never_echoed(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, {"paths": ["/x"]}, {"ASP_MASTER_SECRET": "hunter2-hunter2"})
    assert "ASP_MASTER_SECRET" in problem.message and "at least 32" in problem.message
    assert "hunter2" not in problem.message and "hunter2" not in (problem.hint or "")
