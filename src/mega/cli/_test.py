"""`mega test`: run the project's tests with pytest, in the project root."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import click

from mega.cli._project import project_root


@click.command("test", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def test(ctx: click.Context, pytest_args: tuple[str, ...]) -> int:
    """Run pytest in the project root; PYTEST_ARGS are passed through (`mega test -- --help`)."""
    root = project_root(ctx)
    _require_test_extra()
    args = list(pytest_args)
    if not any(a == "--rootdir" or a.startswith("--rootdir=") for a in args):
        # The `client` fixture boots the pytest root: make it this project, whatever ini files
        # the directories above hold.
        args.insert(0, f"--rootdir={root}")
    # A fresh interpreter: pytest must import mega's plugin itself to rewrite its asserts, and the
    # tests must not share this process's modules. Paths in PYTEST_ARGS are relative to the root.
    child = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=root)
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
