"""`mega ws-hub`: the WebSocket hub server that bridges of several mega apps register with."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mega.cli._project import CONFIG_FILE, cli_state


@click.command("ws-hub")
@click.option("--host", default=None, help="Interface to bind (env MEGA_WSHUB_HOST, default 0.0.0.0).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port (env MEGA_WSHUB_PORT, default 3100; 0 picks a free one).")
@click.option("--heartbeat", default=None, metavar="SECONDS",
              help="Heartbeat interval; a link silent for two is dropped "
                   "(seconds or a duration such as 30s; env MEGA_WSHUB_HEARTBEAT, default 25).")
@click.pass_context
def ws_hub(ctx: click.Context, host: str | None, port: int | None, heartbeat: str | None) -> int:
    """Run the WebSocket hub until SIGTERM (links are drained with 4503). Needs MEGA_WSHUB_TOKENS."""
    import asyncio

    from mega.cli._failure import CliFailure, failure_from
    from mega.errors import MegaError
    from mega.ws.hub._cli import HubOptions, hub_options, serve_until_signal

    root = (cli_state(ctx).root or Path.cwd()).resolve()
    try:
        options: HubOptions = hub_options(root, os.environ, host=host, port=port, heartbeat=heartbeat,
                                          project=(root / CONFIG_FILE).is_file())
    except MegaError as exc:
        if exc.code in ("hub.no_tokens", "config.invalid_value"):
            failure = CliFailure.usage(exc.message, exc.hint)
            failure.lines.append(f"code: {exc.code}")
            raise failure from exc
        raise failure_from(exc, debug=cli_state(ctx).debug) from exc
    try:
        return asyncio.run(serve_until_signal(options))
    except MegaError as exc:  # the port in use, an interface that cannot be bound
        raise failure_from(exc, debug=cli_state(ctx).debug) from exc
