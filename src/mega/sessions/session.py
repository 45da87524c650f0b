"""`ctx.session`: one request's server-side session, loaded on first use, saved once at the end.

    user_id = await ctx.session.get("user_id")
    await ctx.session.set("user_id", user.id)
    await ctx.session.rotate()          # after login: a new id, the same data (stops session fixation)
    await ctx.session.destroy()         # logout: the data and the cookie go

Nothing touches the store or the cookie until a method is awaited; a request that never uses its
session costs nothing. The pipeline calls `commit(reply)` after the handler when the session was
loaded: it saves changed data (or extends the expiry of a rolling session) and sets the cookie.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mega.http.reply import Reply
    from mega.sessions._manager import SessionManager

__all__ = ["Session"]

_MISSING = object()


class Session:
    """A dict-like view of the session data with async access (the store is I/O)."""

    __slots__ = ("_cookie_sid", "_data", "_destroyed", "_dirty", "_loaded", "_manager", "_old_ids", "_sid")

    def __init__(self, manager: SessionManager, cookie_sid: str | None) -> None:
        self._manager = manager
        self._cookie_sid = cookie_sid  # the verified id from the request's cookie, if any
        self._sid: str | None = None
        self._data: dict[str, Any] = {}
        self._loaded = False
        self._dirty = False
        self._destroyed = False
        self._old_ids: list[str] = []

    # -- reading -----------------------------------------------------------------------------

    async def load(self) -> dict[str, Any]:
        """The session's data (a copy is not made: change it through `set`/`update`/`pop`)."""
        if not self._loaded:
            self._loaded = True
            if self._cookie_sid is not None:
                data = await self._manager.store.load(self._cookie_sid)
                if data is not None:
                    self._sid, self._data = self._cookie_sid, data
        return self._data

    async def get(self, key: str, default: Any = None) -> Any:
        return (await self.load()).get(key, default)

    async def has(self, key: str) -> bool:
        return key in await self.load()

    async def items(self) -> dict[str, Any]:
        return dict(await self.load())

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
        self._dirty = True

    async def update(self, values: dict[str, Any]) -> None:
        (await self.load()).update(values)
        self._dirty = True

    async def pop(self, key: str, default: Any = _MISSING) -> Any:
        data = await self.load()
        if key in data:
            self._dirty = True
            return data.pop(key)
        if default is _MISSING:
            raise KeyError(key)
        return default

    async def clear(self) -> None:
        """Empty the data, keep the session (and its id)."""
        await self.load()
        self._data.clear()
        self._dirty = True

    async def rotate(self) -> None:
        """A new session id for the same data (call it when the user logs in or gains rights)."""
        await self.load()
        if self._sid is not None:
            self._old_ids.append(self._sid)
        self._sid = None
        self._dirty = True
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
                manager.clear_cookie(reply)
            return
        if self._dirty:
            if self._sid is None:
                self._sid = secrets.token_urlsafe(32)
            await manager.store.save(self._sid, self._data)
            self._dirty = False
            if reply is not None and self._sid != self._cookie_sid:
                manager.set_cookie(reply, self._sid)
        elif self._sid is not None and manager.rolling and await manager.store.touch(self._sid) \
                and reply is not None:
            manager.set_cookie(reply, self._sid)  # the browser's copy lives as long as the store's

    def __repr__(self) -> str:
        state = "unloaded" if not self._loaded else f"{len(self._data)} keys"
        return f"<Session {state}{' new' if self.is_new else ''}>"
