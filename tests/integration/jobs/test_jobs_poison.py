"""Poison at scale: failing jobs among good ones, and the DLQ stream deleted mid-run then recreated.

1,000 failing + 9,000 good with MEGA_FULL_JOB_TESTS=1; 200 + 1,800 by default (the same checks)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from jobs_support import NATS_URL, Case, stream_state, wait_until
from nats.js import api

from mega.jobs._consumer import Consumer
from mega.jobs._metrics import JobMetrics
from mega.testing import running

pytestmark = [pytest.mark.integration, pytest.mark.service("nats", "postgres")]

FULL = os.environ.get("MEGA_FULL_JOB_TESTS") == "1"
OUTAGE = 10.0


async def test_poison_jobs_land_in_the_dlq_exactly_once_even_across_a_dlq_outage(tmp_path: Path) -> None:
    poison, good = (1_000, 9_000) if FULL else (200, 1_800)
    case = Case(tmp_path, max_deliver=10)
    case.apply_env(JOBS_RETRIES="3", JOBS_CONCURRENCY="8")
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    try:
        async with running(case.root) as rt:
            app = rt.apps["main"]
            work = app.jobs.jobs[case.subject]
            events: dict[int, list[str]] = defaultdict(list)
            dlq_at: list[tuple[float, int]] = []
            poison_seqs: set[int] = set()
            done: set[str] = set()
            for name in ("dispatch", "start", "retry", "fail", "dlq"):
                app.jobs.on(
                    name,
                    lambda e, n=name: events[e["seq"]].append(f"fail:{e['phase']}" if n == "fail" else n),
                )
            app.jobs.on("dlq", lambda e: dlq_at.append((time.monotonic(), e["seq"])))
            app.jobs.on("done", lambda e: done.add(e["result"]))
            payloads = [{"id": f"p{i}", "fail": True} for i in range(poison)]
            payloads += [{"id": f"g{i}", "nodb": True} for i in range(good)]
            random.Random(7).shuffle(payloads)
            for p in payloads:
                result = await app.jobs.enqueue(work, p, msg_id=str(p["id"]))
                if p.get("fail"):
                    poison_seqs.add(result.seq)
            consumer = Consumer(work, app.jobs, app, JobMetrics())
            task = asyncio.get_running_loop().create_task(consumer.run())

            async def some_dead_lettered() -> bool:
                return len(dlq_at) >= poison // 4

            assert await wait_until(some_dead_lettered, 60)
            config = (await js.stream_info(case.dlq)).config
            await js.delete_stream(case.dlq)
            deleted = time.monotonic()
            await asyncio.sleep(OUTAGE)
            recreated = time.monotonic()
            await js.add_stream(
                api.StreamConfig(
                    name=case.dlq, subjects=config.subjects, retention=config.retention, duplicate_window=120
                )
            )

            async def drained() -> bool:
                state = await stream_state(NATS_URL, case.stream)
                return state["messages"] == 0 and state["num_ack_pending"] == 0

            finished = await wait_until(drained, 120)
            consumer.stopping = True
            await consumer.stop(2)
            task.cancel()
            acked_in_outage = [t for t, _ in dlq_at if deleted < t < recreated]
            before = {seq for t, seq in dlq_at if t <= deleted}
            entries = await _all(js, case.dlq)
            by_seq = Counter(e["original_seq"] for e in entries)
            phases = Counter(x for seq_events in events.values() for x in seq_events if x.startswith("fail:"))
            clean = [ev for ev in events.values() if "fail:run" in ev and "fail:dlq-publish" not in ev]
            print(
                f"\n[poison] poison={poison} good={good} done={len(done)} dlq_before_outage={len(before)} "
                f"dlq_after={len(entries)} acked_in_outage={len(acked_in_outage)} phases={dict(phases)}"
            )
            assert finished
            assert len(done) == good
            assert acked_in_outage == []
            # The entries from before the outage went with the deleted stream; every poison job that was
            # dead-lettered after it is there exactly once, and every poison job reached the DLQ once.
            assert all(n == 1 for n in by_seq.values())
            assert set(by_seq) | before == poison_seqs and not set(by_seq) & before
            assert phases["fail:dlq-publish"] >= 1
            assert clean and all(
                ev == ["dispatch", "start", "retry", "retry", "retry", "fail:run", "dlq"] for ev in clean
            )
    finally:
        for name in (case.stream, case.dlq):
            with contextlib.suppress(Exception):
                await js.delete_stream(name)
        await nc.close()
        await case.cleanup()


async def _all(js: Any, stream: str) -> list[dict[str, Any]]:
    info = await js.stream_info(stream)
    out = []
    if info.state.messages:
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            out.append(orjson.loads(msg.data))
    return out
