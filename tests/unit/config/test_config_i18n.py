"""The `i18n` section: accepted in both files, locales checked with CLDR, app keys laid over global ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mega.config import ConfigProblem, load_project_config
from mega.i18n._settings import DEFAULT, I18nSettings

MakeProject = Callable[..., Path]
Problems = Callable[..., list[ConfigProblem]]


def test_apps_lay_their_keys_over_the_global_ones(make_project: MakeProject) -> None:
    root = make_project("config = {'i18n': {'default_locale': 'en-GB', 'cookie': 'lang'}}",
                        {"web": "config = {'i18n': {'default_locale': 'KO', 'query_param': None}}",
                         "admin": "config = {}"})
    config = load_project_config(root, environ={})

    assert config.settings["i18n"] == I18nSettings(True, "en_GB", "lang", "lang", True, "mega_config.py")
    assert config.apps["web"].settings["i18n"] == I18nSettings(True, "ko", None, "lang", True,
                                                               "apps/web/app_config.py")
    assert config.apps["admin"].settings["i18n"] == config.settings["i18n"]


def test_without_the_section_the_defaults_apply(make_project: MakeProject) -> None:
    config = load_project_config(make_project(), environ={})
    settings = config.apps["web"].settings["i18n"]
    assert (settings.enabled, settings.default_locale, settings.query_param, settings.cookie) == (
        DEFAULT.enabled, "en", "lang", "mega_lang")


def test_bad_values_are_config_problems_with_hints(make_project: MakeProject, problems_of: Problems) -> None:
    root = make_project("config = {'i18n': {'default_locale': 'englsh', 'cookie': 'my lang'}}",
                        {"web": "config = {'i18n': {'default_locale': 'xx-YY', 'enabld': False}}"})
    found = problems_of(root)

    assert [(p.code, p.key, p.file) for p in found] == [
        ("config.invalid_value", "i18n.default_locale", "mega_config.py"),
        ("config.invalid_value", "i18n.cookie", "mega_config.py"),
        ("config.invalid_value", "i18n.default_locale", "apps/web/app_config.py"),
        ("config.unknown_key", "i18n.enabld", "apps/web/app_config.py"),
    ]
    assert found[0].message == "mega_config.py: i18n.default_locale is 'englsh', which is not a CLDR locale"
    assert found[0].hint is not None and found[0].hint.endswith(
        "use a language code, optionally with a region: 'en', 'ko', 'pt_BR'")
    assert found[1].hint is not None and "no spaces" in found[1].hint
    assert "did you mean 'i18n.enabled'?" in found[3].message
