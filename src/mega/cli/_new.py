"""`mega new NAME`: create a runnable project from the files under templates/new/.

The templates follow the scheme of every generator (`mega.cli._scaffold`): `{{name}}` is the project
name, `project_tokens` has the others. `.env` is `.env.example` with a random SESSION_SECRET. The
project is written into a temporary directory next to the target and renamed into place, so a failure
leaves nothing half-written.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

import click

from mega import __version__
from mega.cli._failure import CliFailure
from mega.cli._scaffold import check, plan, render, write

__all__ = ["create_project", "new", "project_tokens", "render", "version_bound"]

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
SECRET_LINE = "SESSION_SECRET="


@click.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory to create the project in.",
)
def new(name: str, parent: Path) -> int:
    """Create a new project NAME (letters, digits, - and _)."""
    if not NAME_RE.fullmatch(name):
        raise CliFailure.usage(
            f"invalid project name {name!r}: use letters, digits, '-' and '_', "
            "not starting with a digit or '-'",
            hint="e.g. mega new my_site",
        )
    target = parent.resolve() / name
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CliFailure.usage(
            f"{target} already exists and is not empty",
            hint="choose another name, or --dir for another parent directory",
        )
    written = create_project(target, project_tokens(name))
    click.echo(f"created {target} ({written} files)")
    click.echo(f"next: cd {_shown(target)} && mega start")
    return 0


def project_tokens(name: str) -> dict[str, str]:
    """The template's tokens: the name, its packaging form and the `mega` version bound."""
    dist_name = name.strip("_-") or "project"  # a distribution name starts and ends with a letter or digit
    return {"name": name, "dist_name": dist_name, "mega_bound": version_bound(__version__)}


def version_bound(version: str) -> str:
    """`>=X.Y.Z,<next`: the next minor while mega is 0.x (minors may break), else the next major."""
    major, minor = (int(part) for part in re.findall(r"\d+", version)[:2])
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f">={version},<{upper}"


def create_project(target: Path, tokens: dict[str, str]) -> int:
    """Render the template into a sibling temp dir, then rename it to `target`; returns the file count."""
    staging = target.parent / f".{target.name}.tmp-{os.urandom(4).hex()}"
    staging.mkdir()  # plain mkdir: the project gets the umask's permissions, unlike mkdtemp's 0700
    try:
        planned = plan("new", tokens)
        write(staging, planned, check(staging, planned, force=False))
        _write_env(staging)
        if target.is_dir():
            target.rmdir()  # empty (checked by the caller); rename cannot replace it everywhere
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(planned) + 1


def _write_env(project: Path) -> None:
    """`.env` is `.env.example` with a random SESSION_SECRET (the example keeps an empty placeholder)."""
    example = (project / ".env.example").read_text(encoding="utf-8")
    placeholder = f"\n{SECRET_LINE}\n"
    if placeholder not in example:
        raise RuntimeError(f"the .env.example template has no '{SECRET_LINE}' line")  # a template bug
    env = example.replace(placeholder, f"\n{SECRET_LINE}{secrets.token_urlsafe(32)}\n")
    fd = os.open(project / ".env", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # a secret: owner only
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(env)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
