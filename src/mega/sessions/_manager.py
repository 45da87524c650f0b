"""An app's sessions: settings, the store, and the signed cookie that carries the session id.

`session` in app_config.py (absent = these defaults; `False` = no sessions):

    session = {
        "secret": os.environ["SESSION_SECRET"],   # signs the cookie (else SESSION_SECRET is read)
        "ttl": 14 * 86400,                        # seconds a session lives without a request
        "rolling": True,                          # each request with the session restarts its ttl
        "cookie": {"name": "mega_sid", "secure": None, "samesite": "lax", "domain": None, "path": "/"},
        "store": {},                              # files under var/sessions; or {"cache": "sessions"}
    }

Built from the app's `session` settings (`mega.sessions._settings`, checked by the config layer).
The cookie holds only the random session id, signed (itsdangerous, HMAC-SHA256), so a forged or
altered cookie is ignored; the data stay on the server. `secure: None` means secure in production.
Without a secret, development and test use a random one per process (sessions end at restart, with a
warning); production refuses to use sessions (`session.no_secret`) rather than sign with a guess.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, Signer

from mega.errors import MegaError
from mega.sessions._settings import SECRET_ENV, CookieSettings, SessionSettings
from mega.sessions.factory import make_store
from mega.sessions.session import Session
from mega.sessions.store import SessionStore

if TYPE_CHECKING:
    from mega.http.reply import Reply
    from mega.http.request import Request

__all__ = ["SessionManager"]

log = logging.getLogger("mega.sessions")


class SessionManager:
    """Built at boot for an app that has sessions; `session_for(req)` makes a request's Session."""

    def __init__(self, store: SessionStore, *, secret: str | None, ttl: float, rolling: bool,
                 cookie: CookieSettings, production: bool, app_name: str) -> None:
        self.store = store
        self.ttl = ttl
        self.rolling = rolling
        self.cookie_name: str = cookie.name
        self.cookie_options: dict[str, Any] = {
            "secure": production if cookie.secure is None else cookie.secure,
            "samesite": cookie.samesite,
            "domain": cookie.domain,
            "path": cookie.path,
            "httponly": cookie.httponly,
        }
        self.app_name = app_name
        self._missing_secret = secret is None and production
        self._warn_random = secret is None and not production  # said at first use, not at every boot
        if secret is None and not production:
            secret = secrets.token_urlsafe(32)
        self._signer = Signer(secret or "unset", salt="mega.session", digest_method=hashlib.sha256)

    @classmethod
    def from_settings(cls, settings: SessionSettings | None, *, app_name: str, root: Path, production: bool,
                      cache: Callable[[str], Any]) -> SessionManager | None:
        """The manager of an app's settings (None when sessions are off); `cache(alias)` returns the
        cache adapter `services.caches.<alias>`."""
        if settings is None:
            return None
        store = make_store(settings.store, root=root, cache=cache)
        return cls(store, secret=settings.secret, ttl=settings.ttl, rolling=settings.rolling,
                   cookie=settings.cookie, production=production, app_name=app_name)

    # -- per request -----------------------------------------------------------------------------

    def session_for(self, req: Request | None) -> Session:
        if self._missing_secret:
            raise MegaError("session.no_secret", f"app '{self.app_name}' uses sessions but has no secret",
                            status=500, hint=f"set {SECRET_ENV} in the environment, or session.secret "
                                             "in app_config.py")
        if self._warn_random:
            self._warn_random = False
            log.warning("app %s: no session secret (session.secret or %s): using a random one, so "
                        "sessions end when the process restarts", self.app_name, SECRET_ENV)
        raw = req.cookies.get(self.cookie_name) if req is not None else None
        return Session(self, self.verify(raw) if raw else None)

    def verify(self, value: str) -> str | None:
        """The session id in a signed cookie value; None when forged, altered or malformed."""
        try:
            sid = self._signer.unsign(value).decode("ascii")
        except (BadSignature, UnicodeDecodeError, ValueError):
            return None
        return sid if 16 <= len(sid) <= 128 else None

    def set_cookie(self, reply: Reply, sid: str) -> None:
        opts = self.cookie_options
        reply.cookie(self.cookie_name, self._signer.sign(sid).decode("ascii"), max_age=int(self.ttl),
                     path=opts["path"], domain=opts["domain"], secure=opts["secure"],
                     httponly=opts["httponly"], samesite=opts["samesite"])

    def clear_cookie(self, reply: Reply) -> None:
        reply.clear_cookie(self.cookie_name, path=self.cookie_options["path"],
                           domain=self.cookie_options["domain"])

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self.store.start()

    async def close(self) -> None:
        await self.store.close()
