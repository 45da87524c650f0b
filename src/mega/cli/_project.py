"""What every command shares: the global options, and finding the project root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from mega.cli._failure import CliFailure

CONFIG_FILE = "mega_config.py"


@dataclass(frozen=True)
class CliState:
    """The global options (`mega --root PATH --debug ...`), kept on the click context."""

    root: Path | None = None
    debug: bool = False


def cli_state(ctx: click.Context) -> CliState:
    return ctx.find_object(CliState) or CliState()


def project_root(ctx: click.Context) -> Path:
    """The project directory: `--root`, else the current directory; it must hold mega_config.py."""
    state = cli_state(ctx)
    root = (state.root or Path.cwd()).resolve()
    if not (root / CONFIG_FILE).is_file():
        raise CliFailure.usage(f"no {CONFIG_FILE} in {root}: run inside a mega project or pass --root")
    return root
