"""ASP through a booted app: the Python client's round trip, each refusal code, rotation, encrypted
errors, and routes ASP does not cover left exactly as they were."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from mega.asp import Client
from mega.testing import make_client, running, write_project

SECRET = "test-asp-secret-0123456789abcdefghijklmnop"
OLD = "the-previous-asp-secret-9876543210zyxwvuts"

ROUTES = """
    from pydantic import BaseModel

    from mega import NotFoundError


    class Payment(BaseModel):
        amount: int


    async def echo(req):
        return {"got": await req.json(), "query": req.query}

    async def pay(req):
        return {"paid": req.data.amount}

    async def raw(req):
        return {"bytes": len(await req.body())}

    async def missing(req):
        raise NotFoundError("thing.not_found", "no such thing")

    async def who(req):
        return {"path": req.path}

    async def form(req):
        return {"form": (await req.form()).to_dict()}

    async def text(req, reply):
        return reply.send("plain words")

    async def nothing(req, reply):
        reply.status(204)

    async def odd(req):
        from mega import Envelope

        return Envelope.ok({"when": object()})  # JSON cannot encode it: an error, after decryption

    def routes(router):
        router.post("/api/secure/form", form, csrf=False)
        router.get("/api/secure/odd", odd)
        router.get("/api/secure/text", text)
        router.delete("/api/secure/nothing", nothing)
        router.post("/api/secure/echo", echo)
        router.post("/api/secure/pay", pay, body=Payment)
        router.put("/api/secure/raw", raw)
        router.get("/api/secure/missing", missing)
        router.get("/api/secure/items/{id}", who)
        router.post("/api/exact", echo)
        router.post("/open/echo", echo, csrf=False)
        router.post("/api/secureish", echo)
