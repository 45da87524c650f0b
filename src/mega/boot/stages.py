"""Staged boot: each stage has a name; a failure names the stage and closes what was opened.

Later capabilities plug in with one line: `STAGES.insert(index_of("apps"), Stage("adapters", fn))`
or `add_stage(Stage(...), after="runtime")`. A stage registers the closing of what it opens on
`runtime.shutdown`, so a failure in a later stage closes it, and so does the normal shutdown.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mega.app import registry
from mega.app.app import MegaApp
from mega.boot.host import Host
from mega.boot.loader import load_app, use_project_root
from mega.boot.shutdown import ShutdownRegistry
from mega.errors import MegaError

log = logging.getLogger("mega.boot")


class BootError(MegaError):
    """Boot failed in a named stage; `cause` holds the original error."""

    default_code = "boot.failed"

    def __init__(self, stage: str, cause: BaseException) -> None:
        reason = cause.message if isinstance(cause, MegaError) else f"{type(cause).__name__}: {cause}"
        super().__init__(message=f"boot failed at stage '{stage}': {reason}",
                         details={"stage": stage, "cause": getattr(cause, "code", type(cause).__name__)},
                         hint=getattr(cause, "hint", None), cause=cause)
        self.stage = stage
        self.original = cause


@dataclass
class Runtime:
    """Everything a boot produced; `close()` undoes it."""

    root: Path
    environ: Mapping[str, str]
    overrides: dict[str, Any] = field(default_factory=dict)
    config: Any = None
    env: str = "development"
    apps: dict[str, MegaApp] = field(default_factory=dict)
    models: list[Any] = field(default_factory=list)
    host: Host | None = None
    health: Any = None
    adapters: Any = None  # mega.adapters.manager.AdapterManager
    access_log: Any = None
    shutdown: ShutdownRegistry = field(default_factory=ShutdownRegistry)
    closed: bool = False

    @property
    def server_config(self) -> dict[str, Any]:
        return dict(self.config.values["server"]) if self.config is not None else {}

    async def close(self) -> list[tuple[str, str]]:
        """Run the shutdown hooks in reverse order and forget the apps."""
        global _current
        if self.closed:
            return []
        self.closed = True
        if _current is self:
            _current = None
        if self.health is not None:
            self.health.mark_draining()
        outcomes = await self.shutdown.run()
        registry.reset()
        return outcomes


_current: Runtime | None = None


def current_runtime() -> Runtime:
    """The runtime of the project booted in this process."""
    if _current is None:
        raise MegaError("app.not_initialized", "no project is booted in this process",
                        hint="call it from boot code, a handler or after mega.boot()")
    return _current


def register_health_check(name: str, fn: Callable[[], Any], *, timeout: float | None = None) -> None:
    """Add a readiness check to the booted project (`/health/ready` fails while it fails)."""
    rt = current_runtime()
    rt.health.register(name, fn, timeout=timeout)


def register_shutdown_hook(name: str, fn: Callable[[], Any], *, timeout: float | None = None) -> None:
    """Run `fn` at shutdown (after in-flight requests), time-boxed, in reverse registration order."""
    current_runtime().shutdown.register(name, fn, timeout=timeout)


StageFn = Callable[[Runtime], Awaitable[None] | None]


@dataclass(frozen=True)
class Stage:
    name: str
    run: StageFn


def _stage_env(rt: Runtime) -> None:
    from mega.config import load_dotenv_file

    environ = rt.environ if isinstance(rt.environ, dict) else os.environ
    load_dotenv_file(rt.root, environ)


def _stage_config(rt: Runtime) -> None:
    from mega.config import load_project_config

    rt.config = load_project_config(rt.root, environ=rt.environ)
    for key, value in rt.overrides.items():  # CLI flags such as --port win over files
        section, _, leaf = key.partition(".")
        rt.config.values.setdefault(section, {})[leaf] = value
    rt.env = rt.config.env


def _stage_runtime(rt: Runtime) -> None:
    from mega.observe.access import AccessLog
    from mega.observe.health import HealthRegistry
    from mega.observe.logging import configure_logging

    logger_cfg = rt.config.values["logger"]
    if rt.env == "test":
        # Under a test runner the runner owns the handlers (pytest's capture and caplog).
        logging.getLogger("mega").setLevel(logger_cfg["level"].upper())
    else:
        configure_logging(level=logger_cfg["level"], fmt=logger_cfg["format"], sinks=logger_cfg["sinks"])
    health_cfg = rt.config.values["health"]
    rt.health = HealthRegistry(check_timeout=health_cfg["check_timeout"],
                               expose_details=health_cfg["expose_details"])
    if logger_cfg["access_log"]:
        rt.access_log = AccessLog(sys.stdout, fmt=logger_cfg["format"])
        rt.access_log.start()
        rt.shutdown.register("access-log", rt.access_log.close)


async def _stage_adapters(rt: Runtime) -> None:
    from mega.adapters.stage import adapters_stage

    await adapters_stage(rt)


def _stage_models(rt: Runtime) -> None:
    """Import and validate the apps' models before anything uses them: a bad one fails boot here."""
    dirs = {name: app_cfg.dir for name, app_cfg in rt.config.apps.items()}
    if not any(p for d in dirs.values() for p in (d / "models").glob("*.py") if not p.name.startswith("_")):
        return  # nothing to scan: not even SQLAlchemy is imported
    from mega.data.migrations.scan import scan_models
    from mega.data.migrations.validate import validate_models

    rt.models = scan_models(rt.root, dirs)
    validate_models(rt.models)


