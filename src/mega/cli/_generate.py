"""`mega g KIND NAME`: files from the templates of `KIND` (see `mega.cli._scaffold`), each with its test.

Every kind takes `--force` (overwrite files that exist) and `--dry-run` (say what would be written,
write nothing); the kinds that go into an app take `--app`. NAME is validated and spelled per kind
(`mega.cli._names`). The files are listed as they are written, coloured on a terminal.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mega.cli._failure import CliFailure
from mega.cli._names import Name, language_tag, parse_name, parse_title, title_of
from mega.cli._project import project_root
from mega.errors import MegaError

if TYPE_CHECKING:
    from mega.cli._scaffold import Planned
    from mega.config import ProjectConfig

HOST_RE = re.compile(r"[A-Za-z0-9*][A-Za-z0-9.*-]*")
TEST_HOST = "testserver"  # the host the test clients send: it reaches the app without hosts
ADR_DIR = "docs/adr"
ADR_FILE = re.compile(r"(\d{4})-.*\.md")
# Kinds that come with features not built yet: asking for one says so instead of "unknown".
LATER = {
    "adapter": "plugins",
}

F = TypeVar("F", bound=Callable[..., Any])


class GeneratorGroup(click.Group):
    """Unknown kinds read "Unknown generator 'x'. Supported: ..."; generate.* errors exit 2."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and self.get_command(ctx, name) is None and not name.startswith("-"):
            kinds = ", ".join(self.list_commands(ctx))
            if name in LATER:
                raise _usage(MegaError(
                    "generate.not_built", f"mega g {name} is not built yet: it comes with {LATER[name]}",
                    details={"kind": name}, hint=f"the generators that exist: {kinds}"))
            message = f"Unknown generator '{name}'. Supported: {kinds}."
            raise _usage(MegaError("generate.unknown_kind", message,
                                   details={"kind": name}))
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MegaError as exc:
            if exc.code.startswith("generate."):
                raise _usage(exc) from exc
            raise


def _usage(exc: MegaError) -> CliFailure:
    failure = CliFailure.usage(exc.message, exc.hint)
    failure.lines.append(f"code: {exc.code}")
    return failure


@click.group("g", cls=GeneratorGroup)
def g() -> None:
    """Generate files and their tests from a template: mega g controller Post, mega g app admin."""


def writing_options(fn: F) -> F:
    fn = click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")(fn)
    return click.option("--force", is_flag=True, help="Overwrite files that already exist.")(fn)


def app_option(fn: F) -> F:
    return click.option("--app", default=None, metavar="APP",
                        help="The app to put it in (default: the only app).")(fn)


# -- the kinds ---------------------------------------------------------------------------------------


@g.command("app", short_help="An app in apps/NAME/ answering its own host, and its test.")
@click.argument("name")
@click.option("--host", "hosts", multiple=True, metavar="HOST",
              help="A host name the app answers (repeatable; default: NAME.localhost).")
@writing_options
@click.pass_context
def app(ctx: click.Context, name: str, hosts: tuple[str, ...], force: bool, dry_run: bool) -> int:
    """An app in apps/<name>/: app_config.py with its hosts, routes/home.py, the usual folders, a test."""
    root = project_root(ctx)
    app_name = parse_name(name, "app", example="admin").snake
    for host in hosts:
        if not HOST_RE.fullmatch(host):
            raise CliFailure.usage(f"invalid host {host!r}: a host name only, without scheme, port or path",
                                   hint=f"e.g. --host {app_name}.example.com")
    names = list(hosts) or [f"{app_name}.localhost"]
    tokens = {"name": name, "app": app_name, "hosts": json.dumps(names), "host": _reachable(names)}
    if _generate(root, ["app"], tokens, force=force, dry_run=dry_run):
        click.echo(f"app {app_name} answers {', '.join(names)}")
        for line in _app_notes(root, app_name):
            click.echo(line)
    return 0


@dataclass(frozen=True)
class Kind:
    """A kind rendered from NAME into an app: `mega g KIND NAME [--app] [--force] [--dry-run]`."""

    name: str
    short_help: str
    help: str
    suffix: str | None = None  # dropped from NAME when NAME ends with it
    example: str = "UserProfile"
    reuse: tuple[str, ...] = ()  # kinds whose files are kept when left as generated
    extra: Callable[[Name], dict[str, str]] = lambda _: {}  # tokens beyond the name's
    then: Callable[[Name, Mapping[str, str]], str] | None = None  # the "next:" line once written


