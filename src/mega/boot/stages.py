"""Staged boot: each stage has a name; a failure names the stage and closes what was opened.

The stage list is fixed; a later capability extends it with one call, `add_stage(Stage("name", fn),
after="apps")`. A stage registers the closing of what it opens with `runtime.shutdown.register_resource`,
so a failure in a later stage closes it, and so does the normal shutdown.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mega.adapters._stage import adapters_stage
from mega.app import registry
from mega.app.app import MegaApp
from mega.boot._host import Host
from mega.boot._loader import load_app, use_project_root
from mega.boot._test_env import apply_test_run
from mega.boot.runtime import (
    Runtime,
    activate,
    current_runtime,
    register_health_check,
    register_shutdown_hook,
)
from mega.bus._stage import run as bus_stage
from mega.config import load_dotenv_file, load_project_config
from mega.data.migrations._stage import migrations_stage
from mega.errors import MegaError
from mega.http._health import health_endpoints
from mega.i18n._stage import i18n_stage
from mega.jobs._stage import jobs_stage
from mega.lock._stage import locks_stage
from mega.observe._stage import metrics_endpoints, observe_stage, observe_wire_stage
from mega.observe.access import AccessLog
from mega.observe.health import HealthRegistry
from mega.observe.logging import configure_logging
from mega.openapi._mount import openapi_endpoints
from mega.resilience._breaker import attach_health, breaker_names, detach_health, forget_breakers
from mega.schedules._stage import schedules_stage
from mega.security import _client_ip as client_ip
from mega.sessions._manager import SessionManager
from mega.workers._stage import workers_stage
from mega.ws.hub._stage import bridge_hub_stage
from mega.ws.presence._stage import presence_stage

__all__ = ["STAGES", "BootError", "Runtime", "Stage", "add_stage", "boot", "boot_project",
           "current_runtime", "index_of", "register_health_check", "register_shutdown_hook"]

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


StageFn = Callable[[Runtime], Awaitable[None] | None]


@dataclass(frozen=True)
class Stage:
    name: str
    run: StageFn


def _stage_env(rt: Runtime) -> None:
    environ = rt.environ if isinstance(rt.environ, dict) else os.environ
    load_dotenv_file(rt.root, environ)


def _stage_config(rt: Runtime) -> None:
    rt.config = load_project_config(rt.root, environ=rt.environ)
    for key, value in rt.overrides.items():  # CLI flags such as --port win over files
        section, _, leaf = key.partition(".")
        rt.config.values.setdefault(section, {})[leaf] = value
    rt.env = rt.config.env
    apply_test_run(rt)  # under `mega test` or mega's pytest plugin: the run's databases and key prefix


def _stage_runtime(rt: Runtime) -> None:
    logger_cfg = rt.config.values["logger"]
    if rt.env == "test":
        # Under a test runner the runner owns the handlers (pytest's capture and caplog).
        logging.getLogger("mega").setLevel(logger_cfg["level"].upper())
    else:
        configure_logging(level=logger_cfg["level"], fmt=logger_cfg["format"], sinks=logger_cfg["sinks"],
                          environ=rt.environ)
    health_cfg = rt.config.values["health"]
    rt.health = HealthRegistry(check_timeout=health_cfg["check_timeout"],
                               expose_details=health_cfg["expose_details"])
    _track_breakers(rt)
    if logger_cfg["access_log"]:
        access_log = rt.access_log = AccessLog(sys.stdout, fmt=logger_cfg["format"])
        access_log.start()
        rt.shutdown.register_resource("access-log", access_log.close)


def _track_breakers(rt: Runtime) -> None:
    """Circuit breakers show in readiness (best effort: never failing it); those the project's modules
    create are forgotten at shutdown, so a next boot in this process can create them again."""
    health, before = rt.health, breaker_names()
    attach_health(health)

    def close() -> None:
        detach_health(health)
        forget_breakers(breaker_names() - before)

    rt.shutdown.register_resource("breakers", close)


def _stage_models(rt: Runtime) -> None:
    """Import and validate the apps' models before anything uses them: a bad one fails boot here."""
    dirs = {name: app_cfg.dir for name, app_cfg in rt.config.apps.items()}
    if not any(p for d in dirs.values() for p in (d / "models").glob("*.py") if not p.name.startswith("_")):
        return  # nothing to scan: not even SQLAlchemy is imported
    from mega.data.migrations._scan import scan_models
    from mega.data.migrations._validate import validate_models

    rt.models = scan_models(rt.root, dirs)
    validate_models(rt.models)


