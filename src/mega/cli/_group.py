"""A click group that imports a command's module only when that command is asked for."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click

from mega.cli._failure import failure_from
from mega.cli._project import root_option

# Commands that take no project, so no --root of their own.
_NO_PROJECT = frozenset({"new"})


class LazyGroup(click.Group):
    """Commands come from `lazy_commands` (name -> "module:attribute"), imported on first use.

    Each project command (and each subcommand of a project group, `mega g model`) also takes
    `--root` after its name. It also turns any error a command raises into a `CliFailure` here,
    where `--debug` is known.
    """

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command (mega command '{cmd_name}')")
        if cmd_name not in _NO_PROJECT:
            _add_root_option(command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, BrokenPipeError):
            raise
        except Exception as exc:
            debug = bool(getattr(ctx.obj, "debug", False))
            raise failure_from(exc, debug=debug) from exc


def _add_root_option(command: click.Command) -> None:
    if not any(param.name == "root" for param in command.params):
        command.params.append(root_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_root_option(sub)
