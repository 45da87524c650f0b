"""Flash messages: `await ctx.flash("notice", "Saved")` now, shown once by the next request that reads
them (`await ctx.flashes()`, or `flashes()` in a template), Rails-style.

They wait in the session under `FLASH` as `[[kind, text], ...]` (at most MAX_KEPT, the oldest go
first). Reading takes them out: the request that reads them saves the session without them. A
request that neither adds nor reads flashes touches nothing; one that reads them without a session
cookie gets [] without creating a session.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from mega.errors import MegaError
from mega.sessions.session import FLASH

if TYPE_CHECKING:
    from mega.app.ctx import Ctx
    from mega.sessions.session import Session

__all__ = ["MAX_KEPT", "MAX_TEXT", "add_flash", "take_flashes", "view_flashes"]

KIND = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MAX_TEXT = 4000  # characters: a message, not a page
MAX_KEPT = 20  # flashes waiting in one session


def _check(kind: object, text: object) -> None:
    if not isinstance(kind, str) or not KIND.fullmatch(kind):
        raise MegaError("flash.invalid_kind", f"a flash kind is 1-32 characters of a-z 0-9 _ - starting with "
                        f"a letter, got {kind!r:.40}", status=500,
                        hint="e.g. 'notice', 'alert', 'success' (templates style by it)")
    if not isinstance(text, str) or not text or len(text) > MAX_TEXT:
        got = type(text).__name__ if not isinstance(text, str) else f"{len(text)} characters"
        raise MegaError("flash.invalid_text", f"a flash text is a non-empty str of at most {MAX_TEXT} "
                        f"characters, got {got}", status=500,
                        hint="pass the message to show, e.g. ctx.t('saved')")


def _shaped(stored: Any) -> list[dict[str, str]]:
    if not isinstance(stored, list):
        return []
    return [{"kind": e[0], "text": e[1]} for e in stored
            if isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], str)]


async def add_flash(session: Session, kind: str, text: str) -> None:
    """Keep a message for the next request that reads flashes."""
    _check(kind, text)
    stored = await session.get(FLASH)
    waiting = [e for e in stored if isinstance(e, list)] if isinstance(stored, list) else []
    waiting.append([kind, text])
    await session.set(FLASH, waiting[-MAX_KEPT:])


async def take_flashes(ctx: Ctx) -> list[dict[str, str]]:
    """What `await ctx.flashes()` returns: the waiting messages, taken out of the session (the first
    read of a request takes them; later reads in that request see the same list)."""
    found: list[dict[str, str]] | None = ctx.__dict__.get("_flashes")
    if found is not None:
        return found
    if ctx.app.sessions is None:
        return []
    session = ctx.session
    if not session.loaded and not session.has_cookie:
        return []  # no session: nothing waits, nothing is created
    await session.load()
    found = ctx.__dict__["_flashes"] = _take_loaded(session)
    return found


def _take_loaded(session: Session) -> list[dict[str, str]]:
    if session.peek(FLASH) is None:
        return []
    return _shaped(session.take_loaded(FLASH))


def view_flashes(ctx: Ctx) -> list[dict[str, str]]:
    """`flashes()` in a template: like `await ctx.flashes()`, without I/O. Works when the session was
    loaded this request (by `ctx.flashes()`, `require_auth`, any `ctx.session` call) or the request has
    no session cookie; else `flash.not_loaded`."""
    found: list[dict[str, str]] | None = ctx.__dict__.get("_flashes")
    if found is not None:
        return found
    if ctx.app.sessions is None:
        return []
    session = ctx.session
    if not session.loaded:
        if not session.has_cookie:
            return []
        raise MegaError("flash.not_loaded", "the template asks for flashes() but the session was not "
                        "loaded (a template cannot wait for the store)", status=500,
                        hint="`await ctx.flashes()` in the handler before ctx.render (the template's "
                             "flashes() then returns the same list)")
    found = ctx.__dict__["_flashes"] = _take_loaded(session)
    return found
