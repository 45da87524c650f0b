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
    """Aligned columns (bold header on a terminal). Plain text: rich's import would cost more than the
    whole listing of a small project."""
    if not rows:
        click.echo("no routes")
        return
    header = ("app", "methods", "path", "handler", "middleware")
    lines = [(row["app"], ",".join(row["methods"]), row["path"], row["handler"],
              _middleware(row["middleware"])) for row in rows]
    widths = [max(len(str(cells[i])) for cells in (header, *lines)) for i in range(len(header))]

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    click.echo(click.style(fmt(header), bold=True))
    for cells in lines:
        click.echo(fmt(cells))


def _middleware(chains: dict[str, list[Any]]) -> str:
    return "; ".join(f"{stage}: {', '.join(map(str, names))}" for stage, names in chains.items())
