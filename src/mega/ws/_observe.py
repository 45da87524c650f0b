"""What an instrument (metrics) hooks into a channel route: the "ws" family of `Instruments`.

A hook is called once per `router.ws(...)` route at boot, `hook(app_name, ns)`, and returns a
`WsObserver`. Without hooks (metrics off) the route has no observer: nothing is wrapped or counted.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["WsObserver"]


class WsObserver(Protocol):
    """One route's observer: `wrap` is applied to each connection's ASGI receive and send (so it sees
    every frame in and out), `opened` after the accept, `closed` with the final close code. An observer
    may also have `wrap_write_now(write) -> write`: the same for the server's synchronous frame write
    (`write(text) -> bool`, True when written); without it that fast path is off for the route."""

    def opened(self) -> None: ...

    def closed(self, code: int) -> None: ...

    def wrap(self, receive: Any, send: Any) -> tuple[Any, Any]: ...
