"""Socket: `send` only enqueues (never awaits the network), the byte bound closes a slow consumer with
1013 even while the writer is stuck, close reasons are cut to 123 bytes. Channel compilation errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mega.config.sections import NOT_BUILT
from mega.errors import MegaError
from mega.http.router import Router
from mega.ws import WebSocketController, on
from mega.ws._channel import compile_channel
from mega.ws._socket import Socket, cut_reason


class StuckClient:
    """An ASGI send that blocks on the first data frame, as a client that stopped reading."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.release = asyncio.Event()

    async def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if message["type"] == "websocket.send":
            await self.release.wait()


async def test_send_enqueues_and_overflow_closes_1013_while_the_writer_is_stuck() -> None:
    client = StuckClient()
    sock = Socket(client, limit=10_000, path="/ws")
    for i in range(5):
        sock.send({"type": "t", "payload": "x" * 1000, "i": i})  # returns at once: nothing awaited
    await asyncio.sleep(0.05)
    assert len(client.messages) == 1 and sock.queued_bytes > 4000  # the writer is stuck on the first
    for _ in range(10):
        sock.send({"type": "t", "payload": "x" * 1000})
    assert sock.closed and sock.close_code == 1013
    await asyncio.sleep(0.05)
    assert client.messages[-1] == {"type": "websocket.close", "code": 1013, "reason": "slow consumer"}
    sock.send({"type": "late"})  # dropped after the close
    await sock.finish()
    assert [m["type"] for m in client.messages] == ["websocket.send", "websocket.close"]


async def test_close_after_queued_frames_with_a_cut_reason() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    sock = Socket(send, limit=1 << 20, path="/ws")
    sock.send({"a": 1})
    sock.close(4001, "ü" * 100)
    sock.send({"b": 2})
    await asyncio.sleep(0.05)
    assert sent[0] == {"type": "websocket.send", "text": '{"a":1}'}
    assert sent[1]["code"] == 4001 and sent[1]["reason"] == "ü" * 61 and len(sent) == 2
    await sock.finish()


def test_cut_reason_keeps_whole_characters() -> None:
    assert cut_reason("short") == "short"
    assert cut_reason("a" * 200) == "a" * 123
    assert len(cut_reason("€" * 60).encode()) == 123  # 41 three-byte characters
    assert len(cut_reason("ü" * 62).encode()) == 122


def test_channel_errors() -> None:
    class Twice(WebSocketController):
        @on("x")
        async def a(self, sock: Any, msg: Any, ctx: Any) -> None: ...

        @on("x")
        async def b(self, sock: Any, msg: Any, ctx: Any) -> None: ...

    with pytest.raises(MegaError) as info:
        compile_channel(Twice, where="test")
    assert info.value.code == "ws.duplicate_type"
    assert info.value.details == {"type": "x", "handlers": ["a", "b"]}

    class Base(WebSocketController):
        @on("x")
        async def a(self, sock: Any, msg: Any, ctx: Any) -> None: ...

    class Child(Base):
        @on("x")
        async def a(self, sock: Any, msg: Any, ctx: Any) -> None: ...  # an override, not a duplicate

    assert list(compile_channel(Child, where="test")) == ["x"]
    with pytest.raises(MegaError) as info:
        compile_channel(object, where="test")  # type: ignore[arg-type]
    assert info.value.code == "ws.invalid_channel"
    with pytest.raises(MegaError) as info:
        Router().ws("/ws", lambda: None)  # type: ignore[arg-type]
    assert info.value.code == "ws.invalid_channel"
    with pytest.raises(MegaError) as info:
        on("")
    assert info.value.code == "ws.invalid_handler"


def test_router_ws_takes_group_prefix_and_before() -> None:
    router = Router()

    async def guard(req: Any, reply: Any, ctx: Any) -> None: ...

    router.group("/api", before=[guard]).ws("/chat", WebSocketController)
    [route] = router.ws_routes
    assert (route.method, route.path, route.options) == ("WS", "/api/chat", {"before": [guard]})
    assert router.routes == []


def test_scale_out_keys_are_built() -> None:
    assert not {"ws", "ws_cluster", "ws_hub", "bridge_hub"} & set(NOT_BUILT)


def test_mega_routes_lists_channels() -> None:
    from mega.app.app import MegaApp

    async def guard(req: Any, reply: Any, ctx: Any) -> None: ...

    class Chat(WebSocketController):
        pass

    router = Router()
    router.ws("/ws/chat", Chat, before=guard)
    app = MegaApp("web")
    app.add_ws_routes(router.ws_routes)
    app.compile()
    [listed] = [r for r in app.describe_routes() if r["methods"] == ["WS"]]
    assert listed["path"] == "/ws/chat" and listed["handler"].endswith("Chat")
    assert listed["middleware"]["before"][0].endswith("guard")


class Transport:
    """A server's synchronous frame write (`write_now`): refuses while `paused`, as a transport above its
    high-water mark; the ASGI send records what the writer task sends."""

    def __init__(self) -> None:
        self.wire: list[str] = []
        self.paused = False
        self.release = asyncio.Event()
        self.release.set()

    def write_now(self, text: str) -> bool:
        if self.paused:
            return False
        self.wire.append(text)
        return True

    async def send(self, message: dict[str, Any]) -> None:
        await self.release.wait()
        if message["type"] == "websocket.send":
            self.wire.append(message["text"])


async def test_frames_go_straight_to_the_transport_and_queue_in_order_once_it_pauses() -> None:
    t = Transport()
    sock = Socket(t.send, limit=1 << 20, path="/ws", write_now=t.write_now)
    sock.send({"n": 0})
    assert t.wire == ['{"n":0}'] and sock.queued_bytes == 0  # written at once, no writer turn
    t.paused, t.release = True, asyncio.Event()
    sock.send({"n": 1})
    t.paused = False
    sock.send({"n": 2})  # the transport takes frames again, but n=1 waits in the queue: queued after it
    assert t.wire == ['{"n":0}'] and sock.queued_bytes > 0
    await asyncio.sleep(0.01)
    sock.send({"n": 3})  # the writer is still in its send (not released): queued too
    t.release.set()
    await asyncio.sleep(0.01)
    assert t.wire == ['{"n":0}', '{"n":1}', '{"n":2}', '{"n":3}'] and sock.queued_bytes == 0
    sock.send({"n": 4})
    assert t.wire[-1] == '{"n":4}'
    await sock.finish()


async def test_a_burst_written_at_once_over_the_limit_closes_1013_as_a_queued_one_would() -> None:
    t = Transport()
    sock = Socket(t.send, limit=10_000, path="/ws", write_now=t.write_now)
    for _ in range(9):
        sock.send({"p": "x" * 1000})  # 9 x 1,008 B in one loop turn: under the limit
    assert not sock.closed
    await asyncio.sleep(0)  # the next turn: what was written before is no longer counted
    for _ in range(9):
        sock.send({"p": "x" * 1000})
    assert not sock.closed and len(t.wire) == 18
    sock.send({"p": "x" * 1000})  # a 10th in the same turn: 10,080 B unsent as far as the loop knows
    assert sock.closed and sock.close_code == 1013
    await sock.finish()
