"""tests/fixtures/projects/ws_chat in Debian's headless Chromium, driven over the DevTools protocol:
two users (two browser contexts, so two cookie jars) sign in through the login form, open the chat
page, whose AspSocket talks to /ws/chat in `E:` frames; each sees the other online, a message shows
exactly once on both pages, and closing one tab shows the leave on the other."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.cli.conftest import Server, environ, free_port, get, wait_for
from tests.services import unavailable

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[2] / "fixtures/projects/ws_chat"
SECRET = "ws-chat-asp-secret-0123456789abcdefghijklmnop"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-port=0"]

STATE = """(() => {
  const $ = (id) => document.getElementById(id);
  const text = (document.body?.innerText ?? "").slice(0, 300);
  if (!$("messages")) return { path: location.pathname, text };
  return { path: location.pathname, status: $("status").textContent,
           online: [...$("online").children].map((li) => li.dataset.user),
           lines: [...$("messages").children].map((li) => [li.className, li.textContent]) };
})()"""


class Cdp:
    """A DevTools protocol connection to the browser; pages are reached through flat sessions."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            future = self.pending.pop(message.get("id", 0), None)
            if future is not None:
                future.set_result(message)
            elif "method" in message:
                self.events.append(message)

    async def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[ident] = future
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self.ws.send(json.dumps(message))
        answer = await asyncio.wait_for(future, 30)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    async def evaluate(self, session: str, expression: str) -> Any:
        answer = await self.call("Runtime.evaluate", session, expression=expression, returnByValue=True,
                                 awaitPromise=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(answer["exceptionDetails"])
        return answer["result"].get("value")

    async def until(self, session: str, check: Callable[[dict[str, Any]], bool], what: str,
                    timeout: float = 20) -> dict[str, Any]:
        """Poll the page's state (STATE) until `check` holds; a navigation in between is retried."""
        deadline = time.monotonic() + timeout
        state: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            try:
                state = await self.evaluate(session, STATE)
            except RuntimeError:  # the page is navigating: its context is gone for a moment
                state = None
            if state is not None and check(state):
                return state
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; the page showed {state}")

    def frames(self, session: str, kind: str) -> list[str]:
        return [e["params"]["response"]["payloadData"] for e in self.events
                if e.get("sessionId") == session and e["method"] == f"Network.webSocketFrame{kind}"]


@asynccontextmanager
async def chromium(profile: Path, log: Path) -> AsyncIterator[Cdp]:
    binary = shutil.which("chromium")
    if binary is None:
        unavailable("chromium is not installed: apt-get install -y chromium (the chat test drives it "
                    "headless)")
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        active = profile / "DevToolsActivePort"
        wait_for(lambda: active.exists() and len(active.read_text().splitlines()) == 2, 30,
                 f"chromium's DevToolsActivePort (log: {log})")
        port, path = active.read_text().splitlines()
        async with connect(f"ws://127.0.0.1:{port}{path}", max_size=None) as ws:
            cdp = Cdp(ws)
            try:
                yield cdp
            finally:
                cdp.reader.cancel()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def open_tab(cdp: Cdp, url: str) -> tuple[str, str]:
    """A tab in a browser context of its own (own cookies); returns (target id, session id)."""
    context = (await cdp.call("Target.createBrowserContext", disposeOnDetach=True))["browserContextId"]
    target = (await cdp.call("Target.createTarget", url="about:blank", browserContextId=context))["targetId"]
    session = (await cdp.call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
    await cdp.call("Network.enable", session)
    await cdp.call("Page.enable", session)
    await cdp.call("Page.navigate", session, url=url)
    return target, session


async def sign_in(cdp: Cdp, base: str, account: str) -> tuple[str, str]:
    target, session = await open_tab(cdp, f"{base}/login")
    await cdp.until(session, lambda s: s["path"] == "/login", "the login form")
    await wait_true(cdp, session, "document.readyState === 'complete' && !!document.getElementById('login')")
    await cdp.evaluate(session, f"""(() => {{
        document.querySelector('[name=account]').value = {json.dumps(account)};
        document.querySelector('[name=password]').value = {json.dumps(account + "-password")};
        document.getElementById("login").requestSubmit();
    }})()""")
    await cdp.until(session, lambda s: s["path"] == "/chat" and s.get("status") == "online",
                    f"{account}'s chat page to go online")
    return target, session


async def wait_true(cdp: Cdp, session: str, expression: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if await cdp.evaluate(session, expression):
                return
        except RuntimeError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {expression}")


async def say(cdp: Cdp, session: str, text: str) -> None:
    await cdp.evaluate(session, f"""(() => {{
        document.getElementById("text").value = {json.dumps(text)};
        document.getElementById("say").requestSubmit();
    }})()""")


def messages(state: dict[str, Any]) -> list[str]:
    return [text for kind, text in state["lines"] if kind == "message"]


async def test_two_users_chat_over_asp_in_chromium(
        tmp_path: Path, start_server: Callable[..., Server], mega_server: str) -> None:
    root = tmp_path / "ws_chat"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    server = start_server("start", "--port", str(port), "--server", mega_server, cwd=root,
                          env=environ(ASP_MASTER_SECRET=SECRET, MEGA_ENV="development"))
    wait_for(lambda: get(port, "/health/ready").status_code == 200, 30, "GET /health/ready")
    base = f"http://127.0.0.1:{port}"

    async with chromium(tmp_path / "profile", tmp_path / "chromium.log") as cdp:
        _, ann = await sign_in(cdp, base, "ann")
        first = await cdp.until(ann, lambda s: s["online"] == ["ann"], "ann alone online")
        assert first["lines"] == []
        bob_tab, bob = await sign_in(cdp, base, "bob")

        # each sees the other online
        await cdp.until(bob, lambda s: s["online"] == ["ann", "bob"], "bob to see ann online")
        seen = await cdp.until(ann, lambda s: s["online"] == ["ann", "bob"], "ann to see bob online")
        assert seen["lines"] == [["joined", "Bob joined"]]

        # a message shows once on both; bob answers only after seeing it, so when the answer is on
        # both pages, any duplicate of the first would already be there
        await say(cdp, ann, "hello from ann")
        for page in (ann, bob):
            await cdp.until(page, lambda s: messages(s) == ["Ann: hello from ann"], "ann's message")
        await say(cdp, bob, "hi ann")
        want = ["Ann: hello from ann", "Bob: hi ann"]
        for page in (ann, bob):
            state = await cdp.until(page, lambda s: len(messages(s)) >= 2, "bob's answer")
            assert messages(state) == want

        # closing bob's tab shows the leave on ann's page
        await cdp.call("Target.closeTarget", targetId=bob_tab)
        left = await cdp.until(ann, lambda s: s["online"] == ["ann"], "bob's leave on ann's page")
        assert left["lines"] == [["joined", "Bob joined"], ["message", "Ann: hello from ann"],
                                 ["message", "Bob: hi ann"], ["left", "Bob left"]]
        assert left["status"] == "online"

        # on the wire every frame, either way, was ASP-encrypted
        received, sent = cdp.frames(ann, "Received"), cdp.frames(ann, "Sent")
        assert len(received) == 5 and len(sent) == 1, (received, sent)  # roster, joined, 2 messages, left
        assert all(frame.startswith("E:") for frame in received + sent)
        assert not any("hello from ann" in frame for frame in received + sent)

        # a plain WebSocket from the same page (cookie and origin right) is closed on its plain frame
        refused = await cdp.evaluate(ann, """new Promise((resolve) => {
            const ws = new WebSocket(`ws://${location.host}/ws/chat`);
            ws.onopen = () => ws.send(JSON.stringify({ type: "chat.send", payload: { text: "plain" } }));
            ws.onclose = (e) => resolve([e.code, e.reason]);
        })""")
        # granian's RSGI sends a close frame without the code and reason (docs/reference/server.md)
        assert refused == ([1008, "asp.signal"] if mega_server == "uvicorn" else [1005, ""])

    assert server.terminate() == 0, server.output()