def _table_tokens(parsed: Name) -> dict[str, str]:
    from mega.data.model import default_table_name

    return {"table": default_table_name(parsed.pascal)}


KINDS = (
    Kind("controller", "A controller class, and its test.",
         "A controller class in apps/<app>/controllers/<name>_controller.py, and its test.",
         suffix="controller",
         then=lambda n, _: f"next: route it (mega g route {n.snake}), or name {n.pascal}Controller.index "
                           "in a file of routes/"),
    # The controller is the one `mega g controller` writes: one left as generated is used as it is.
    Kind("route", "GET /NAME, its controller, and their tests.",
         "GET /<name> in apps/<app>/routes/<name>.py, its controller, and their tests.",
         example="posts", reuse=("controller",)),
    Kind("service", "A service (ctx.services.NAME), and its test.",
         "A service class in apps/<app>/services/<name>.py (ctx.services.<name>), and its test.",
         suffix="service", example="billing"),
    Kind("middleware", "A before middleware, and its test.",
         "A `before` middleware in apps/<app>/middlewares/<name>.py, and its test.",
         suffix="middleware", example="audit",
         then=lambda n, _: f"next: name it in a route's before=[\"{n.snake}\"], or in app_config.py's "
                           "\"middleware\" for every route of the app"),
    Kind("job", "A background job class (mega worker runs it), and its test.",
         "A Job class in apps/<app>/jobs/<name>.py (subject <app>.<name>), and its test.",
         suffix="job", example="send_mail",
         then=lambda n, _: f"next: await ctx.jobs.enqueue({n.pascal}, payload) from a handler, and run "
                           "`mega worker` (jobs need a NATS bus with JetStream in services.buses)"),
    Kind("schedule", "A schedule class (run by mega scheduler), and its test.",
         "A Schedule class in apps/<app>/schedules/<name>.py, and its test.",
         example="NightlyReport",
         then=lambda n, _: f"next: set its cron, then run `mega scheduler` "
                           f"(or `mega scheduler --once {n.pascal}`)"),
    Kind("worker", "A CPU worker handler (ctx.workers.NAME), and its test.",
         "A worker handler in apps/<app>/workers/<name>.py (ctx.workers.<name>), and its test.",
         example="resize",
         then=lambda n, t: f"next: declare the pool in mega_config.py: workers = {{\"{n.snake}\": "
                           f"{{\"handler\": \"{t['app']}.workers.{n.snake}:run\"}}}}"),
    Kind("channel", "A WebSocket channel mounted at /ws/NAME, and its test.",
         "A WebSocket channel in apps/<app>/channels/<name>_channel.py, mounted at /ws/<name> by "
         "routes/<name>_channel.py, and its test.",
         suffix="channel", example="chat",
         then=lambda n, t: f"mounted by apps/{t['app']}/routes/{n.snake}_channel.py: "
                           f"router.ws(\"/ws/{n.kebab}\", {n.pascal}Channel)"),
    Kind("model", "A model class.", "A model class in apps/<app>/models/<name>.py.",
         example="BlogPost", extra=_table_tokens,
         then=lambda _, t: f"next: add its fields, then mega db:generate create_{t['table']}"),
)


def _register(kind: Kind) -> None:
    def command(ctx: click.Context, name: str, app: str | None, force: bool, dry_run: bool) -> int:
        root = project_root(ctx)
        parsed = parse_name(name, kind.name, suffix=kind.suffix, example=kind.example)
        tokens = {**_name_tokens(root, parsed, app), **kind.extra(parsed)}
        written = _generate(root, [kind.name], tokens, force=force, dry_run=dry_run, reuse=list(kind.reuse))
        if written and kind.then is not None:
            click.echo(kind.then(parsed, tokens))
        return 0

    command.__name__ = kind.name
    g.command(kind.name, short_help=kind.short_help, help=kind.help)(
        click.argument("name")(app_option(writing_options(click.pass_context(command)))))


for _kind in KINDS:
    _register(_kind)


