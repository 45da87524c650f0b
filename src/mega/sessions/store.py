"""The session store contract: JSON data by session id, with an expiry. Ids are checked here so a
forged cookie can never become a file path or a foreign Redis key."""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import orjson

from mega.errors import MegaError

__all__ = ["SessionStore", "check_id", "decode", "encode"]

_ID = re.compile(r"[A-Za-z0-9_-]{16,128}")


def check_id(sid: object) -> str:
    if not isinstance(sid, str) or not _ID.fullmatch(sid):
        raise MegaError("session.invalid_id", "a session id is 16-128 characters of A-Z a-z 0-9 _ -",
                        status=400, details={"id": repr(sid)[:40]})
    return sid


def check_ttl(ttl: object, where: str = "session store") -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise MegaError("session.invalid_config", f"{where}: ttl must be a positive number of seconds, "
                        f"got {ttl!r}", status=500, hint="e.g. 86400")
    return float(ttl)


def encode(data: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(data)
    except TypeError as exc:
        raise MegaError("session.invalid_value", f"session data must be JSON: {exc}", status=500,
                        hint="store ids, strings, numbers, lists and dicts, not objects") from exc


def decode(raw: bytes) -> Any:
    return orjson.loads(raw)


class SessionStore(ABC):
    driver: ClassVar[str] = ""

    def __init__(self, *, ttl: float) -> None:
        self.ttl = check_ttl(ttl)
        self.loads = self.saves = self.destroys = 0

    @abstractmethod
    async def load(self, sid: str) -> dict[str, Any] | None:
        """The data, or None when missing or expired."""

    @abstractmethod
    async def save(self, sid: str, data: dict[str, Any], ttl: float | None = None) -> None: ...

    @abstractmethod
    async def destroy(self, sid: str) -> None: ...

    @abstractmethod
    async def touch(self, sid: str, ttl: float | None = None) -> bool:
        """Restart the expiry; False when the session is gone."""

    def start(self) -> None:  # noqa: B027 - most stores have no background work
        """Start background work (needs a running loop); idempotent."""

    async def close(self) -> None:  # noqa: B027
        """Stop it; idempotent."""

    def stats(self) -> dict[str, Any]:
        return {"driver": self.driver, "ttl": self.ttl, "loads": self.loads, "saves": self.saves,
                "destroys": self.destroys}

    def _unavailable(self, exc: BaseException) -> MegaError:
        return MegaError("session.unavailable", f"the {self.driver} session store failed: {exc}", status=503,
                         cause=exc, hint="check the store (disk, Redis); readiness shows the cache")
