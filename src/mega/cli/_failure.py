"""How errors reach the user: a short message and a hint on stderr, a traceback only with --debug.

Exit codes: 2 for bad arguments and bad config (the user must change something before retrying),
1 for any other failure.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from mega.config._problems import ConfigError

USAGE = 2
FAILURE = 1


class CliFailure(click.ClickException):
    """A failure already worded for the terminal: lines to print, maybe a traceback (exit 1)."""

    exit_code = FAILURE

    def __init__(self, lines: list[str], *, trace: str | None = None) -> None:
        super().__init__(lines[0] if lines else "")
        self.lines = lines
        self.trace = trace

    @staticmethod
    def usage(message: str, hint: str | None = None) -> CliFailure:
        """A mistake in how mega was called, or in the project's config (exit 2)."""
        return UsageFailure(_headline(message, hint))

    def show(self, file: IO[Any] | None = None) -> None:
        if self.trace:
            click.echo(self.trace.rstrip("\n"), file=file, err=True)
        for i, line in enumerate(self.lines):
            click.echo(_paint(line) if i == 0 else line, file=file, err=True)


class UsageFailure(CliFailure):
    exit_code = USAGE


def failure_from(exc: BaseException, *, debug: bool) -> CliFailure:
    """Word any exception for the terminal; MegaErrors carry their own message and hint."""
    import traceback

    from mega.errors import MegaError

    trace = "".join(traceback.format_exception(exc)) if debug else None
    config_error = _config_error(exc)
    if config_error is not None:
        lines = _config_lines(exc, config_error)
        return UsageFailure(lines, trace=trace)
    if isinstance(exc, MegaError):
        # The code of what went wrong (a boot failure's cause), to look up in docs/reference/errors.md.
        original = getattr(exc, "original", None)
        code = original.code if isinstance(original, MegaError) else exc.code
        return CliFailure([*_headline(exc.message, exc.hint), f"code: {code}"], trace=trace)
    hint = None if debug else "run again with --debug to see the traceback"
    return CliFailure(_headline(f"unexpected {type(exc).__name__}: {exc}", hint), trace=trace)


def _config_error(exc: BaseException) -> ConfigError | None:
    """The ConfigError behind `exc` (itself, or the cause of a BootError), if any."""
    from mega.config._problems import ConfigError

    for candidate in (exc, getattr(exc, "original", None), exc.__cause__):
        if isinstance(candidate, ConfigError):
            return candidate
    return None


def _config_lines(exc: BaseException, error: ConfigError) -> list[str]:
    problems = error.problems
    count = f"{len(problems)} config problem{'s' if len(problems) != 1 else ''}"
    stage = getattr(exc, "stage", None)
    head = f"boot failed at stage '{stage}': {count}" if stage else f"invalid config: {count}"
    lines = [f"error: {head}"]
    for problem in problems:
        where = f"{problem.file}, key '{problem.key}'" if problem.key else problem.file
        message = problem.message.removeprefix(f"{problem.file}: ")  # the file is already on the line
        lines.append(f"  {where}: {message}")
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
    return click.style("error:", fg="red", bold=True) + line[len("error:") :]
