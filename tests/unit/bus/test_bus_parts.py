"""The bus's pieces on their own: codec, subjects and wildcards, error replies."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from pydantic import BaseModel

from mega.bus._errors import error_reply, raise_error_reply
from mega.bus._subjects import matches, normalise_prefix, wire_subject
from mega.bus.codec import CodecError, decode, encode
from mega.errors import MegaError


class Item(BaseModel):
    sku: int


@dataclasses.dataclass
class Point:
    x: int


def test_codec_round_trips_and_normalises():
    assert encode(None) == b"null"
    assert decode(b"") is None
    assert decode(b"null") is None
    assert decode(encode({"a": [1, 2.5, "x", True, None]})) == {"a": [1, 2.5, "x", True, None]}
    assert decode(encode(Item(sku=3))) == {"sku": 3}
    assert decode(encode(Point(1))) == {"x": 1}
    assert decode(encode({1, 2})) in ([1, 2], [2, 1])
    assert decode(encode(dt.date(2024, 1, 2))) == "2024-01-02"


def test_codec_errors_have_codes():
    with pytest.raises(CodecError) as err:
        decode(b"{nope")
    assert err.value.code == "bus.decode_failed"
    assert err.value.details == {"size": 5}
    with pytest.raises(CodecError) as err:
        encode(object())
    assert err.value.code == "bus.encode_failed"


@pytest.mark.parametrize(("pattern", "subject", "expected"), [
    ("a.b", "a.b", True),
    ("a.*", "a.b", True),
    ("a.*", "a", False),
    ("a.*", "a.b.c", False),
    ("*.b", "a.b", True),
    ("a.>", "a.b", True),
    ("a.>", "a.b.c", True),
    ("a.>", "a", False),
    (">", "a", True),
    (">", "a.b", True),
    ("*", "a.b", False),
    ("a.*.c", "a.b.c", True),
    ("a.*.c", "a.b.d", False),
    ("a.*.>", "a.b.c", True),
    ("a.*.>", "a.b", False),
])
def test_wildcard_matching_follows_nats(pattern, subject, expected):
    assert matches(tuple(pattern.split(".")), subject.split(".")) is expected


def test_prefixes():
    assert normalise_prefix(None) == ""
    assert normalise_prefix("web.") == "web."
    assert normalise_prefix("web") == "web."
    assert normalise_prefix("a.b") == "a.b."
    for bad in ("a..b.", "we b.", "a.*.", 3):
        with pytest.raises(MegaError) as err:
            normalise_prefix(bad)
        assert err.value.code == "bus.invalid_config"
    assert wire_subject("web.", "order.created") == "web.order.created"
    assert wire_subject("web.", "order.>", True) == "web.order.>"
    with pytest.raises(MegaError):
        wire_subject("", ["not", "a", "string"])  # type: ignore[arg-type]


def test_error_replies_carry_megaerrors_and_hide_other_exceptions():
    body = error_reply(MegaError("order.not_found", "no order 7", details={"id": 7}, status=404), "s")
    with pytest.raises(MegaError) as err:
        raise_error_reply(body, "s")
    assert (err.value.code, err.value.message, err.value.status) == ("order.not_found", "no order 7", 404)
    body = error_reply(KeyError("password=hunter2"), "svc.x")
    assert b"hunter2" not in body
    with pytest.raises(MegaError) as err:
        raise_error_reply(body, "svc.x")
    assert err.value.code == "bus.handler_failed"
    assert err.value.details == {"subject": "svc.x", "error": "KeyError"}
    with pytest.raises(MegaError) as err:
        raise_error_reply(b"garbage", "svc.x")
    assert err.value.code == "bus.handler_failed"


async def test_a_slow_memory_subscriber_drops_new_messages(caplog):
    import asyncio
    import logging

    from mega.bus.memory import MemoryBroker, MemoryBus

    bus = MemoryBus(MemoryBroker(pending_limit=3))
    release = asyncio.Event()
    seen: list[int] = []

    async def slow(payload: int) -> None:
        await release.wait()
        seen.append(payload)

    await bus.on("x", slow)
    with caplog.at_level(logging.WARNING, logger="mega.bus"):
        for i in range(10):
            await bus.emit("x", i)
        await asyncio.sleep(0.01)
    release.set()
    await asyncio.sleep(0.01)
    await bus.close()
    assert seen[:1] == [0] and len(seen) <= 4  # the first is being handled, 3 wait, the rest dropped
    stats = await bus.stats()
    assert stats["dropped"] == 10 - len(seen)
    assert [r.getMessage() for r in caplog.records].count(
        "bus: slow consumer on x: 3 messages pending, dropping new ones") == 1
