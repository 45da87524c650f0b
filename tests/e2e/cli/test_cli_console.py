"""`mega console`: statements piped in run against the booted project, `await` included."""

from __future__ import annotations

from pathlib import Path

from .conftest import mega


def test_console_evaluates_await_and_sees_the_apps(project: Path) -> None:
    script = (
        "name = await asyncio.sleep(0.01, result=get_app().name)\n"
        "print('booted:', name, sorted(apps), main is get_app('main'))\n"
        "1 / 0\n"
        "print('still here', runtime.env)\n"
    )
    result = mega("console", cwd=project, stdin=script, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "booted: main ['main'] True" in result.stdout
    assert "still here " in result.stdout
    assert "ZeroDivisionError" in result.stderr  # shown, and the console goes on


def test_console_exit_code(project: Path) -> None:
    result = mega("console", cwd=project, stdin="exit(3)\nprint('not reached')\n", timeout=30)
    assert result.returncode == 3
    assert "not reached" not in result.stdout
