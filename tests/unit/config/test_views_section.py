"""The `views` section of app_config.py: defaults, each key checked, and a typo named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mega.config import ConfigProblem, load_project_config
from mega.views._settings import ViewsSettings

MakeProject = Callable[..., Path]
Problems = Callable[..., list[ConfigProblem]]
WEB = "apps/web/app_config.py"


def test_defaults(make_project: MakeProject) -> None:
    app = load_project_config(make_project(), environ={}).apps["web"]
    assert app.settings["views"] == ViewsSettings("views", "layouts/main.html", None, True)


def test_every_key(make_project: MakeProject) -> None:
    text = ("config = {'views': {'folder': 'templates', 'layout': None, 'auto_reload': True, "
            "'error_pages': False}}")
    app = load_project_config(make_project(apps={"web": text}), environ={}).apps["web"]
    settings = app.settings["views"]
    assert settings == ViewsSettings("templates", None, True, False)
    assert settings.reloads("production") is True


@pytest.mark.parametrize("env, reloads", [("development", True), ("test", False), ("production", False)])
def test_auto_reload_follows_the_env_unless_set(env: str, reloads: bool) -> None:
    assert ViewsSettings("views", None, None, True).reloads(env) is reloads


@pytest.mark.parametrize("views, key, said", [
    ("{'folder': '../shared'}", "views.folder", "must be a folder inside the app, got '../shared'"),
    ("{'folder': '/srv/views'}", "views.folder", "must be a folder inside the app, got '/srv/views'"),
    ("{'layout': '../x.html'}", "views.layout", "must name a template inside the views folder"),
    ("{'auto_reload': 'sometimes'}", "views.auto_reload", ""),
    ("{'layot': 'a.html'}", "views.layot", "did you mean 'views.layout'"),
    ("'views'", "views", "a dict"),
])
def test_bad_values_are_named(make_project: MakeProject, problems_of: Problems, views: str, key: str,
                              said: str) -> None:
    found = problems_of(make_project(apps={"web": f"config = {{'views': {views}}}"}))
    assert [(p.key, p.file) for p in found] == [(key, WEB)]
    assert said in found[0].message


def test_views_is_an_app_key(make_project: MakeProject, problems_of: Problems) -> None:
    found = problems_of(make_project("config = {'views': {}}"))
    assert [(p.code, p.key) for p in found] == [("config.wrong_scope", "views")]
