"""The bus contract: what every driver must do, tested through the public API only.

Subclass `BusContract` in a test module and provide two fixtures; the tests never name a driver:

- `bus`: a fresh `Bus` with a prefix no other test uses (closed by the fixture afterwards);
- `bus_factory`: `await bus_factory(prefix)` → another bus on the same transport (same broker, same
  server), for what needs two: prefix isolation, queue groups, a second "process".
- optionally `outage` (a method fixture of the subclass): an async callable that makes the transport
  unreachable and keeps it so; then `emit`, `on` and `request` must fail with
  `bus.backend_unavailable` (503), never `bus.request_timeout`. Without it that test skips.

See tests/contract/test_bus_contract.py for memory and nats.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from mega.bus.contract import Bus
from mega.bus.subscription import Message
from mega.errors import MegaError

BusFactory = Callable[[str], Awaitable[Bus]]

WAIT = 5.0  # upper bound for something that must happen
QUIET = 0.15  # how long "nothing arrives" is watched


class Inbox:
    """A handler that records payloads; `await inbox.wait(n)` until n arrived."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.messages: list[Message] = []
        self._changed = asyncio.Event()

    async def __call__(self, payload: Any, msg: Message) -> None:
        self.items.append(payload)
        self.messages.append(msg)
        self._changed.set()

    async def wait(self, n: int = 1, timeout: float = WAIT) -> list[Any]:
        async with asyncio.timeout(timeout):
            while len(self.items) < n:
                self._changed.clear()
                await self._changed.wait()
        return self.items


async def quiet() -> None:
    await asyncio.sleep(QUIET)


