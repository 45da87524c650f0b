"""What a callable takes positionally, read once at boot: handlers, middleware, bus handlers and the
functions `with_lock` runs all adapt their calls to it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Positional", "positional"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True, slots=True)
class Positional:
    count: int  # positional parameters, `*args` not counted
    required: int  # those of them without a default
    star: bool  # takes `*args`
    keyword_required: str | None  # the first keyword-only parameter without a default: never filled


def positional(fn: Callable[..., Any]) -> Positional | None:
    """`fn`'s positional parameters; None when it has no signature to read (some builtins)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    count = required = 0
    star = False
    keyword_required = None
    for p in params:
        if p.kind in _POSITIONAL:
            count += 1
            required += p.default is p.empty
        elif p.kind is p.VAR_POSITIONAL:
            star = True
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty and keyword_required is None:
            keyword_required = p.name
    return Positional(count, required, star, keyword_required)
