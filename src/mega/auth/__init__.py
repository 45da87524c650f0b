"""Logins on top of sessions: `login`, `logout`, `logout_other_sessions`, `ctx.auth`, the
`require_auth` middleware, `authenticate` (equal-time password check with the brute-force guard) and
`safe_next` (the open-redirect check for a `next` parameter). See docs/reference/auth.md.

Imported lazily: a project that never logs anyone in never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mega._lazy import lazy_getattr

_EXPORTS = {
    "Auth": "mega.auth._state",
    "authenticate": "mega.auth._login",
    "current_auth": "mega.auth._login",
    "login": "mega.auth._login",
    "logout": "mega.auth._login",
    "logout_other_sessions": "mega.auth._login",
    "login_url": "mega.auth._middleware",
    "require_auth": "mega.auth._middleware",
    "safe_next": "mega.auth._next",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)


if TYPE_CHECKING:
    from mega.auth._login import authenticate as authenticate
    from mega.auth._login import current_auth as current_auth
    from mega.auth._login import login as login
    from mega.auth._login import logout as logout
    from mega.auth._login import logout_other_sessions as logout_other_sessions
    from mega.auth._middleware import login_url as login_url
    from mega.auth._middleware import require_auth as require_auth
    from mega.auth._next import safe_next as safe_next
    from mega.auth._state import Auth as Auth
