"""`mega routes`: boot the project (no server) and list every route of every app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mega.cli._project import project_root


@click.command("routes")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.pass_context
def routes(ctx: click.Context, as_json: bool) -> int:
    """List the routes: app, methods, path, handler and middleware."""
    import asyncio

    rows = asyncio.run(collect_routes(project_root(ctx)))
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
    else:
        _print_table(rows)
    return 0


async def collect_routes(root: Path) -> list[dict[str, Any]]:
    from mega.boot.stages import boot

    # A listing: the project's info lines (boot, shutdown) would only be noise around it, and the
    # database's schema does not change the routes.
    runtime = await boot(root, overrides={"logger.level": "warning", "migrations.check": False})
    try:
        return [row for app in runtime.apps.values() for row in app.describe_routes()]
    finally:
        await runtime.close()


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("app", "methods", "path", "handler", "middleware", box=None, header_style="bold")
    for row in rows:
        table.add_row(
            row["app"], ",".join(row["methods"]), row["path"], row["handler"], _middleware(row["middleware"])
        )
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 160)  # a pipe or a file: do not wrap to 80 columns
    console.print(table if rows else "no routes")


def _middleware(chains: dict[str, list[Any]]) -> str:
    return "; ".join(f"{stage}: {', '.join(map(str, names))}" for stage, names in chains.items())