class BusContract:
    """Every test takes the `bus` fixture (and some `bus_factory`)."""

    @pytest_asyncio.fixture
    async def outage(self) -> Callable[[], Awaitable[None]]:
        pytest.skip("the driver's test gives no `outage` fixture (a way to make its transport unreachable)")

    async def test_an_unreachable_transport_is_backend_unavailable(
            self, bus: Bus, outage: Callable[[], Awaitable[None]]) -> None:
        async def slow(payload: Any) -> None:
            await asyncio.sleep(1)  # still running when the transport goes

        await bus.on("svc", slow)
        pending = asyncio.create_task(bus.request("svc", 1, timeout=10))
        await asyncio.sleep(0.1)
        started = time.perf_counter()
        await outage()
        for call in (pending, bus.emit("evt", 1), bus.on("evt", Inbox()), bus.request("svc", 1, timeout=10)):
            with pytest.raises(MegaError) as err:
                await asyncio.wait_for(call, 5)
            assert (err.value.code, err.value.status) == ("bus.backend_unavailable", 503)
        assert time.perf_counter() - started < 3  # failed at once, not timed out

    # -- emit / on ---------------------------------------------------------------------------

    async def test_emit_reaches_a_subscriber_with_the_payload(self, bus: Bus) -> None:
        inbox = Inbox()
        await bus.on("order.created", inbox)
        payloads = [{"id": 1, "items": [1, 2], "nested": {"ok": True}}, [1, "a", None], "text", 42, 1.5,
                    True, None]
        for p in payloads:
            await bus.emit("order.created", p)
        assert await inbox.wait(len(payloads)) == payloads

    async def test_emit_without_payload_delivers_none(self, bus: Bus) -> None:
        inbox = Inbox()
        await bus.on("ping", inbox)
        await bus.emit("ping")
        assert await inbox.wait() == [None]

    async def test_every_subscriber_gets_a_copy_in_order(self, bus: Bus) -> None:
        a, b = Inbox(), Inbox()
        await bus.on("tick", a)
        await bus.on("tick", b)
        for i in range(50):
            await bus.emit("tick", i)
        assert await a.wait(50) == list(range(50))
        assert await b.wait(50) == list(range(50))

    async def test_payloads_are_copies(self, bus: Bus) -> None:
        inbox = Inbox()
        await bus.on("copy", inbox)
        sent = {"list": [1]}
        await bus.emit("copy", sent)
        sent["list"].append(2)
        assert await inbox.wait() == [{"list": [1]}]

    async def test_handler_gets_the_message_when_it_takes_two_arguments(self, bus: Bus) -> None:
        inbox = Inbox()
        await bus.on("order.created", inbox)
        await bus.emit("order.created", {"id": 1})
        await inbox.wait()
        msg = inbox.messages[0]
        assert msg.event == "order.created"
        assert msg.subject == bus.prefix + "order.created"
        assert msg.reply is None
        assert msg.data == b'{"id":1}'

    async def test_sync_handlers_are_called(self, bus: Bus) -> None:
        seen: list[Any] = []
        done = asyncio.Event()

        def handler(payload: Any) -> None:
            seen.append(payload)
            done.set()

        await bus.on("sync", handler)
        await bus.emit("sync", "x")
        await asyncio.wait_for(done.wait(), WAIT)
        assert seen == ["x"]

    async def test_emit_returns_before_handlers_run(self, bus: Bus) -> None:
        release = asyncio.Event()
        inbox = Inbox()

        async def slow(payload: Any, msg: Message) -> None:
            await release.wait()
            await inbox(payload, msg)

        await bus.on("slow", slow)
        await asyncio.wait_for(bus.emit("slow", 1), 1.0)
        release.set()
        assert await inbox.wait() == [1]

    # -- wildcards ---------------------------------------------------------------------------

    async def test_star_matches_exactly_one_token(self, bus: Bus) -> None:
        inbox = Inbox()
        await bus.on("order.*", inbox)
        for event in ("order.created", "order", "order.created.late", "orders.created", "order.paid"):
            await bus.emit(event, event)
        assert await inbox.wait(2) == ["order.created", "order.paid"]
        await quiet()
        assert inbox.items == ["order.created", "order.paid"]
        assert [m.event for m in inbox.messages] == ["order.created", "order.paid"]

    async def test_star_in_the_middle(self, bus: Bus) -> None:
        inbox = Inbox()
        await bus.on("shop.*.paid", inbox)
        for event in ("shop.a.paid", "shop.a.b.paid", "shop.paid", "shop.b.paid"):
            await bus.emit(event, event)
        assert await inbox.wait(2) == ["shop.a.paid", "shop.b.paid"]
        await quiet()
        assert len(inbox.items) == 2

    async def test_gt_matches_one_or_more_trailing_tokens(self, bus: Bus) -> None:
        inbox = Inbox()
        await bus.on("order.>", inbox)
        for event in ("order", "order.created", "order.created.late", "other.created"):
            await bus.emit(event, event)
        assert await inbox.wait(2) == ["order.created", "order.created.late"]
        await quiet()
        assert len(inbox.items) == 2

    async def test_wildcards_are_refused_where_they_make_no_sense(self, bus: Bus) -> None:
        for event in ("order.*", "order.>", "a..b", "", ".a", "a.", "a b", "a.>.b"):
            with pytest.raises(MegaError) as err:
                await bus.emit(event, 1)
            assert err.value.code == "bus.invalid_subject"
        for pattern in ("a.>.b", "a..b", "", "a*", "a b"):
            with pytest.raises(MegaError) as err:
                await bus.on(pattern, Inbox())
            assert err.value.code == "bus.invalid_subject"
        with pytest.raises(MegaError) as err:
            await bus.request("a.*", 1)
        assert err.value.code == "bus.invalid_subject"

    # -- queue groups ------------------------------------------------------------------------

    async def test_a_queue_group_gets_each_message_once(self, bus: Bus) -> None:
        members = [Inbox(), Inbox(), Inbox()]
        for m in members:
            await bus.on("job", m, queue="workers")
        plain = Inbox()
        await bus.on("job", plain)
        n = 90
        for i in range(n):
            await bus.emit("job", i)
        await plain.wait(n)
        async with asyncio.timeout(WAIT):
            while sum(len(m.items) for m in members) < n:
                await asyncio.sleep(0.01)
        await quiet()
        got = sorted(x for m in members for x in m.items)
        assert got == list(range(n))  # each exactly once
        assert all(m.items for m in members)  # and spread over the members

    async def test_two_queue_groups_each_get_a_copy(self, bus: Bus) -> None:
        a, b = Inbox(), Inbox()
        await bus.on("job", a, queue="g1")
        await bus.on("job", b, queue="g2")
        for i in range(5):
            await bus.emit("job", i)
        assert await a.wait(5) == list(range(5))
        assert await b.wait(5) == list(range(5))

    async def test_queue_group_across_buses_of_one_prefix(self, bus: Bus, bus_factory: BusFactory) -> None:
        other = await bus_factory(bus.prefix)  # another process with the same app config
        a, b = Inbox(), Inbox()
        await bus.on("job", a, queue="workers")
        await other.on("job", b, queue="workers")
        for i in range(40):
            await bus.emit("job", i)
        async with asyncio.timeout(WAIT):
            while len(a.items) + len(b.items) < 40:
                await asyncio.sleep(0.01)
        await quiet()
        assert sorted(a.items + b.items) == list(range(40))

    # -- request / reply ---------------------------------------------------------------------

    async def test_request_returns_the_handler_return_value(self, bus: Bus) -> None:
        async def quote(payload: Any) -> Any:
            return {"sku": payload["sku"], "price": payload["sku"] * 2}

        await bus.on("price.quote", quote)
        assert await bus.request("price.quote", {"sku": 21}) == {"sku": 21, "price": 42}

    async def test_request_with_a_sync_responder_and_none(self, bus: Bus) -> None:
        await bus.on("echo", lambda payload: payload)
        await bus.on("nothing", lambda payload: None)
        assert await bus.request("echo", [1, 2]) == [1, 2]
        assert await bus.request("echo") is None
        assert await bus.request("nothing", 1) is None

    async def test_the_responder_sees_a_reply_subject(self, bus: Bus) -> None:
        replies: list[str | None] = []

        def handler(payload: Any, msg: Message) -> str:
            replies.append(msg.reply)
            return "ok"

        await bus.on("who", handler)
        assert await bus.request("who") == "ok"
        assert replies[0]

    async def test_request_through_a_queue_group_is_answered_once(self, bus: Bus) -> None:
        calls: list[str] = []

        def adder(name: str) -> Callable[[Any], int]:
            def add(payload: Any) -> int:
                calls.append(name)
                return int(payload["x"] + payload["y"])

            return add

        for name in ("a", "b", "c"):
            await bus.on("svc.add", adder(name), queue="svc")
        results = [await bus.request("svc.add", {"x": i, "y": 1}) for i in range(30)]
        assert results == [i + 1 for i in range(30)]
        assert len(calls) == 30 and len(set(calls)) > 1

    async def test_concurrent_requests_get_their_own_answers(self, bus: Bus) -> None:
        async def echo(payload: Any) -> Any:
            await asyncio.sleep(0.001 * (payload % 5))
            return payload

        await bus.on("echo", echo, concurrency=20)
        results = await asyncio.gather(*(bus.request("echo", i) for i in range(200)))
        assert list(results) == list(range(200))

    async def test_no_responders_fails_at_once(self, bus: Bus) -> None:
        started = time.perf_counter()
        with pytest.raises(MegaError) as err:
            await bus.request("nobody.home", 1, timeout=10)
        assert time.perf_counter() - started < 1.0
        assert err.value.code == "bus.no_responders"
        assert err.value.status == 503
        assert err.value.details == {"subject": bus.prefix + "nobody.home"}
        assert (await bus.stats())["no_responders"] == 1

    async def test_request_timeout(self, bus: Bus) -> None:
        release = asyncio.Event()

        async def stuck(payload: Any) -> None:
            await release.wait()

        await bus.on("stuck", stuck)
        started = time.perf_counter()
        with pytest.raises(MegaError) as err:
            await bus.request("stuck", 1, timeout=0.2)
        elapsed = time.perf_counter() - started
        release.set()
        assert 0.15 < elapsed < 2.0
        subject = bus.prefix + "stuck"
        assert err.value.code == "bus.request_timeout"
        assert err.value.status == 504
        assert err.value.message == f'request("{subject}") timed out after 0.2s'
        assert err.value.details == {"subject": subject, "timeout": 0.2}
        assert (await bus.stats())["timeouts"] == 1

    async def test_a_failing_responder_answers_with_handler_failed(self, bus: Bus,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
        async def broken(payload: Any) -> None:
            raise ValueError("internal detail 42")

        await bus.on("broken", broken)
        with caplog.at_level(logging.ERROR, logger="mega.bus"), pytest.raises(MegaError) as err:
            await bus.request("broken", 1, timeout=5)
        subject = bus.prefix + "broken"
        assert err.value.code == "bus.handler_failed"
        assert err.value.status == 502
        assert err.value.details == {"subject": subject, "error": "ValueError"}
        assert "internal detail 42" not in str(err.value)  # logged on the responder side, not sent
        logged = [r.getMessage() for r in caplog.records]
        assert any(subject in m and "internal detail 42" in m for m in logged)

    async def test_a_responder_megaerror_crosses_the_bus(self, bus: Bus) -> None:
        code = "order.not_found"  # an app's own code (kept out of the framework's code catalogue)

        async def lookup(payload: Any) -> None:
            raise MegaError(code, f"no order {payload}", details={"id": payload}, status=404,
                            hint="check the id")

        await bus.on("order.get", lookup)
        with pytest.raises(MegaError) as err:
            await bus.request("order.get", 7)
        assert (err.value.code, err.value.status, err.value.details) == ("order.not_found", 404, {"id": 7})
        assert err.value.message == "no order 7"
        assert err.value.hint == "check the id"

    async def test_a_responder_returning_a_non_json_value_fails_the_request(self, bus: Bus) -> None:
        await bus.on("weird", lambda payload: object())
        with pytest.raises(MegaError) as err:
            await bus.request("weird", 1, timeout=5)
        assert err.value.code == "bus.encode_failed"

    async def test_request_rejects_a_bad_timeout(self, bus: Bus) -> None:
        await bus.on("x", lambda p: p)
        for timeout in (0, -1, "1", True):
            with pytest.raises(MegaError) as err:
                await bus.request("x", 1, timeout=timeout)  # type: ignore[arg-type]
            assert err.value.code == "bus.invalid_timeout"

    # -- failures ----------------------------------------------------------------------------

    async def test_a_failing_handler_is_logged_and_others_still_run(self, bus: Bus,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
        def broken(payload: Any) -> None:
            raise RuntimeError("boom")

        inbox = Inbox()
        await bus.on("evt", broken)
        await bus.on("evt", inbox)
        with caplog.at_level(logging.ERROR, logger="mega.bus"):
            await bus.emit("evt", 1)
            await bus.emit("evt", 2)
            assert await inbox.wait(2) == [1, 2]
            async with asyncio.timeout(WAIT):
                while (await bus.stats())["handler_errors"] < 2:
                    await asyncio.sleep(0.01)
        failures = [r for r in caplog.records if "boom" in r.getMessage()]
        assert len(failures) == 2
        assert all(bus.prefix + "evt" in r.getMessage() for r in failures)

    async def test_a_failing_handler_keeps_its_subscription(self, bus: Bus) -> None:
        seen: list[Any] = []
        done = asyncio.Event()

        def flaky(payload: Any) -> None:
            seen.append(payload)
            if payload == 1:
                raise RuntimeError("first one fails")
            done.set()

        await bus.on("flaky", flaky)
        await bus.emit("flaky", 1)
        await bus.emit("flaky", 2)
        await asyncio.wait_for(done.wait(), WAIT)
        assert seen == [1, 2]

    async def test_an_undecodable_message_is_logged_and_dropped(self, bus: Bus,
                                                                caplog: pytest.LogCaptureFixture) -> None:
        inbox = Inbox()
        await bus.on("raw", inbox)
        with caplog.at_level(logging.ERROR, logger="mega.bus"):
            await bus.emit_raw("raw", b"{not json")
            await bus.emit("raw", "after")
            assert await inbox.wait() == ["after"]
        stats = await bus.stats()
        assert stats["decode_errors"] == 1
        assert any(bus.prefix + "raw" in r.getMessage() for r in caplog.records)

    async def test_an_empty_payload_decodes_to_none(self, bus: Bus) -> None:
        inbox = Inbox()
        await bus.on("empty", inbox)
        await bus.emit_raw("empty", b"")
        assert await inbox.wait() == [None]

    async def test_an_unencodable_payload_fails_the_sender(self, bus: Bus) -> None:
        with pytest.raises(MegaError) as err:
            await bus.emit("x", object())
        assert err.value.code == "bus.encode_failed"

    async def test_a_handler_with_a_wrong_signature_is_refused(self, bus: Bus) -> None:
        for handler in (lambda: None, lambda a, b, c: None, "not callable"):
            with pytest.raises(MegaError) as err:
                await bus.on("x", handler)  # type: ignore[arg-type]
            assert err.value.code == "bus.invalid_handler"

    # -- unsubscribe -------------------------------------------------------------------------

    async def test_unsubscribe_stops_delivery(self, bus: Bus) -> None:
        inbox, witness = Inbox(), Inbox()
        off = await bus.on("evt", inbox)
        await bus.on("evt", witness)
        await bus.emit("evt", 1)
        await inbox.wait()
        await off()
        await off()  # a second call does nothing
        await bus.emit("evt", 2)
        await witness.wait(2)
        await quiet()
        assert inbox.items == [1]
        assert (await bus.stats())["subscriptions"] == 1

    async def test_unsubscribe_from_inside_the_handler(self, bus: Bus) -> None:
        seen: list[Any] = []
        finished = asyncio.Event()

        async def once(payload: Any) -> None:
            seen.append(payload)
            await sub()
            await asyncio.sleep(0.02)  # still running after unsubscribing itself
            seen.append("finished")
            finished.set()

        sub = await bus.on("once", once)
        for i in range(3):
            await bus.emit("once", i)
        await asyncio.wait_for(finished.wait(), WAIT)
        await quiet()
        assert seen == [0, "finished"]

    async def test_unsubscribe_waits_for_the_handler_in_progress(self, bus: Bus) -> None:
        started, finished = asyncio.Event(), asyncio.Event()

        async def slow(payload: Any) -> None:
            started.set()
            await asyncio.sleep(0.1)
            finished.set()

        off = await bus.on("slow", slow)
        await bus.emit("slow", 1)
        await asyncio.wait_for(started.wait(), WAIT)
        await off()
        assert finished.is_set()

    # -- concurrency -------------------------------------------------------------------------

    async def test_one_handler_call_at_a_time_by_default(self, bus: Bus) -> None:
        running = peak = 0
        inbox = Inbox()

        async def handler(payload: Any, msg: Message) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.005)
            running -= 1
            await inbox(payload, msg)

        await bus.on("serial", handler)
        for i in range(10):
            await bus.emit("serial", i)
        assert await inbox.wait(10) == list(range(10))
        assert peak == 1

    async def test_concurrency_overlaps_handler_calls(self, bus: Bus) -> None:
        running = peak = 0
        inbox = Inbox()

        async def handler(payload: Any, msg: Message) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.05)
            running -= 1
            await inbox(payload, msg)

        await bus.on("parallel", handler, concurrency=4)
        for i in range(12):
            await bus.emit("parallel", i)
        assert sorted(await inbox.wait(12)) == list(range(12))
        assert peak == 4

    # -- prefixes, stats, close ----------------------------------------------------------------

    async def test_prefixes_isolate_buses(self, bus: Bus, bus_factory: BusFactory) -> None:
        other = await bus_factory(bus.prefix + "other.")
        mine, theirs = Inbox(), Inbox()
        await bus.on("order.created", mine)
        await other.on("order.created", theirs)
        await bus.emit("order.created", "from bus")
        await other.emit("order.created", "from other")
        assert await mine.wait() == ["from bus"]
        assert await theirs.wait() == ["from other"]
        await quiet()
        assert mine.items == ["from bus"] and theirs.items == ["from other"]
        with pytest.raises(MegaError) as err:
            await other.request("nobody", 1)
        assert err.value.details["subject"] == other.prefix + "nobody"

    async def test_a_wildcard_does_not_cross_the_prefix(self, bus: Bus, bus_factory: BusFactory) -> None:
        other = await bus_factory(bus.prefix + "inner.")
        outer = Inbox()
        await bus.on("*", outer)  # one token under bus.prefix: "inner.x" has two
        await other.emit("x", 1)
        await bus.emit("y", 2)
        assert await outer.wait() == [2]
        await quiet()
        assert outer.items == [2]

    async def test_stats(self, bus: Bus) -> None:
        inbox = Inbox()
        await bus.on("a", inbox)
        await bus.on("b", lambda p: p)
        await bus.emit("a", 1)
        await bus.request("b", 2)
        await inbox.wait()
        stats = await bus.stats()
        assert isinstance(stats["driver"], str) and stats["driver"]
        assert stats["prefix"] == bus.prefix
        assert stats["subscriptions"] == 2
        assert stats["published"] == 1
        assert stats["requests"] == 1
        assert stats["received"] == 2
        assert stats["errors"] == 0

    async def test_close_ends_every_subscription_and_refuses_more(self, bus: Bus,
                                                                  bus_factory: BusFactory) -> None:
        observer = await bus_factory(bus.prefix)
        inbox, witness = Inbox(), Inbox()
        await bus.on("evt", inbox)
        await observer.on("evt", witness)
        await bus.close()
        assert (await bus.stats())["subscriptions"] == 0
        await observer.emit("evt", 1)
        await witness.wait()
        await quiet()
        assert inbox.items == []
        with pytest.raises(MegaError) as err:
            await bus.emit("evt", 2)
        assert (err.value.code, err.value.status) == ("bus.unavailable", 503)
