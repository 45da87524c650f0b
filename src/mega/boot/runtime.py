"""Runtime: everything a boot produced (config, apps, host, adapters, health), and its `close()`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mega.app import registry
from mega.errors import MegaError
from mega.shutdown import DEFAULT_TIMEOUT, ShutdownRegistry
from mega.shutdown import registry as shutdown_registry

if TYPE_CHECKING:
    from mega.adapters._manager import AdapterManager
    from mega.app.app import MegaApp
    from mega.boot._host import Host
    from mega.config._project import ProjectConfig
    from mega.data.model import Model
    from mega.observe.access import AccessLog
    from mega.observe.health import HealthRegistry
    from mega.observe.instruments import Instruments
    from mega.observe.metrics import Metrics
    from mega.observe.tracing import Tracing

__all__ = ["Runtime", "current_runtime", "register_health_check", "register_shutdown_hook"]


class Runtime:
    """Filled in by the boot stages, in order; `close()` undoes it. `config` and `health` exist from
    their stages ('config', 'runtime') on; the others are None while their stage has not run."""

    def __init__(self, root: Path, environ: Mapping[str, str],
                 overrides: dict[str, Any] | None = None) -> None:
        self.root = root
        self.environ = environ
        self.overrides: dict[str, Any] = dict(overrides or {})
        self.env = "development"
        self.apps: dict[str, MegaApp] = {}
        self.models: list[type[Model]] = []
        self.host: Host | None = None
        self.adapters: AdapterManager | None = None
        self.access_log: AccessLog | None = None
        # Set by the "observe" stage when metrics or tracing is on (None: nothing is instrumented).
        self.instruments: Instruments | None = None
        self.metrics: Metrics | None = None
        self.tracing: Tracing | None = None
        self.shutdown: ShutdownRegistry = shutdown_registry  # the process's one registry (mega.shutdown)
        self.closed = False
        self._config: ProjectConfig | None = None
        self._health: HealthRegistry | None = None

    @property
    def config(self) -> ProjectConfig:
        if self._config is None:
            raise _before_stage("config", "config")
        return self._config

    @config.setter
    def config(self, value: ProjectConfig) -> None:
        self._config = value

    @property
    def health(self) -> HealthRegistry:
        if self._health is None:
            raise _before_stage("health", "runtime")
        return self._health

    @health.setter
    def health(self, value: HealthRegistry) -> None:
        self._health = value

    @property
    def server_config(self) -> dict[str, Any]:
        return dict(self._config.values["server"]) if self._config is not None else {}

    async def close(self) -> list[tuple[str, str]]:
        """Mark readiness draining, run the shutdown registry (hooks by order, then the stages'
        resources in reverse order of opening) and forget the apps."""
        global _current
        if self.closed:
            return []
        self.closed = True
        if _current is self:
            _current = None
        if self._health is not None:
            self._health.mark_draining()
        outcomes = await self.shutdown.run()
        registry.reset()
        return outcomes

    def __repr__(self) -> str:
        return f"Runtime({str(self.root)!r}, apps={list(self.apps)}, closed={self.closed})"


def _before_stage(attr: str, stage: str) -> MegaError:
    return MegaError("app.not_initialized", f"runtime.{attr} is read before the boot stage '{stage}' ran",
                     hint=f"read it from a stage added after '{stage}' (add_stage), or after boot")


_current: Runtime | None = None


def activate(rt: Runtime) -> None:
    """Make `rt` this process's runtime (the boot does, first); one live project per process."""
    global _current
    if _current is not None and not _current.closed:
        raise MegaError("boot.already_booted", f"a project ({_current.root}) is already booted in this "
                        "process", hint="close it first: await runtime.close()")
    _current = rt


def current_runtime() -> Runtime:
    """The runtime of the project booted in this process."""
    if _current is None:
        raise MegaError("app.not_initialized", "no project is booted in this process",
                        hint="call it from boot code, a handler or after mega.boot()")
    return _current


def register_health_check(name: str, fn: Callable[[], Any], *, timeout: float | None = None,
                          best_effort: bool = False) -> None:
    """Add a readiness check to the booted project (`/health/ready` fails while it fails, unless
    `best_effort`: then it is only reported, as "degraded")."""
    current_runtime().health.register(name, fn, timeout=timeout, best_effort=best_effort)


def register_shutdown_hook(name: str, fn: Callable[[], Any], *, order: float = 100,
                           timeout: float | str | None = None) -> None:
    """Alias of `mega.shutdown.register` (the one registry): run `fn` at shutdown, after in-flight
    requests, by ascending `order`, time-boxed (`timeout` None: the default 5 s)."""
    shutdown_registry.register(name, fn, order, DEFAULT_TIMEOUT if timeout is None else timeout)
