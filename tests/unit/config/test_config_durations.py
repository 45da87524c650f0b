"""The one duration check of every duration key, and names accepted in any case."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mega.config import ConfigProblem, load_project_config
from mega.config import _checks as c

MakeProject = Callable[..., Path]
Problems = Callable[..., list[ConfigProblem]]


@pytest.mark.parametrize(("value", "seconds"), [
    (30, 30.0), (0.25, 0.25), ("0.5", 0.5), ("250ms", 0.25), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0),
    ("1 minute", 60.0), ("2 hours", 7200.0), ("1.5s", 1.5), ("3 days", 259200.0), ("1d", 86400.0),
    (" 10 SEC ", 10.0), ("2 Minutes", 120.0), ("500 milliseconds", 0.5), (".5s", 0.5), ("45 secs", 45.0),
])
def test_duration_forms_are_float_seconds(value: Any, seconds: float) -> None:
    result = c.duration()(value)
    assert result == seconds and type(result) is float


@pytest.mark.parametrize("value", [
    "5 parsecs", "-1s", "", "  ", "s", "1 minute ago", "1h30m", "ten seconds", "1,5s", float("nan"), "nan",
    True, False, None, [5], {"s": 5}, -1, 0, "0s", float("inf"), "inf",
])
def test_bad_durations_are_refused(value: Any) -> None:
    with pytest.raises(c.Invalid) as info:
        c.duration()(value)
    assert info.value.code in (c.INVALID_TYPE, c.INVALID_VALUE)
    expected = "must be a duration > 0 (seconds, or a string like '30s', '5m', '1h'), got "
    assert info.value.text.startswith(expected)
    assert info.value.hint == c.DURATION_HINT


def test_a_wrong_type_is_invalid_type_and_a_bad_string_invalid_value() -> None:
    for value, code in ((True, c.INVALID_TYPE), ([1], c.INVALID_TYPE), ("5 parsecs", c.INVALID_VALUE),
                        (-1, c.INVALID_VALUE)):
        with pytest.raises(c.Invalid) as info:
            c.duration()(value)
        assert info.value.code == code, value


def test_zero_infinity_and_a_ceiling_when_the_key_allows_them() -> None:
    assert c.duration(zero_ok=True)(0) == 0.0 and c.duration(zero_ok=True)("0s") == 0.0
    assert c.duration(zero_ok=True, inf_ok=True)(math.inf) == math.inf
    capped = c.duration(most=366 * 86400.0)
    assert capped("366 days") == 366 * 86400.0
    with pytest.raises(c.Invalid) as info:
        capped("367 days")
    assert "at most 366 days" in info.value.text


def test_durations_in_config_files(make_project: MakeProject) -> None:
    root = make_project(
        "config = {'server': {'shutdown_timeout': '1m', 'keep_alive_timeout': '500ms'},"
        " 'health': {'check_timeout': '2 seconds'}}"
    )
    values = load_project_config(root, environ={}).values
    assert (values["server"]["shutdown_timeout"], values["server"]["keep_alive_timeout"]) == (60.0, 0.5)
    assert values["health"]["check_timeout"] == 2.0


def test_a_bad_duration_names_key_file_and_value(make_project: MakeProject, problems_of: Problems) -> None:
    [problem] = problems_of(make_project("config = {'server': {'header_timeout': '5 parsecs'}}"))
    assert (problem.code, problem.key, problem.file) == ("config.invalid_value", "server.header_timeout",
                                                         "mega_config.py")
    assert problem.message == ("mega_config.py: server.header_timeout must be a duration > 0 (seconds, or a "
                               "string like '30s', '5m', '1h'), got '5 parsecs'")
    assert problem.hint == c.DURATION_HINT


def test_names_are_accepted_in_any_case(make_project: MakeProject) -> None:
    root = make_project(
        "config = {'env': 'Production', 'logger': {'level': 'INFO', 'format': 'Pretty'},"
        " 'server': {'trailing_slash': 'STRICT', 'server': 'Uvicorn'}, 'lock': {'driver': 'Memory'}}"
    )
    values = load_project_config(root, environ={}).values
    assert values["env"] == "production"
    assert (values["logger"]["level"], values["logger"]["format"]) == ("info", "pretty")
    assert (values["server"]["trailing_slash"], values["server"]["server"]) == ("strict", "uvicorn")
    assert values["lock"]["driver"] == "memory"


def test_a_name_that_is_no_option_in_any_case_is_still_refused(make_project: MakeProject,
                                                               problems_of: Problems) -> None:
    [problem] = problems_of(make_project("config = {'logger': {'level': 'LOUD'}}"))
    assert problem.message == ("mega_config.py: logger.level must be one of debug, info, warning, error, "
                               "critical, got 'LOUD'")