@g.command("locale", short_help="A locale catalog (NAME: a language tag), and its test.")
@click.argument("name")
@app_option
@writing_options
@click.pass_context
def locale(ctx: click.Context, name: str, app: str | None, force: bool, dry_run: bool) -> int:
    """A catalog apps/<app>/locales/server/<tag>.json (NAME is a language tag), and its test."""
    root = project_root(ctx)
    tag = language_tag(name)
    app_name, app_dir, _ = _target_app(root, app)
    folder = app_dir / "locales" / "server"
    _refuse_same_locale(root, folder, tag, force=force)
    source = _source_catalog(root, folder, tag)
    catalog = {} if source is None else _read_catalog(root, source)
    from mega.cli._scaffold import plan

    planned = []
    default = _default_locale(root, app_name)
    if source is None and default is not None and default != tag:
        # The app's first catalog: i18n falls back to the default locale's catalog and refuses to boot
        # without it, so that one is written too (empty, with its test).
        planned += plan("locale", _locale_tokens(default, app_name, {}))
    planned += plan("locale", _locale_tokens(tag, app_name, catalog))
    if _write_planned(root, planned, force=force, dry_run=dry_run) and source is not None:
        click.echo(f"next: translate its values (copied from {_rel(source, root)})")
    return 0


def _locale_tokens(tag: str, app: str, catalog: Any) -> dict[str, str]:
    return {"name": tag, "snake": tag.lower().replace("-", "_"), "app": app,
            "catalog": json.dumps(catalog, ensure_ascii=False, indent=2)}


def _default_locale(root: Path, app: str) -> str | None:
    """The app's `i18n.default_locale` (None when the config has problems: `mega start` lists them)."""
    try:
        settings = _project_config(root).apps[app].settings.get("i18n")
    except (MegaError, KeyError):
        return None
    return getattr(settings, "default_locale", None)


@g.command("adr", short_help="An architecture decision record in docs/adr/.")
@click.argument("title")
@writing_options
@click.pass_context
def adr(ctx: click.Context, title: str, force: bool, dry_run: bool) -> int:
    """An architecture decision record docs/adr/NNNN-<title>.md, numbered after the highest one.

    The one kind without a test: a record is prose, and its sections are a starting point to edit.
    """
    root = project_root(ctx)
    parsed = parse_title(title, "adr")
    folder = root / ADR_DIR
    numbers = [int(m.group(1)) for p in (folder.iterdir() if folder.is_dir() else [])
               if (m := ADR_FILE.fullmatch(p.name))]
    tokens = {"name": title, "kebab": parsed.kebab, "title": title_of(parsed),
              "number": f"{max(numbers, default=0) + 1:04d}", "date": dt.date.today().isoformat()}
    _generate(root, ["adr"], tokens, force=force, dry_run=dry_run)
    return 0


@g.command("migration", short_help="A blank hand-written migration.")
@click.argument("name")
@app_option
@writing_options
@click.pass_context
def migration(ctx: click.Context, name: str, app: str | None, force: bool, dry_run: bool) -> int:
    """A blank hand-written migration in apps/<app>/migrations/<timestamp>_<name>.py."""
    from mega.cli._scaffold import Planned
    from mega.data.migrations import _snapshot as snapshot
    from mega.data.migrations._loader import load_migrations
    from mega.data.migrations._writer import TS_FORMAT, next_timestamp, render_blank, snake_name

    root = project_root(ctx)
    try:
        snake = snake_name(name)
    except MegaError as exc:
        raise CliFailure.usage(exc.message, exc.hint) from exc
    _, app_dir, _ = _target_app(root, app)
    history = snapshot.journal_dir(root) / snapshot.HISTORY_DIR
    stamps = [m.timestamp for m in load_migrations(root)]
    stamps += [p.name[:14] for p in history.glob("*.json") if p.name[:14].isdigit()]
    path = app_dir / "migrations" / f"{next_timestamp(stamps).strftime(TS_FORMAT)}_{snake}.py"
    _write_planned(root, [Planned(_rel(path, root), render_blank(name))], force=force, dry_run=dry_run)
    return 0


# -- shared ------------------------------------------------------------------------------------------


def _generate(root: Path, kinds: list[str], tokens: Mapping[str, str], *, force: bool, dry_run: bool,
              reuse: list[str] | None = None) -> bool:
    """Render the kinds' templates into the project (and those of `reuse`, whose unchanged files are
    kept as they are); False on a dry run."""
    from mega.cli._scaffold import plan

    planned = [item for kind in reuse or [] for item in plan(kind, tokens, reusable=True)]
    planned += [item for kind in kinds for item in plan(kind, tokens)]
    return _write_planned(root, planned, force=force, dry_run=dry_run)


