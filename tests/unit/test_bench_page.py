"""The page benchmark's servers answer the same page: mega's project (booted in production) and the
bare Jinja2 render of the ceiling give the same bytes, so the benchmark compares equal work (the run
checks Starlette's answer too: it needs the `bench` extra)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from mega.testing import make_client, running

WEB = Path(__file__).resolve().parents[2] / "bench" / "web"


def _peer(name: str) -> ModuleType:
    # bench/ is not a package: the peers import their neighbour `page_data`, so load both by path.
    for module in ("page_data", name):
        if module not in sys.modules:
            spec = importlib.util.spec_from_file_location(module, WEB / "peers" / f"{module}.py")
            assert spec is not None and spec.loader is not None
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[module] = loaded
            spec.loader.exec_module(loaded)
    return sys.modules[name]


async def test_mega_renders_the_same_page_as_the_bare_render(restore_logging: None) -> None:
    raw = _peer("page_raw")
    environ = {"MEGA_ENV": "production", "SESSION_SECRET": "s" * 32}
    async with running(WEB / "page_project", environ=environ) as rt, \
            make_client(rt) as http:
        r = await http.get("/page")
    assert (r.status_code, r.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert r.content == raw.TEMPLATE.render(raw.PAGE).encode()
    assert b'<li class="product sale"><a href="/products/0">Tea no. 0 &lt;matcha&gt;</a>' in r.content
    assert r.content.count(b"<li class=") == 20

