"""`mega check`: validate the project's config without booting it, then run the check items.

A check item is a function taking the loaded ProjectConfig and returning findings; a family adds its
own to ITEMS. Errors (the config's problems) exit 1; warnings alone exit 0 (2 with --strict).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from mega.cli._project import project_root

if TYPE_CHECKING:
    from mega.config._project import ProjectConfig

ITEMS: list[str] = [
    "mega.observe._checks:observability_findings",
    "mega.cluster._checks:cluster_driver_findings",
]
"""The check items, as "module:function" (imported only when `mega check` runs)."""


@click.command("check")
@click.option("--strict", is_flag=True, help="Exit 2 when there are warnings.")
@click.pass_context
def check(ctx: click.Context, strict: bool) -> int:
    """Check the project's config and its deployment settings without starting it."""
    import os

    from mega.config import load_dotenv_file, load_project_config
    from mega.config._problems import ConfigError

    root = project_root(ctx)
    environ = dict(os.environ)
    load_dotenv_file(root, environ)
    try:
        config = load_project_config(root, environ=environ)
    except ConfigError as exc:
        for problem in exc.problems:
            _echo("error", problem.code, problem.message, problem.hint)
        return 1
    findings = [f for item in ITEMS for f in _load(item)(config)]
    for finding in findings:
        _echo(finding.level, finding.code, finding.message, finding.hint)
    if any(f.level == "error" for f in findings):
        return 1
    if not findings:
        click.echo("mega check: no problems found")
    return 2 if strict and findings else 0


def _load(item: str) -> Callable[[ProjectConfig], list[Any]]:
    import importlib

    module, _, name = item.partition(":")
    fn: Callable[[ProjectConfig], list[Any]] = getattr(importlib.import_module(module), name)
    return fn


def _echo(level: str, code: str, message: str, hint: str | None) -> None:
    colour = "red" if level == "error" else "yellow"
    click.echo(f"{click.style(level, fg=colour, bold=True)} [{code}] {message}", err=level == "error")
    if hint:
        click.echo(f"  hint: {hint}", err=level == "error")