def _write_planned(root: Path, planned: list[Planned], *, force: bool, dry_run: bool) -> bool:
    from mega.cli._scaffold import check, write

    outcomes = check(root, planned, force=force)
    if not dry_run:
        write(root, planned, outcomes)
    verbs = {"create": ("created", "green"), "overwrite": ("overwrote", "yellow"),
             "identical": ("identical", "blue")}
    for outcome in outcomes:
        verb, colour = verbs[outcome.action]
        if dry_run:
            verb = {"create": "would create", "overwrite": "would overwrite"}.get(outcome.action, verb)
        # click.echo drops the colour when stdout is not a terminal.
        click.echo(f"{click.style(verb, fg=colour, bold=True)} {outcome.path}")
    if dry_run:
        click.echo("dry run: nothing was written")
    return not dry_run


def _name_tokens(root: Path, name: Name, app: str | None) -> dict[str, str]:
    app_name, _, host = _target_app(root, app)
    return {"name": name.given, "Name": name.pascal, "camel": name.camel, "snake": name.snake,
            "kebab": name.kebab, "app": app_name, "host": host}


def _target_app(root: Path, app: str | None) -> tuple[str, Path, str]:
    """The app named by --app (or the only one): its name, folder and a host that reaches it."""
    config = _project_config(root)
    apps = config.apps
    listed = ", ".join(sorted(apps)) or "(none)"
    if app is None:
        if len(apps) != 1:
            raise MegaError("generate.app_required", f"which app? the project has {len(apps)} apps: {listed}",
                            details={"apps": sorted(apps)}, hint="pass --app APP")
        app = next(iter(apps))
    if app not in apps:
        raise MegaError("generate.unknown_app", f"no app named '{app}'", details={"app": app},
                        hint=f"apps: {listed} (mega g app {app} creates it)")
    hosts = apps[app].values.get("hosts") or []
    return app, apps[app].dir, _reachable(hosts)


def _reachable(hosts: list[str]) -> str:
    """A host the test client can send to reach an app with these hosts (a wildcard gets a label)."""
    return hosts[0].replace("*", "www") if hosts else TEST_HOST


def _project_config(root: Path) -> ProjectConfig:
    from mega.config import load_dotenv_file, load_project_config

    environ = dict(os.environ)
    load_dotenv_file(root, environ)
    return load_project_config(root, environ=environ)


def _catalogs(folder: Path, tag: str) -> list[tuple[str | None, Path]]:
    """The folder's catalogs other than `<tag>.json`, with the locale each names (None: not a locale)."""
    found: list[tuple[str | None, Path]] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.stem == tag or path.name.startswith((".", "_")):
            continue
        try:
            found.append((language_tag(path.stem), path))
        except MegaError:
            found.append((None, path))
    return found


def _refuse_same_locale(root: Path, folder: Path, tag: str, *, force: bool) -> None:
    """`pt-BR.json` and `pt_BR.json` are one locale: a catalog of it under another spelling exists."""
    same = [path for locale, path in _catalogs(folder, tag) if locale == tag]
    if same:
        shown = _rel(same[0], root)
        hint = "rename or remove it first" if force else "it is the catalog of that locale: edit it"
        raise MegaError("generate.file_exists", f"{shown} already exists: nothing was written",
                        details={"paths": [shown]}, hint=hint)


def _source_catalog(root: Path, folder: Path, tag: str) -> Path | None:
    """The catalog a new one copies its keys from: en.json when there is one, else the first."""
    others = [path for locale, path in _catalogs(folder, tag) if locale is not None]
    return next((p for p in others if p.stem == "en"), others[0] if others else None)


def _read_catalog(root: Path, path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MegaError("generate.invalid_catalog", f"{_rel(path, root)}, line {exc.lineno}: {exc.msg}: the "
                        "new catalog copies its keys", details={"path": _rel(path, root)},
                        hint="fix that file's JSON, then run the command again") from exc


def _app_notes(root: Path, name: str) -> list[str]:
    """What else the project needs for the new app to answer: the `apps` list, a default app."""
    try:
        config = _project_config(root)
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


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
