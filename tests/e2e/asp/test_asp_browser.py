"""The browser client in a real browser: headless Chromium (Debian's `chromium`) loads a page served by
`mega start` that imports /_mega/asp.js, checks the published vectors with WebCrypto, does a round
trip and a replay, and writes what it saw into the DOM, which `--dump-dom` prints."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mega.testing import write_project
from tests.e2e.cli.conftest import Server, environ, free_port, get, wait_for
from tests.services import unavailable

pytestmark = pytest.mark.integration

SECRET = "browser-asp-secret-0123456789abcdefghijklmnop"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>asp</title></head>
<body><pre id="result">pending</pre>
<script type="module">
import { AspClient, unb64 } from "/_mega/asp.js";

const hex = (text) => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));
const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const out = {};
try {
  const vectors = await (await fetch("/asp-vectors.json")).json();
  const vc = await AspClient.create(vectors.secret);
  out.vectors = [];
  for (const v of vectors.requests) {
    const s = await vc.seal(v.method, v.path, v.query, hex(v.plaintext_hex),
                            { timestamp: v.timestamp, nonce: unb64(v.nonce, 12) });
    out.vectors.push([toHex(s.body), s.headers["x-mega-asp-tag"]]);
  }
  for (const v of vectors.responses) {
    const p = await vc.open(v.status, { "x-mega-asp-nonce": v.nonce, "x-mega-asp-tag": v.tag },
                            hex(v.ciphertext_hex), v.request_nonce);
    out.vectors.push([toHex(p)]);
  }

  const asp = await AspClient.create(SECRET_HERE);
  const r = await asp.fetch("/api/secure/echo?x=1", { method: "POST", json: { hello: "wörld" } });
  out.roundTrip = { status: r.status, encrypted: r.headers.get("x-mega-asp"), body: await r.json() };
  const note = await asp.fetch("/api/secure/notes/café?q=a%20b&q=é");  // encoded by the browser
  out.encoded = [note.status, (await note.json()).data];

  const sealed = await asp.seal("POST", "/api/secure/echo", "", new TextEncoder().encode('{"n":1}'));
  const send = () => fetch("/api/secure/echo", { method: "POST", body: sealed.body,
    headers: { ...sealed.headers, "content-type": "application/json" } });
  const open = async (res) => JSON.parse(new TextDecoder().decode(
    await asp.open(res.status, res.headers, new Uint8Array(await res.arrayBuffer()), sealed.nonce)));
  const first = await send();
  const firstBody = await open(first);
  const second = await send();
  const secondBody = await open(second);
  out.replay = { first: [first.status, firstBody.data.got], second: [second.status, secondBody.error.code] };

  const plain = await fetch("/api/secure/echo", { method: "POST", body: "{}",
    headers: { "content-type": "application/json" } });
  out.plain = [plain.status, (await plain.json()).error.code];
} catch (e) {
  out.error = String((e && e.stack) || e);
}
document.getElementById("result").textContent = JSON.stringify(out);
</script></body></html>
"""

ROUTES = """
    from importlib import resources

    PAGE = {page!r}


    async def echo(req):
        return {{"got": await req.json(), "query": req.query}}

    async def note(req):
        return {{"name": req.params["name"], "q": req.query_list("q")}}

    async def page(req, reply):
        return reply.send(PAGE, media_type="text/html; charset=utf-8")

    async def vectors(req, reply):
        text = resources.files("mega.asp").joinpath("vectors.json").read_text()
        return reply.send(text, media_type="application/json")

    def routes(router):
        router.post("/api/secure/echo", echo)
        router.get("/api/secure/notes/{{name}}", note)
        router.get("/asp-page", page, helmet=False)
        router.get("/asp-vectors.json", vectors)
"""


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        unavailable("chromium is not installed: apt-get install -y chromium (the browser client's test "
                    "runs it headless)")
    return found


def dump_dom(browser: str, url: str) -> str:
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--virtual-time-budget=20000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_browser_client_round_trips_and_is_refused_a_replay(
        tmp_path: Path, start_server: Callable[..., Server]) -> None:
    browser = chromium()
    page = PAGE.replace("SECRET_HERE", json.dumps(SECRET))
    root = write_project(tmp_path / "site", {
        "mega_config.py": "config = {'logger': {'level': 'warning'}}\n",
        "apps/web/app_config.py": "config = {'asp': {'paths': ['/api/secure/*']}}\n",
        "apps/web/routes/main.py": ROUTES.format(page=page),
    })
    port = free_port()
    server = start_server("start", "--port", str(port), cwd=root,
                          env=environ(ASP_MASTER_SECRET=SECRET, MEGA_ENV="development"))
    wait_for(lambda: get(port, "/health/ready").status_code == 200, 30, "GET /health/ready")

    dom = dump_dom(browser, f"http://127.0.0.1:{port}/asp-page")
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    assert found is not None, dom[-2000:]
    result: dict[str, Any] = json.loads(html.unescape(found[1]))
    assert "error" not in result, result["error"]

    vectors = json.loads((Path(__file__).parents[3] / "src/mega/asp/vectors.json").read_text())
    assert result["vectors"] == [[v["ciphertext_hex"], v["tag"]] for v in vectors["requests"]] + \
        [[v["plaintext_hex"]] for v in vectors["responses"]]
    echoed = {"ok": True, "data": {"got": {"hello": "wörld"}, "query": {"x": "1"}}}
    assert result["roundTrip"] == {"status": 200, "encrypted": "1", "body": echoed}
    assert result["encoded"] == [200, {"name": "café", "q": ["a b", "é"]}]  # path and query as sent
    assert result["replay"] == {"first": [200, {"n": 1}], "second": [401, "asp.replay"]}
    assert result["plain"] == [400, "asp.signal"]
    assert server.terminate() == 0, server.output()
