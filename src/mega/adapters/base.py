"""The base every adapter (database, cache, bus connection) shares.

An adapter is a connection to one external service, declared under an alias in
`services.<group>.<alias>`: `connect()`, `disconnect()`, `native` (the driver's own client),
`stats()`, a readiness check, and one instrumentation hook point (`observe`) that costs a single
`is None` test when nothing listens.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from mega.errors import MegaError

Observer = Callable[["Adapter", str, float, BaseException | None], None]
"""Called after an instrumented call: (adapter, operation, seconds, error or None)."""


STATEMENT: ContextVar[tuple[str, str | None] | None] = ContextVar("mega_statement", default=None)
"""The database statement an observed call runs: (kind, table), set by the SQL adapter around the call
only when an observer is attached (tracing reads it; never the parameters)."""


class AdapterError(MegaError):
    status = 503
    default_code = "adapter.unavailable"


def redact_url(url: str) -> str:
    """The URL with any password replaced by '***' (safe for logs and error messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}{port}", parts.path, parts.query, parts.fragment))


class Adapter(ABC):
    """One connection (or pool) to one service. Subclasses implement `_connect`/`_disconnect`."""

    family: ClassVar[str] = ""  # "db", "cache", "bus" or "redis"
    driver: ClassVar[str] = ""  # "postgres", "redis", ...
    secret_options: ClassVar[frozenset[str]] = frozenset({"password", "token", "secret", "url"})
    root: Path | None = None  # the project directory, set by the manager; relative paths start there

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        self.alias = alias
        self.options = dict(options)
        self.observe: Observer | None = None
        self._native: Any = None
        self._connected = False
        self.calls = 0
        self.errors = 0

    def bind(self, adapters: Any) -> None:  # noqa: B027 - most adapters use no other
        """Take the adapters this one builds on (by alias) from the manager, before anything connects."""

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        if self._connected:
            return
        try:
            self._native = await self._connect()
        except MegaError:
            raise
        except Exception as exc:
            raise AdapterError("adapter.connect_failed", f"cannot connect {self.family} '{self.alias}' "
                               f"({self.driver}) to {self.target()}: {type(exc).__name__}: {exc}",
                               details={"alias": self.alias, "driver": self.driver, "target": self.target()},
                               hint="check that the service runs and the URL/host in mega_config.py",
                               cause=exc) from exc
        self._connected = True

    async def disconnect(self) -> None:
        if not self._connected:
            return
        self._connected = False
        native, self._native = self._native, None
        await self._disconnect(native)

    @abstractmethod
    async def _connect(self) -> Any:
        """Open the connection or pool; return the native client."""

    @abstractmethod
    async def _disconnect(self, native: Any) -> None:
        """Close what `_connect` opened."""

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def native(self) -> Any:
        """The driver's own client, for what the adapter does not wrap."""
        if not self._connected:
            raise MegaError("adapter.not_connected", f"{self.family} '{self.alias}' is not connected",
                            hint="use it after boot (the adapters stage connects every declared alias)")
        return self._native

    def resolve_path(self, value: str | os.PathLike[str]) -> Path:
        """A path option made absolute against the project root (the working directory without one)."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.root or Path.cwd()) / path

    # -- observability ---------------------------------------------------------------------

    def target(self) -> str:
        """Where this adapter connects, without secrets (for logs and errors)."""
        url = self.options.get("url")
        if isinstance(url, str):
            return redact_url(url)
        host = self.options.get("host", "localhost")
        port = self.options.get("port")
        return f"{host}:{port}" if port else str(host)

    def stats(self) -> dict[str, Any]:
        return {"alias": self.alias, "family": self.family, "driver": self.driver,
                "connected": self._connected, "target": self.target(), "calls": self.calls,
                "errors": self.errors}

    async def health(self) -> Any:
        """Readiness: True when the service answers. Subclasses ping their service."""
        return self._connected

    async def instrumented(self, operation: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run `call` under the hook point; with no observer it is a plain await."""
        self.calls += 1
        observe = self.observe
        if observe is None:
            try:
                return await call()
            except BaseException:
                self.errors += 1
                raise
        started = time.perf_counter()
        try:
            result = await call()
        except BaseException as exc:
            self.errors += 1
            observe(self, operation, time.perf_counter() - started, exc)
            raise
        observe(self, operation, time.perf_counter() - started, None)
        return result

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.family}:{self.alias} {self.driver} {self.target()}>"
