"""The HTTP benchmark's apps: each mega variant, written from the base project, is a mega project that
boots and answers every route shape it is measured on (the hash of its files identifies it), and every
peer app answers every shape correctly in-process."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from mega.testing import make_client, running

HARNESS = Path(__file__).resolve().parents[2] / "bench" / "http" / "harness"


def _harness(module: str) -> ModuleType:
    # bench/ is not a package: load the harness under a private name, without touching sys.path.
    if "bench_http_harness" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "bench_http_harness", HARNESS / "__init__.py", submodule_search_locations=[str(HARNESS)])
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules["bench_http_harness"] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"bench_http_harness.{module}")


variants = _harness("variants")
project = _harness("project")
apps = _harness("apps")
shapes = _harness("shapes")
NAMES = [v.name for v in variants.VARIANTS]
PEERS_DIR = HARNESS.parent / "peers"
SHAPE_ROUTES = 6  # hello, params (main.py) + query, two POSTs, cached (shapes.py); the 404 has none


async def _answers(client: Any, app: Any) -> None:
    for shape in app.shapes:
        headers = {"content-type": "application/json"} if shape.body is not None else {}
        resp = await client.request(shape.method, shape.path, content=shape.body, headers=headers)
        assert resp.status_code == shape.status, (app.name, shape.name, resp.text)
        if shape.status == 200:
            assert resp.headers["content-type"].startswith("application/json"), (app.name, shape.name)
            assert resp.json() == app.bodies[shape.name], (app.name, shape.name)


@pytest.mark.parametrize("name", NAMES)
async def test_every_variant_boots_and_answers_its_shapes(name: str, tmp_path: Path) -> None:
    variant = variants.BY_NAME[name]
    app = next(a for a in apps.ALL_APPS if a.name == name)
    every_shape = name in (variants.BASE, variants.START_GRANIAN)
    assert [s.name for s in app.shapes] == (
        [s.name for s in shapes.SHAPES] if every_shape else list(shapes.VARIANT_SHAPES))
    root = tmp_path / name
    record = project.materialise(variant, root)
    assert record["changes"] == variant.changes()
    async with running(root, env="production") as rt, make_client(rt) as client:
        await _answers(client, app)
        for path in ("/", "/users/42"):
            resp = await client.get(path)
            # the variant's config change took effect: secure headers unless helmet is off
            assert ("x-frame-options" in resp.headers) == (variant.app_config.get("helmet") is not False)
        assert (rt.access_log is not None) == variant.access_log
        routes = [row for app in rt.apps.values() for row in app.describe_routes()
                  if not row["handler"].startswith("openapi:")]  # the OpenAPI rows when it is on
    assert len(routes) == SHAPE_ROUTES + variant.filler_routes


FRAMEWORKS = {"blacksheep", "starlette", "fastapi", "litestar"}  # app name = its package's name
PEER_CASES = [
    pytest.param(a.name, marks=pytest.mark.skipif(
        a.name in FRAMEWORKS and importlib.util.find_spec(a.name) is None,
        reason=f"{a.name} comes with the bench extra: pip install -e '.[bench]'"))
    for a in apps.PEER_APPS if a.interface == "asgi"
]
RSGI_CASES = [a.name for a in apps.PEER_APPS if a.interface == "rsgi"]


@pytest.mark.parametrize("name", PEER_CASES)
async def test_every_peer_answers_every_shape_in_process(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The peers' apps over ASGI, without a server (raw ASGI always; the frameworks with the bench extra)."""
    peer = next(a for a in apps.PEER_APPS if a.name == name)
    monkeypatch.syspath_prepend(str(PEERS_DIR))  # the peers import their shared _shapes module
    for cached in [m for m in sys.modules if m == "_shapes"]:
        monkeypatch.delitem(sys.modules, cached)
    path = PEERS_DIR / f"{peer.target}.py"
    spec = importlib.util.spec_from_file_location(f"bench_peer_{peer.target}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # frameworks resolve annotations through it
    spec.loader.exec_module(module)
    asgi = module.app
    if name == "blacksheep":
        await asgi.start()  # BlackSheep builds its router on start (a server sends lifespan for it)
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await _answers(client, peer)


class _RsgiScope:
    proto, http_version, scheme, method, path, query_string = "http", "1.1", "http", "GET", "/", ""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


class _RsgiProtocol:
    """What granian hands an RSGI app: the body in one call, the response in one call."""

    def __init__(self) -> None:
        self.sent: tuple[int, list[tuple[str, str]], bytes] | None = None

    async def __call__(self) -> bytes:
        return b""

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.sent = (status, headers, body)


@pytest.mark.parametrize("name", RSGI_CASES)
async def test_the_rsgi_peers_answer_hello(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    peer = next(a for a in apps.PEER_APPS if a.name == name)
    assert [s.name for s in peer.shapes] == ["hello"] and peer.servers == ("granian",)
    monkeypatch.syspath_prepend(str(PEERS_DIR))
    module = importlib.import_module(peer.target)
    target = module.shim if name == "raw_rsgi_shim" else module.app
    protocol = _RsgiProtocol()
    await target.__rsgi__(_RsgiScope({"host": "testserver"}), protocol)
    assert protocol.sent is not None
    status, headers, body = protocol.sent
    assert status == 200 and ("content-type", "application/json") in headers
    assert json.loads(body) == apps.PEER_BODIES["hello"]


def test_the_post_shapes_send_one_kib_and_wrk_gets_a_script() -> None:
    posts = [s for s in shapes.SHAPES if s.method == "POST"]
    assert {s.name for s in posts} == {"post_pydantic", "post_schema"}
    for shape in posts:
        assert shape.body is not None and len(shape.body) == 1024
        script = shapes.wrk_script(shape)
        assert 'wrk.method = "POST"' in script and "application/json" in script
    assert shapes.wrk_script(shapes.BY_NAME["hello"]) is None


@pytest.mark.parametrize("name", NAMES)
def test_a_variant_hashes_the_same_every_time(name: str, tmp_path: Path) -> None:
    first = project.materialise(variants.BY_NAME[name], tmp_path / "a")
    second = project.materialise(variants.BY_NAME[name], tmp_path / "b")
    assert first["sha256"] == second["sha256"]
    assert first["files"] == second["files"] == 5


def test_variants_that_change_files_hash_apart_and_a_launcher_change_does_not(tmp_path: Path) -> None:
    hashes = {v.name: project.materialise(v, tmp_path / v.name)["sha256"] for v in variants.VARIANTS}
    # These serve the base project's files on another server or launcher: same files, same hash.
    for same in ("mega_stock_uvicorn", "mega_uvicorn_http", variants.START_GRANIAN):
        assert hashes.pop(same) == hashes["mega_10"]
    assert len(set(hashes.values())) == len(hashes)
    assert hashes["mega_10"] == project.tree_hash(project.BASE_PROJECT)[0]


def test_the_variant_changes_land_in_the_written_files(tmp_path: Path) -> None:
    root = project.materialise(variants.BY_NAME["mega_1000"], tmp_path / "routes")
    assert "COUNT = 998\n" in (tmp_path / "routes" / project.FILLER).read_text()
    assert root["changes"] == {"filler_routes": 998}
    project.materialise(variants.BY_NAME["mega_nosec"], tmp_path / "nosec")
    text = (tmp_path / "nosec" / project.APP_CONFIG).read_text()
    assert "'helmet': False" in text and "'rate_limit': False" in text
