"""An app's sessions: settings, the store, and the signed cookie that carries the session id.

`session` in app_config.py (absent = these defaults; `False` = no sessions):

    session = {
        "secret": os.environ["SESSION_SECRET"],   # signs the cookie (else SESSION_SECRET is read)
        "ttl": 14 * 86400,                        # seconds a session lives without a request
        "rolling": True,                          # each request with the session restarts its ttl
        "cookie": {"name": "mega_sid", "secure": None, "samesite": "lax", "domain": None, "path": "/"},
        "store": {},                              # files under var/sessions; or {"cache": "sessions"}
    }

The cookie holds only the random session id, signed (itsdangerous, HMAC-SHA256), so a forged or
altered cookie is ignored; the data stay on the server. `secure: None` means secure in production.
Without a secret, development and test use a random one per process (sessions end at restart, with a
warning); production refuses to use sessions (`session.no_secret`) rather than sign with a guess.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import math
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, Signer

from mega.errors import MegaError
from mega.sessions.factory import make_store
from mega.sessions.session import Session
from mega.sessions.store import SessionStore

if TYPE_CHECKING:
    from mega.app.app import MegaApp
    from mega.http.reply import Reply
    from mega.http.request import Request

__all__ = ["SessionManager"]

log = logging.getLogger("mega.sessions")

KEYS = ("secret", "ttl", "rolling", "cookie", "store")
COOKIE_KEYS = ("name", "secure", "samesite", "domain", "path", "httponly")
DEFAULT_TTL = 14 * 86400.0
SECRET_ENV = "SESSION_SECRET"
MIN_SECRET = 16


def _error(where: str, message: str, hint: str, code: str = "session.invalid_config") -> MegaError:
    return MegaError(code, f"{where}: session: {message}", hint=hint, status=500, details={"where": where})


def _unknown(where: str, key: str, known: tuple[str, ...], prefix: str = "") -> MegaError:
    near = difflib.get_close_matches(key, known, n=1)
    return _error(where, f"unknown key {prefix}{key!r}" + (f" (did you mean {near[0]!r}?)" if near else ""),
                  f"keys: {', '.join(known)}")


def _cookie_options(cookie: object, where: str) -> Mapping[str, Any]:
    cookie = cookie or {}
    if not isinstance(cookie, Mapping):
        raise _error(where, "cookie must be a dict", f"keys: {', '.join(COOKIE_KEYS)}")
    for key in cookie:
        if key not in COOKIE_KEYS:
            raise _unknown(where, str(key), COOKIE_KEYS, "cookie.")
    if cookie.get("samesite", "lax") not in ("lax", "strict", "none"):
        raise _error(where, f"cookie.samesite must be 'lax', 'strict' or 'none', got "
                     f"{cookie.get('samesite')!r}", "'lax' unless you know why not")
    return cookie


class SessionManager:
    """Built at boot for an app that has sessions; `session_for(req)` makes a request's Session."""

    def __init__(self, store: SessionStore, *, secret: str | None, ttl: float, rolling: bool,
                 cookie: Mapping[str, Any], production: bool, app_name: str) -> None:
        self.store = store
        self.ttl = ttl
        self.rolling = rolling
        self.cookie_name: str = cookie.get("name", "mega_sid")
        secure = cookie.get("secure")
        self.cookie_options: dict[str, Any] = {
            "secure": production if secure is None else bool(secure),
            "samesite": cookie.get("samesite", "lax"),
            "domain": cookie.get("domain"),
            "path": cookie.get("path", "/"),
            "httponly": cookie.get("httponly", True),
        }
        self.app_name = app_name
        self._missing_secret = secret is None and production
        self._warn_random = secret is None and not production  # said at first use, not at every boot
        if secret is None and not production:
            secret = secrets.token_urlsafe(32)
        self._signer = Signer(secret or "unset", salt="mega.session", digest_method=hashlib.sha256)

    # -- construction from config --------------------------------------------------------------

    @classmethod
    def from_config(cls, app: MegaApp, *, root: Path, production: bool) -> SessionManager | None:
        cfg = app.config.get("session")
        where = f"apps/{app.name}/app_config.py"
        if cfg is False:
            return None
        if cfg is None or cfg is True:
            cfg = {}
        if not isinstance(cfg, Mapping):
            raise _error(where, f"must be a dict, None or False, got {type(cfg).__name__}",
                         "e.g. {'secret': os.environ['SESSION_SECRET'], 'ttl': 86400}")
        for key in cfg:
            if key not in KEYS:
                raise _unknown(where, str(key), KEYS)
        ttl = cfg.get("ttl", DEFAULT_TTL)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
            raise _error(where, f"ttl must be a positive number of seconds, got {ttl!r}", "e.g. 86400")
        rolling = cfg.get("rolling", True)
        if not isinstance(rolling, bool):
            raise _error(where, f"rolling must be True or False, got {rolling!r}", "rolling=True")
        cookie = _cookie_options(cfg.get("cookie"), where)
        secret = cfg.get("secret") or os.environ.get(SECRET_ENV) or None
        if secret is not None and (not isinstance(secret, str) or len(secret) < MIN_SECRET):
            raise _error(where, f"secret must be a string of at least {MIN_SECRET} characters",
                         "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        store = make_store(cfg.get("store"), session_ttl=float(ttl), root=root, cache_for=app.cache,
                           where=where)
        return cls(store, secret=secret, ttl=float(ttl), rolling=rolling, cookie=cookie,
                   production=production, app_name=app.name)

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
