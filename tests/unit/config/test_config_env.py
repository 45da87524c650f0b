"""Which env wins, and values that come from environment variables (PORT, MEGA_ENV)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mega.config import ConfigProblem, load_project_config

MakeProject = Callable[..., Path]
Problems = Callable[..., list[ConfigProblem]]


@pytest.mark.parametrize(
    ("file_env", "environ", "expected"),
    [
        (None, {}, "development"),
        ("production", {}, "production"),
        (None, {"MEGA_ENV": "test"}, "test"),
        ("production", {"MEGA_ENV": "test"}, "test"),  # the environment wins over the file
        ("production", {"MEGA_ENV": ""}, "production"),  # an empty variable counts as unset
    ],
)
def test_env_precedence(
    make_project: MakeProject, file_env: str | None, environ: dict[str, str], expected: str
) -> None:
    text = "config = {}" if file_env is None else f"config = {{'env': {file_env!r}}}"
    root = make_project(text)

    project = load_project_config(root, environ=environ)

    assert project.env == expected
    assert project.values["env"] == expected


def test_env_from_environment_drives_env_dependent_defaults(make_project: MakeProject) -> None:
    root = make_project("config = {'env': 'development'}")

    logger = load_project_config(root, environ={"MEGA_ENV": "production"}).values["logger"]

    assert (logger["format"], logger["access_log"]) == ("json", False)


def test_invalid_mega_env(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project()

    [problem] = problems_of(root, {"MEGA_ENV": "prod"})

    assert (problem.code, problem.key, problem.file) == ("config.invalid_value", "env", "(environment)")
    assert (
        problem.message
        == "MEGA_ENV (in the environment) must be one of development, production, test, got 'prod'"
    )


def test_port_comes_from_environment_when_not_in_file(make_project: MakeProject) -> None:
    root = make_project()

    project = load_project_config(root, environ={"PORT": "8080"})

    assert project.values["server"]["port"] == 8080


def test_port_in_file_wins_over_environment(make_project: MakeProject) -> None:
    root = make_project("config = {'server': {'port': 4000}}")

    project = load_project_config(root, environ={"PORT": "8080"})

    assert project.values["server"]["port"] == 4000


def test_port_digit_string_in_file_is_coerced(make_project: MakeProject) -> None:
    # the common `'port': os.environ.get('PORT', '3000')` gives a string
    root = make_project(
        "import os\nconfig = {'server': {'port': os.environ.get('MEGA_TEST_NO_SUCH_VAR', ' 8081 ')}}"
    )

    port = load_project_config(root, environ={}).values["server"]["port"]

    assert port == 8081
    assert type(port) is int


def test_port_from_environment_must_be_a_number(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project()

    [problem] = problems_of(root, {"PORT": "abc"})

    assert (problem.code, problem.key, problem.file) == (
        "config.invalid_value",
        "server.port",
        "(environment)",
    )
    assert (
        problem.message == "server.port (from PORT in the environment) must be an integer 1-65535, got 'abc'"
    )


def test_empty_port_variable_counts_as_unset(make_project: MakeProject) -> None:
    root = make_project()

    assert load_project_config(root, environ={"PORT": ""}).values["server"]["port"] == 3000


def test_default_environ_is_os_environ(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project()
    monkeypatch.setenv("PORT", "5001")
    monkeypatch.setenv("MEGA_ENV", "test")

    project = load_project_config(root)

    assert (project.env, project.values["server"]["port"]) == ("test", 5001)
