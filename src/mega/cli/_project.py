"""What every command shares: the global options, and finding the project root."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click

from mega.cli._failure import CliFailure

CONFIG_FILE = "mega_config.py"


@dataclass(frozen=True)
class CliState:
    """The global options (`mega --root PATH --debug ...`), kept on the click context."""

    root: Path | None = None
    debug: bool = False


ROOT_HELP = "The project directory (default: the current directory)."
ROOT_TYPE = click.Path(exists=True, file_okay=False, path_type=Path)


def root_option() -> click.Option:
    """`--root` after the command name (`mega routes --root p`), as before it (`mega --root p routes`).

    The later one wins. Added to every project command by the group, so each lists it in --help.
    """
    return click.Option(["--root"], type=ROOT_TYPE, help=ROOT_HELP, expose_value=False,
                        is_eager=True, callback=_take_root)


def _take_root(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:  # this context and the ones below it see the new root
        ctx.obj = replace(cli_state(ctx), root=value)


def cli_state(ctx: click.Context) -> CliState:
    return ctx.find_object(CliState) or CliState()


def project_root(ctx: click.Context) -> Path:
    """The project directory: `--root`, else the current directory; it must hold mega_config.py."""
    state = cli_state(ctx)
    root = (state.root or Path.cwd()).resolve()
    if not (root / CONFIG_FILE).is_file():
        raise CliFailure.usage(f"no {CONFIG_FILE} in {root}: run inside a mega project or pass --root")
    return root
