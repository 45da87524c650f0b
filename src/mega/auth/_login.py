"""`login`, `logout`, `logout_other_sessions`, `current_auth`, `authenticate`.

    user_id = await authenticate(ctx, body["email"], body["password"], find_user, guard=guard)
    if user_id is None:
        raise UnauthorizedError("auth.failed", "wrong email or password")
    await login(ctx, user_id, user_name=body["email"])

`login` rotates the session id (the cookie from before the login opens nothing: no fixation), keeps
the session's data unless another user was logged in through it, records the login under the
session key `_mega_auth`, adds the id to the user's index in the store, and gives the CSRF cookie a
new secret. `logout` deletes the session from the store at once. `logout_other_sessions` deletes every
other session of the user, found through that index (file, memory and redis session stores).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mega.auth._state import Auth, auth_from_session
from mega.errors import MegaError, UnauthorizedError
from mega.security._csrf import renew_secret
from mega.security.hashing import Passwords, passwords
from mega.sessions._manager import SessionManager
from mega.sessions.session import AUTH

if TYPE_CHECKING:
    from mega.app.ctx import Ctx
    from mega.security.brute_force import BruteForceGuard

__all__ = ["authenticate", "current_auth", "login", "logout", "logout_other_sessions"]

MAX_USER_ID = 256  # characters of a string user id
Lookup = Callable[[str], "Awaitable[tuple[Any, str] | None] | tuple[Any, str] | None"]


def _manager(ctx: Ctx) -> SessionManager:
    manager = ctx.app.sessions
    if manager is None:
        ctx.session  # noqa: B018 - raises the app's own error (session.disabled, app.not_initialized)
        raise AssertionError("unreachable")
    return manager


@asynccontextmanager
async def _index_section(ctx: Ctx, user_id: object) -> AsyncIterator[None]:
    """Changes to one user's index, one at a time across the processes that share the app's lock (a
    redis lock); the store also serializes them within a process."""
    try:
        lock = ctx.app.lock
    except MegaError:  # no lock (a ctx outside a booted app): the store's per-process lock only
        yield
        return
    async with lock.hold(f"mega:auth:index:{SessionManager.user_key(user_id)}", ttl=10, wait=10):
        yield


def _check_user(user_id: object, user_name: object) -> None:
    if isinstance(user_id, bool) or not isinstance(user_id, str | int) or \
            (isinstance(user_id, str) and not 0 < len(user_id) <= MAX_USER_ID):
        raise MegaError("auth.invalid_user_id", f"login() needs the user's id as an int or a non-empty str "
                        f"(at most {MAX_USER_ID} characters), got {type(user_id).__name__}", status=500,
                        hint="pass the primary key of the user record (user.id)")
    if user_name is not None and not isinstance(user_name, str):
        raise MegaError("auth.invalid_user_id", f"login() user_name must be a str or None, got "
                        f"{type(user_name).__name__}", status=500,
                        hint="e.g. the user's email or display name")


async def current_auth(ctx: Ctx) -> Auth | None:
    """Who is logged in (loading the session when the request has a session cookie); None when nobody
    is. After this, `ctx.auth` answers without I/O."""
    if "_auth" in ctx.__dict__:  # set by a middleware of the project's own
        found: Auth | None = ctx.__dict__["_auth"]
        return found
    if ctx.app.sessions is None:
        return None
    session = ctx.session
    if not session.loaded:
        if not session.has_cookie:
            return None
        await session.load()
    return auth_from_session(session)


async def login(ctx: Ctx, user_id: str | int, user_name: str | None = None) -> Auth:
    """Log `user_id` in on this request's session; returns the new `ctx.auth`."""
    _check_user(user_id, user_name)
    manager = _manager(ctx)
    session = ctx.session
    await session.load()
    before = auth_from_session(session)
    old_sid = session.id
    if before is not None and before.user_id != user_id:
        await session.clear()  # another user's data do not carry over to this one
    await session.rotate()
    await session.set(AUTH, {"user_id": user_id, "user_name": user_name})
    if before is not None and old_sid is not None:
        async with _index_section(ctx, before.user_id):
            await manager.index_logout(before.user_id, [old_sid])
    assert session.id is not None
    async with _index_section(ctx, user_id):
        await manager.index_login(user_id, session.id)
    renew_secret(ctx.__dict__, ctx.reply, production=ctx.app.env == "production")
    ctx.__dict__.pop("_auth", None)
    return Auth(user_id, session.id, user_name)


async def logout(ctx: Ctx) -> None:
    """End this request's session: deleted from the store now, the cookie cleared in the response."""
    if ctx.app.sessions is None:
        return
    manager = ctx.app.sessions
    session = ctx.session
    if not session.loaded and not session.has_cookie:
        ctx.__dict__.pop("_auth", None)
        return
    await session.load()
    before = auth_from_session(session)
    sid = session.id
    await session.destroy()
    if sid is not None:
        await manager.store.destroy(sid)  # now: a request racing this one finds it gone
        if before is not None:
            async with _index_section(ctx, before.user_id):
                await manager.index_logout(before.user_id, [sid])
    ctx.__dict__.pop("_auth", None)


async def logout_other_sessions(ctx: Ctx) -> int:
    """Delete every other session of the logged-in user (other browsers, devices); keeps this one.
    Returns how many were ended. 401 `auth.required` when nobody is logged in."""
    auth = await current_auth(ctx)
    if auth is None:
        raise UnauthorizedError("auth.required", "log in first",
                                hint="guard the route with require_auth")
    manager = _manager(ctx)
    async with _index_section(ctx, auth.user_id):
        others = [sid for sid in await manager.user_sessions(auth.user_id) if sid != auth.session_id]
        for sid in others:
            await manager.store.destroy(sid)
        if others:
            await manager.index_logout(auth.user_id, others)
    return len(others)


def _check_account(account: object) -> str:
    if not isinstance(account, str) or not account.strip():
        raise MegaError("auth.invalid_account", "the account (login name) must be a non-empty string",
                        status=400, hint="send the login name as a non-empty JSON string")
    return account


async def authenticate(ctx: Ctx | None, account: object, password: object, lookup: Lookup, *,
                       guard: BruteForceGuard | None = None, hasher: Passwords | None = None) -> Any | None:
    """The user id when `password` is right for `account`, else None; an unknown account and a wrong
    password cost the same time (a dummy hash is verified for the unknown one).

    `lookup(account)` (sync or async) returns `(user_id, password_hash)` or None. With `guard`, the
    attempt is reserved first (429 `auth.locked` past the limit, keyed on the account and the client
    IP of `ctx`) and counted as a failure or a success. A non-string or empty account is 400
    `auth.invalid_account`, a non-string password 400 `password.invalid`. Logging in is `login()`'s job.
    """
    account = _check_account(account)
    hasher = hasher or passwords
    if not isinstance(password, str):
        await hasher.verify_or_dummy(None, password)  # type: ignore[arg-type]  # raises password.invalid
    assert isinstance(password, str)
    ip = ctx.req.ip if ctx is not None and ctx.req is not None else None
    if guard is not None:
        await guard.check(account, ip)
    found = lookup(account)
    if inspect.isawaitable(found):
        found = await found
    user_id, stored = found if found is not None else (None, None)
    ok = await hasher.verify_or_dummy(stored, password) and user_id is not None
    if guard is not None:
        if ok:
            await guard.succeeded(account, ip)
        else:
            await guard.failed(account, ip)
    return user_id if ok else None
