"""`mega start --watch` and templates: a saved template restarts the server like any file under apps/,
so the page shows the change even with Jinja's own reloading off."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import Server, free_port, get, wait_for
from .test_cli_watch import reaper, restarts, watch

pytestmark = pytest.mark.integration

__all__ = ["reaper"]  # the fixture, used by name below


@pytest.fixture
def paged_project(fresh_project: Path) -> Iterator[Path]:
    app = fresh_project / "apps/main"
    (app / "views/hi.html").write_text("<p>{{ word }} one</p>\n")
    (app / "routes/hi.py").write_text(
        "async def hi(req, reply, ctx):\n    return ctx.render('hi.html', {'word': 'page'})\n\n\n"
        "def routes(router):\n    router.get('/hi', hi)\n")
    (app / "app_config.py").write_text("config = {'views': {'auto_reload': False}}\n")
    yield fresh_project


def test_a_saved_template_is_served_after_the_restart(
        paged_project: Path, start_server: Callable[..., Server], reaper: list[int]) -> None:
    port = free_port()
    server = watch(start_server, paged_project, port, reaper)
    wait_for(lambda: get(port, "/hi").status_code == 200, 30, "the first server")
    assert get(port, "/hi").text == "<p>page one</p>"
    (paged_project / "apps/main/views/hi.html").write_text("<p>{{ word }} two</p>\n")
    wait_for(lambda: get(port, "/hi").text == "<p>page two</p>", 30, "the restarted server")
    assert restarts(server) == ["mega: apps/main/views/hi.html changed: restarting"]
    assert server.terminate(timeout=30) == 0, server.output()
