"""The `static` config section (app_config.py) and the settings an app's static files get.

    static = {"prefix": "/assets/"}         # URL prefix (default "/static/")
    static = {"max_age": "1h"}              # Cache-Control max-age of plain URLs (default 0: revalidate)
    static = {"precompressed": False}       # never serve file.br / file.gz siblings
    static = False                          # off: public/ is not served
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, Switch, const
from mega.config.sections import APP, Resolve, register_section, section_settings

__all__ = ["DEFAULT_PREFIX", "STATIC", "StaticSettings", "static_settings"]

DEFAULT_PREFIX = "/static/"
_PREFIX_HINT = "use a path such as '/static/' or '/assets/' (not '/', which would cover every route)"


@dataclass(frozen=True)
class StaticSettings:
    enabled: bool
    prefix: str  # starts and ends with "/"
    max_age: int  # whole seconds, for URLs without a content hash
    precompressed: bool


DEFAULT = StaticSettings(True, DEFAULT_PREFIX, 0, True)
OFF = StaticSettings(False, DEFAULT_PREFIX, 0, True)


def _prefix(value: Any) -> str:
    text = c.string(value)
    if not text.startswith("/") or text.strip("/") == "":
        raise c.Invalid(c.INVALID_VALUE, f"must be a path under '/' such as '/static/', got {value!r}",
                        hint=_PREFIX_HINT)
    if any(ch in text for ch in "?#%\\\0 ") or any(seg in (".", "..") for seg in text.split("/")):
        raise c.Invalid(c.INVALID_VALUE, f"must be a plain path (no '?', '#', '%', '\\', spaces or dot "
                        f"segments), got {value!r}", hint=_PREFIX_HINT)
    return text if text.endswith("/") else text + "/"


STATIC = Switch(
    Section(
        {
            "prefix": Leaf(_prefix, const(DEFAULT_PREFIX)),
            "max_age": Leaf(c.whole_seconds(c.duration(zero_ok=True)), const(0)),
            "precompressed": Leaf(c.boolean, const(True)),
        }
    ),
    None,
    "None, False or a dict",
    hint="e.g. static = {'prefix': '/assets/', 'max_age': '1h'}; static = False turns it off",
    true_ok=True,
)


def static_section_settings(value: Any, resolve: Resolve) -> StaticSettings:
    if value is False:
        return OFF
    return StaticSettings(True, value["prefix"], int(value["max_age"]), value["precompressed"])


def static_settings(config: Mapping[str, Any], *, file: str) -> StaticSettings:
    """The section of an app config dict (raw, or as the loader validated it)."""
    if config.get("static") is None:
        return DEFAULT
    settings: StaticSettings = section_settings(config, ("static",), file=file)["static"]
    return settings


register_section("static", STATIC, scope=APP, settings=static_section_settings)
