"""Holes the attack run found in `reply.file()` and `reply.redirect()`, tried against `mega start` with
raw requests (no client normalises the paths): every escape from the download folder is a 404 that
says nothing more, a download name of any text is sent whole and keeps the connection usable, and a
redirect never leaves the site."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli.conftest import environ, free_port, get, wait_for
from tests.integration.server.server_wire import at_eof, close, connect, read_response, request
from tests.integration.server.server_wire import get as raw

pytestmark = pytest.mark.integration

ROUTES = '''
from pathlib import Path

FILES = Path(__file__).resolve().parents[3] / "var" / "files"


async def download(req, reply):
    return reply.file(req.params["name"], root=FILES)


async def by_query(req, reply):
    return reply.file(req.query["name"], root=FILES)


async def named(req, reply):
    return reply.file(FILES / "report.txt", filename=req.query["as"])


async def go(req, reply):
    return reply.redirect(req.query["next"])


def routes(router):
    router.get("/dl/{name:path}", download)
    router.get("/q", by_query)
    router.get("/named", named)
    router.get("/go", go)
'''


@pytest.fixture
def served(fresh_project: Path, start_server) -> int:
    (fresh_project / "mega_config.py").write_text('config = {"logger": {"level": "warning"}}\n')
    files = fresh_project / "var" / "files"
    files.mkdir(parents=True)
    (files / "report.txt").write_text("report")
    (files / "out").symlink_to(fresh_project / "mega_config.py")
    (fresh_project / "apps" / "main" / "routes" / "files.py").write_text(ROUTES)
    port = free_port()
    start_server("start", "--port", str(port), cwd=fresh_project,
                 env=environ(MEGA_ENV="production", SESSION_SECRET="s" * 40))
    wait_for(lambda: get(port, "/health/live").status_code == 200, 20, "mega start to serve")
    return port


async def raw_get(port: int, target: str) -> tuple[int, object, str | None]:
    response, _ = await request(port, raw(target))
    body = response.json() if response.header("content-type") == "application/json" else response.body
    return response.status, body, response.header("location")


NOT_FOUND = {"ok": False, "error": {"code": "file.not_found", "message": "file not found", "details": {}}}


async def test_escapes_from_the_download_folder_are_404(served: int) -> None:
    assert (await raw_get(served, "/dl/report.txt"))[:2] == (200, b"report")
    for target in ("/dl/../../mega_config.py", "/dl/..%2f..%2fmega_config.py",
                   "/dl/%2e%2e/%2e%2e/mega_config.py", "/dl/..%5c..%5cmega_config.py", "/dl/out",
                   "/dl/report.txt%00.png", "/dl/.%2e/files/report.txt", "/q?name=/etc/passwd",
                   "/q?name=%2fetc%2fpasswd", "/q?name=..%2F..%2Fmega_config.py", "/q?name=report.txt%00"):
        status, body, _ = await raw_get(served, target)
        assert status == 404, target
        assert body == NOT_FOUND or (isinstance(body, dict) and body["error"]["code"] == "route.not_found"), \
            (target, body)


async def test_any_download_name_is_sent_whole_on_a_connection_that_stays_usable(served: int) -> None:
    reader, writer = await connect(served)
    try:
        for name in ("na%C3%AFve%20caf%C3%A9.txt", "say%22hi%22.txt", "a%0D%0ASet-Cookie:%20x=1.txt",
                     "%E6%8A%A5%E5%91%8A.txt", "nul%00.txt"):
            writer.write(raw(f"/named?as={name}"))
            await writer.drain()
            response = await read_response(reader)
            assert response.status == 200 and response.body == b"report", name
            disposition = response.header("content-disposition")
            assert disposition is not None and disposition.isascii() and disposition.isprintable(), name
            assert response.header("set-cookie") is None
        assert not await at_eof(reader, 0.3)  # still open: kept alive after every answer
    finally:
        await close(writer)


async def test_redirects_stay_on_the_site(served: int) -> None:
    assert await raw_get(served, "/go?next=/account") == (302, b"", "/account")
    for target in ("//evil.com", "/%5Cevil.com", "https://evil.com", "javascript:alert(1)", "%2F%2Fevil.com",
                   "/%09/evil.com", "%20//evil.com"):
        status, body, location = await raw_get(served, f"/go?next={target}")
        assert status == 400 and location is None, target
        assert isinstance(body, dict) and body["error"]["code"] in ("redirect.external", "redirect.invalid")
