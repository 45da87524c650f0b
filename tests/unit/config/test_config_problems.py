"""Every problem code, with its exact message naming the key, the file and the value."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import mega.config
from mega.config import ConfigError, ConfigProblem, load_project_config
from mega.config._problems import PROBLEM_CODES
from mega.errors import MegaError

MakeProject = Callable[..., Path]
Problems = Callable[..., list[ConfigProblem]]

WEB = "apps/web/app_config.py"


def only(problems: list[ConfigProblem]) -> ConfigProblem:
    assert len(problems) == 1, [p.message for p in problems]
    return problems[0]


# -- files ------------------------------------------------------------------------------------------


def test_missing_global_file(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project(None)

    problem = only(problems_of(root))

    assert problem.code == "config.missing_file"
    assert problem.file == "mega_config.py"
    assert problem.message == f"mega_config.py not found in {root.resolve()}"
    assert problem.hint is not None and "mega new" in problem.hint


def test_syntax_error_names_file_and_line(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project(apps={"web": "x = 1\ny = 2\nconfig = {'hosts': ['a.com'],,}\n"})

    problem = only(problems_of(root))

    assert problem.code == "config.load_failed"
    assert problem.file == WEB
    assert problem.message == f"could not load {WEB}, line 3: SyntaxError: invalid syntax"
    assert "Traceback" not in problem.message


def test_name_error_names_file_line_and_exception(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project("import os\n\nconfig = {'server': {'port': undefined_port}}\n")

    problem = only(problems_of(root))

    assert problem.code == "config.load_failed"
    assert problem.key == ""
    assert problem.message == (
        "could not load mega_config.py, line 3: NameError: name 'undefined_port' is not defined"
    )


def test_exception_line_is_the_config_file_line_where_it_arose(
    make_project: MakeProject, problems_of: Problems
) -> None:
    root = make_project(
        """\
        def port():
            raise RuntimeError('no port\\nconfigured')

        config = {'server': {'port': port()}}
        """
    )

    problem = only(problems_of(root))

    # the line inside the file, and the multi-line exception text folded onto one line
    assert problem.message == "could not load mega_config.py, line 2: RuntimeError: no port configured"


def test_config_name_missing(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project("settings = {}\n")

    problem = only(problems_of(root))

    assert problem.code == "config.invalid_type"
    assert problem.message == "mega_config.py defines no `config`; it must define a dict named `config`"


def test_config_not_a_dict(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project(apps={"web": "config = ['hosts']\n"})

    problem = only(problems_of(root))

    assert problem.code == "config.invalid_type"
    assert problem.file == WEB
    assert problem.message == f"{WEB}: `config` must be a dict, got ['hosts'] (list)"


# -- scopes and unknown keys ------------------------------------------------------------------------


def test_app_only_key_in_global_file(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project("config = {'hosts': ['a.com']}")

    problem = only(problems_of(root))

    assert problem.code == "config.wrong_scope"
    assert (problem.key, problem.file) == ("hosts", "mega_config.py")
    assert problem.message == "'hosts' belongs in apps/web/app_config.py, not mega_config.py"


def test_app_only_key_in_global_file_with_several_apps(
    make_project: MakeProject, problems_of: Problems
) -> None:
    root = make_project("config = {'cors': True}", {"web": None, "admin": None})

    problem = only(problems_of(root))

    assert problem.message == "'cors' belongs in apps/<name>/app_config.py, not mega_config.py"


def test_global_only_key_in_app_file(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project(apps={"web": "config = {'server': {'port': 1}, 'logger': {}}"})

    problems = problems_of(root)

    assert [(p.code, p.key, p.file) for p in problems] == [
        ("config.wrong_scope", "server", WEB),
        ("config.wrong_scope", "logger", WEB),
    ]
    assert problems[0].message == f"'server' belongs in mega_config.py, not {WEB}"
    assert problems[1].message == f"'logger' belongs in mega_config.py, not {WEB}"


def test_keys_of_both_scopes_are_accepted_in_both_files(make_project: MakeProject) -> None:
    root = make_project("config = {'lock': {'ttl': 3}}", {"web": "config = {'bus': {'prefix': 'web'}}"})

    project = load_project_config(root, environ={})

    assert project.values["lock"]["ttl"] == 3.0
    assert project.apps["web"].values["bus"]["prefix"] == "web."


def test_unknown_key_with_did_you_mean(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project("config = {'sever': {}}")

    problem = only(problems_of(root))

    assert problem.code == "config.unknown_key"
    assert (problem.key, problem.file) == ("sever", "mega_config.py")
    assert problem.message == "unknown key 'sever' in mega_config.py — did you mean 'server'?"
    assert problem.hint is not None and "server, services" in problem.hint


def test_did_you_mean_only_suggests_keys_of_that_file(
    make_project: MakeProject, problems_of: Problems
) -> None:
    # `host` is close to the app-only `hosts`, but only global keys are suggested in mega_config.py
    root = make_project("config = {'hostz': []}", {"web": "config = {'hostz': []}"})

    problems = problems_of(root)

    assert [p.message for p in problems] == [
        "unknown key 'hostz' in mega_config.py",
        f"unknown key 'hostz' in {WEB} — did you mean 'hosts'?",
    ]


def test_unknown_key_without_suggestion(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project("config = {'zzz': 1}")

    problem = only(problems_of(root))

    assert problem.message == "unknown key 'zzz' in mega_config.py"
    assert problem.hint is not None and problem.hint.startswith("valid keys in mega_config.py: apps, bus,")


@pytest.mark.parametrize(
    ("text", "key", "suggestion"),
    [
        ("{'server': {'prot': 3000}}", "server.prot", "server.port"),
        ("{'logger': {'levle': 'info'}}", "logger.levle", "logger.level"),
        ("{'health': {'expose_detail': True}}", "health.expose_detail", "health.expose_details"),
        ("{'watch': {'ignored': []}}", "watch.ignored", "watch.ignore"),
        ("{'services': {'cache': {}}}", "services.cache", "services.caches"),
    ],
)
def test_unknown_nested_key(
    make_project: MakeProject, problems_of: Problems, text: str, key: str, suggestion: str
) -> None:
    root = make_project(f"config = {text}")

    problem = only(problems_of(root))

    assert (problem.code, problem.key, problem.file) == ("config.unknown_key", key, "mega_config.py")
    assert problem.message == f"unknown key {key!r} in mega_config.py — did you mean {suggestion!r}?"


def test_unknown_middleware_stage(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project(apps={"web": "config = {'middleware': {'befor': []}}"})

    problem = only(problems_of(root))

    assert problem.message == f"unknown key 'middleware.befor' in {WEB} — did you mean 'middleware.before'?"
    assert problem.hint == "valid keys under middleware: after, before, transform"


# -- types and values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("{'server': {'port': 'abc'}}", "server.port", "server.port must be an integer 1-65535, got 'abc'"),
        ("{'server': {'port': 0}}", "server.port", "server.port must be an integer 1-65535, got 0"),
        ("{'server': {'port': 70000}}", "server.port", "server.port must be an integer 1-65535, got 70000"),
        (
            "{'server': {'max_header_bytes': 10}}",
            "server.max_header_bytes",
            "server.max_header_bytes must be an integer 1024-16777216, got 10",
        ),
        (
            "{'server': {'body_limit': -1}}",
            "server.body_limit",
            "server.body_limit must be an integer >= 0, got -1",
        ),
        (
            "{'server': {'shutdown_timeout': 0}}",
            "server.shutdown_timeout",
            "server.shutdown_timeout must be a duration > 0 (seconds, or a string like '30s', '5m', '1h'), "
            "got 0",
        ),
        (
            "{'health': {'check_timeout': 'soon'}}",
            "health.check_timeout",
            "health.check_timeout must be a duration > 0 (seconds, or a string like '30s', '5m', '1h'), "
            "got 'soon'",
        ),
        (
            "{'server': {'trailing_slash': 'add'}}",
            "server.trailing_slash",
            "server.trailing_slash must be one of redirect, strict, got 'add'",
        ),
        (
            "{'logger': {'level': 'verbose'}}",
            "logger.level",
            "logger.level must be one of debug, info, warning, error, critical, got 'verbose'",
        ),
        ("{'env': 'prod'}", "env", "env must be one of development, production, test, got 'prod'"),
        ("{'apps': ['web', 'web']}", "apps[1]", "apps[1] lists 'web' twice"),
    ],
)
def test_invalid_value(
    make_project: MakeProject, problems_of: Problems, text: str, key: str, message: str
) -> None:
    root = make_project(f"config = {text}")

    problem = only(problems_of(root))

    assert (problem.code, problem.key, problem.file) == ("config.invalid_value", key, "mega_config.py")
    assert problem.message == f"mega_config.py: {message}"
    assert problem.hint is None or problem.hint


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("{'logger': {'access_log': 'yes'}}", "logger.access_log", "must be a boolean, got 'yes' (str)"),
        ("{'health': {'expose_details': 1}}", "health.expose_details", "must be a boolean, got 1 (int)"),
        ("{'server': {'port': 80.5}}", "server.port", "must be an integer 1-65535, got 80.5 (float)"),
        ("{'server': {'port': True}}", "server.port", "must be an integer 1-65535, got True (bool)"),
        ("{'server': 3000}", "server", "must be a dict, got 3000 (int)"),
        ("{'server': {'host': ''}}", "server.host", "must be a non-empty string, got '' (str)"),
        ("{'watch': {'paths': 'apps'}}", "watch.paths", "must be a list of strings, got 'apps' (str)"),
        ("{'watch': {'ignore': ['*.pyc', 3]}}", "watch.ignore[1]", "must be a non-empty string, got 3 (int)"),
        ("{'apps': 'web'}", "apps", "must be a list of app names or None, got 'web' (str)"),
        ("{'lock': {'ttl': [1]}}", "lock.ttl", "must be a duration > 0 (seconds, or a string like '30s', "
         "'5m', '1h'), got [1] (list)"),
        ("{'bus': ['nats']}", "bus", "must be a dict, got ['nats'] (list)"),
        (
            "{'services': {'dbs': {'main': {'driver': 5}}}}",
            "services.dbs.main.driver",
            "must be a non-empty string, got 5 (int)",
        ),
        ("{'services': {'dbs': []}}", "services.dbs", "must be a dict, got [] (list)"),
    ],
)
def test_invalid_type_in_global_file(
    make_project: MakeProject, problems_of: Problems, text: str, key: str, message: str
) -> None:
    root = make_project(f"config = {text}")

    problem = only(problems_of(root))

    assert (problem.code, problem.key, problem.file) == ("config.invalid_type", key, "mega_config.py")
    assert problem.message == f"mega_config.py: {key} {message}"


@pytest.mark.parametrize(
    ("text", "code", "key", "message"),
    [
        ("{'default': 'no'}", "config.invalid_type", "default", "default must be a boolean, got 'no' (str)"),
        (
            "{'hosts': 'a.com'}",
            "config.invalid_type",
            "hosts",
            "hosts must be a list of host names, got 'a.com' (str)",
        ),
        (
            "{'session': 'file'}",
            "config.invalid_type",
            "session",
            "session must be a dict, None, True or False, got 'file' (str)",
        ),
        (
            "{'middleware': {'before': [42]}}",
            "config.invalid_type",
            "middleware.before[0]",
            "middleware.before[0] must be a callable or a middleware name, got 42 (int)",
        ),
        (
            "{'headers': {'X-Count': 3}}",
            "config.invalid_type",
            "headers.X-Count",
            "headers.X-Count must be a string, got 3 (int)",
        ),
        (
            "{'headers': {'X Bad': 'v'}}",
            "config.invalid_value",
            "headers.X Bad",
            "headers has an invalid HTTP header name 'X Bad'",
        ),
        (
            "{'headers': {'X-Ok': 'a\\r\\nSet-Cookie: x'}}",
            "config.invalid_value",
            "headers.X-Ok",
            "headers.X-Ok must not contain CR, LF or NUL, got 'a\\r\\nSet-Cookie: x'",
        ),
    ],
)
def test_invalid_app_values(
    make_project: MakeProject, problems_of: Problems, text: str, code: str, key: str, message: str
) -> None:
    root = make_project(apps={"web": f"config = {text}"})

    problem = only(problems_of(root))

    assert (problem.code, problem.key, problem.file) == (code, key, WEB)
    assert problem.message == f"{WEB}: {message}"


@pytest.mark.parametrize(
    ("host", "suggestion"),
    [
        ("a.com:80", "'a.com'"),
        ("http://a.com", "'a.com'"),
        ("https://A.com:8443/x", "'a.com'"),
        ("a b", None),
    ],
)
def test_host_with_port_or_scheme(
    make_project: MakeProject, problems_of: Problems, host: str, suggestion: str | None
) -> None:
    root = make_project(apps={"web": f"config = {{'hosts': ['ok.com', {host!r}]}}"})

    problem = only(problems_of(root))

    assert (problem.code, problem.key) == ("config.invalid_value", "hosts[1]")
    assert problem.message == f"{WEB}: hosts[1] must be a bare host name, got {host!r}"
    assert problem.hint is not None and "without scheme, port or path" in problem.hint
    if suggestion:
        assert problem.hint.endswith(suggestion)


def test_service_without_driver(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project("config = {'services': {'caches': {'rate': {'url': 'redis://x'}}}}")

    problem = only(problems_of(root))

    assert (problem.code, problem.key) == ("config.invalid_value", "services.caches.rate.driver")
    assert problem.message == "mega_config.py: services.caches.rate.driver is required"
    assert problem.hint is not None and "'driver': 'redis'" in problem.hint


# -- apps -------------------------------------------------------------------------------------------


def test_unknown_app_in_whitelist(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project("config = {'apps': ['web', 'admin']}", {"web": None, "api": None})

    problem = only(problems_of(root))

    assert (problem.code, problem.key, problem.file) == ("config.unknown_app", "apps", "mega_config.py")
    assert problem.message == (
        "mega_config.py: apps lists 'admin', but there is no folder apps/admin/ (found: api, web)"
    )
    assert problem.hint is not None and "mega g app admin" in problem.hint


def test_no_apps_folder(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project(apps={})

    problem = only(problems_of(root))

    assert (problem.code, problem.file) == ("config.no_apps", "apps/")
    assert problem.message == f"no apps found: there is no apps/ folder in {root.resolve()}"
    assert problem.hint is not None and "mega g app NAME" in problem.hint


def test_empty_apps_folder(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project(apps={})
    (root / "apps" / "__pycache__").mkdir(parents=True)

    problem = only(problems_of(root))

    assert problem.code == "config.no_apps"
    assert problem.message == f"no apps found: apps/ in {root.resolve()} has no app folders"


def test_empty_whitelist(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project("config = {'apps': []}")

    problem = only(problems_of(root))

    assert (problem.code, problem.key, problem.file) == ("config.no_apps", "apps", "mega_config.py")
    assert problem.message == "mega_config.py: apps is an empty list, so no app would run"


def test_two_apps_claim_one_host(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project(
        apps={"admin": "config = {'hosts': ['a.com', 'b.com']}", "web": "config = {'hosts': ['A.com']}"}
    )

    problem = only(problems_of(root))

    assert (problem.code, problem.key, problem.file) == ("config.duplicate_host", "hosts", WEB)
    assert problem.message == (
        "host 'a.com' is claimed by two apps: 'admin' (apps/admin/app_config.py)"
        " and 'web' (apps/web/app_config.py)"
    )


def test_two_default_apps(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project(
        apps={
            "admin": "config = {'default': True}",
            "api": "config = {'default': False}",
            "web": "config = {'default': True}",
        }
    )

    problem = only(problems_of(root))

    assert (problem.code, problem.key, problem.file) == ("config.duplicate_default", "default", WEB)
    assert problem.message == "more than one app sets default: True: admin, web"


# -- all together -----------------------------------------------------------------------------------


def test_every_problem_in_every_file_is_reported_at_once(
    make_project: MakeProject, problems_of: Problems
) -> None:
    root = make_project(
        "config = {'sever': {}, 'server': {'port': 'abc'}, 'hosts': [], 'apps': ['web', 'api', 'ghost']}",
        {
            "web": "config = {'server': {}, 'hosts': ['a.com'], 'default': True}",
            "api": "config = {'hosts': ['a.com'], 'default': True, 'cors': 'yes'}",
        },
    )

    problems = problems_of(root)

    assert [(p.code, p.key, p.file) for p in problems] == [
        ("config.wrong_scope", "hosts", "mega_config.py"),
        ("config.unknown_key", "sever", "mega_config.py"),
        ("config.invalid_value", "server.port", "mega_config.py"),
        ("config.unknown_app", "apps", "mega_config.py"),
        ("config.wrong_scope", "server", WEB),
        ("config.invalid_type", "cors", "apps/api/app_config.py"),
        ("config.duplicate_host", "hosts", "apps/api/app_config.py"),
        ("config.duplicate_default", "default", "apps/api/app_config.py"),
    ]


def test_error_carries_all_problems(make_project: MakeProject) -> None:
    root = make_project("config = {'sever': {}, 'logger': {'access_log': 'yes'}}")

    with pytest.raises(ConfigError) as caught:
        load_project_config(root, environ={})
    error = caught.value

    assert isinstance(error, MegaError)
    assert (error.code, error.status) == ("config.invalid", 500)
    assert error.message == (
        "unknown key 'sever' in mega_config.py — did you mean 'server'?\n"
        "mega_config.py: logger.access_log must be a boolean, got 'yes' (str)"
    )
    lines = str(error).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        "unknown key 'sever' in mega_config.py — did you mean 'server'? (hint: valid keys"
    )
    assert lines[1].startswith(
        "mega_config.py: logger.access_log must be a boolean, got 'yes' (str) (hint: use True"
    )
    assert error.hint is None  # several problems: each keeps its own hint
    assert error.details["problems"][0] == {
        "code": "config.unknown_key",
        "key": "sever",
        "file": "mega_config.py",
        "message": "unknown key 'sever' in mega_config.py — did you mean 'server'?",
        "hint": error.problems[0].hint,
    }
    json.dumps(error.to_dict())  # the HTTP/CLI body is plain data


def test_single_problem_hint_is_the_error_hint(make_project: MakeProject) -> None:
    root = make_project("config = {'apps': []}")

    with pytest.raises(ConfigError) as caught:
        load_project_config(root, environ={})

    assert caught.value.hint == caught.value.problems[0].hint
    assert caught.value.hint is not None


def test_problems_are_frozen_values() -> None:
    problem = ConfigProblem("config.unknown_key", "sever", "mega_config.py", "unknown key 'sever'", None)

    with pytest.raises(AttributeError):
        problem.key = "server"  # type: ignore[misc]
    assert problem == ConfigProblem(
        "config.unknown_key", "sever", "mega_config.py", "unknown key 'sever'", None
    )


def test_problem_codes_are_unique_and_all_used_ones_listed() -> None:
    source = "".join(path.read_text() for path in Path(mega.config.__file__).parent.glob("*.py"))

    used = set(re.findall(r'"(config\.[a-z_]+)"', source)) - {"config.invalid"}

    assert len(PROBLEM_CODES) == len(set(PROBLEM_CODES))
    assert used == set(PROBLEM_CODES)
