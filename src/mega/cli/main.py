"""The `mega` command line.

Only click is imported here: each command's module is imported when that command runs (and for
`--help`, which reads their one-line help), and heavy modules only inside the command's body, so
`mega --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from mega import __version__
from mega.cli._group import LazyGroup
from mega.cli._project import ROOT_HELP, ROOT_TYPE, CliState

# name -> "module:attribute". Adding a command is one line here plus its module.
COMMANDS: dict[str, str] = {
    "new": "mega.cli._new:new",
    "start": "mega.cli._start:start",
    "routes": "mega.cli._routes:routes",
    "check": "mega.cli._check:check",
    "console": "mega.cli._console:console",
    "test": "mega.cli._test:test",
    "db:generate": "mega.cli._db:db_generate",
    "db:migrate": "mega.cli._db:db_migrate",
    "db:rollback": "mega.cli._db:db_rollback",
    "db:status": "mega.cli._db:db_status",
    "g": "mega.cli._generate:g",
    "worker": "mega.cli._worker:worker",
    "scheduler": "mega.cli._scheduler:scheduler",
    "ws-hub": "mega.cli._ws_hub:ws_hub",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="mega", message="%(prog)s %(version)s")
@click.option("--root", type=ROOT_TYPE, help=ROOT_HELP)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, root: Path | None, debug: bool) -> None:
    """mega: a Python web framework. Run a command with --help for its options."""
    ctx.obj = CliState(root=root, debug=debug)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit code (the console script passes it to sys.exit)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args, prog_name="mega", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except BrokenPipeError:
        # `mega routes | head`: the reader left. Point stdout at devnull so the exit flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
