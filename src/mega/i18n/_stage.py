"""Boot stage "i18n" (after "apps"): each app's catalogs read, checked and compiled, once.

An app with i18n off, or without catalogs, keeps the pass-through (`I18n`) and Babel is not loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mega.config._problems import ConfigError, ConfigProblem
from mega.i18n._catalog import catalog_files
from mega.i18n._i18n import I18n
from mega.i18n._settings import DEFAULT

if TYPE_CHECKING:
    from mega.boot.runtime import Runtime

__all__ = ["CATALOG_DIR", "i18n_stage"]

CATALOG_DIR = ("locales", "server")


def i18n_stage(rt: Runtime) -> None:
    problems: list[ConfigProblem] = []
    for name, app in rt.apps.items():
        app_cfg = rt.config.apps[name]
        settings = app_cfg.settings.get("i18n", DEFAULT)
        files = catalog_files(app_cfg.dir.joinpath(*CATALOG_DIR)) if settings.enabled else []
        if not files:
            app.i18n = I18n(settings)
            continue
        from mega.i18n._translator import build_translator  # Babel, only for apps with catalogs

        translator = build_translator(settings, files, rt.root, app.log, problems)
        if translator is not None:
            app.i18n = translator
    if problems:
        raise ConfigError(problems)
