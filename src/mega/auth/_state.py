"""`ctx.auth`: who is logged in, read from the session without I/O.

The login lives in the session under one key, `_mega_auth` = {"user_id": ..., "user_name": ...}
(what `mega.auth.login` writes; the rate limit's `key: "user"` reads the same key). `ctx.auth` builds
an `Auth` from it when the session is already loaded; a request without a session cookie is
anonymous at no cost; a request with a cookie whose session nobody loaded yet gets `auth.not_loaded`
rather than a wrong "anonymous" (`await current_auth(ctx)` or `require_auth` load it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mega.auth._settings  # noqa: F401 - registers the `auth` section when mega.app loads, like views'
from mega.errors import MegaError
from mega.sessions.session import AUTH

if TYPE_CHECKING:
    from mega.app.ctx import Ctx
    from mega.sessions.session import Session

__all__ = ["Auth", "auth_from_session", "auth_of"]


@dataclass(frozen=True, slots=True)
class Auth:
    """The logged-in user of a request: `ctx.auth.user_id`, or `ctx.auth["user_id"]`."""

    user_id: str | int
    session_id: str | None
    user_name: str | None = None

    def __getitem__(self, key: str) -> Any:
        if key not in ("user_id", "session_id", "user_name"):
            raise KeyError(key)
        return getattr(self, key)

    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "session_id": self.session_id, "user_name": self.user_name}


def auth_from_session(session: Session) -> Auth | None:
    """The Auth of a loaded session (None when nobody logged in through it)."""
    stored = session.peek(AUTH)
    if not isinstance(stored, dict):
        return None
    user_id = stored.get("user_id")
    if isinstance(user_id, bool) or not isinstance(user_id, str | int):
        return None  # not written by login(): nobody is logged in
    name = stored.get("user_name")
    return Auth(user_id, session.id, name if isinstance(name, str) else None)


def auth_of(ctx: Ctx) -> Auth | None:
    """What `ctx.auth` returns when no middleware set it."""
    if ctx.app.sessions is None:
        return None
    session = ctx.session
    if not session.loaded:
        if not session.has_cookie:
            return None  # no session cookie: anonymous, nothing read
        raise MegaError("auth.not_loaded", "ctx.auth read before the session was loaded", status=500,
                        hint="guard the route with require_auth, or `await mega.auth.current_auth(ctx)` "
                             "(any await on ctx.session works too) before reading ctx.auth")
    return auth_from_session(session)
