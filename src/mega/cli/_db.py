"""`mega db:generate`, `db:migrate`, `db:rollback`, `db:status`: the migration commands.

`db:generate` needs no database (models + the journal's snapshot). The others boot the project and
take the database from its adapters when the boot provides them, else from `services.dbs.<alias>`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from mega.cli._failure import CliFailure
from mega.cli._project import project_root

T = TypeVar("T")
# Errors in how the command was called: exit 2, like other usage mistakes.
_USAGE_CODES = frozenset({"migration.invalid_rename", "migration.invalid_name", "migration.unknown_app",
                          "migration.unknown_database", "migration.invalid_step"})

_alias = click.option("--alias", default=None, metavar="ALIAS",
                      help="The services.dbs alias to work on (default: the default database).")
_lock_timeout = click.option("--lock-timeout", type=click.FloatRange(min=0), default=60.0, show_default=True,
                             help="Seconds to wait for another process's migration lock.")


@click.command("db:generate")
@click.argument("name")
@click.option("--app", default=None, help="Only this app's models; the migration goes to this app.")
@click.option("--rename", "renames", multiple=True, metavar="OLD:NEW",
              help="A rename: table old:new, or column table.old:new (repeatable).")
@click.pass_context
def db_generate(ctx: click.Context, name: str, app: str | None, renames: tuple[str, ...]) -> int:
    """Write a migration from the models' changes since the last one (no database needed)."""
    from mega.data.migrations._questioner import InteractiveQuestioner, Questioner
    from mega.data.migrations.generate import generate

    root = project_root(ctx)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    with _usage_errors():
        result = generate(root, name, apps=project_apps(root), app=app, renames=renames,
                          questioner=InteractiveQuestioner() if interactive else Questioner())
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not result.changed:
        click.echo("nothing to change: the models match the journal's snapshot")
        return 0
    for path in result.migrations:
        click.echo(f"created {_rel(path, root)}")
    for op in result.operations:
        click.echo(f"  {op.describe()}")
    if result.history is not None:
        click.echo(f"journal {_rel(result.history, root)}")
    return 0


@click.command("db:migrate")
@_alias
@_lock_timeout
@click.pass_context
def db_migrate(ctx: click.Context, alias: str | None, lock_timeout: float) -> int:
    """Apply the pending migrations."""
    _with_runner(ctx, alias, lock_timeout, lambda runner: runner.migrate())
    return 0


@click.command("db:rollback")
@click.option("--step", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many applied migrations to undo, newest first.")
@_alias
@_lock_timeout
@click.pass_context
def db_rollback(ctx: click.Context, step: int, alias: str | None, lock_timeout: float) -> int:
    """Undo the last applied migration(s)."""
    _with_runner(ctx, alias, lock_timeout, lambda runner: runner.rollback(step))
    return 0


@click.command("db:status")
@_alias
@click.pass_context
def db_status(ctx: click.Context, alias: str | None) -> int:
    """List the migrations: applied (when) or pending."""
    rows = _with_runner(ctx, alias, 0.0, lambda runner: runner.status())
    _print_status(rows)
    return 0


def project_apps(root: Path) -> dict[str, Path]:
    """App name -> folder, from the project's config (its `apps` whitelist), .env applied."""
    from mega.config import load_dotenv_file, load_project_config

    environ = dict(os.environ)
    load_dotenv_file(root, environ)
    config = load_project_config(root, environ=environ)
    return {name: app.dir for name, app in config.apps.items()}


def _with_runner(ctx: click.Context, alias: str | None, lock_timeout: float,
                 action: Callable[[Any], Awaitable[T]]) -> T:
    import asyncio

    root = project_root(ctx)
    with _usage_errors():
        return asyncio.run(_run(root, alias, lock_timeout, action))


async def _run(root: Path, alias: str | None, lock_timeout: float,
               action: Callable[[Any], Awaitable[T]]) -> T:
    from mega.boot.stages import boot
    from mega.data.migrations._database import database_options, default_alias, engine_for
    from mega.data.migrations.runner import Runner
    from mega.errors import MegaError

    # Pending migrations must not keep the commands that apply them from booting.
    runtime = await boot(root, overrides={"logger.level": "warning", "migrations.check": False})
    engine = None
    try:
        dbs = runtime.config.values["services"]["dbs"] or {}
        adapters = getattr(runtime, "adapters", None)
        if adapters is not None:  # the boot connected the databases: use its engine
            try:
                adapter = adapters.db(alias)
            except MegaError as exc:
                raise MegaError("migration.unknown_database", exc.message, hint=exc.hint) from exc
            await adapter.connect()  # a no-op, but for an embedded database the boot left for first use
            native, name, default = adapter.native, adapter.alias, adapters.default_alias("db")
        else:
            name, options = database_options(dbs, alias)
            native = engine = engine_for(root, options)
            default = default_alias(dbs)
        apps = {app_name: app.dir for app_name, app in runtime.config.apps.items()}
        runner = Runner(native, root, apps=apps, alias=name, default_alias=default, lock_timeout=lock_timeout,
                        progress=click.echo)
        return await action(runner)
    finally:
        if engine is not None:
            await engine.dispose()
        await runtime.close()


@contextmanager
def _usage_errors() -> Iterator[None]:
    """Argument mistakes (a bad --rename, an unknown app or alias) exit 2 like other usage errors."""
    from mega.errors import MegaError

    try:
        yield
    except MegaError as exc:
        if exc.code in _USAGE_CODES:
            raise CliFailure.usage(exc.message, exc.hint) from exc
        raise


def _print_status(rows: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("app", "migration", "status", "applied at", box=None, header_style="bold")
    styles = {"applied": "green", "pending": "yellow", "changed": "magenta", "missing": "red"}
    for row in rows:
        when = row.applied_at.strftime("%Y-%m-%d %H:%M:%S UTC") if row.applied_at else ""
        table.add_row(row.app, row.name, f"[{styles[row.state]}]{row.state}[/]", when)
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 160)
    if not rows:
        console.print("no migrations")
        return
    console.print(table)
    counts = {state: sum(r.state == state for r in rows) for state in styles}
    console.print(", ".join(f"{n} {state}" for state, n in counts.items() if n))


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
