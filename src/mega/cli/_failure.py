"""How errors reach the user: a short message and a hint on stderr, a traceback only with --debug.

Exit codes: 2 for bad arguments and bad config (the user must change something before retrying),
1 for any other failure.
"""

from __future__ import annotations

import traceback
from typing import IO, Any

import click

USAGE = 2
FAILURE = 1


class CliFailure(click.ClickException):
    """A failure already worded for the terminal: lines to print, an exit code, maybe a traceback."""

    def __init__(self, lines: list[str], *, exit_code: int = FAILURE, trace: str | None = None) -> None:
        super().__init__(lines[0] if lines else "")
        self.lines = lines
        self.exit_code = exit_code
        self.trace = trace

    @classmethod
    def usage(cls, message: str, hint: str | None = None) -> CliFailure:
        """A mistake in how mega was called (exit 2)."""
        return cls(_headline(message, hint), exit_code=USAGE)

    def show(self, file: IO[Any] | None = None) -> None:
        if self.trace:
            click.echo(self.trace.rstrip("\n"), file=file, err=True)
        for i, line in enumerate(self.lines):
            click.echo(_paint(line) if i == 0 else line, file=file, err=True)


def failure_from(exc: BaseException, *, debug: bool) -> CliFailure:
    """Word any exception for the terminal; MegaErrors carry their own message and hint."""
    from mega.errors import MegaError

    trace = "".join(traceback.format_exception(exc)) if debug else None
    config_error = _config_error(exc)
    if config_error is not None:
        lines = _config_lines(exc, config_error)
        return CliFailure(lines, exit_code=USAGE, trace=trace)
    if isinstance(exc, MegaError):
        return CliFailure(_headline(exc.message, exc.hint), exit_code=FAILURE, trace=trace)
    hint = None if debug else "run again with --debug to see the traceback"
    return CliFailure(_headline(f"unexpected {type(exc).__name__}: {exc}", hint), trace=trace)


def _config_error(exc: BaseException) -> Any:
    """The MegaConfigError behind `exc` (itself, or the cause of a BootError), if any."""
    from mega.config.problems import MegaConfigError

    for candidate in (exc, getattr(exc, "original", None), exc.__cause__):
        if isinstance(candidate, MegaConfigError):
            return candidate
    return None


def _config_lines(exc: BaseException, error: Any) -> list[str]:
    problems = error.problems
    count = f"{len(problems)} config problem{'s' if len(problems) != 1 else ''}"
    stage = getattr(exc, "stage", None)
    head = f"boot failed at stage '{stage}': {count}" if stage else f"invalid config: {count}"
    lines = [f"error: {head}"]
    for problem in problems:
        where = f"{problem.file}, key '{problem.key}'" if problem.key else problem.file
        lines.append(f"  {where}: {problem.message}")
        if problem.hint:
            lines.append(f"    hint: {problem.hint}")
    return lines


def _headline(message: str, hint: str | None) -> list[str]:
    lines = [f"error: {message}"]
    if hint:
        lines.append(f"hint: {hint}")
    return lines


def _paint(line: str) -> str:
    # click.echo drops the colour when stderr is not a terminal.
    if not line.startswith("error:"):
        return line
    return click.style("error:", fg="red", bold=True) + line[len("error:"):]
