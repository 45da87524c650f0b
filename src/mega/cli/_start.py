"""`mega start`: serve the project; `--watch` restarts it whenever a watched file changes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from mega.cli._failure import UsageFailure, _headline
from mega.cli._project import cli_state, project_root


@click.command("start")
@click.option("--host", help="Interface to bind (default: server.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: server.port, PORT, 3000).")
@click.option("--server", "server_name", type=click.Choice(["uvicorn", "granian"]), default="uvicorn",
              show_default=True, help="HTTP server: uvicorn with mega's protocol, or granian "
              "(docs/reference/server.md says what each keeps).")
@click.option("--watch", is_flag=True, help="Restart on changes to the paths of the `watch` config key.")
# Set by --watch on the server it runs: after a boot error, answer 503 on the port until stopped.
@click.option("--boot-error-page", type=click.Choice(["details", "brief"]), hidden=True)
@click.pass_context
def start(ctx: click.Context, host: str | None, port: int | None, server_name: str, watch: bool,
          boot_error_page: str | None) -> int:
    """Boot the project and serve it until SIGINT or SIGTERM."""
    root = project_root(ctx)
    debug = cli_state(ctx).debug
    from mega.cluster._worker import is_worker

    if is_worker():  # started by a cluster primary
        from mega.cluster._worker import run_worker

        return run_worker(root, host, port)
    workers = _cluster_workers(root)
    if watch:
        if workers:
            message = (f"mega start --watch cannot run in cluster mode ({workers} workers from "
                       f"{_workers_source()})")
            hint = "unset MEGA_CLUSTER_WORKERS (or server.workers) to use --watch, or start without --watch"
            raise UsageFailure([*_headline(message, hint), "code: cluster.watch_conflict"])
        return _start_watching(root, host, port, server_name, debug=debug)
    if workers:
        from mega.cluster._primary import run_cluster
        from mega.errors import MegaError

        try:
            return run_cluster(root, host=host, port=port, count=workers, debug=debug)
        except MegaError as exc:
            if exc.code != "cluster.metrics_port":
                raise
            raise UsageFailure([*_headline(exc.message, exc.hint), f"code: {exc.code}"]) from exc
    from mega.server import run

    if boot_error_page is None or host is None or port is None:
        return run(root, host=host, port=port, server_name=server_name)
    from mega.boot.stages import BootError

    try:
        return run(root, host=host, port=port, server_name=server_name)
    except BootError as exc:
        if exc.stage == "listen":  # the port is not ours to answer on
            raise
        return _serve_boot_error(exc, host, port, details=boot_error_page == "details", debug=debug)


def _workers_source() -> str:
    from mega.cluster import ENV_VAR

    return ENV_VAR if os.environ.get(ENV_VAR, "").strip() else "server.workers"


def _cluster_workers(root: Path) -> int:
    """How many workers to run (0: no cluster). A config that does not load is left to the boot to
    report, at its stage; a bad MEGA_CLUSTER_WORKERS is `cluster.invalid_workers` (exit 2)."""
    from mega.cluster import ENV_VAR, resolve_workers
    from mega.config import load_dotenv_file, load_project_config
    from mega.errors import MegaError

    configured: int | str | None = None
    if not os.environ.get(ENV_VAR, "").strip():
        environ = dict(os.environ)
        try:
            load_dotenv_file(root, environ)
            if not environ.get(ENV_VAR, "").strip():
                configured = load_project_config(root, environ=environ).values["server"].get("workers")
        except MegaError:
            return 0
        if environ.get(ENV_VAR, "").strip():  # from .env
            return _resolved(resolve_workers, None, environ)
    return _resolved(resolve_workers, configured, os.environ)


def _resolved(resolve: Any, configured: int | str | None, environ: Any) -> int:
    from mega.errors import MegaError

    try:
        count: int = resolve(configured, environ)
    except MegaError as exc:
        raise UsageFailure([*_headline(exc.message, exc.hint), f"code: {exc.code}"]) from exc
    return count


def _serve_boot_error(exc: Exception, host: str, port: int, *, details: bool, debug: bool) -> int:
    from mega.cli._boot_error_page import error_body, serve_error
    from mega.cli._failure import failure_from

    failure_from(exc, debug=debug).show()
    note = f"mega: answering 503 with this error on http://{host}:{port} until the next change"
    click.echo(click.style(note, fg="cyan"), err=True)
    try:
        return serve_error(host, port, error_body(exc, details=details))
    except OSError as bind_error:
        click.echo(f"mega: cannot answer on {host}:{port} ({bind_error.strerror})", err=True)
        return 1


@dataclass(frozen=True)
class _Served:
    """What the watcher passes to each server it starts, read from the config at each start."""

    host: str
    port: int
    env: str
    watch: dict[str, Any]


def _served(root: Path, host: str | None, port: int | None, last: _Served | None) -> _Served:
    """The server's address and env from the project's config as it is now; `last` while it is broken.

    .env applies while the config runs (it may read os.environ itself), then this process's
    environment is put back: the server reads .env again itself, so an edited .env applies at the
    next restart (values left in the environment it inherits would win over the file for good).
    """
    from mega.config import load_dotenv_file, load_project_config
    from mega.errors import MegaError

    saved = dict(os.environ)
    try:
        load_dotenv_file(root)
        config = load_project_config(root)
    except MegaError:
        if last is None:
            raise
        return last
    finally:
        os.environ.clear()
        os.environ.update(saved)
    server = config.values["server"]
    return _Served(host or server["host"], port or int(server["port"]), config.env, config.values["watch"])


def _start_watching(root: Path, host: str | None, port: int | None, server_name: str, *, debug: bool) -> int:
    from mega.cli._reload import run_with_reload

    first = last = _served(root, host, port, None)

    def command() -> list[str]:
        # `mega start` without --watch, run by this same interpreter, on an address that stays
        # the same while the config is broken (so the boot error can be answered there).
        nonlocal last
        last = _served(root, host, port, last)
        page = "details" if last.env == "development" else "brief"
        return [sys.executable, "-m", "mega.cli.main", "--root", str(root), *(["--debug"] if debug else []),
                "start", "--host", last.host, "--port", str(last.port), "--server", server_name,
                "--boot-error-page", page]

    return run_with_reload(root, command, paths=first.watch["paths"], ignore=first.watch["ignore"])
