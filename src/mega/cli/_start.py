"""`mega start`: serve the project; `--watch` restarts it whenever a watched file changes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mega.cli._project import cli_state, project_root


@click.command("start")
@click.option("--host", help="Interface to bind (default: server.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: server.port, PORT, 3000).")
@click.option("--watch", is_flag=True, help="Restart on changes to the paths of the `watch` config key.")
@click.pass_context
def start(ctx: click.Context, host: str | None, port: int | None, watch: bool) -> int:
    """Boot the project and serve it until SIGINT or SIGTERM."""
    root = project_root(ctx)
    if watch:
        return _start_watching(root, host, port, debug=cli_state(ctx).debug)
    from mega.server import run

    return run(root, host=host, port=port)


def _start_watching(root: Path, host: str | None, port: int | None, *, debug: bool) -> int:
    from mega.cli._reload import run_with_reload
    from mega.config import load_dotenv_file, load_project_config

    load_dotenv_file(root)
    policy = load_project_config(root).values["watch"]
    # The child is `mega start` without --watch, run by this same interpreter.
    child = [
        sys.executable,
        "-m",
        "mega.cli.main",
        "--root",
        str(root),
        *(["--debug"] if debug else []),
        "start",
        *(["--host", host] if host else []),
        *(["--port", str(port)] if port else []),
    ]
    return run_with_reload(root, child, paths=policy["paths"], ignore=policy["ignore"])
