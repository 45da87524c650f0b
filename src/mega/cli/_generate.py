"""`mega g KIND NAME`: create a file from a template (`model`, `migration`)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from mega.cli._failure import CliFailure
from mega.cli._project import project_root

CLASS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

MODEL_TEMPLATE = '''"""The {cls} model."""

from mega.data import fields
from mega.data.model import Model


class {cls}(Model):
    id = fields.id()
    # name = fields.string(100)

    class Meta:
        table = "{table}"
        timestamps = True
'''


class GeneratorGroup(click.Group):
    """A group whose unknown subcommand reads "Unknown generator 'x'. Supported: ..."."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and self.get_command(ctx, name) is None and not name.startswith("-"):
            kinds = ", ".join(self.list_commands(ctx))
            raise CliFailure.usage(f"Unknown generator '{name}'. Supported: {kinds}.")
        return super().resolve_command(ctx, args)


@click.group("g", cls=GeneratorGroup)
def g() -> None:
    """Generate a file from a template: mega g model Post, mega g migration backfill_slugs."""


@g.command("model")
@click.argument("name")
@click.option("--app", default=None, help="The app to put it in (default: the only app, or main).")
@click.pass_context
def model(ctx: click.Context, name: str, app: str | None) -> int:
    """A model class in apps/<app>/models/<name>.py."""
    from mega.data.model import default_table_name

    root = project_root(ctx)
    if not CLASS_RE.fullmatch(name):
        raise CliFailure.usage(f"invalid model name {name!r}", hint="a class name: Post, BlogPost")
    cls = "".join(part[:1].upper() + part[1:] for part in name.split("_"))
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", cls).lower()
    folder = _app_dir(root, app) / "models"
    path = folder / f"{snake}.py"
    if path.exists():
        raise CliFailure.usage(f"{_rel(path, root)} already exists")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(MODEL_TEMPLATE.format(cls=cls, table=default_table_name(cls)), encoding="utf-8")
    click.echo(f"created {_rel(path, root)}")
    click.echo(f"next: add its fields, then mega db:generate create_{default_table_name(cls)}")
    return 0


@g.command("migration")
@click.argument("name")
@click.option("--app", default=None, help="The app to put it in (default: the only app, or main).")
@click.pass_context
def migration(ctx: click.Context, name: str, app: str | None) -> int:
    """A blank hand-written migration in apps/<app>/migrations/<timestamp>_<name>.py."""
    from mega.data.migrations import _snapshot as snapshot
    from mega.data.migrations._loader import load_migrations
    from mega.data.migrations._writer import TS_FORMAT, next_timestamp, render_blank, snake_name
    from mega.errors import MegaError

    root = project_root(ctx)
    try:
        snake = snake_name(name)
    except MegaError as exc:
        raise CliFailure.usage(exc.message, exc.hint) from exc
    folder = _app_dir(root, app) / "migrations"
    history = snapshot.journal_dir(root) / snapshot.HISTORY_DIR
    stamps = [m.timestamp for m in load_migrations(root)]
    stamps += [p.name[:14] for p in history.glob("*.json") if p.name[:14].isdigit()]
    path = folder / f"{next_timestamp(stamps).strftime(TS_FORMAT)}_{snake}.py"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(render_blank(name), encoding="utf-8")
    click.echo(f"created {_rel(path, root)}")
    return 0


def _app_dir(root: Path, app: str | None) -> Path:
    from mega.cli._db import project_apps

    apps = project_apps(root)
    if app is None:
        if len(apps) == 1:
            return next(iter(apps.values()))
        if "main" in apps:
            return apps["main"]
        raise CliFailure.usage("which app? pass --app", hint=f"apps: {', '.join(apps)}")
    if app not in apps:
        raise CliFailure.usage(f"no app named '{app}'", hint=f"apps: {', '.join(apps) or '(none)'}")
    return apps[app]


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
