"""A message compiled once: its literal runs and its `{name}`, `{name:kind}`, `{name:kind:arg}` slots.

`{{` and `}}` are literal braces; any other brace that does not open a slot is literal text. The kinds
say how a value is written for the locale (`_formats.Formats.value`); a slot without a kind writes a
number or a date for the locale and anything else with `str()`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["KINDS", "BadMessage", "Part", "Slot", "parse", "parse_lenient", "render"]

KINDS = frozenset({"number", "percent", "currency", "date", "time", "datetime", "raw"})
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_]+)(?::([^{}]*))?)?\}")


@dataclass(frozen=True, slots=True)
class Slot:
    name: str
    kind: str | None
    arg: str | None


Part = str | Slot
Format = Callable[[Any, Slot], str]


class BadMessage(ValueError):
    """A slot with an unknown kind, or a currency without its code."""

    def __init__(self, text: str, hint: str) -> None:
        super().__init__(text)
        self.text = text
        self.hint = hint


def parse(text: str, *, strict: bool = True) -> tuple[Part, ...]:
    """The parts of `text`; a bad slot raises BadMessage (strict) or stays literal text."""
    parts: list[Part] = []
    literal: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[pos:match.start()])
        pos = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        name, kind, arg = match.groups()
        problem = _check_slot(name, kind, arg)
        if problem is not None:
            if strict:
                raise problem
            literal.append(token)
            continue
        if any(literal):
            parts.append("".join(literal))
        literal = []
        parts.append(Slot(name, kind, arg))
    literal.append(text[pos:])
    if any(literal) or not parts:
        parts.append("".join(literal))
    return tuple(parts)


@lru_cache(maxsize=512)
def parse_lenient(text: str) -> tuple[Part, ...]:
    """For texts given in code (defaults, keys): parsed once per distinct text, never raising."""
    return parse(text, strict=False)


def _check_slot(name: str, kind: str | None, arg: str | None) -> BadMessage | None:
    if kind is not None and kind not in KINDS:
        return BadMessage(f"uses the unknown format '{{{name}:{kind}}}'",
                          f"formats: {', '.join(sorted(KINDS))}, e.g. '{{{name}:number}}'")
    if kind == "currency" and not arg:
        return BadMessage(f"uses '{{{name}:currency}}' without a currency code",
                          f"name the ISO 4217 code: '{{{name}:currency:EUR}}'")
    return None


def render(parts: tuple[Part, ...], values: Mapping[str, Any], fmt: Format, issues: list[str]) -> str:
    """The text with each slot's value written by `fmt`. A missing value leaves `{name}` in the text
    and a failing format writes `str(value)`; both are added to `issues` (never an exception)."""
    if len(parts) == 1 and isinstance(parts[0], str):
        return parts[0]
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        if part.name not in values:
            issues.append(f"no value for {{{part.name}}}")
            out.append(f"{{{part.name}}}")
            continue
        value = values[part.name]
        try:
            out.append(fmt(value, part))
        except Exception as exc:  # a value the format cannot write must not fail the page
            issues.append(f"{{{part.name}}} could not format {type(value).__name__} {value!r}: {exc}")
            out.append(str(value))
    return "".join(out)


def plain(value: Any, slot: Slot) -> str:
    """How i18n off writes a value without a kind."""
    return str(value)
