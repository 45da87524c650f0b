"""The instrument registry: where metrics and tracing hook into mega, decided once at boot.

    instruments = Instruments()
    instruments.add_http(hook)           # hook(app, method, pattern, endpoint) -> endpoint
    instruments.add_adapter(observer)    # observer(adapter, op, seconds, error), on every adapter call
    instruments.add("jobs", hook)        # a later family (jobs, websockets) reads its hooks by name

The boot's "observe" stage fills one registry from the `metrics` and `tracing` sections before the
apps are built. When both are off there is no registry at all (`app.instruments is None`): no route
is wrapped, no adapter observed, nothing is paid per request. A family that comes later (jobs,
WebSockets) asks `hooks("jobs")` when it builds its workers and wraps only when the list is not empty.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mega.adapters.base import Adapter, Observer
    from mega.http._dispatch import Respond
    from mega.http._pipeline import Endpoint

__all__ = ["UNMATCHED", "HttpHook", "Instruments", "with_status"]

UNMATCHED = "__unmatched__"
"""The route label of every request no route answers (404, 405, redirects): never the raw path."""

HttpHook = Callable[[str, str, str, "Endpoint"], "Endpoint"]
"""(app, method, route pattern, endpoint) -> the endpoint to serve instead (built at boot). The
endpoint a hook gets returns the status it sent, and so must the one it returns. Method "*" and
pattern UNMATCHED: the app's answers no route gives (the request's method is in the scope)."""

_KEPT = ("cors", "failure")  # endpoint attributes other parts of mega read (CORS preflight, ASP)


class Instruments:
    """The hooks metrics and tracing installed; the order of `add_http` is outermost last."""

    def __init__(self) -> None:
        self._http: list[HttpHook] = []
        self._adapter: list[Observer] = []
        self._families: dict[str, list[Any]] = {}
        self.closers: list[Callable[[], Awaitable[None] | None]] = []

    def add_http(self, hook: HttpHook) -> None:
        self._http.append(hook)

    def add_adapter(self, observer: Observer) -> None:
        self._adapter.append(observer)

    def add(self, family: str, hook: Any) -> None:
        """A hook for a family mega builds later (jobs, websockets, ...); it reads `hooks(family)`."""
        self._families.setdefault(family, []).append(hook)

    def hooks(self, family: str) -> list[Any]:
        return list(self._families.get(family, ()))

    def wrap_route(self, app: str, method: str, pattern: str, endpoint: Endpoint) -> Endpoint:
        """`endpoint` under every HTTP hook; its label values are fixed here, once per route."""
        wrapped = with_status(endpoint)
        for hook in self._http:
            wrapped = _keep_attributes(hook(app, method, pattern, wrapped), endpoint)
        return wrapped

    def unmatched_wrapper(self, app: str) -> Callable[[Respond], Respond] | None:
        """How an app's dispatcher wraps the answers no route gives (one label: UNMATCHED)."""
        if not self._http:
            return None

        def wrap(respond: Respond) -> Respond:
            endpoint: Endpoint = respond
            for hook in self._http:
                endpoint = hook(app, "*", UNMATCHED, endpoint)
            return endpoint

        return wrap

    def attach(self, adapter: Adapter) -> None:
        """Observe `adapter`'s calls (keeps an observer someone else set)."""
        observers = list(self._adapter)
        if not observers:
            return
        if adapter.observe is not None:
            observers.insert(0, adapter.observe)
        if len(observers) == 1:
            adapter.observe = observers[0]
            return

        def observe(adapter: Adapter, op: str, seconds: float, error: BaseException | None) -> None:
            for observer in observers:
                observer(adapter, op, seconds, error)

        adapter.observe = observe

    async def close(self) -> None:
        for closer in reversed(self.closers):
            result = closer()
            if result is not None:
                await result


def with_status(endpoint: Endpoint) -> Endpoint:
    """`endpoint`, returning the status it sent (hooks read it to label what they record).

    Compiled routes (ASP's included) return it already (free); another endpoint (a plugin's) gets its
    `send` watched, which costs a call per message on that route only."""
    if getattr(endpoint, "returns_status", False):
        return endpoint

    async def watched(scope: dict[str, Any], receive: Any, send: Any, params: Any) -> int:
        seen = [500]  # nothing started: the server will answer 500

        async def watch(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen[0] = message["status"]
            await send(message)

        await endpoint(scope, receive, watch, params)
        return seen[0]

    watched.returns_status = True  # type: ignore[attr-defined]
    return watched


def _keep_attributes(wrapper: Endpoint, inner: Endpoint) -> Endpoint:
    for name in _KEPT:
        if hasattr(inner, name) and not hasattr(wrapper, name):
            setattr(wrapper, name, getattr(inner, name))
    return wrapper