def _stage_apps(rt: Runtime) -> None:
    server = rt.config.values["server"]
    use_project_root(rt.root)
    client_ip.configure(client_ip.TrustedProxies(server.get("trusted_proxies") or ()))
    probe_log = rt.access_log if rt.config.values["logger"]["access_log_health"] else None
    scrape = metrics_endpoints(rt)
    for name, app_cfg in rt.config.apps.items():
        app = MegaApp(name, directory=app_cfg.dir, config=app_cfg.values, env=rt.env,
                      access_log=rt.access_log, body_limit=server["body_limit"],
                      trailing_slash=server["trailing_slash"])
        app.adapters = rt.adapters
        app.instruments = rt.instruments
        extra = health_endpoints(rt.health, probe_log, app.constant_headers)  # with the app's headers
        extra.update(scrape)
        try:
            if app_cfg.settings.get("session") is not None:
                production = rt.env == "production"
                app.sessions = SessionManager.from_settings(app_cfg.settings["session"], app_name=name,
                                                            root=rt.root, production=production,
                                                            cache=app.cache)
                if app.sessions is not None:
                    app.sessions.start()
            if app_cfg.settings.get("asp") is not None:  # only then is cryptography imported
                from mega.asp._http import HttpAsp

                app.asp = HttpAsp(app_cfg.settings["asp"], cache=app.cache, app_name=name)
            load_app(app, app_cfg.dir)
            app.compile({**extra, **openapi_endpoints(app, app_cfg.settings.get("openapi"))})
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

    rt.shutdown.register_resource("security", close_security)
    for app in rt.apps.values():
        registry.register(app)
    rt.shutdown.register_resource("app-registry", registry.reset)
    rt.host = Host(list(rt.apps.values()))


def _stage_ready(rt: Runtime) -> None:
    rt.health.mark_ready()


STAGES: tuple[Stage, ...] = (
    Stage("env", _stage_env),
    Stage("config", _stage_config),
    Stage("runtime", _stage_runtime),
    Stage("adapters", adapters_stage),
    Stage("models", _stage_models),
    Stage("migrations", migrations_stage),
    Stage("observe", observe_stage),
    Stage("apps", _stage_apps),
    Stage("locks", locks_stage),
    Stage("workers", workers_stage),
    Stage("schedules", schedules_stage),
    Stage("bus", bus_stage),
    Stage("bridge_hub", bridge_hub_stage),
    Stage("presence", presence_stage),
    Stage("observe-wire", observe_wire_stage),
    Stage("jobs", jobs_stage),
    Stage("i18n", i18n_stage),
    Stage("ready", _stage_ready),
)
"""The boot stages in order. A tuple: `add_stage` is the one way to extend it."""


def index_of(name: str) -> int:
    for i, stage in enumerate(STAGES):
        if stage.name == name:
            return i
    raise MegaError("boot.unknown_stage", f"no boot stage named '{name}'",
                    hint=f"stages: {', '.join(s.name for s in STAGES)}")


def add_stage(stage: Stage, *, after: str) -> None:
    """Run `stage` right after the stage named `after` (idempotent by name)."""
    global STAGES
    if any(s.name == stage.name for s in STAGES):
        return
    at = index_of(after) + 1
    STAGES = (*STAGES[:at], stage, *STAGES[at:])


async def boot(root: str | Path = ".", *, environ: Mapping[str, str] | None = None,
               overrides: dict[str, Any] | None = None) -> Runtime:
    """Run every stage in order; on failure close what was opened and raise BootError."""
    rt = Runtime(Path(root).resolve(), os.environ if environ is None else environ, overrides)
    try:
        activate(rt)
    except MegaError as exc:
        raise BootError("env", exc) from None
    for stage in STAGES:
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
