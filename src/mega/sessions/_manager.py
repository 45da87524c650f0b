"""An app's sessions: settings, the store, and the signed cookie that carries the session id.

`session` in app_config.py (absent = these defaults; `False` = no sessions):

    session = {
        "secret": os.environ["SESSION_SECRET"],   # signs the cookie (else SESSION_SECRET is read)
        "ttl": 14 * 86400,                        # seconds a session lives without a request
        "rolling": True,                          # each request with the session restarts its ttl
        "absolute_ttl": None,                     # or seconds: the most a session lives at all
        "cookie": {"name": "mega_sid", "secure": None, "samesite": "lax", "domain": None, "path": "/"},
        "store": {},                              # files under var/sessions; or {"cache": "sessions"}
    }

Built from the app's `session` settings (`mega.sessions._settings`, checked by the config layer).
The cookie holds only the random session id, signed (itsdangerous, HMAC-SHA256), so a forged or
altered cookie is ignored; the data stay on the server. `secure: None` means secure in production.
Over HTTPS (the request's scheme after trusted proxies) with no Domain and path `/`, the cookie is
named `__Host-<name>`: browsers then refuse it from a sibling subdomain or plain HTTP (fixation).
Without a secret, development and test use a random one per process (sessions end at restart, with a
warning); production refuses to boot (`session.no_secret`) rather than sign with a guess or fail at
the first login: sessions are on unless app_config.py says `session = False`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from itsdangerous import BadSignature, Signer

from mega.errors import MegaError
from mega.security._client_ip import request_scheme
from mega.sessions._settings import SECRET_ENV, CookieSettings, SessionSettings
from mega.sessions.factory import make_store
from mega.sessions.session import Session
from mega.sessions.store import SessionStore

if TYPE_CHECKING:
    from mega.http.reply import Reply
    from mega.http.request import Request

__all__ = ["HOST_PREFIX", "SessionManager"]

HOST_PREFIX = "__Host-"

log = logging.getLogger("mega.sessions")


class SessionManager:
    """Built at boot for an app that has sessions; `session_for(req)` makes a request's Session."""

    def __init__(self, store: SessionStore, *, secret: str | None, ttl: float, rolling: bool,
                 cookie: CookieSettings, production: bool, app_name: str,
                 absolute_ttl: float | None = None) -> None:
        self.store = store
        self.ttl = ttl
        self.rolling = rolling
        self.absolute_ttl = absolute_ttl
        self.cookie_name: str = cookie.name
        # `__Host-` needs Secure, Path=/ and no Domain: possible unless the config rules one out.
        self.host_name: str | None = HOST_PREFIX + cookie.name if (
            cookie.domain is None and cookie.path == "/" and cookie.secure is not False
            and not cookie.name.startswith(("__Host-", "__Secure-"))) else None
        self.cookie_options: dict[str, Any] = {
            "secure": production if cookie.secure is None else cookie.secure,
            "samesite": cookie.samesite,
            "domain": cookie.domain,
            "path": cookie.path,
            "httponly": cookie.httponly,
        }
        self.app_name = app_name
        # held only while a commit runs: an entry goes when no commit of that session holds it
        self._commit_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._index_seen: dict[str, float] = {}  # session id -> when this process last kept its index
        if secret is None and production:
            raise MegaError("session.no_secret", f"app '{app_name}' has sessions on but no session secret "
                            "in production", status=500,
                            hint=f"set {SECRET_ENV} in the environment (python -c 'import secrets; "
                                 "print(secrets.token_urlsafe(32))'), or session.secret in app_config.py; "
                                 "an app that uses no sessions says session = False")
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
                   cookie=settings.cookie, production=production, app_name=app_name,
                   absolute_ttl=settings.absolute_ttl)

    # -- per request -----------------------------------------------------------------------------

    def session_for(self, req: Request | None) -> Session:
        if self._warn_random:
            self._warn_random = False
            log.warning("app %s: no session secret (session.secret or %s): using a random one, so "
                        "sessions end when the process restarts", self.app_name, SECRET_ENV)
        if req is None:
            return Session(self, None, self.cookie_name)
        # Over HTTPS only the prefixed cookie is read: a plain one may come from a sibling subdomain.
        name = self.host_name if self.host_name is not None and request_scheme(req.scope) == "https" \
            else self.cookie_name
        raw = req.cookies.get(name)
        return Session(self, self.verify(raw) if raw else None, name)

    def verify(self, value: str) -> str | None:
        """The session id in a signed cookie value; None when forged, altered or malformed."""
        try:
            sid = self._signer.unsign(value).decode("ascii")
        except (BadSignature, UnicodeDecodeError, ValueError):
            return None
        return sid if 22 <= len(sid) <= 128 else None

    def set_cookie(self, reply: Reply, sid: str, name: str, max_age: float | None = None) -> None:
        opts = self.cookie_options
        secure = True if name == self.host_name else opts["secure"]
        reply.cookie(name, self._signer.sign(sid).decode("ascii"),
                     max_age=math.ceil(self.ttl if max_age is None else max_age),
                     path=opts["path"], domain=opts["domain"], secure=secure,
                     httponly=opts["httponly"], samesite=opts["samesite"])

    def clear_cookie(self, reply: Reply, name: str) -> None:
        if name == self.host_name:  # a browser takes a __Host- cookie, even an expired one, only Secure
            reply.cookie(name, "", max_age=0, expires="Thu, 01 Jan 1970 00:00:00 GMT", path="/", secure=True,
                         httponly=self.cookie_options["httponly"], samesite=self.cookie_options["samesite"])
            return
        reply.clear_cookie(name, path=self.cookie_options["path"], domain=self.cookie_options["domain"])

    # -- the per-user index of sessions (mega.auth) ------------------------------------------------

    @staticmethod
    def user_key(user_id: object) -> str:
        """The index key of a user id (an unkeyed digest: the store never holds the id in a key)."""
        return hashlib.blake2b(orjson.dumps(user_id), digest_size=16).hexdigest()

    @property
    def index_ttl(self) -> float:
        """How long a user's index lives after its last refresh: longer than any session it lists
        (a session is refreshed at most every ttl/8 here, see keep_user_index)."""
        return max(self.ttl, self.store.ttl) * 1.25

    async def keep_user_index(self, auth: object, sid: str | None) -> None:
        """Keep session `sid` of the logged-in user listed in the user's index, and the index alive as
        long as the session (called at commit). At a session's first commit in this process and then
        every ttl/8: one read and one expiry, or the session adds itself back when two processes'
        writes crossed and dropped it."""
        user_id = auth.get("user_id") if isinstance(auth, dict) else None
        if user_id is None or sid is None:
            return
        now = time.monotonic()
        seen = self._index_seen.get(sid)
        if seen is not None and now - seen < self.ttl / 8:
            return
        if len(self._index_seen) >= 10_000:
            self._index_seen.clear()
        self._index_seen[sid] = now
        await self.store.keep_user_index(self.user_key(user_id), sid, self.index_ttl)

    async def index_login(self, user_id: object, sid: str) -> None:
        """Record `sid` in `user_id`'s index (login)."""
        await self.store.add_user_session(self.user_key(user_id), sid, self.index_ttl)
        self._index_seen[sid] = time.monotonic()

    async def index_logout(self, user_id: object, sids: list[str]) -> None:
        """Forget `sids` from `user_id`'s index (logout)."""
        await self.store.remove_user_sessions(self.user_key(user_id), sids, self.index_ttl)

    async def user_sessions(self, user_id: object) -> list[str]:
        """The ids of `user_id`'s live sessions."""
        return await self.store.user_sessions(self.user_key(user_id))

    def commit_lock(self, sid: str) -> asyncio.Lock:
        """The lock that makes a session's merge-on-save (reload, apply, save) one at a time here."""
        lock = self._commit_locks.get(sid)
        if lock is None:
            lock = self._commit_locks[sid] = asyncio.Lock()
        return lock

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self.store.start()

    async def close(self) -> None:
        await self.store.close()
