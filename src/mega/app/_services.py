"""Services: classes under apps/<app>/services/, injected lazily as `ctx.services.<name>`."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from mega.errors import MegaError

if TYPE_CHECKING:
    from mega.app.ctx import Ctx


class ServiceRegistry:
    """Name -> class for one app, built at boot; knows whether each class takes `ctx`."""

    def __init__(self) -> None:
        self._classes: dict[str, tuple[type, bool]] = {}

    def add(self, name: str, cls: type, *, source: str = "") -> None:
        if not name.isidentifier():
            raise MegaError("service.invalid_name", f"service name {name!r} ({source}) is not a Python "
                            "identifier", hint="rename the file to snake_case")
        if name in self._classes:
            raise MegaError("service.duplicate", f"two services are named '{name}' ({source})")
        try:
            params = [p for p in inspect.signature(cls).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
        except (TypeError, ValueError):
            params = []
        if len(params) > 1:
            raise MegaError("service.invalid_constructor", f"service '{name}' ({cls.__qualname__}) must take "
                            f"no argument or just ctx, it takes {len(params)}",
                            hint="def __init__(self, ctx): ...")
        self._classes[name] = (cls, len(params) == 1)

    @property
    def names(self) -> list[str]:
        return sorted(self._classes)

    def create(self, name: str, ctx: Ctx) -> Any:
        try:
            cls, takes_ctx = self._classes[name]
        except KeyError:
            raise MegaError("service.not_found", f"no service named '{name}'", details={"name": name},
                            dev_details={"services": self.names},
                            hint=f"declared services: {', '.join(self.names) or '(none)'}; add "
                            f"apps/<app>/services/{name}.py") from None
        return cls(ctx) if takes_ctx else cls()


class Services:
    """Per-request container: a service is created on first use and reused within the request."""

    __slots__ = ("_ctx", "_instances", "_registry")

    def __init__(self, registry: ServiceRegistry, ctx: Ctx) -> None:
        self._registry = registry
        self._ctx = ctx
        self._instances: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        instance = self._instances.get(name)
        if instance is None:
            instance = self._registry.create(name, self._ctx)
            self._instances[name] = instance
        return instance

    def __contains__(self, name: str) -> bool:
        return name in self._registry.names
