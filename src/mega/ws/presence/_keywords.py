"""Presence calls take their arguments by keyword: a positional one gets `presence.keyword_arguments`,
which names the keywords and shows the call rewritten, instead of Python's bare TypeError."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from mega.errors import MegaError

__all__ = ["keyword_only"]

F = TypeVar("F", bound=Callable[..., Any])


def keyword_only(owner: str) -> Callable[[F], F]:
    """Refuse positional arguments past those before the method's `*`; `owner` is how a user
    reaches it (`ctx.presence`, `app.presence`), for the message."""

    def decorate(fn: F) -> F:
        code = fn.__code__
        allowed = code.co_argcount  # self included
        positional = code.co_varnames[1:allowed]
        keywords = code.co_varnames[allowed:allowed + code.co_kwonlyargcount]
        defaults = fn.__kwdefaults__ or {}
        # Positional values are shown as the required keywords first: broadcast(msg) meant message=msg.
        keywords = (*(k for k in keywords if k not in defaults), *(k for k in keywords if k in defaults))
        name = f"{owner}.{fn.__name__}"

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if len(args) > allowed:
                raise _positional(name, positional, keywords, args[allowed:], kwargs)
            return fn(*args, **kwargs)

        return cast(F, checked)

    return decorate


def _positional(name: str, positional: tuple[str, ...], keywords: tuple[str, ...], extra: tuple[Any, ...],
                given: dict[str, Any]) -> MegaError:
    shown = ", ".join(f"{value!r:.40}" for value in extra)
    free = [k for k in keywords if k not in given]
    named = [f"{k}={value!r:.40}" for k, value in zip(free, extra, strict=False)]
    rewritten = f"{name}({', '.join([*positional, *named, *(f'{k}=...' for k in given)])})"
    return MegaError(
        "presence.keyword_arguments",
        f"{name}() takes its arguments by keyword, got {len(extra)} positional: {shown}",
        status=500,
        details={"method": name, "keywords": list(keywords)},
        hint=f"name each one, e.g. await {rewritten} (its keywords: {', '.join(keywords)})")
