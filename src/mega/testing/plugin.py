"""pytest plugin (auto-loaded through the `pytest11` entry point): project fixtures for mega apps.

- `mega_project_root`: the project under test; the pytest root directory by default (override it
  in a conftest.py to point elsewhere).
- `mega_runtime`: the booted project (env 'test'), shut down after the test.
- `client`: an httpx AsyncClient over ASGI against it.
- `client_for`: a factory `client_for("b.com")` for another Host on a multi-app project.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from mega.boot.stages import Runtime
from mega.testing import make_client, running


@pytest.fixture
def mega_project_root(request: pytest.FixtureRequest) -> Path:
    root = Path(request.config.rootpath)
    if not (root / "mega_config.py").exists():
        pytest.skip(f"no mega_config.py in {root}: override the mega_project_root fixture")
    return root


@pytest_asyncio.fixture
async def mega_runtime(mega_project_root: Path) -> AsyncIterator[Runtime]:
    async with running(mega_project_root) as rt:
        yield rt


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
