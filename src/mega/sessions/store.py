"""The session store contract: JSON data by session id, with an expiry.

    await store.save(sid, {"user": 7})        # for the store's ttl (or ttl=...)
    await store.load(sid)                     # the dict, or None when missing or expired
    await store.touch(sid)                    # restart the expiry (rolling sessions); False when gone
    await store.destroy(sid)                  # a missing one is fine

Every store keeps these guarantees: ids are checked before the backend sees them (a forged cookie
never becomes a file path or a foreign key), values that are not JSON are refused naming the key path
(`session.invalid_value`) and nothing stored is lost, a backend failure is `session.unavailable`
(503) whose message names only the exception's type, and a value the store did not write reads as
missing and is left alone. The suite is `mega.testing.contracts.sessions`.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from typing import Any

import orjson

from mega.errors import MegaError

__all__ = ["ID_PATTERN", "SessionStore", "check_id", "check_seconds", "check_ttl", "encode"]

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22,128}")  # 22 base64url characters: 128 bits at least
_MAX_DEPTH = 64  # deeper than this while looking for the bad value: report the path reached


def check_id(sid: object) -> str:
    """`sid` when it is a well-formed session id, else `session.invalid_id` (400)."""
    if not isinstance(sid, str) or not ID_PATTERN.fullmatch(sid):
        raise MegaError("session.invalid_id", "a session id is 22-128 characters of A-Z a-z 0-9 _ -",
                        status=400, details={"id": repr(sid)[:40]},
                        hint="use the ids the framework makes (secrets.token_urlsafe(32))")
    return sid


def check_seconds(value: object, name: str, where: str, *, zero_ok: bool = False) -> float:
    """A finite number of seconds, above zero (or at least zero with `zero_ok`)."""
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or value < 0 or (value == 0 and not zero_ok)):
        rule = "seconds >= 0" if zero_ok else "a positive number of seconds"
        raise MegaError("session.invalid_config", f"{where}: {name} must be {rule}, got {value!r}",
                        status=500, details={"key": name, "value": repr(value)},
                        hint="e.g. 86400 (one day)" if not zero_ok else "e.g. 3600; 0 turns it off")
    return float(value)


def check_ttl(ttl: object, where: str = "session store") -> float:
    return check_seconds(ttl, "ttl", where)


def _find_bad_value(value: Any, path: str, depth: int = 0) -> tuple[str, str, str]:
    """(key path, type name, reason) of the first part of `value` that orjson refuses."""
    if depth > _MAX_DEPTH:
        return path, type(value).__name__, "nested too deeply (or refers back to itself)"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}[{key!r}]", type(key).__name__, "a key that is not a string"
            inner = f"{path}.{key}" if path else key
            try:
                orjson.dumps(item)
            except TypeError:
                return _find_bad_value(item, inner, depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            try:
                orjson.dumps(item)
            except TypeError:
                return _find_bad_value(item, f"{path}[{index}]", depth + 1)
    try:
        orjson.dumps(value)
    except TypeError as exc:
        return path, type(value).__name__, str(exc)
    return path, type(value).__name__, "not JSON"  # only reached for values orjson refuses as a whole


def encode(data: object) -> bytes:
    """Session data as JSON bytes, or `session.invalid_value` naming the key and type that fail."""
    if not isinstance(data, dict):
        raise MegaError("session.invalid_value", f"session data must be a dict, got {type(data).__name__}",
                        status=500, details={"type": type(data).__name__}, hint="save a dict of values")
    try:
        return orjson.dumps(data)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        key, kind, reason = _find_bad_value(data, "")
        raise MegaError("session.invalid_value",
                        f"session value at {key!r} ({kind}) cannot be stored as JSON: {reason}",
                        status=500, details={"key": key, "type": kind}, cause=exc,
                        hint="store ids, strings, numbers, booleans, None, lists and dicts with string "
                             "keys (an object's id, not the object)") from exc


class SessionStore(ABC):
    """Stores session data (a JSON dict) by id for `ttl` seconds; `touch` restarts the expiry."""

    driver: str  # the backend's name, for messages and stats

    def __init__(self, *, ttl: float) -> None:
        self.ttl = check_ttl(ttl, f"{type(self).__name__}")
        self.loads = self.hits = self.saves = self.touches = self.destroys = self.failures = 0

    @abstractmethod
    async def load(self, sid: str) -> dict[str, Any] | None:
        """The data, or None when missing or expired."""

    @abstractmethod
    async def save(self, sid: str, data: dict[str, Any], ttl: float | None = None) -> None:
        """Store `data` for `ttl` seconds (None: the store's ttl)."""

    @abstractmethod
    async def destroy(self, sid: str) -> None:
        """Delete the session; a missing one is fine."""

    @abstractmethod
    async def touch(self, sid: str, ttl: float | None = None) -> bool:
        """Restart the expiry; False when the session is gone."""

    # -- the per-user index (mega.auth's logout_other_sessions) ---------------------------------
    # A store that keeps no index accepts these and forgets (logins still work); `user_sessions`
    # then refuses, so logout_other_sessions never claims success it did not have.

    async def add_user_session(self, user_key: str, sid: str, ttl: float) -> None:  # noqa: B027
        """Record `sid` as one of the user's sessions (the index lives `ttl` seconds)."""

    async def remove_user_sessions(self, user_key: str, sids: list[str], ttl: float) -> None:  # noqa: B027
        """Forget `sids` from the user's index."""

    async def keep_user_index(self, user_key: str, sid: str, ttl: float) -> None:  # noqa: B027
        """Restart the index's expiry, adding `sid` back when it is not listed (or the index is gone)."""

    async def user_sessions(self, user_key: str) -> list[str]:
        """The ids of the user's live sessions."""
        raise MegaError("session.no_user_index", f"the {self.driver} session store keeps no index of a "
                        "user's sessions", status=500,
                        hint="store sessions in a cache (file, memory or redis): session.store.cache")

    def start(self) -> None:  # noqa: B027 - most stores have no background work
        """Start background work (needs a running loop); idempotent."""

    async def close(self) -> None:  # noqa: B027
        """Stop it; idempotent."""

    def stats(self) -> dict[str, Any]:
        return {"driver": self.driver, "ttl": self.ttl, "loads": self.loads, "hits": self.hits,
                "saves": self.saves, "touches": self.touches, "destroys": self.destroys,
                "failures": self.failures}

    def _ttl(self, ttl: float | None) -> float:
        return self.ttl if ttl is None else check_ttl(ttl, f"{type(self).__name__}")

    def _unavailable(self, exc: BaseException) -> MegaError:
        # the message goes to the client: the exception's type only, its text (paths) stays in the cause
        self.failures += 1
        return MegaError("session.unavailable",
                         f"the {self.driver} session store failed ({type(exc).__name__})", status=503,
                         cause=exc, details={"driver": self.driver},
                         hint="check the store: the sessions directory (space, permissions) or Redis")
