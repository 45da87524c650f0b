"""What `mega ws-hub` runs: options from flags, the environment (.env loaded like `mega start`) and
the project's `ws_hub` section, then the hub until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from mega.errors import MegaError
from mega.ws.hub._server import Hub, run_hub
from mega.ws.hub._settings import HUB_DEFAULTS, Compression, HubSettings, hub_settings

__all__ = ["HubOptions", "hub_options", "project_settings", "serve_until_signal"]

log = logging.getLogger("mega.ws.hub")


@dataclass(frozen=True)
class HubOptions:
    tokens: tuple[str, ...]
    host: str
    port: int
    heartbeat: float
    compression: Compression


def _invalid(name: str, value: str, want: str) -> MegaError:
    return MegaError("config.invalid_value", f"{name} must be {want}, got {value!r}",
                     hint=f"fix {name} in the environment or .env")


def _env_number(environ: MutableMapping[str, str], name: str, scale: float = 1.0) -> float | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw) * scale
    except ValueError:
        raise _invalid(name, raw, "a number") from None
    if not value > 0 or value == float("inf"):
        raise _invalid(name, raw, "a number > 0")
    return value


def _seconds(name: str, value: float | str, hint: str) -> float:
    from mega.config import _checks as c

    try:
        seconds: float = c.duration()(value)
        return seconds
    except c.Invalid as exc:
        raise MegaError("config.invalid_value", f"{name} {exc.text}", hint=hint) from None


def project_settings(root: Path, environ: MutableMapping[str, str]) -> HubSettings:
    """mega_config.py's `ws_hub` section alone (the hub needs no apps); its problems raise ConfigError."""
    from mega.config._files import read_config_file
    from mega.config._problems import ConfigError
    from mega.config._specs import Context

    ctx = Context("mega_config.py", "development", environ)
    raw = read_config_file(root / "mega_config.py", ctx)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    return hub_settings(raw or {})


def hub_options(root: Path, environ: MutableMapping[str, str], *, host: str | None = None,
                port: int | None = None, heartbeat: float | str | None = None,
                project: bool = False) -> HubOptions:
    """Flags win over the environment, which wins over mega_config.py's `ws_hub`, then the defaults."""
    from mega.config import load_dotenv_file

    load_dotenv_file(root, environ)
    settings = project_settings(root, environ) if project else HUB_DEFAULTS
    tokens = tuple(t.strip() for t in environ.get("MEGA_WSHUB_TOKENS", "").split(",") if t.strip())
    if not tokens:
        raise MegaError("hub.no_tokens", "MEGA_WSHUB_TOKENS is not set: the hub would accept no bridge",
                        hint="set MEGA_WSHUB_TOKENS=token1,token2 (in the environment or .env); each bridge "
                             "sends one as MEGA_WSHUB_TOKEN")
    env_port = environ.get("MEGA_WSHUB_PORT", "").strip()
    if port is None and env_port:
        if not env_port.isdigit() or int(env_port) > 65535:
            raise _invalid("MEGA_WSHUB_PORT", env_port, "a port 0-65535")
        port = int(env_port)
    if heartbeat is not None:
        heartbeat = _seconds("--heartbeat", heartbeat,
                             "pass --heartbeat 25 (seconds) or a duration such as 30s")
    elif environ.get("MEGA_WSHUB_HEARTBEAT", "").strip():
        heartbeat = _seconds("MEGA_WSHUB_HEARTBEAT", environ["MEGA_WSHUB_HEARTBEAT"].strip(),
                             "fix MEGA_WSHUB_HEARTBEAT in the environment or .env: seconds, or a duration "
                             "such as 30s")
    else:
        heartbeat = _env_number(environ, "MEGA_WSHUB_HEARTBEAT_MS", 0.001)
    return HubOptions(tokens, host or environ.get("MEGA_WSHUB_HOST", "").strip() or settings.host,
                      settings.port if port is None else port,
                      settings.heartbeat if heartbeat is None else heartbeat, settings.compression)


async def serve_until_signal(options: HubOptions) -> int:
    """Serve until SIGTERM or SIGINT, drain the links with 4503, exit 0; a port in use raises
    `server.port_in_use`."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    hub = Hub(options.tokens, heartbeat=options.heartbeat, compression=options.compression)

    def listening(port: int) -> None:
        print(f"mega ws-hub listening on ws://{options.host}:{port} (heartbeat {options.heartbeat:g}s)",
              flush=True)

    try:
        await run_hub(hub, options.host, options.port, stop, on_listening=listening)
    except OSError as exc:
        details = {"host": options.host, "port": options.port}
        if exc.errno == errno.EADDRINUSE:
            raise MegaError("server.port_in_use", f"port {options.port} on {options.host} is already in use",
                            hint="stop the other hub (or server), or choose another port with --port or "
                                 "MEGA_WSHUB_PORT", details=details) from exc
        raise MegaError("server.bind_failed", f"mega ws-hub cannot listen on {options.host}:{options.port}: "
                        f"{exc.strerror or exc}", hint="check --host / MEGA_WSHUB_HOST and --port",
                        details=details) from exc
    log.info("ws-hub stopped")
    return 0
