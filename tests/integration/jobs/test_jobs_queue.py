"""Enqueue and run jobs in process over the machine's NATS: msg_id duplicates, events in order, the
DLQ envelope, run timeouts, and the errors a caller gets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from jobs_support import NATS_URL, Case, close_pool, stream_state, wait_until

from mega.errors import MegaError
from mega.jobs._consumer import Consumer
from mega.jobs._metrics import JobMetrics
from mega.testing import running

pytestmark = [pytest.mark.integration, pytest.mark.service("nats", "postgres")]


async def _dlq_entries(case: Case) -> list[dict[str, Any]]:
    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        info = await js.stream_info(case.dlq)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            if info.state.messages == 0:
                break
            msg = await js.get_msg(case.dlq, seq)
            out.append(orjson.loads(msg.data or b"null"))
        return out
    finally:
        await nc.close()


async def test_enqueue_with_a_msg_id_stores_it_once_within_the_window(tmp_path: Path) -> None:
    case = Case(tmp_path)
    case.apply_env()
    try:
        async with running(case.root) as rt:
            app = rt.apps["main"]
            work = app.jobs.jobs[case.subject]
            dispatched: list[dict[str, Any]] = []
            app.jobs.on("dispatch", dispatched.append)
            first = await app.jobs.enqueue(work, {"id": "a"}, msg_id="a")
            again = await app.jobs.enqueue(work, {"id": "a"}, msg_id="a")
            other = await app.jobs.enqueue(work, {"id": "b"})
            assert (first.duplicate, again.duplicate, other.duplicate) == (False, True, False)
            assert first.stream == case.stream and again.seq == first.seq and other.seq == first.seq + 1
            assert [d["seq"] for d in dispatched] == [first.seq, first.seq, other.seq]
            assert (await stream_state(NATS_URL, case.stream))["messages"] == 2
            with pytest.raises(MegaError) as bad_id:
                await app.jobs.enqueue(work, {"id": "c"}, msg_id="")
            assert bad_id.value.code == "job.invalid_msg_id"
            with pytest.raises(MegaError) as bad_payload:
                await app.jobs.enqueue(work, {"id": object()})
            assert bad_payload.value.code == "job.payload_not_serializable"
            with pytest.raises(MegaError) as unknown:
                app.jobs.on("finished", print)
            assert unknown.value.code == "job.unknown_event"
    finally:
        await case.cleanup()


async def test_a_failed_publish_raises_enqueue_failed_never_a_silent_success(tmp_path: Path) -> None:
    case = Case(tmp_path)
    case.apply_env()
    try:
        async with running(case.root) as rt:
            app = rt.apps["main"]
            work = app.jobs.jobs[case.subject]
            await app.jobs.enqueue(work, {"id": "a"})
            await app.jobs.connection(work).disconnect()
            with pytest.raises(MegaError) as failed:
                await app.jobs.enqueue(work, {"id": "b"})
            assert failed.value.code == "job.enqueue_failed" and failed.value.status == 503
    finally:
        await case.cleanup()


async def _consume(rt: Any, case: Case) -> tuple[Consumer, asyncio.Task[None]]:
    app = rt.apps["main"]
    consumer = Consumer(app.jobs.jobs[case.subject], app.jobs, app, JobMetrics())
    return consumer, asyncio.get_running_loop().create_task(consumer.run())


async def test_good_and_poison_jobs_fire_their_events_and_poison_lands_in_the_dlq_once(
    tmp_path: Path,
) -> None:
    case = Case(tmp_path)
    case.apply_env(JOBS_RETRIES="3")
    await case.create_table()
    try:
        async with running(case.root) as rt:
            app = rt.apps["main"]
            work = app.jobs.jobs[case.subject]
            events: dict[int, list[str]] = {}
            for name in ("dispatch", "start", "done", "retry", "fail", "dlq"):
                app.jobs.on(
                    name,
                    lambda e, n=name: events.setdefault(e["seq"], []).append(
                        n if n != "fail" else f"fail:{e['phase']}"
                    ),
                )
            good = [await app.jobs.enqueue(work, {"id": f"g{i}"}) for i in range(20)]
            bad = [await app.jobs.enqueue(work, {"id": f"p{i}", "fail": True}) for i in range(5)]
            nc = app.jobs.connection(work).native
            await nc.publish(case.subject, b"{not json")  # a poison message from another client
            consumer, task = await _consume(rt, case)
            assert await wait_until(lambda: _drained(case), 30)
            consumer.stopping = True
            await consumer.stop(5)
            task.cancel()
            await close_pool()
            for r in good:
                assert events[r.seq] == ["dispatch", "start", "done"]
            for r in bad:
                assert events[r.seq] == ["dispatch", "start", "retry", "retry", "retry", "fail:run", "dlq"]
            entries = await _dlq_entries(case)
            assert len(entries) == 6
            decoded = [e for e in entries if e["error"]["code"] == "job.decode_failed"]
            assert len(decoded) == 1 and decoded[0]["payload"] == "{not json"
            run_failed = sorted(e["payload"]["id"] for e in entries if e["error"]["name"] == "RuntimeError")
            assert run_failed == sorted(f"p{i}" for i in range(5))
            one = next(e for e in entries if e["error"]["name"] == "RuntimeError")
            assert set(one) == {
                "original_subject",
                "original_seq",
                "failed_at",
                "delivery_count",
                "error",
                "payload",
            }
            assert one["original_subject"] == case.subject and one["delivery_count"] == 1
            assert "poison" in one["error"]["stack"] and len(one["error"]["stack"]) <= 4000
            assert len(await case.rows()) == 20
    finally:
        await case.cleanup()


async def _drained(case: Case) -> bool:
    state = await stream_state(NATS_URL, case.stream)
    return state["messages"] == 0 and state["num_ack_pending"] == 0


async def test_a_run_past_its_timeout_is_cancelled_and_dead_lettered_as_run_timeout(tmp_path: Path) -> None:
    case = Case(tmp_path)
    case.apply_env(JOBS_TIMEOUT="0.5", JOBS_RETRIES="0")
    await case.create_table()
    try:
        async with running(case.root) as rt:
            app = rt.apps["main"]
            work = app.jobs.jobs[case.subject]
            fails: list[str] = []
            app.jobs.on("fail", lambda e: fails.append(e["phase"]))
            await app.jobs.enqueue(work, {"id": "slow", "sleep": 5})
            consumer, task = await _consume(rt, case)
            assert await wait_until(lambda: _drained(case), 15)
            await asyncio.sleep(0.3)
            consumer.stopping = True
            await consumer.stop(1)
            task.cancel()
            await close_pool()
            entries = await _dlq_entries(case)
            assert [e["error"]["code"] for e in entries] == ["job.run_timeout"]
            assert fails == ["run"] and await case.rows() == {}  # cancelled: it never wrote its row
    finally:
        await case.cleanup()


async def test_a_run_three_times_ack_wait_long_is_not_redelivered(tmp_path: Path) -> None:
    case = Case(tmp_path, ack_wait=2.0)
    case.apply_env(JOBS_RETRIES="0")
    await case.create_table()
    try:
        async with running(case.root) as rt:
            app = rt.apps["main"]
            starts: list[int] = []
            app.jobs.on("start", lambda e: starts.append(e["delivery"]))
            await app.jobs.enqueue(app.jobs.jobs[case.subject], {"id": "long", "sleep": 6})
            consumer, task = await _consume(rt, case)
            assert await wait_until(lambda: _drained(case), 20)
            consumer.stopping = True
            await consumer.stop(1)
            task.cancel()
            rows = await case.rows()
            print(f"\n[long run] starts={starts} rows={rows}")
            assert starts == [1] and rows["long"][0] == 1
    finally:
        await case.cleanup()


async def test_a_timed_out_run_that_fails_later_reports_abandoned_run_once(tmp_path: Path) -> None:
    case = Case(tmp_path)
    case.apply_env(JOBS_TIMEOUT="0.3", JOBS_RETRIES="0")
    try:
        async with running(case.root) as rt:
            app = rt.apps["main"]
            phases: list[str] = []
            app.jobs.on("fail", lambda e: phases.append(e["phase"]))
            await app.jobs.enqueue(app.jobs.jobs[case.subject], {"id": "s", "stubborn": 5})
            consumer, task = await _consume(rt, case)
            assert await wait_until(lambda: _drained(case), 10)
            await asyncio.sleep(1.0)
            consumer.stopping = True
            await consumer.stop(1)
            task.cancel()
            assert phases == ["run", "abandoned-run"]
            assert [e["error"]["code"] for e in await _dlq_entries(case)] == ["job.run_timeout"]
    finally:
        await case.cleanup()
