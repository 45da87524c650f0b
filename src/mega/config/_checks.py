"""Leaf checks: each takes a raw config value and returns it validated (maybe coerced) or raises `Invalid`."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from typing import Any

from mega._digits import ascii_digits

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
            if not ascii_digits(text):
                raise Invalid(INVALID_VALUE, f"must be {expected}, got {value!r}")
            value = int(text)
        if value < low or (high is not None and value > high):
            raise Invalid(INVALID_VALUE, f"must be {expected}, got {value!r}")
        return int(value)

    return check




WORKERS_HINT = "use an integer >= 1 (workers), 'auto' (one per CPU), or 0 / leave it unset for one process"
MAX_WORKERS = 1024  # a typo ('10000' for '10') would fork that many processes before anything failed


def workers(value: Any) -> int | str:
    """`server.workers` (cluster mode): an int >= 0 (a digit string too) or "auto"."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        if ascii_digits(text):
            value = int(text)
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_WORKERS:
        raise Invalid("cluster.invalid_workers", f"must be at most {MAX_WORKERS}, got {value!r}",
                      hint=f"{WORKERS_HINT} ('auto' is {os.cpu_count() or 1} on this machine)")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise Invalid("cluster.invalid_workers", f"must be an integer >= 0 or 'auto', got {value!r}",
                  hint=WORKERS_HINT)


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
    """One of `options` (lowercase), in any case: "INFO" is "info"; returns the option itself."""
    listed = ", ".join(options)

    def check(value: Any) -> str:
        text = value.strip().lower() if isinstance(value, str) else None
        if text not in options:
            raise Invalid(
                INVALID_VALUE, f"must be one of {listed}, got {value!r}", hint=f"use one of: {listed}"
            )
        return text

    return check


_UNITS = {
    "ms": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}  # fmt: skip
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*")
DURATION_HINT = (
    "write a number of seconds (30, 0.25) or a number and a unit: '250ms', '30s', '5m', '1h', '2 days'"
)


def parse_duration(value: Any) -> float | None:
    """Seconds from a number (not a bool) or a string such as '250ms', '5m', '1 minute'; None if neither.

    A string without a unit is seconds, as environment variables write numbers ('0.5').
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    match = _DURATION.fullmatch(value)
    unit = (_UNITS.get(match[2].lower()) if match[2] else 1.0) if match else None
    return None if match is None or unit is None else float(match[1]) * unit


def duration(*, zero_ok: bool = False, inf_ok: bool = False, most: float | None = None) -> Check:
    """A duration in float seconds: a number, or a string with a unit (see `parse_duration`)."""
    expected = "a duration >= 0" if zero_ok else "a duration > 0"
    if most is not None:
        expected += f" and at most {_human(most)}"
    expected += " (seconds, or a string like '30s', '5m', '1h')"

    def check(value: Any) -> float:
        seconds = parse_duration(value)
        if seconds is None:
            if isinstance(value, str):
                raise Invalid(INVALID_VALUE, f"must be {expected}, got {value!r}", hint=DURATION_HINT)
            raise Invalid(INVALID_TYPE, f"must be {expected}, got {value!r} ({type(value).__name__})",
                          hint=DURATION_HINT)
        too_big = (most is not None and seconds > most) or (math.isinf(seconds) and not inf_ok)
        if math.isnan(seconds) or seconds < 0 or (seconds == 0 and not zero_ok) or too_big:
            raise Invalid(INVALID_VALUE, f"must be {expected}, got {value!r}", hint=DURATION_HINT)
        return seconds

    return check


def _human(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def whole_seconds(check: Check) -> Check:
    """`check` (a duration), rounded to whole seconds: for values sent as integers in headers."""
    return lambda value: round(check(value))




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


def on_off(default: bool) -> Check:
    """True or False; None means `default`."""
    return lambda value: default if value is None else boolean(value)






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
