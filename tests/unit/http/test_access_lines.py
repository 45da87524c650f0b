"""The access log writes one line for every response the app sends (docs/reference/logging.md):
404, 405, OPTIONS, trailing-slash redirects and 500s included; health probes only when asked."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from mega import MegaApp, MegaError
from mega.observe.access import AccessLog
from mega.testing import make_client, running, write_project
from tests.conftest import asgi_client, build_app


def lines(access: AccessLog) -> list[dict[str, Any]]:
    access.flush()
    stream = access.stream
    assert isinstance(stream, io.StringIO)
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


async def test_every_response_writes_an_access_line() -> None:
    access = AccessLog(io.StringIO(), fmt="json")

    async def fails() -> None:
        raise RuntimeError("boom")

    async def conflict() -> None:
        raise MegaError("x.taken", "taken", status=409)

    def declare(r: Any) -> None:
        r.get("/ok", lambda: "ok")
        r.get("/items/{id:int}", lambda: "item")
        r.get("/fails", fails)
        r.get("/mega", conflict)
        r.get("/dir/", lambda: "dir")

    async with asgi_client(build_app(declare, access_log=access)) as http:
        sent = [
            await http.get("/ok"),
            await http.get("/items/5"),
            await http.get("/missing"),
            await http.post("/ok"),
            await http.options("/ok"),
            await http.get("/dir"),
            await http.get("/fails"),
            await http.get("/mega"),
        ]
    assert [r.status_code for r in sent] == [200, 200, 404, 405, 204, 308, 500, 409]
    logged = [(x["method"], x["path"], x["status"], x["request_id"]) for x in lines(access)]
    assert logged == [(r.request.method, r.request.url.path, r.status_code, r.headers["x-request-id"])
                      for r in sent]



@pytest.mark.parametrize("setting, logged", [
    (None, []), (False, []), (True, ["/health/live", "/health/ready"])])
async def test_health_probes_write_access_lines_only_when_asked(tmp_path: Any, capsys: Any, setting: Any,
                                                               logged: list[str]) -> None:
    logger: dict[str, Any] = {"access_log": True, "format": "json"}
    if setting is not None:
        logger["access_log_health"] = setting
    root = write_project(tmp_path, {
        "mega_config.py": f"config = {{'logger': {logger!r}}}\n",
        "apps/main/routes/home.py": """
            def routes(router):
                router.get("/", lambda: "home")
        """,
    })
    async with running(root) as rt, make_client(rt) as http:
        assert (await http.get("/health/live")).status_code == 200
        assert (await http.get("/health/ready")).status_code == 200
        assert (await http.get("/")).status_code == 200
        assert rt.access_log is not None
        rt.access_log.flush()
    paths = [orjson.loads(line)["path"] for line in capsys.readouterr().out.splitlines()
             if '"logger":"mega.access"' in line]
    assert paths == [*logged, "/"]


async def test_an_unknown_host_writes_an_access_line() -> None:
    from mega.boot._host import Host

    access = AccessLog(io.StringIO(), fmt="json")
    apps = []
    for name in ("a", "b"):
        app = MegaApp(name, config={"hosts": [f"{name}.com"]}, env="production", access_log=access)
        app.add_routes([])
        app.compile()
        apps.append(app)
    async with asgi_client(Host(apps), host="c.com") as http:
        answer = await http.get("/whoami")
    assert answer.status_code == 404 and answer.json()["error"]["details"] == {"host": "c.com"}
    [line] = lines(access)
    assert (line["method"], line["path"], line["status"]) == ("GET", "/whoami", 404)
