"""pytest plugin (auto-loaded through the `pytest11` entry point): project fixtures for mega apps.

- `mega_project_root`: the project under test; the pytest root directory by default (override it
  in a conftest.py to point elsewhere).
- `mega_runtime`: the booted project (env 'test') on the run's test databases, shut down after the
  test; everything the test wrote to a database is rolled back, and the run's Redis keys are deleted.
- `client`: an httpx AsyncClient over ASGI against it.
- `client_for`: a factory `client_for("b.com")` for another Host on a multi-app project.
- `@pytest.mark.no_rollback`: the test's writes are committed; the tables it wrote are emptied after it.

The test databases are prepared once per run (`mega test` does it before pytest starts and passes
the run in MEGA_TEST_RUN; under plain `pytest` the first test that boots the project does).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import NoReturn

import httpx
import pytest
import pytest_asyncio

from mega.boot._loader import forget_project_modules
from mega.boot._test_env import ENV_VAR, TestRun
from mega.boot.stages import Runtime
from mega.cli._failure import failure_from
from mega.testing import boot_for_test, make_client

log = logging.getLogger("mega.testing")

NO_ROLLBACK = "no_rollback"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{NO_ROLLBACK}: the test's database writes are committed, not rolled "
                            "back; mega empties the tables it wrote after it")
    if (Path(config.rootpath) / "mega_config.py").is_file():
        # A project's tests never run as development or production, whatever the shell exports.
        os.environ["MEGA_ENV"] = "test"


class _Runs:
    """The test run of each project root booted in this session, prepared on first use."""

    def __init__(self) -> None:
        self.runs: dict[Path, TestRun] = {}
        self.made: list[TestRun] = []

    async def run_for(self, root: Path) -> TestRun:
        root = root.resolve()
        run = self.runs.get(root)
        if run is not None:
            return run
        given = os.environ.get(ENV_VAR)
        if given and TestRun.from_env(given).root == str(root):
            run = TestRun.from_env(given)  # prepared by `mega test`, which also removes it
        else:
            from mega.testing._databases import prepare_run

            try:
                run = await prepare_run(root, progress=log.info)
            except Exception as exc:
                _stop(exc)
            self.made.append(run)
        self.runs[root] = run
        return run

    def close(self) -> None:
        for run in self.made:
            shutil.rmtree(run.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def _mega_runs() -> Iterator[_Runs]:
    runs = _Runs()
    yield runs
    runs.close()


@pytest.fixture
def mega_project_root(request: pytest.FixtureRequest) -> Path:
    root = Path(request.config.rootpath)
    if not (root / "mega_config.py").exists():
        pytest.skip(f"no mega_config.py in {root}: override the mega_project_root fixture")
    return root


@pytest_asyncio.fixture
async def mega_runtime(mega_project_root: Path, _mega_runs: _Runs,
                       request: pytest.FixtureRequest) -> AsyncIterator[Runtime]:
    from mega.testing._isolation import Isolation

    run = await _mega_runs.run_for(mega_project_root)
    environ = {**os.environ, "MEGA_ENV": "test", ENV_VAR: run.to_env()}
    try:
        rt = await boot_for_test(mega_project_root, environ=environ)
    except Exception as exc:
        _stop(exc)
    commit = request.node.get_closest_marker(NO_ROLLBACK) is not None
    isolation: Isolation | None = None
    try:
        isolation = await Isolation.start(rt, run, commit=commit)
        yield rt
        await isolation.finish()
    finally:
        await rt.close()  # rolls the test transactions back
        forget_project_modules()
        if isolation is not None:
            isolation.remove_files()


@pytest_asyncio.fixture
async def client(mega_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(mega_runtime) as http:
        yield http


@pytest_asyncio.fixture
async def client_for(mega_runtime: Runtime) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    made: list[httpx.AsyncClient] = []

    def factory(host: str) -> httpx.AsyncClient:
        http = make_client(mega_runtime, host=host)
        made.append(http)
        return http

    yield factory
    for http in made:
        await http.aclose()


def _stop(exc: BaseException) -> NoReturn:
    """A project that cannot boot fails every test the same way: say it once and stop the run."""
    pytest.exit("\n".join(failure_from(exc, debug=False).lines), returncode=2)
