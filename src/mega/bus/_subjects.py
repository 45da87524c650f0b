"""Event names, the app prefix, and wildcard matching (NATS rules, so every driver agrees).

An event is dot-separated tokens (`order.created`). In `on()` a token may be `*` (exactly one
token) and the last token may be `>` (one or more tokens). `emit` and `request` take literal names.
The app's prefix (`web.`) is put in front on the wire, so apps sharing a server never see each other.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Protocol, TypeVar

from mega.bus._errors import BusError

# A literal token: no whitespace, no dot, no wildcard character (NATS would accept `a*b`; we refuse
# it so a pattern never looks like a wildcard and isn't one).
_TOKEN = re.compile(r"[^\s.*>]+")


def _invalid(event: object, why: str) -> BusError:
    return BusError("bus.invalid_subject", f"invalid event name {event!r}: {why}",
                    details={"event": repr(event)}, status=500,
                    hint="dot-separated tokens, e.g. 'order.created'; wildcards '*' and '>' only in on()")


def wire_subject(prefix: str, event: str, wildcards: bool = False) -> str:
    """`prefix + event`, after checking the event."""
    if type(event) is not str or not event:
        raise _invalid(event, "it must be a non-empty string")
    return _checked(prefix, event, wildcards)


@lru_cache(maxsize=4096)
def _checked(prefix: str, event: str, wildcards: bool) -> str:
    # Cached: an app emits a handful of names, each is checked once.
    tokens = event.split(".")
    last = len(tokens) - 1
    for i, token in enumerate(tokens):
        if _TOKEN.fullmatch(token):
            continue
        if wildcards and (token == "*" or (token == ">" and i == last)):
            continue
        if token in ("*", ">"):
            why = "'>' must be the last token" if wildcards else "wildcards are only allowed in on()"
        elif not token:
            why = "empty token (leading, trailing or double dot)"
        else:
            why = f"token {token!r} contains whitespace or a wildcard character"
        raise _invalid(event, why)
    return prefix + event


def normalise_prefix(prefix: object) -> str:
    """'' or tokens ending with a dot; a missing trailing dot is added ('web' → 'web.')."""
    if prefix is None or prefix == "":
        return ""
    if not isinstance(prefix, str):
        raise BusError("bus.invalid_config", f"bus prefix must be a string, got {type(prefix).__name__}",
                       details={"prefix": repr(prefix)}, hint="e.g. 'prefix': 'web.'")
    text = prefix if prefix.endswith(".") else prefix + "."
    if any(not _TOKEN.fullmatch(t) for t in text[:-1].split(".")):
        raise BusError("bus.invalid_config", f"bus prefix {prefix!r} must be dot-separated tokens without "
                       "whitespace or wildcards", details={"prefix": prefix}, hint="e.g. 'prefix': 'web.'")
    return text


def is_pattern(subject: str) -> bool:
    return "*" in subject or ">" in subject


def matches(pattern: tuple[str, ...], tokens: list[str]) -> bool:
    """NATS matching: `*` is one token, a final `>` is one or more."""
    n = len(pattern)
    if pattern[-1] == ">":
        if len(tokens) < n:
            return False
        n -= 1
    elif len(tokens) != n:
        return False
    for i in range(n):
        p = pattern[i]
        if p != "*" and p != tokens[i]:
            return False
    return True


class _Queued(Protocol):
    @property
    def queue(self) -> str | None: ...


_S = TypeVar("_S", bound=_Queued)


def one_per_queue(subs: list[_S], turns: dict[str, int]) -> list[_S]:
    """The receivers of one message: every subscriber outside a queue group, and one member of each group,
    taking turns (`turns` counts per group, kept by the caller)."""
    if not any(s.queue for s in subs):
        return subs
    chosen = [s for s in subs if s.queue is None]
    groups: dict[str, list[_S]] = {}
    for s in subs:
        if s.queue is not None:
            groups.setdefault(s.queue, []).append(s)
    for name, members in groups.items():
        turn = turns.get(name, 0)
        turns[name] = turn + 1
        chosen.append(members[turn % len(members)])
    return chosen