def _stage_apps(rt: Runtime) -> None:
    from mega.http.health import health_endpoints
    from mega.security import client_ip

    server = rt.config.values["server"]
    use_project_root(rt.root)
    client_ip.configure(client_ip.TrustedProxies(server.get("trusted_proxies") or ()))
    extra = health_endpoints(rt.health)
    for name, app_cfg in rt.config.apps.items():
        app = MegaApp(name, directory=app_cfg.dir, config=app_cfg.values, env=rt.env,
                      access_log=rt.access_log, body_limit=server["body_limit"],
                      trailing_slash=server["trailing_slash"])
        app.adapters = rt.adapters
        try:
            if app_cfg.settings.get("session") is not None:
                from mega.sessions.manager import SessionManager

                production = rt.env == "production"
                app.sessions = SessionManager.from_settings(app_cfg.settings["session"], app_name=name,
                                                            root=rt.root, production=production,
                                                            cache=app.cache)
                if app.sessions is not None:
                    app.sessions.start()
            load_app(app, app_cfg.dir)
            app.compile(extra)
        except MegaError as exc:
            if not exc.message.startswith(f"app '{name}'"):
                exc.message = f"app '{name}': {exc.message}"
                exc.args = (exc.message,)
            raise
        rt.apps[name] = app
    apps = list(rt.apps.values())

    async def close_security() -> None:
        for app in apps:
            app.security.close()
            if app.sessions is not None:
                await app.sessions.close()

    rt.shutdown.register("security", close_security)
    for app in rt.apps.values():
        registry.register(app)
    rt.shutdown.register("app-registry", registry.reset)
    rt.host = Host(list(rt.apps.values()))


def _stage_ready(rt: Runtime) -> None:
    rt.health.mark_ready()


STAGES: list[Stage] = [
    Stage("env", _stage_env),
    Stage("config", _stage_config),
    Stage("runtime", _stage_runtime),
    Stage("adapters", _stage_adapters),
    Stage("models", _stage_models),
    Stage("apps", _stage_apps),
    Stage("locks", lambda rt: __import__("mega.lock.stage", fromlist=["locks_stage"]).locks_stage(rt)),
    Stage("bus", lambda rt: __import__("mega.bus.stage", fromlist=["run"]).run(rt)),
    Stage("ready", _stage_ready),
]


def index_of(name: str) -> int:
    for i, stage in enumerate(STAGES):
        if stage.name == name:
            return i
    raise MegaError("boot.unknown_stage", f"no boot stage named '{name}'",
                    hint=f"stages: {', '.join(s.name for s in STAGES)}")


def add_stage(stage: Stage, *, after: str) -> None:
    """Insert `stage` right after the stage named `after` (idempotent by name)."""
    if any(s.name == stage.name for s in STAGES):
        return
    STAGES.insert(index_of(after) + 1, stage)


async def boot(root: str | Path = ".", *, environ: Mapping[str, str] | None = None,
               overrides: dict[str, Any] | None = None) -> Runtime:
    """Run every stage in order; on failure close what was opened and raise BootError."""
    global _current
    rt = Runtime(root=Path(root).resolve(), environ=os.environ if environ is None else environ,
                 overrides=dict(overrides or {}))
    if _current is not None and not _current.closed:
        already = MegaError("boot.already_booted", f"a project ({_current.root}) is already booted in this "
                            "process", hint="close it first: await runtime.close()")
        raise BootError("env", already)
    _current = rt
    for stage in list(STAGES):
        try:
            result = stage.run(rt)
            if inspect.isawaitable(result):
                await result
        except BaseException as exc:
            await rt.close()
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise BootError(stage.name, exc) from exc
        log.debug("boot stage %s done", stage.name)
    return rt


boot_project = boot
"""Public name (`mega.boot_project`): `mega.boot` is the package holding this module."""
