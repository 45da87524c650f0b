"""Feature sections: registered beside their feature, refused by name while not built, and every problem
of every section and file found in one pass."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mega.config import ConfigProblem, load_project_config
from mega.config import _checks as c
from mega.config._specs import Leaf, Section, const
from mega.config.sections import APP, NOT_BUILT, Resolve, register_section, unregister_section

MakeProject = Callable[..., Path]
Problems = Callable[..., list[ConfigProblem]]

WEB = "apps/web/app_config.py"
GLOBAL_KEYS = ("plugins",)
APP_KEYS = ("security",)


def test_the_unbuilt_features_are_the_ones_the_issue_lists() -> None:
    assert set(NOT_BUILT) == set(GLOBAL_KEYS) | set(APP_KEYS)


@pytest.mark.parametrize("key", sorted(NOT_BUILT))
@pytest.mark.parametrize("where", ["global", "app"])
def test_a_key_of_an_unbuilt_feature_is_refused_naming_the_feature(
    make_project: MakeProject, problems_of: Problems, key: str, where: str
) -> None:
    text = f"config = {{{key!r}: {{'enabled': True}}}}"
    root = make_project(text, {"web": text if where == "app" else "config = {}"}) if where == "app" \
        else make_project(text)
    file = WEB if where == "app" else "mega_config.py"
    found = [p for p in problems_of(root) if p.file == file]

    assert len(found) == 1
    problem = found[0]
    assert (problem.code, problem.key) == ("config.not_supported", key)
    assert problem.message == (f"{file}: {key}: {NOT_BUILT[key]} is not built yet in this version of mega; "
                               "remove the key")
    assert problem.hint == f"remove {key!r} from {file}: mega does not read it yet, so it would do nothing"


def test_not_supported_is_collected_with_every_other_problem(make_project: MakeProject,
                                                             problems_of: Problems) -> None:
    root = make_project("config = {'plugins': {'dirs': ['vendor']}, 'server': {'port': 0}}",
                        {"web": "config = {'security': True, 'hostz': []}"})

    assert [(p.code, p.key, p.file) for p in problems_of(root)] == [
        ("config.not_supported", "plugins", "mega_config.py"),
        ("config.invalid_value", "server.port", "mega_config.py"),
        ("config.not_supported", "security", WEB),
        ("config.unknown_key", "hostz", WEB),
    ]


@pytest.fixture
def hub_section() -> Iterator[None]:
    """A feature that turns `security` on by registering its section (as a later issue will)."""

    def settings(value: dict[str, Any], resolve: Resolve) -> tuple[str, float]:
        return value["root"], value["max_age"]

    spec = Section({"root": Leaf(c.string, const("public")), "max_age": Leaf(c.duration(), const(3600.0))})
    register_section("security", spec, scope=APP, settings=settings)
    yield
    unregister_section("security")


def test_registering_a_section_turns_its_key_on(make_project: MakeProject, problems_of: Problems,
                                                hub_section: None) -> None:
    root = make_project(apps={"web": "config = {'security': {'max_age': '1h'}}"})
    app = load_project_config(root, environ={}).apps["web"]
    assert app.values["security"] == {"root": "public", "max_age": 3600.0}
    assert app.settings["security"] == ("public", 3600.0)

    bad = make_project("config = {'security': {}}", {"web": "config = {'security': {'rooot': 'x'}}"},
                       name="bad")
    assert [(p.code, p.key, p.file, p.message) for p in problems_of(bad)] == [
        ("config.wrong_scope", "security", "mega_config.py",
         f"'security' belongs in {WEB}, not mega_config.py"),
        ("config.unknown_key", "security.rooot", WEB,
         f"unknown key 'security.rooot' in {WEB} — did you mean 'security.root'?"),
    ]


def test_every_problem_of_every_section_and_file_in_one_pass(make_project: MakeProject,
                                                             problems_of: Problems) -> None:
    root = make_project(
        "config = {'lock': {'redis': 'nope', 'ttl': -1}, 'bus': {'request_timeout': 'never'}}",
        {
            "web": "config = {'session': {'ttl': 0}, 'cors': {'origins': []}, 'csrf': 'on', "
                   "'rate_limit': {'max': 0, 'window': 60}, 'helmet': 5}",
            "admin": "config = {'lock': {'wiat': 1}, 'session': {'store': {'cache': 'sessions'}}}",
        },
    )

    # each file in its key order, then the checks across sections
    assert [(p.code, p.key, p.file) for p in problems_of(root)] == [
        ("config.invalid_value", "lock.ttl", "mega_config.py"),
        ("config.invalid_value", "bus.request_timeout", "mega_config.py"),
        ("config.unknown_key", "lock.wiat", "apps/admin/app_config.py"),
        ("config.invalid_value", "session.ttl", WEB),
        ("config.invalid_value", "cors.origins", WEB),
        ("config.invalid_type", "csrf", WEB),
        ("config.invalid_value", "rate_limit.max", WEB),
        ("config.invalid_type", "helmet", WEB),
        ("config.unknown_alias", "lock.redis", "mega_config.py"),
        ("config.unknown_alias", "session.store.cache", "apps/admin/app_config.py"),
    ]


def test_a_cross_section_alias_check_runs_once_every_file_is_read(make_project: MakeProject,
                                                                   problems_of: Problems) -> None:
    root = make_project(
        "config = {'services': {'redis': {'rate': {'url': 'redis://127.0.0.1:6379/0'}}}}",
        {"web": "config = {'rate_limit': {'max': 5, 'window': '1m', 'redis': 'rat'}}"},
    )
    [problem] = problems_of(root)
    assert (problem.code, problem.key, problem.file) == ("config.unknown_alias", "rate_limit.redis", WEB)
    assert problem.message == (f"{WEB}: rate_limit.redis names 'rat', which is not declared in "
                               "services.redis (declared: rate)")
    assert problem.hint == ("did you mean 'rate'? declare it in mega_config.py: services = {'redis': "
                            "{'rat': {'url': 'redis://127.0.0.1:6379/0'}}}")


def test_a_redis_connection_needs_a_url(make_project: MakeProject, problems_of: Problems) -> None:
    [problem] = problems_of(make_project("config = {'services': {'redis': {'main': {'db': 1}}}}"))
    assert (problem.code, problem.key) == ("config.invalid_value", "services.redis.main.url")
    assert problem.message == "mega_config.py: services.redis.main.url is required"