"""


def project(root: Path, asp: str) -> Path:
    return write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
        "apps/web/app_config.py": f"config = {{'asp': {asp}}}\n",
        "apps/web/routes/main.py": ROUTES,
    })


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    asp = f"{{'secret': {SECRET!r}, 'paths': ['/api/secure/*', '/api/exact'], 'drift': 30}}"
    root = project(tmp_path, asp)
    async with running(root) as rt, make_client(rt) as client:
        yield client


async def send(http: httpx.AsyncClient, asp: Client, path: str, payload: object, *,
               method: str = "POST", headers: dict[str, str] | None = None,
               timestamp: int | None = None) -> httpx.Response:
    """One request sealed by `asp`, sent as is (tests then change what they want to)."""
    sealed = asp.seal(method, path, orjson.dumps(payload), timestamp=timestamp)
    return await http.request(method, path, content=sealed.body,
                              headers={"content-type": "application/json", **sealed.headers,
                                       **(headers or {})})


def code(response: httpx.Response) -> str:
    body = response.json()
    assert body["ok"] is False
    return str(body["error"]["code"])


async def test_round_trip_decrypts_for_the_handler_and_encrypts_the_answer(http: httpx.AsyncClient) -> None:
    asp = Client(SECRET, http)
    r = await asp.post("/api/secure/echo?x=1", json={"hello": "wörld"})
    assert r.status_code == 200
    assert r.json() == {"ok": True, "data": {"got": {"hello": "wörld"}, "query": {"x": "1"}}}
    assert r.headers["x-mega-asp"] == "1" and "x-mega-asp-tag" in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"  # secure headers still there

    sealed = asp.seal("POST", "/api/secure/echo", b'{"a": 1}')
    wire = await http.post("/api/secure/echo", content=sealed.body,
                           headers={"content-type": "application/json", **sealed.headers})
    assert b'"a"' not in wire.content and not wire.content.startswith(b"{")  # ciphertext on the wire
    assert int(wire.headers["content-length"]) == len(wire.content)
    assert orjson.loads(asp.open(200, wire.headers, wire.content, sealed.nonce))["data"]["got"] == {"a": 1}

    assert (await asp.post("/api/secure/pay", json={"amount": 7})).json()["data"] == {"paid": 7}  # body=
    invalid = await asp.post("/api/secure/pay", json={"amount": "lots"})
    assert invalid.status_code == 400 and invalid.headers["x-mega-asp"] == "1"  # validation ran on plaintext
    assert code(invalid) == "validation.failed"
    raw = await asp.put("/api/secure/raw", content=b"\x00" * 1000)
    assert raw.json()["data"] == {"bytes": 1000}
    assert (await asp.get("/api/secure/items/42")).json()["data"] == {"path": "/api/secure/items/42"}
    encoded = await asp.get("/api/secure/items/caf%C3%A9 x")
    assert encoded.json()["data"] == {"path": "/api/secure/items/café x"}
    assert (await asp.post("/api/exact", json=[1])).json()["data"]["got"] == [1]


async def test_forms_responses_and_bodiless_answers_go_through_asp(http: httpx.AsyncClient) -> None:
    asp = Client(SECRET, http)
    form = await asp.post("/api/secure/form", content=b"a=1&b=two",
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 200 and form.json()["data"] == {"form": {"a": "1", "b": "two"}}  # plaintext
    sealed = asp.seal("GET", "/api/secure/text")
    wire = await http.get("/api/secure/text", headers=sealed.headers)
    assert wire.status_code == 200 and wire.headers["x-mega-asp"] == "1" and wire.content != b"plain words"
    assert asp.open(200, wire.headers, wire.content, sealed.nonce) == b"plain words"  # a Response, sealed
    sealed = asp.seal("DELETE", "/api/secure/nothing")
    empty = await http.delete("/api/secure/nothing", headers=sealed.headers)
    assert empty.status_code == 204 and empty.content == b"" and empty.headers["x-mega-asp"] == "1"
    assert asp.open(204, empty.headers, empty.content, sealed.nonce) == b""  # the tag still binds the status
    sealed = asp.seal("GET", "/api/secure/odd")
    odd = await http.get("/api/secure/odd", headers=sealed.headers)
    assert odd.status_code == 500 and odd.headers["x-mega-asp"] == "1"  # sealed once, not twice
    assert orjson.loads(asp.open(500, odd.headers, odd.content, sealed.nonce))["ok"] is False


async def test_errors_on_asp_paths_are_encrypted(http: httpx.AsyncClient) -> None:
    asp = Client(SECRET, http)
    sealed = asp.seal("GET", "/api/secure/missing")
    r = await http.get("/api/secure/missing", headers=sealed.headers)
    assert r.status_code == 404 and r.headers["x-mega-asp"] == "1"
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(r.content)
    assert code(await asp.get("/api/secure/missing")) == "thing.not_found"


async def test_tampering_with_ciphertext_tag_or_nonce_is_refused(http: httpx.AsyncClient) -> None:
    asp = Client(SECRET, http)

    def flip(text: str) -> str:  # one bit of the decoded bytes; the encoding stays canonical
        from mega.asp._wire import b64, unb64
        raw = bytearray(unb64(text, 16 if len(text) == 22 else 12) or b"")
        raw[3] ^= 0x01
        return b64(bytes(raw))

    for part in ("ciphertext", "tag", "nonce"):
        sealed = asp.seal("POST", "/api/secure/echo", b'{"amount": 100}')
        body, headers = bytearray(sealed.body), dict(sealed.headers)
        if part == "ciphertext":
            body[5] ^= 0x01
        else:
            headers[f"x-mega-asp-{part}"] = flip(headers[f"x-mega-asp-{part}"])
        r = await http.post("/api/secure/echo", content=bytes(body),
                            headers={"content-type": "application/json", **headers})
        assert (r.status_code, code(r)) == (400, "asp.decrypt_failed"), part
        assert "x-mega-asp" not in r.headers  # refused before decryption: plain
    malformed = {"x-mega-asp-nonce": "not base64!"}
    r = await send(http, asp, "/api/secure/echo", {}, headers=malformed)
    assert code(r) == "asp.decrypt_failed"
    # The tag binds method, path and query: the same sealed request elsewhere does not open.
    sealed = asp.seal("POST", "/api/secure/echo", b"{}")
    moved = await http.post("/api/exact", content=sealed.body, headers=sealed.headers)
    assert code(moved) == "asp.decrypt_failed"
    queried = await http.post("/api/secure/echo?admin=1", content=sealed.body, headers=sealed.headers)
    assert code(queried) == "asp.decrypt_failed"
    wrong_key = Client("an-entirely-different-secret-0123456789abc", http)
    assert code(await wrong_key.post("/api/secure/echo", json={})) == "asp.decrypt_failed"


async def test_a_replay_is_refused_encrypted(http: httpx.AsyncClient) -> None:
    asp = Client(SECRET, http)
    sealed = asp.seal("POST", "/api/secure/echo", b'{"n": 1}')
    headers = {"content-type": "application/json", **sealed.headers}
    first = await http.post("/api/secure/echo", content=sealed.body, headers=headers)
    assert first.status_code == 200
    again = await http.post("/api/secure/echo", content=sealed.body, headers=headers)
    assert again.status_code == 401 and again.headers["x-mega-asp"] == "1"
    error = orjson.loads(asp.open(401, again.headers, again.content, sealed.nonce))
    assert error["error"]["code"] == "asp.replay"


async def test_stale_and_future_timestamps_are_refused(http: httpx.AsyncClient) -> None:
    asp = Client(SECRET, http)
    now = int(time.time() * 1000)
    for stamp in (now - 31_000, now + 31_000):
        r = await send(http, asp, "/api/secure/echo", {}, timestamp=stamp)
        assert (r.status_code, code(r)) == (401, "asp.drift")
    assert (await send(http, asp, "/api/secure/echo", {}, timestamp=now - 25_000)).status_code == 200
    for bad in ("", "soon", "1" * 17, "-5"):
        r = await send(http, asp, "/api/secure/echo", {}, headers={"x-mega-asp-ts": bad})
        assert code(r) == "asp.drift", bad
    # The timestamp is authenticated: a fresh one on an old request does not open.
    sealed = asp.seal("POST", "/api/secure/echo", b"{}", timestamp=now - 60_000)
    r = await http.post("/api/secure/echo", content=sealed.body,
                        headers={**sealed.headers, "x-mega-asp-ts": str(now)})
    assert code(r) == "asp.decrypt_failed"


async def test_missing_or_wrong_signal_is_refused(http: httpx.AsyncClient) -> None:
    asp = Client(SECRET, http)
    plain = await http.post("/api/secure/echo", json={"a": 1})
    assert (plain.status_code, code(plain)) == (400, "asp.signal")
    assert "x-mega-asp" not in plain.headers
    for wrong in ("2", "true", ""):
        r = await send(http, asp, "/api/secure/echo", {}, headers={"x-mega-asp": wrong})
        assert code(r) == "asp.signal", wrong


async def test_routes_outside_the_paths_are_untouched(http: httpx.AsyncClient) -> None:
    r = await http.post("/open/echo", json={"a": 1})
    assert r.json() == {"ok": True, "data": {"got": {"a": 1}, "query": {}}}
    assert "x-mega-asp" not in r.headers
    assert (await http.post("/api/secureish", json={"b": 2})).status_code == 200  # not under /api/secure/
    script = await http.get("/_mega/asp.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert b"export class AspClient" in script.content


async def test_only_covered_endpoints_are_wrapped(tmp_path: Path) -> None:
    root = project(tmp_path, f"{{'secret': {SECRET!r}, 'paths': ['/api/secure/*']}}")
    async with running(root) as rt:
        app = rt.apps["web"]
        names = {path: table["POST"].__qualname__ for path, table in app.table.static.items()
                 if "POST" in table}
        assert names["/api/secure/echo"].endswith("[asp]")
        assert not names["/open/echo"].endswith("[asp]") and not names["/api/exact"].endswith("[asp]")


async def test_rotation_the_first_secret_encrypts_any_decrypts(tmp_path: Path) -> None:
    root = project(tmp_path, f"{{'secret': [{SECRET!r}, {OLD!r}], 'paths': ['/api/secure/*']}}")
    async with running(root) as rt, make_client(rt) as http:
        old_only = Client(OLD, http)
        sealed = old_only.seal("POST", "/api/secure/echo", b'{"v": "old"}')
        r = await http.post("/api/secure/echo", content=sealed.body,
                            headers={"content-type": "application/json", **sealed.headers})
        assert r.status_code == 200  # the old secret still decrypts
        from mega.errors import MegaError
        with pytest.raises(MegaError) as caught:  # but the answer is under the new one
            old_only.open(200, r.headers, r.content, sealed.nonce)
        assert caught.value.code == "asp.bad_response"
        assert orjson.loads(Client(SECRET).open(200, r.headers, r.content, sealed.nonce))["data"]["got"] == \
            {"v": "old"}
        rolling = Client([SECRET, OLD], http)  # a client mid-rotation reads both
        answer = await rolling.post("/api/secure/echo", json={"v": "new"})
        assert answer.json()["data"]["got"] == {"v": "new"}
        assert (await Client([OLD, SECRET], http).post("/api/secure/echo", json=1)).status_code == 200


async def test_the_secret_comes_from_the_environment(tmp_path: Path) -> None:
    root = project(tmp_path, "{'paths': ['/api/secure/*']}")
    environ = {"ASP_MASTER_SECRET": SECRET, "PATH": ""}
    async with running(root, environ=environ) as rt, make_client(rt) as http:
        assert (await Client(SECRET, http).post("/api/secure/echo", json=1)).status_code == 200


async def test_a_replay_cache_that_fails_refuses_the_request(tmp_path: Path) -> None:
    root = write_project(tmp_path, {
        "mega_config.py": "config = {'logger': {'level': 'critical'}, "
                          "'services': {'caches': {'replay': {'driver': 'file', 'path': 'var/replay'}}}}\n",
        "apps/web/app_config.py": f"config = {{'asp': {{'secret': {SECRET!r}, 'paths': ['/api/secure/*'], "
                                  "'replay_cache': 'replay'}}\n",
        "apps/web/routes/main.py": ROUTES,
    })
    async with running(root) as rt, make_client(rt) as http:
        asp = Client(SECRET, http)
        assert (await asp.post("/api/secure/echo", json={"a": 1})).status_code == 200
        shutil.rmtree(root / "var/replay")
        (root / "var/replay").write_text("a file where the cache's folder was")  # every write now fails
        r = await asp.post("/api/secure/echo", json={"a": 2})
        assert r.status_code == 503 and r.headers["x-mega-asp"] == "1"  # fails closed, encrypted
        assert code(r) == "cache.unavailable"


async def test_keys_are_derived_at_boot_never_per_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    import mega.asp._wire as wire

    derived: list[str] = []
    real = wire.derive_key
    monkeypatch.setattr(wire, "derive_key", lambda *args: derived.append(args[1]) or real(*args))
    root = project(tmp_path, f"{{'secret': [{SECRET!r}, {OLD!r}], 'paths': ['/api/secure/*', '/typo/*']}}")
    async with running(root) as rt, make_client(rt) as http:
        assert derived == ["request", "request", "response", "response"]  # two secrets, two directions
        asp = Client(SECRET, http)
        derived.clear()
        for n in range(3):
            assert (await asp.post("/api/secure/echo", json=n)).status_code == 200
        assert derived == []
    assert "asp.paths entry '/typo/*' covers no route" in caplog.text
