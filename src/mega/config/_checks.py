"""Leaf checks: each takes a raw config value and returns it validated (maybe coerced) or raises `Invalid`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

INVALID_TYPE = "config.invalid_type"
INVALID_VALUE = "config.invalid_value"

Check = Callable[[Any], Any]

# Strings that read naturally as booleans when a value comes from the environment.
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
# RFC 9110 token characters: what an HTTP header name may contain.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


class Invalid(Exception):
    """A value failed a check. `text` completes the sentence "<key> ..."; `subkey` locates it further."""

    def __init__(self, code: str, text: str, *, hint: str | None = None, subkey: str = "") -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.hint = hint
        self.subkey = subkey


def wrong_type(expected: str, value: Any) -> Invalid:
    return Invalid(INVALID_TYPE, f"must be {expected}, got {value!r} ({type(value).__name__})")


def integer(low: int, high: int | None = None) -> Check:
    """An int in [low, high]; a digit string (as environment variables are) is coerced."""
    expected = f"an integer {low}-{high}" if high is not None else f"an integer >= {low}"

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise wrong_type(expected, value)
        if isinstance(value, str):
            text = value.strip()
            if not (text.isascii() and text.isdigit()):
                raise Invalid(INVALID_VALUE, f"must be {expected}, got {value!r}")
            value = int(text)
        if value < low or (high is not None and value > high):
            raise Invalid(INVALID_VALUE, f"must be {expected}, got {value!r}")
        return int(value)

    return check


def positive_number(value: Any) -> float:
    """A finite number > 0 (seconds, usually); a numeric string is coerced."""
    expected = "a number > 0"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise wrong_type(expected, value)
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise Invalid(INVALID_VALUE, f"must be {expected}, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise Invalid(INVALID_VALUE, f"must be {expected}, got {value!r}")
    return float(number)


def boolean(value: Any) -> bool:
    """A real bool; "true"/"false"/"1"/"0" are accepted for values read from the environment."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise Invalid(
        INVALID_TYPE,
        f"must be a boolean, got {value!r} ({type(value).__name__})",
        hint="use True or False ('true', 'false', '1' and '0' are accepted from the environment)",
    )


def string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise wrong_type("a non-empty string", value)
    return value


def choice(*options: str) -> Check:
    listed = ", ".join(options)

    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise Invalid(
                INVALID_VALUE, f"must be one of {listed}, got {value!r}", hint=f"use one of: {listed}"
            )
        return value

    return check


def list_of(item: Check | None, expected: str = "a list") -> Check:
    """A list (or tuple) whose items each pass `item`; returns a new list."""

    def check(value: Any) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise wrong_type(expected, value)
        if item is None:
            return list(value)
        result = []
        for index, element in enumerate(value):
            try:
                result.append(item(element))
            except Invalid as exc:
                exc.subkey = f"[{index}]{exc.subkey}"
                raise
        return result

    return check


def optional(check: Check) -> Check:
    def checked(value: Any) -> Any:
        return None if value is None else check(value)

    return checked


def dict_or_none(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise wrong_type("a dict or None", value)
    return value


def dict_bool_or_none(value: Any) -> dict[str, Any] | bool | None:
    if value is not None and not isinstance(value, dict | bool):
        raise wrong_type("a dict, a bool or None", value)
    return value


def app_names(value: Any) -> list[str] | None:
    """The `apps` whitelist: None (every folder) or a list of distinct folder names."""
    if value is None:
        return None
    names: list[str] = list_of(string, "a list of app names or None")(value)
    for index, name in enumerate(names):
        if name in names[:index]:
            raise Invalid(
                INVALID_VALUE, f"lists {name!r} twice", hint="list each app once", subkey=f"[{index}]"
            )
    return names


def host(value: Any) -> str:
    """A bare host name, lowercased: no scheme, no port, no path."""
    if not isinstance(value, str):
        raise wrong_type("a host name string", value)
    name = value.strip().lower()
    if _HOSTNAME.match(name):
        return name
    bare = name.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    hint = "write the host name only, without scheme, port or path"
    if bare and _HOSTNAME.match(bare):
        hint += f": {bare!r}"
    raise Invalid(INVALID_VALUE, f"must be a bare host name, got {value!r}", hint=hint)


def header_name(value: Any) -> str:
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise Invalid(
            INVALID_VALUE,
            f"has an invalid HTTP header name {value!r}",
            hint="header names are tokens: letters, digits and !#$%&'*+-.^_`|~, no spaces or colons",
        )
    return value


def header_value(value: Any) -> str:
    if not isinstance(value, str):
        raise wrong_type("a string", value)
    if any(char in value for char in "\r\n\0"):
        raise Invalid(
            INVALID_VALUE,
            f"must not contain CR, LF or NUL, got {value!r}",
            hint="remove the line breaks: a header value is a single line",
        )
    return value


def callable_or_name(value: Any) -> Any:
    """A middleware: a callable, or the name of one (resolved by the app loader)."""
    if isinstance(value, str) and value:
        return value
    if callable(value):
        return value
    raise wrong_type("a callable or a middleware name", value)


def alias(value: Any) -> str:
    """The name an adapter is declared under (`services.dbs.<alias>`)."""
    if not isinstance(value, str) or not value:
        raise Invalid(INVALID_TYPE, f"has an invalid alias {value!r}", hint="aliases are non-empty strings")
    return value


def host_list(value: Any) -> list[str]:
    """`hosts`: bare host names, lowercased; a repeat within one app is harmless and dropped."""
    names: list[str] = list_of(host, "a list of host names")(value)
    return list(dict.fromkeys(names))
