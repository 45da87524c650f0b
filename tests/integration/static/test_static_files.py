"""Static files of a booted project, through real requests: validators, ranges, HEAD, media types,
precompressed siblings, cache headers, static_url, configuration, and every traversal form refused."""

from __future__ import annotations

import gzip
import os
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from mega.boot.stages import BootError, Runtime
from mega.testing import make_client, running, write_project

CSS = "body { color: #123456 }\n"
BIG = bytes(range(256)) * 1024  # 256 KiB: streamed, not kept in memory

ROUTES = """
    async def css(req, reply, ctx):
        return {"url": ctx.static_url(req.query.get("path", "css/app.css"))}

    def routes(router):
        router.get("/url", css)
"""


def project(root: Path, app_config: str = "config = {}\n", routes: str = ROUTES) -> Path:
    base = write_project(root / "project", {
        "mega_config.py": "config = {}\n",
        "apps/main/app_config.py": app_config,
        "apps/main/routes/pages.py": routes,
        "apps/main/public/css/app.css": CSS,
        "apps/main/public/js/app.js": "console.log(1)\n",
        "apps/main/public/data.json": "{}\n",
        "apps/main/public/.env": "SECRET=1\n",
        "apps/main/public/.git/config": "[core]\n",
        "apps/main/secret.txt": "outside the public folder\n",
    })
    public = base / "apps/main/public"
    (public / "big.bin").write_bytes(BIG)
    (public / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    (public / "empty.txt").write_bytes(b"")
    return base


def precompress(public: Path, name: str) -> None:
    data = (public / name).read_bytes()
    (public / (name + ".gz")).write_bytes(gzip.compress(data))
    (public / (name + ".br")).write_bytes(b"fake-brotli:" + data)  # what is sent is the file's bytes
    later = os.stat(public / name).st_mtime_ns + 1_000_000
    for suffix in (".gz", ".br"):
        os.utime(public / (name + suffix), ns=(later, later))


async def asgi_status(rt: Runtime, path: str, method: str = "GET") -> int:
    """Send a request with exactly this decoded path (an HTTP client would normalise it first)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode("utf-8", "surrogateescape"),
             "query_string": b"", "root_path": "", "headers": [(b"host", b"testserver")],
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
    assert rt.host is not None
    await rt.host.asgi(scope, receive, send)
    status: int = sent[0]["status"]
    return status


async def test_a_file_with_etag_last_modified_and_conditional_gets(tmp_path: Path) -> None:
    root = project(tmp_path)
    async with running(root) as rt, make_client(rt) as http:
        r = await http.get("/static/css/app.css")
        assert r.status_code == 200 and r.text == CSS
        assert r.headers["content-type"] == "text/css; charset=utf-8"
        assert r.headers["content-length"] == str(len(CSS))
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["accept-ranges"] == "bytes"
        assert r.headers["x-content-type-options"] == "nosniff"  # the app's secure headers
        etag, modified = r.headers["etag"], r.headers["last-modified"]
        assert etag.startswith('"') and not etag.startswith("W/")
        assert modified == formatdate(int(os.stat(root / "apps/main/public/css/app.css").st_mtime),
                                      usegmt=True)

        same = await http.get("/static/css/app.css", headers={"if-none-match": etag})
        assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
        assert same.headers["cache-control"] == "no-cache"
        assert (await http.get("/static/css/app.css", headers={"if-none-match": f'"x", W/{etag}'})
                ).status_code == 304  # weak comparison, in a list
        assert (await http.get("/static/css/app.css", headers={"if-none-match": "*"})).status_code == 304
        other = await http.get("/static/css/app.css", headers={"if-none-match": '"other"'})
        assert other.status_code == 200

        assert (await http.get("/static/css/app.css", headers={"if-modified-since": modified})
                ).status_code == 304
        older = formatdate(int(os.stat(root / "apps/main/public/css/app.css").st_mtime) - 60, usegmt=True)
        assert (await http.get("/static/css/app.css", headers={"if-modified-since": older})
                ).status_code == 200
        assert (await http.get("/static/css/app.css", headers={"if-modified-since": "garbage"})
                ).status_code == 200
        # If-None-Match wins: a stale tag means 200 even with a matching If-Modified-Since.
        both = await http.get("/static/css/app.css", headers={"if-none-match": '"old"',
                                                               "if-modified-since": modified})
        assert both.status_code == 200

        (root / "apps/main/public/css/app.css").write_text(CSS + "a {}\n")
        changed = await http.get("/static/css/app.css", headers={"if-none-match": etag})
        assert changed.status_code == 200 and changed.text == CSS + "a {}\n"
        assert changed.headers["etag"] != etag


async def test_byte_ranges(tmp_path: Path) -> None:
    root = project(tmp_path)
    async with running(root) as rt, make_client(rt) as http:
        full = await http.get("/static/big.bin")
        assert full.content == BIG
        etag, modified = full.headers["etag"], full.headers["last-modified"]
        for name in ("big.bin", "css/app.css"):  # streamed, and from memory
            data = (root / "apps/main/public" / name).read_bytes()
            size = len(data)
            for header, first, last in (("bytes=0-9", 0, 9), ("bytes=10-", 10, size - 1),
                                        ("bytes=-5", size - 5, size - 1), ("bytes=3-99999999", 3, size - 1)):
                r = await http.get(f"/static/{name}", headers={"range": header})
                assert r.status_code == 206, header
                assert r.headers["content-range"] == f"bytes {first}-{last}/{size}"
                assert r.content == data[first:last + 1]
                assert r.headers["content-length"] == str(last - first + 1)
        size = len(BIG)
        for header in (f"bytes={size}-", "bytes=-0", f"bytes={size + 10}-{size + 20}"):
            r = await http.get("/static/big.bin", headers={"range": header})
            assert r.status_code == 416, header
            assert r.headers["content-range"] == f"bytes */{size}"
        assert (await http.get("/static/empty.txt", headers={"range": "bytes=0-"})).status_code == 416
        # Ignored: several ranges (answered whole, documented), another unit, malformed.
        for header in ("bytes=0-1,5-6", "items=0-1", "bytes=abc", "bytes=9-3"):
            r = await http.get("/static/big.bin", headers={"range": header})
            assert (r.status_code, len(r.content)) == (200, size), header
        # If-Range: the current ETag or date keeps the range; anything else sends the whole file.
        for validator, status in ((etag, 206), (modified, 206), ('"stale"', 200), (f"W/{etag}", 200),
                                  ("Mon, 01 Jan 2001 00:00:00 GMT", 200)):
            r = await http.get("/static/big.bin", headers={"range": "bytes=0-3", "if-range": validator})
            assert r.status_code == status, validator
            assert len(r.content) == (4 if status == 206 else size)


async def test_head_and_media_types(tmp_path: Path) -> None:
    root = project(tmp_path)
    async with running(root) as rt, make_client(rt) as http:
        get = await http.get("/static/big.bin")
        head = await http.head("/static/big.bin")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(BIG))
        assert head.headers["etag"] == get.headers["etag"]
        types = {"js/app.js": "text/javascript; charset=utf-8",
                 "data.json": "application/json; charset=utf-8",
                 "logo.png": "image/png", "big.bin": "application/octet-stream",
                 "empty.txt": "text/plain; charset=utf-8"}
        for name, media in types.items():
            assert (await http.head(f"/static/{name}")).headers["content-type"] == media, name
        for method in ("POST", "PUT", "DELETE"):
            r = await http.request(method, "/static/css/app.css")
            assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
            assert r.json()["error"]["code"] == "route.method_not_allowed"


async def test_cors_of_the_app_applies_to_its_files(tmp_path: Path) -> None:
    root = project(tmp_path, "config = {'cors': {'origins': ['https://a.example']}}\n")
    async with running(root) as rt, make_client(rt) as http:
        allowed = await http.get("/static/css/app.css", headers={"origin": "https://a.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://a.example"
        other = await http.get("/static/css/app.css", headers={"origin": "https://b.example"})
        assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
        big = await http.get("/static/big.bin", headers={"origin": "https://a.example"})
        assert big.headers["access-control-allow-origin"] == "https://a.example"
    async with running(project(tmp_path / "nocors")) as rt, make_client(rt) as http:
        plain = await http.get("/static/css/app.css", headers={"origin": "https://a.example"})
        assert "access-control-allow-origin" not in plain.headers


async def test_precompressed_siblings_follow_accept_encoding(tmp_path: Path) -> None:
    root = project(tmp_path)
    public = root / "apps/main/public"
    precompress(public, "css/app.css")
    async with running(root) as rt, make_client(rt) as http:
        async def get(accept: str, **headers: str) -> Any:
            # httpx would decode gzip itself: look at the raw bytes
            async with http.stream("GET", "/static/css/app.css",
                                   headers={"accept-encoding": accept, **headers}) as r:
                return r, b"".join([chunk async for chunk in r.aiter_raw()])

        cases = {"gzip, br": ("br", (public / "css/app.css.br").read_bytes()),
                 "gzip": ("gzip", (public / "css/app.css.gz").read_bytes()),
                 "br;q=0, gzip": ("gzip", (public / "css/app.css.gz").read_bytes()),
                 "br;q=0.5, gzip;q=0.9": ("gzip", (public / "css/app.css.gz").read_bytes()),
                 "*": ("br", (public / "css/app.css.br").read_bytes()),
                 "br;q=0, gzip;q=0": (None, CSS.encode()),
                 "identity": (None, CSS.encode())}
        etags = set()
        for accept, (coding, body) in cases.items():
            r, raw = await get(accept)
            assert r.headers.get("content-encoding") == coding, accept
            assert raw == body, accept
            assert r.headers["vary"] == "Accept-Encoding"
            assert r.headers["content-type"] == "text/css; charset=utf-8"
            etags.add(r.headers["etag"])
        assert len(etags) == 3  # br, gzip and identity each have their own
        br, _ = await get("br")
        assert (await get("br", **{"if-none-match": br.headers["etag"]}))[0].status_code == 304
        identity, _ = await get("identity")
        assert (await get("br", **{"if-none-match": identity.headers["etag"]}))[0].status_code == 200
        ranged, raw = await get("gzip, br", range="bytes=0-3")  # ranges are taken from the identity file
        assert ranged.status_code == 206 and raw == CSS.encode()[:4]
        assert "content-encoding" not in ranged.headers
        # No siblings: no Vary.
        assert "vary" not in (await http.get("/static/js/app.js", headers={"accept-encoding": "br"})).headers


async def test_a_stale_sibling_and_precompressed_off_are_not_used(tmp_path: Path) -> None:
    root = project(tmp_path, "config = {'static': {'precompressed': False}}\n")
    public = root / "apps/main/public"
    precompress(public, "css/app.css")
    async with running(root) as rt, make_client(rt) as http:
        r = await http.get("/static/css/app.css", headers={"accept-encoding": "br, gzip"})
        assert "content-encoding" not in r.headers and r.text == CSS
    root = project(tmp_path / "second")
    public = root / "apps/main/public"
    precompress(public, "js/app.js")
    old = os.stat(public / "js/app.js").st_mtime_ns - 10_000_000_000
    os.utime(public / "js/app.js.br", ns=(old, old))  # older than its file: the build forgot it
    async with running(root) as rt, make_client(rt) as http, http.stream(
            "GET", "/static/js/app.js", headers={"accept-encoding": "br"}) as r:
        assert "content-encoding" not in r.headers


async def test_cache_control_for_plain_and_hashed_urls_and_static_url(tmp_path: Path) -> None:
    root = project(tmp_path, "config = {'static': {'max_age': '1h'}}\n")
    css = root / "apps/main/public/css/app.css"
    async with running(root) as rt, make_client(rt) as http:
        url = (await http.get("/url")).json()["data"]["url"]
        assert url.startswith("/static/css/app.") and url.endswith(".css") and url != "/static/css/app.css"
        assert (await http.get("/url")).json()["data"]["url"] == url  # stable while the file is
        hashed = await http.get(url)
        assert hashed.text == CSS
        assert hashed.headers["cache-control"] == "public, max-age=31536000, immutable"
        plain = await http.get("/static/css/app.css")
        assert plain.headers["cache-control"] == "public, max-age=3600"
        assert hashed.headers["etag"] == plain.headers["etag"]

        css.write_text("body { color: red }\n")
        new_url = (await http.get("/url")).json()["data"]["url"]
        assert new_url != url and new_url.startswith("/static/css/app.")
        assert (await http.get(new_url)).text == "body { color: red }\n"
        # An old hash still answers (pages cached before a deploy), without `immutable`.
        stale = await http.get(url)
        assert stale.text == "body { color: red }\n"
        assert stale.headers["cache-control"] == "public, max-age=3600"

        assert (await http.get("/url", params={"path": "/js/app.js"})).json()["data"]["url"].startswith(
            "/static/js/app.")
        missing = await http.get("/url", params={"path": "css/nope.css"})
        assert missing.status_code == 500 and missing.json()["error"]["code"] == "static.not_found"
        assert (await http.get("/url", params={"path": ".env"})).json()["error"]["code"] == "static.not_found"
        app = rt.apps["main"]
        assert app.static_url("css/app.css") == new_url  # the app-level function


async def test_static_url_in_production_warns_once_and_returns_the_plain_url(tmp_path: Path,
                                                                            capsys: Any) -> None:
    root = project(tmp_path)
    async with running(root, environ={"MEGA_ENV": "production", "SESSION_SECRET": "s" * 32}) as rt:
        assert rt.apps["main"].static_url("css/nope.css") == "/static/css/nope.css"
        assert rt.apps["main"].static_url("css/nope.css") == "/static/css/nope.css"
        assert rt.apps["main"].static_url("css/app.css") != "/static/css/app.css"
    lines = [line for line in capsys.readouterr().err.splitlines() if "css/nope.css" in line]
    assert len(lines) == 1 and '"level":"warning"' in lines[0]


async def test_traversal_dotfiles_directories_and_symlinks_are_404(tmp_path: Path) -> None:
    root = project(tmp_path)
    public = root / "apps/main/public"
    (public / "out.txt").symlink_to(root / "apps/main/secret.txt")
    (public / "outdir").symlink_to(root / "apps/main")
    (public / "inside.css").symlink_to(public / "css/app.css")
    (public / "git").symlink_to(public / ".git")
    async with running(root) as rt, make_client(rt) as http:
        assert await asgi_status(rt, "/static/css/app.css") == 200  # the control: this path form works
        assert await asgi_status(rt, "/static/inside.css") == 200  # a symlink that stays inside
        refused = [
            "/static/../secret.txt",            # ..
            "/static/css/../../secret.txt",
            "/static/%2e%2e/secret.txt",        # %2e%2e decoded once by the server: arrives as ..
            "/static/%252e%252e/secret.txt",    # double-encoded: arrives as the literal name %2e%2e
            "/static/%2e%2e%2fsecret.txt",
            "/static/..\\secret.txt",           # backslashes
            "/static/css\\app.css",
            "/static/css/app.css\0.png",        # NUL
            "/static//etc/passwd",              # absolute paths
            "/static/" + str(root / "apps/main/secret.txt"),
            "/static/out.txt",                  # symlinks that leave the folder
            "/static/outdir/secret.txt",
            "/static/.env",                     # dotfiles and dot-directories
            "/static/.git/config",
            "/static/git/config",               # a symlink into a dot-directory
            "/static/css/./app.css",
            "/static/css",                      # directories: no listing
            "/static/css/",
            "/static/",
        ]
        for path in refused:
            assert await asgi_status(rt, path) == 404, path
            assert await asgi_status(rt, path, "HEAD") == 404, path
        r = await http.get("/static/.env")
        assert r.status_code == 404 and r.json()["error"]["code"] == "route.not_found"


async def test_prefix_off_and_conflicts(tmp_path: Path) -> None:
    root = project(tmp_path, "config = {'static': {'prefix': '/assets'}}\n")
    async with running(root) as rt, make_client(rt) as http:
        assert (await http.get("/assets/css/app.css")).text == CSS
        assert (await http.get("/static/css/app.css")).status_code == 404
        assert (await http.get("/url")).json()["data"]["url"].startswith("/assets/css/app.")
        assert rt.apps["main"].static_files is not None

    root = project(tmp_path / "off", "config = {'static': False}\n")
    async with running(root) as rt, make_client(rt) as http:
        assert (await http.get("/static/css/app.css")).status_code == 404
        assert rt.apps["main"].static_files is None  # nothing on the request path
        r = await http.get("/url")
        assert r.status_code == 500 and r.json()["error"]["code"] == "static.disabled"

    root = project(tmp_path / "nofolder")
    for child in sorted((root / "apps/main/public").rglob("*"), reverse=True):
        child.rmdir() if child.is_dir() and not child.is_symlink() else child.unlink()
    (root / "apps/main/public").rmdir()
    async with running(root) as rt:
        assert rt.apps["main"].static_files is None

    conflict = ROUTES.replace('router.get("/url", css)', 'router.get("/static/special", css)')
    with pytest.raises(BootError) as caught:
        async with running(project(tmp_path / "conflict", routes=conflict)):
            pass
    assert caught.value.__cause__ is not None
    assert getattr(caught.value.__cause__, "code", None) == "static.route_conflict"
    assert "/static/special" in str(caught.value)

    for bad in ("'/'", "'static/'", "'/a/../b/'", "5"):
        with pytest.raises(BootError) as caught:
            async with running(project(tmp_path / f"bad{len(bad)}{bad[1:2]}",
                                       f"config = {{'static': {{'prefix': {bad}}}}}\n")):
                pass
        assert "static.prefix" in str(caught.value), bad
