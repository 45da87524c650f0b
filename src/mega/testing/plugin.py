"""pytest plugin (auto-loaded through the `pytest11` entry point): project fixtures for mega apps.

- `mega_project_root`: the project under test; the pytest root directory by default (override it
  in a conftest.py to point elsewhere).
- `mega_runtime`: the booted project (env 'test') on the run's test databases, shut down after the
  test; everything the test wrote to a database is rolled back, and the run's Redis keys are deleted.
- `client`: an httpx AsyncClient over ASGI against it (`client.websocket_connect(...)` for channels).
- `client_for`: a factory `client_for("b.com")` for another Host on a multi-app project.
- `@pytest.mark.no_rollback`: the test's writes are committed; the tables it wrote are emptied after it.

The test databases are prepared once per run: `mega test` does it before pytest starts and passes
the run in MEGA_TEST_RUN; under plain `pytest` in a project the plugin does at session start (and
exports MEGA_TEST_RUN the same way), or when a test first boots another project.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import pytest_asyncio

from mega.boot._loader import forget_project_modules
from mega.boot._test_env import ENV_VAR, TestRun
from mega.boot.stages import Runtime
from mega.cli._failure import failure_from
from mega.testing import AppClient, boot_for_test, make_client

log = logging.getLogger("mega.testing")

NO_ROLLBACK = "no_rollback"
_MADE = pytest.StashKey[TestRun]()
_FAILED = pytest.StashKey[Exception]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{NO_ROLLBACK}: the test's database writes are committed, not rolled "
                            "back; mega empties the tables it wrote after it")
    if _is_project(config):
        # A project's tests never run as development or production, whatever the shell exports.
        os.environ["MEGA_ENV"] = "test"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under plain `pytest` in a project: prepare its run now and export it, so that every boot in
    this process (`running(".")` in a fixture of the project's own too) uses the test databases."""
    root = Path(session.config.rootpath).resolve()
    if not _is_project(session.config) or _given_run(root) is not None:
        return
    import asyncio

    from mega.testing._databases import prepare_run

    try:
        run = asyncio.run(prepare_run(root, progress=log.info))
    except Exception as exc:
        session.config.stash[_FAILED] = exc  # said once the run starts (pytest would say it twice here)
        return
    os.environ[ENV_VAR] = run.to_env()
    session.config.stash[_MADE] = run


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    failed = session.config.stash.get(_FAILED, None)
    if failed is not None:
        _stop(failed)


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(_MADE, None)
    if run is not None:
        shutil.rmtree(run.directory, ignore_errors=True)
        if os.environ.get(ENV_VAR) == run.to_env():
            del os.environ[ENV_VAR]


def _is_project(config: pytest.Config) -> bool:
    return (Path(config.rootpath) / "mega_config.py").is_file()


def _given_run(root: Path) -> TestRun | None:
    """The run in MEGA_TEST_RUN when it is `root`'s (made by `mega test`, or at session start)."""
    given = os.environ.get(ENV_VAR)
    if not given:
        return None
    run = TestRun.from_env(given)
    return run if run.root == str(root) else None


class _Runs:
    """The test run of each project root booted in this session, prepared on first use."""

    def __init__(self) -> None:
        self.runs: dict[Path, TestRun] = {}
        self.made: list[TestRun] = []

    async def run_for(self, root: Path) -> TestRun:
        root = root.resolve()
        run = self.runs.get(root) or _given_run(root)
        if run is None:  # another project than the pytest root's (mega_project_root overridden)
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
async def client(mega_runtime: Runtime) -> AsyncIterator[AppClient]:
    async with make_client(mega_runtime) as http:
        yield http


@pytest_asyncio.fixture
async def client_for(mega_runtime: Runtime) -> AsyncIterator[Callable[[str], AppClient]]:
    made: list[AppClient] = []

    def factory(host: str) -> AppClient:
        http = make_client(mega_runtime, host=host)
        made.append(http)
        return http

    yield factory
    for http in made:
        await http.aclose()


def _stop(exc: BaseException) -> NoReturn:
    """A project that cannot boot fails every test the same way: say it once and stop the run."""
    pytest.exit("\n".join(failure_from(exc, debug=False).lines), returncode=2)
