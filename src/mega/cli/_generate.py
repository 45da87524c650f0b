"""`mega g KIND NAME`: create files from a template (`app`, `model`, `migration`)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click

from mega.cli._failure import CliFailure
from mega.cli._project import project_root

CLASS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
APP_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")  # a Python package name: routes import apps.<name>.*
HOST_RE = re.compile(r"[A-Za-z0-9*][A-Za-z0-9.*-]*")

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
    """Generate files from a template: mega g app admin, mega g model Post, mega g migration backfill."""


@g.command("app")
@click.argument("name")
@click.option("--host", "hosts", multiple=True, metavar="HOST",
              help="A host name the app answers (repeatable; default: NAME.localhost).")
@click.pass_context
def app(ctx: click.Context, name: str, hosts: tuple[str, ...]) -> int:
    """An app in apps/<name>/: app_config.py with its hosts, routes/home.py and the usual folders."""
    import shutil
    from importlib.resources import files

    from mega.cli._new import _render_tree

    root = project_root(ctx)
    if not APP_RE.fullmatch(name):
        raise CliFailure.usage(f"invalid app name {name!r}: use lowercase letters, digits and '_', "
                               "starting with a letter", hint="e.g. mega g app admin")
    for host in hosts:
        if not HOST_RE.fullmatch(host):
            raise CliFailure.usage(f"invalid host {host!r}: a host name only, without scheme, port or path",
                                   hint=f"e.g. --host {name}.example.com")
    target = root / "apps" / name
    if target.exists():
        raise CliFailure.usage(f"{_rel(target, root)} already exists", hint="choose another name")
    names = list(hosts) or [f"{name}.localhost"]
    target.parent.mkdir(exist_ok=True)
    # Written aside and renamed into place: a failure leaves no half-made app (a dot folder is no app).
    staging = target.parent / f".{name}.tmp-{os.urandom(4).hex()}"
    staging.mkdir()
    try:
        count = _render_tree(files("mega.cli").joinpath("templates", "app"), staging,
                             {"app": name, "hosts": json.dumps(names)})
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    click.echo(f"created {_rel(target, root)}/ ({count} files), answering {', '.join(names)}")
    for line in _app_notes(root, name):
        click.echo(line)
    return 0


def _app_notes(root: Path, name: str) -> list[str]:
    """What else the project needs for the new app to answer: the `apps` list, a default app."""
    from mega.config import load_dotenv_file, load_project_config
    from mega.errors import MegaError

    environ = dict(os.environ)
    load_dotenv_file(root, environ)
    try:
        config = load_project_config(root, environ=environ)
    except MegaError:
        return []  # the config has problems of its own: `mega start` will list them
    notes = []
    whitelist = config.values.get("apps")
    if whitelist is not None and name not in whitelist:
        notes.append(f"next: add {name!r} to `apps` in mega_config.py: only the apps listed there run")
    others = {n: a.values for n, a in config.apps.items() if n != name}
    hostless = [n for n, values in others.items() if not values["hosts"]]
    # One host-less app takes every host no app lists (boot/_host.py); more than one cannot all be reached.
    if len(hostless) > 1 and not any(values["default"] is True for values in others.values()):
        notes.append(f"next: apps {', '.join(hostless)} have no hosts and only one can answer the hosts "
                     f"no app lists: give the others `hosts` in their app_config.py "
                     f"(or set \"default\": True on one)")
    return notes


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
