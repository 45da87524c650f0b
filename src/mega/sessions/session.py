"""`ctx.session`: one request's server-side session, loaded on first use, saved once at the end.

    user_id = await ctx.session.get("user_id")
    await ctx.session.set("user_id", user.id)
    await ctx.session.rotate()          # after login: a new id, the same data (stops session fixation)
    await ctx.session.destroy()         # logout: the data and the cookie go

Nothing touches the store or the cookie until a method is awaited; a request that never uses its
session costs nothing. The pipeline calls `commit(reply)` after the handler when the session was
loaded: it saves changed data (or extends the expiry of a rolling session) and sets the cookie.

Concurrent requests of one session merge on save: the commit reloads the stored data and applies
only the keys this request set or removed (last writer wins per key), so two requests writing
different keys both keep theirs. `clear()` and `rotate()` save the whole data instead. A session
destroyed meanwhile (logout in another tab) stays destroyed. Within a process the reload and save of
one session run one at a time; across processes two saves in the same instant (one store round
trip) can still cross, and then the later one wins those keys.

The creation time is kept in the stored data under `CREATED` (hidden from the view): with an
`absolute_ttl`, a session older than that is gone, however active.

Keys starting with `_mega_` are the framework's (`AUTH`, the login of `mega.auth`; `FLASH`, the
flash messages): `items()` leaves them out, `get` still reads them. Set them only through
`mega.auth` and `ctx.flash`.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mega.http.reply import Reply
    from mega.sessions._manager import SessionManager

__all__ = ["AUTH", "CREATED", "FLASH", "RESERVED_PREFIX", "Session"]

_MISSING = object()
RESERVED_PREFIX = "_mega_"  # the framework's keys: hidden from items()
CREATED = "_mega_created"  # wall-clock seconds when the session was made
AUTH = "_mega_auth"  # {"user_id": ..., "user_name": ...} once mega.auth.login() ran
FLASH = "_mega_flash"  # [[kind, text], ...] waiting for the next request that reads them


class Session:
    """A dict-like view of the session data with async access (the store is I/O)."""

    __slots__ = ("_changed", "_cookie_name", "_cookie_sid", "_created", "_data", "_destroyed", "_dirty",
                 "_loaded", "_manager", "_old_ids", "_sid", "_whole")

    def __init__(self, manager: SessionManager, cookie_sid: str | None,
                 cookie_name: str | None = None) -> None:
        self._manager = manager
        self._cookie_sid = cookie_sid  # the verified id from the request's cookie, if any
        self._cookie_name = cookie_name or manager.cookie_name
        self._sid: str | None = None
        self._data: dict[str, Any] = {}
        self._loaded = False
        self._dirty = False
        self._destroyed = False
        self._old_ids: list[str] = []
        self._changed: set[str] = set()  # keys set or removed by this request: what a merge applies
        self._whole = False  # clear() or rotate(): the data are saved as they are, not merged
        self._created: float | None = None

    # -- reading -----------------------------------------------------------------------------

    async def load(self) -> dict[str, Any]:
        """The session's data (a copy is not made: change it through `set`/`update`/`pop`)."""
        if not self._loaded:
            self._loaded = True
            if self._cookie_sid is not None:
                data = await self._manager.store.load(self._cookie_sid)
                if data is not None:
                    created = data.pop(CREATED, None)
                    if self._expired(created):
                        self._old_ids.append(self._cookie_sid)  # deleted at commit
                    else:
                        self._sid, self._data = self._cookie_sid, data
                        self._created = created if isinstance(created, int | float) else None
        return self._data

    def _expired(self, created: Any) -> bool:
        limit = self._manager.absolute_ttl
        return limit is not None and isinstance(created, int | float) and time.time() - created >= limit

    async def get(self, key: str, default: Any = None) -> Any:
        return (await self.load()).get(key, default)

    async def has(self, key: str) -> bool:
        return key in await self.load()

    async def items(self) -> dict[str, Any]:
        """The session's own data: the framework's `_mega_*` keys (login, flash) are left out."""
        return {k: v for k, v in (await self.load()).items() if not k.startswith(RESERVED_PREFIX)}

    @property
    def loaded(self) -> bool:
        """Whether the data were read this request (then `peek` answers without I/O)."""
        return self._loaded

    @property
    def has_cookie(self) -> bool:
        """Whether the request carried a validly signed session cookie (no I/O)."""
        return self._cookie_sid is not None

    def peek(self, key: str, default: Any = None) -> Any:
        """`key` of data already loaded, without I/O; `default` when the session is not loaded."""
        return self._data.get(key, default) if self._loaded else default

    @property
    def id(self) -> str | None:
        """The session id once loaded or created (None for a visitor without a session yet)."""
        return self._sid

    @property
    def is_new(self) -> bool:
        return self._sid is None or self._sid != self._cookie_sid

    # -- writing -----------------------------------------------------------------------------

    async def set(self, key: str, value: Any) -> None:
        (await self.load())[key] = value
        self._changed.add(key)
        self._dirty = True

    async def update(self, values: dict[str, Any]) -> None:
        (await self.load()).update(values)
        self._changed.update(values)
        self._dirty = True

    async def pop(self, key: str, default: Any = _MISSING) -> Any:
        data = await self.load()
        if key in data:
            self._dirty = True
            self._changed.add(key)
            return data.pop(key)
        if default is _MISSING:
            raise KeyError(key)
        return default

    def take_loaded(self, key: str, default: Any = None) -> Any:
        """`pop(key)` of data already loaded, without I/O (`default` when not loaded or missing)."""
        if not self._loaded or key not in self._data:
            return default
        self._dirty = True
        self._changed.add(key)
        return self._data.pop(key)

    async def clear(self) -> None:
        """Empty the data, keep the session (and its id)."""
        await self.load()
        self._data.clear()
        self._dirty = self._whole = True

    async def rotate(self) -> None:
        """A new session id for the same data (call it when the user logs in or gains rights); `id` is
        the new one at once, saved at the end of the request while the old one is deleted."""
        await self.load()
        if self._sid is not None:
            self._old_ids.append(self._sid)
        self._sid = secrets.token_urlsafe(32)  # 256 bits
        self._dirty = self._whole = True
        self._destroyed = False

    async def destroy(self) -> None:
        """Delete the session from the store and clear the cookie (logout)."""
        await self.load()
        if self._sid is not None:
            self._old_ids.append(self._sid)
        if self._cookie_sid is not None and self._cookie_sid not in self._old_ids:
            self._old_ids.append(self._cookie_sid)
        self._sid = None
        self._data = {}
        self._dirty = False
        self._destroyed = True

    # -- end of request ----------------------------------------------------------------------

    async def commit(self, reply: Reply | None) -> None:
        """Persist what changed and set or clear the cookie (called by the pipeline)."""
        if not self._loaded:
            return
        manager = self._manager
        for old in self._old_ids:
            await manager.store.destroy(old)
        self._old_ids.clear()
        if self._destroyed:
            if self._cookie_sid is not None and reply is not None:
                manager.clear_cookie(reply, self._cookie_name)
            return
        if self._dirty:
            self._dirty = False
            if self._sid is None:
                self._sid = secrets.token_urlsafe(32)  # 256 bits
                await self._save(reply)
            elif not self._whole:
                # Reload, apply this request's keys, save: one at a time per session in this process.
                async with manager.commit_lock(self._sid):
                    if not await self._merge():
                        return
                    await self._save(reply)
            else:
                await self._save(reply)
        elif self._sid is not None and manager.rolling \
                and await manager.store.touch(self._sid, self._left()):
            if reply is not None:  # the browser's copy lives as long as the store's
                manager.set_cookie(reply, self._sid, self._cookie_name, self._left())
        else:
            return
        auth = self._data.get(AUTH)
        if auth is not None:  # the user's index of sessions outlives this one (mega.auth)
            await manager.keep_user_index(auth, self._sid)

    async def _save(self, reply: Reply | None) -> None:
        assert self._sid is not None
        manager = self._manager
        if self._created is None:
            self._created = time.time()
        left = self._left()
        await manager.store.save(self._sid, {**self._data, CREATED: self._created}, ttl=left)
        if reply is not None and (self._sid != self._cookie_sid or left is not None):
            manager.set_cookie(reply, self._sid, self._cookie_name, left)

    async def _merge(self) -> bool:
        """Apply this request's keys over the stored data (another request may have saved since this
        one loaded); False when the session is gone."""
        assert self._sid is not None
        current = await self._manager.store.load(self._sid)
        if current is None:
            return False
        current.pop(CREATED, None)
        for key in self._changed:
            if key in self._data:
                current[key] = self._data[key]
            else:
                current.pop(key, None)
        self._data = current
        return True

    def _left(self) -> float | None:
        """Seconds the session may still live when that is less than its ttl (absolute_ttl), else
        None (the ttl)."""
        limit = self._manager.absolute_ttl
        if limit is None or self._created is None:
            return None
        left = self._created + limit - time.time()
        return max(left, 0.001) if left < self._manager.ttl else None

    def __repr__(self) -> str:
        state = "unloaded" if not self._loaded else f"{len(self._data)} keys"
        return f"<Session {state}{' new' if self.is_new else ''}>"
