"""`mega test`: run the project's tests with pytest, in the project root, on its test databases."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mega.cli._project import cli_state, project_root

if TYPE_CHECKING:
    from mega.boot._test_env import TestRun


@click.command("test", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def test(ctx: click.Context, pytest_args: tuple[str, ...]) -> int:
    """Run pytest in the project root; PYTEST_ARGS are passed through (`mega test -- --help`)."""
    root = project_root(ctx)
    _require_test_extra()
    if any(a in ("-h", "--help", "--version", "--markers", "--fixtures") for a in pytest_args):
        return _pytest(root, pytest_args, dict(os.environ))  # nothing boots: no databases needed
    import asyncio

    from mega.testing._databases import remove_run

    run = asyncio.run(_prepare(root, debug=cli_state(ctx).debug))
    try:
        env = {**os.environ, "MEGA_ENV": "test", "MEGA_TEST_RUN": run.to_env()}
        return _pytest(root, pytest_args, env)
    finally:
        remove_run(run)


async def _prepare(root: Path, *, debug: bool) -> TestRun:
    """The run's test databases, migrated, and one boot on them: a project that cannot boot fails
    here, once, as `mega start` words it (exit 2), not in every test."""
    from mega.boot._test_env import ENV_VAR
    from mega.cli._failure import UsageFailure, failure_from
    from mega.testing import running
    from mega.testing._databases import prepare_run, remove_run

    environ = {**os.environ, "MEGA_ENV": "test"}
    run: TestRun | None = None
    try:
        run = await prepare_run(root, environ, progress=click.echo)
        async with running(root, environ={**environ, ENV_VAR: run.to_env()}):
            pass
    except BaseException as exc:
        if run is not None:
            remove_run(run)
        if not isinstance(exc, Exception):
            raise
        failure = failure_from(exc, debug=debug)
        raise UsageFailure(failure.lines, trace=failure.trace) from exc
    return run


def _pytest(root: Path, pytest_args: tuple[str, ...], env: dict[str, str]) -> int:
    args = list(pytest_args)
    if not any(a == "--rootdir" or a.startswith("--rootdir=") for a in args):
        # The `client` fixture boots the pytest root: make it this project, whatever ini files
        # the directories above hold.
        args.insert(0, f"--rootdir={root}")
    # A fresh interpreter: pytest must import mega's plugin itself to rewrite its asserts, and the
    # tests must not share this process's modules. Paths in PYTEST_ARGS are relative to the root.
    child = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=root, env=env)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            continue  # Ctrl-C reached pytest too (same process group): wait for its summary and code


def _require_test_extra() -> None:
    """pytest, pytest-asyncio and httpx come with `mega[test]`, not with the base install."""
    missing = [m for m in ("pytest", "pytest_asyncio", "httpx") if importlib.util.find_spec(m) is None]
    if missing:
        from mega.cli._failure import CliFailure

        raise CliFailure.usage(f"mega test needs {', '.join(missing)}, which the base install leaves out",
                               hint="pip install 'mega[test]'")
