"""`WebSocketController` and `@on`: a channel's hooks and its per-type message handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mega.errors import MegaError
from mega.http._validation import Validator, compile_part
from mega.http.router import describe

__all__ = ["Handler", "WebSocketController", "compile_channel", "on"]

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__mega_ws_on__"


def on(type: str, *, schema: Any = None) -> Callable[[F], F]:
    """Mark a method of a `WebSocketController` as the handler of frames `{"type": type, ...}`.

    `schema` (a JSON Schema dict, a pydantic model or a TypeAdapter) validates the payload first; the handler
    gets `(sock, msg, ctx)` with `msg` the validated payload (the model instance for pydantic)."""
    if callable(type):  # `@on` without parentheses: Python passed the method itself
        raise MegaError("ws.invalid_handler", f"@on on {describe(type)} has no message type",
                        hint='write @on("chat.send") (the type of the frames it handles), not a bare @on')
    if not isinstance(type, str) or not type:
        raise MegaError("ws.invalid_handler", f"@on needs a non-empty message type, got {type!r}",
                        hint='e.g. @on("chat.send"): the "type" of the client frames this method handles')

    def mark(fn: F) -> F:
        marks: list[tuple[str, Any]] = list(getattr(fn, _MARK, ()))
        marks.append((type, schema))
        setattr(fn, _MARK, marks)
        return fn

    return mark


class WebSocketController:
    """Base class of a channel. One instance per connection: keep shared state elsewhere.

    Override `on_connect(sock, ctx)` and `on_disconnect(sock, ctx, code)` (both optional, sync or
    async); decorate message handlers with `@on("chat.send", schema=...)`."""

    async def on_connect(self, sock: Any, ctx: Any) -> None:
        """After the upgrade is accepted."""

    async def on_disconnect(self, sock: Any, ctx: Any, code: int) -> None:
        """Once, after the socket closed (`code`: the close code)."""


@dataclass(frozen=True)
class Handler:
    name: str  # the method name
    validate: Validator | None


def compile_channel(cls: type[WebSocketController], *, where: str) -> dict[str, Handler]:
    """The message types of a channel class, checked at boot (`ws.duplicate_type`, bad schemas)."""
    if not (isinstance(cls, type) and issubclass(cls, WebSocketController)):
        raise MegaError("ws.invalid_channel", f"{where}: {cls!r} is not a WebSocketController subclass",
                        hint="class ChatChannel(WebSocketController): ... and router.ws(path, ChatChannel)")
    table: dict[str, Handler] = {}
    owners: dict[str, str] = {}
    seen: set[str] = set()
    for klass in cls.__mro__:
        for attr, fn in vars(klass).items():
            if attr in seen:  # overridden in a subclass: the subclass's method counts
                continue
            seen.add(attr)
            for type_, schema in getattr(fn, _MARK, ()):
                if type_ in table:
                    raise MegaError("ws.duplicate_type", f"{where}: message type '{type_}' has two handlers "
                                    f"in {describe(cls)}: {owners[type_]} and {attr}",
                                    details={"type": type_, "handlers": [owners[type_], attr]},
                                    hint="keep one handler per message type")
                validate = None if schema is None else \
                    compile_part("payload", schema, route=f"{where} {type_}")
                table[type_] = Handler(attr, validate)
                owners[type_] = attr
    return table
