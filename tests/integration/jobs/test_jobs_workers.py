"""`mega worker` processes against real NATS and PostgreSQL: a kill -9 storm, SIGTERM with jobs in
flight, a worker paused past its lease, and a test-owned nats-server killed under the msg_id store.

Sizes: the crash storm runs 2,000 jobs and 6 kills by default (about a minute on a busy 2-core
machine); MEGA_FULL_JOB_TESTS=1 runs the full 10,000 jobs and 20 kills. The invariants are checked
exactly either way, and every test prints lost, unexpected, duplicated and recovered counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import nats
import pytest
from jobs_support import NATS_URL, Case, report, stream_state, wait_until

from mega.testing import running

pytestmark = [pytest.mark.integration, pytest.mark.service("nats", "postgres")]

FULL = os.environ.get("MEGA_FULL_JOB_TESTS") == "1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _enqueue(case: Case, payloads: list[dict[str, object]], *, msg_ids: bool = True) -> None:
    case.apply_env()
    async with running(case.root) as rt:
        app = rt.apps["main"]
        work = app.jobs.jobs[case.subject]
        for p in payloads:
            await app.jobs.enqueue(work, p, msg_id=str(p["id"]) if msg_ids else None)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)


async def _ready(port: int) -> bool:
    def get() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as r:
                return int(r.status)
        except Exception:
            return 0

    return await asyncio.to_thread(get) == 200


async def test_a_kill_9_storm_loses_nothing_and_duplicates_only_what_was_in_flight(tmp_path: Path) -> None:
    jobs, kills, workers, concurrency = (10_000, 20, 4, 8) if FULL else (2_000, 6, 4, 8)
    case = Case(tmp_path, ack_wait=2.0, max_deliver=50)
    await case.create_table()
    procs: list[subprocess.Popen[bytes]] = []
    samples: list[int] = []
    try:
        await _enqueue(case, [{"id": f"j{i}", "sleep": 0.002} for i in range(jobs)])
        env = {"JOBS_CONCURRENCY": str(concurrency)}
        procs = [case.worker(**env) for _ in range(workers)]
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        sampling = True

        async def sample() -> None:
            while sampling:
                with contextlib.suppress(Exception):
                    samples.append((await js.consumer_info(case.stream, "worker")).num_ack_pending)
                await asyncio.sleep(0.1)

        sampler = asyncio.get_running_loop().create_task(sample())
        await asyncio.sleep(3)  # the workers boot
        for _ in range(kills):
            await asyncio.sleep(1)
            i = random.randrange(workers)
            procs[i].send_signal(signal.SIGKILL)
            procs[i].wait(10)
            procs[i] = case.worker(**env)
        last_kill = time.monotonic()

        async def drained() -> bool:
            state = await stream_state(NATS_URL, case.stream)
            return state["messages"] == 0 and state["num_ack_pending"] == 0

        done = await wait_until(drained, 2.0 + 30)  # ack_wait + 30 s
        took = time.monotonic() - last_kill
        sampling = False
        await sampler
        await nc.close()
        rows = await case.rows()
        runs = await case.runs()
        per_job = Counter(m for m, _ in runs)
        duplicated = [m for m, n in per_job.items() if n > 1]
        counts = report("crash storm", {f"j{i}" for i in range(jobs)}, rows, len(duplicated))
        print(
            f"[crash storm] jobs={jobs} kills={kills} drained_after_last_kill={took:.1f}s "
            f"max_ack_pending_sample={max(samples, default=0)} samples={len(samples)}"
        )
        assert done, f"not drained {took:.0f}s after the last kill"
        assert counts["lost"] == 0 and counts["unexpected"] == 0 and len(rows) == jobs
        assert len(duplicated) <= kills * concurrency
        later = {m: sorted(d for mm, d in runs if mm == m) for m in duplicated}
        assert all(ds[-1] >= 2 for ds in later.values())  # every repeat run came from a redelivery
        assert max(samples, default=0) <= concurrency
        state = await stream_state(NATS_URL, case.dlq)
        assert state["messages"] == 0
    finally:
        _stop(procs)
        await case.cleanup()


async def test_sigterm_lets_in_flight_jobs_finish_and_exits_0(tmp_path: Path) -> None:
    case = Case(tmp_path, ack_wait=2.0)
    await case.create_table()
    port = _free_port()
    proc = case.worker("--http-port", str(port), JOBS_CONCURRENCY="8")
    try:
        assert await wait_until(lambda: _ready(port), 30)
        await _enqueue(case, [{"id": f"t{i}", "sleep": 3} for i in range(8)])

        async def eight_in_flight() -> bool:
            return (await stream_state(NATS_URL, case.stream))["num_ack_pending"] == 8

        assert await wait_until(eight_in_flight, 10)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 15)
        took = time.monotonic() - started
        rows, runs = await case.rows(), await case.runs()
        report("sigterm", {f"t{i}" for i in range(8)}, rows, len(runs) - len(set(m for m, _ in runs)))
        assert code == 0 and took < 10
        assert len(rows) == 8 and len(runs) == 8  # all finished, none twice
        state = await stream_state(NATS_URL, case.stream)
        assert state["messages"] == 0 and state["num_ack_pending"] == 0  # acked: nothing to redeliver
    finally:
        _stop([proc])
        await case.cleanup()


async def test_sigterm_past_the_shutdown_timeout_naks_the_rest_for_another_worker(tmp_path: Path) -> None:
    case = Case(tmp_path, ack_wait=10.0, shutdown=1)
    await case.create_table()
    port = _free_port()
    proc = case.worker("--http-port", str(port), JOBS_CONCURRENCY="4")
    try:
        assert await wait_until(lambda: _ready(port), 30)
        await _enqueue(case, [{"id": f"n{i}", "sleep": 30} for i in range(4)])
        assert await wait_until(lambda: _state_is(case, lambda s: s["num_ack_pending"] == 4), 10)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 15)
        assert code == 0
        # Nak'ed, not left to expire: a fetch gets all 4 at once (their lease, 10 s, is far off).
        nc = await nats.connect(NATS_URL)
        try:
            sub = await nc.jetstream().pull_subscribe_bind("worker", stream=case.stream)
            got = await sub.fetch(4, timeout=3)
            assert len(got) == 4 and all(m.metadata.num_delivered >= 2 for m in got)
        finally:
            await nc.close()
        assert await case.rows() == {}
    finally:
        _stop([proc])
        await case.cleanup()


async def _state_is(case: Case, check: object) -> bool:
    state = await stream_state(NATS_URL, case.stream)
    return bool(check(state))  # type: ignore[operator]


async def test_a_worker_paused_past_its_lease_never_acks_the_redelivery(tmp_path: Path) -> None:
    case = Case(tmp_path, ack_wait=2.0)
    await case.create_table()
    port_a = _free_port()
    first = case.worker("--http-port", str(port_a), JOBS_CONCURRENCY="1")
    second: subprocess.Popen[bytes] | None = None
    try:
        assert await wait_until(lambda: _ready(port_a), 30)
        await _enqueue(case, [{"id": "long", "sleep": 1.5}])
        assert await wait_until(lambda: _state_is(case, lambda s: s["num_ack_pending"] == 1), 10)
        first.send_signal(signal.SIGSTOP)
        second = case.worker(JOBS_CONCURRENCY="1")
        assert await wait_until(lambda: _state_is(case, lambda s: s["messages"] == 0), 30)
        first.send_signal(signal.SIGCONT)
        await asyncio.sleep(2.5)  # the paused run finishes now
        with urllib.request.urlopen(f"http://127.0.0.1:{port_a}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        runs = await case.runs()
        rows = await case.rows()
        report("sigstop", {"long"}, rows, len(runs) - 1)
        assert rows["long"][0] == 2  # the redelivery wrote the row
        assert 'outcome="lease_lost"} 1' in metrics and 'outcome="done"' not in metrics
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGCONT)
        _stop([first, *([second] if second else [])])
        await case.cleanup()


async def test_msg_ids_stay_unique_across_producers_and_a_nats_kill_9(tmp_path: Path) -> None:
    from nats_server import OwnJetStream

    server = OwnJetStream(tmp_path / "js")
    server.start()
    case = Case(tmp_path, nats_url=server.url)
    case.apply_env()
    ids = [f"m{i}" for i in range(5_000)]
    try:

        async def produce_all() -> Counter[bool]:
            async with running(case.root) as rt:
                app = rt.apps["main"]
                work = app.jobs.jobs[case.subject]
                await app.jobs.enqueue(work, {"id": "warm"}, msg_id="warm")

                async def producer(seed: int) -> list[bool]:
                    order = ids[:]
                    random.Random(seed).shuffle(order)
                    out = []
                    for m in order:
                        out.append((await app.jobs.enqueue(work, {"id": m}, msg_id=m)).duplicate)
                    return out

                results = await asyncio.gather(*(producer(s) for s in range(3)))
                return Counter(d for r in results for d in r)

        first = await produce_all()
        assert first[False] == len(ids) and first[True] == 2 * len(ids)
        server.kill9()
        server.start()
        again = await produce_all()
        state = await stream_state(server.url, case.stream)
        print(
            f"\n[idempotency] stored={state['messages'] - 1} duplicates_first={first[True]} "
            f"duplicates_after_restart={again[True]}"
        )
        assert state["messages"] == len(ids) + 1  # + the warm-up
        assert again[True] == 3 * len(ids)
    finally:
        await case.cleanup()
        server.stop()


async def test_worker_refuses_an_unknown_job_with_exit_2(tmp_path: Path) -> None:
    case = Case(tmp_path)
    proc = case.worker("--job", "no.such.job")
    try:
        code = await asyncio.to_thread(proc.wait, 60)
        case.log.flush()
        text = (tmp_path / "workers.log").read_text()
        assert code == 2 and "code: job.unknown_job" in text and case.subject in text
    finally:
        _stop([proc])
        await case.cleanup()


async def test_burst_runs_what_is_queued_then_exits_0_and_serves_metrics(tmp_path: Path) -> None:
    case = Case(tmp_path)
    await case.create_table()
    try:
        await _enqueue(case, [{"id": f"b{i}"} for i in range(20)])
        port = _free_port()
        proc = case.worker("--burst", "--http-port", str(port), "--job", case.subject, JOBS_CONCURRENCY="4")
        metrics = ""
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
                    metrics = r.read().decode()
                if 'outcome="done"} 20' in metrics:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.1)
        code = await asyncio.to_thread(proc.wait, 60)
        assert code == 0
        assert len(await case.rows()) == 20
        assert f'mega_jobs_total{{subject="{case.subject}",outcome="done"}} 20' in metrics
        assert "mega_job_run_seconds_count" in metrics and "mega_jobs_in_flight" in metrics
    finally:
        await case.cleanup()


async def test_readiness_is_503_while_draining(tmp_path: Path) -> None:
    case = Case(tmp_path, shutdown=5)
    await case.create_table()
    port = _free_port()
    proc = case.worker("--http-port", str(port), JOBS_CONCURRENCY="1")
    try:
        assert await wait_until(lambda: _ready(port), 30)
        await _enqueue(case, [{"id": "d", "sleep": 3}])
        assert await wait_until(lambda: _state_is(case, lambda s: s["num_ack_pending"] == 1), 10)
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)

        def status() -> int:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as r:
                    return int(r.status)
            except urllib.error.HTTPError as exc:
                return exc.code

        assert await asyncio.to_thread(status) == 503
        assert await asyncio.to_thread(proc.wait, 15) == 0
        assert "d" in await case.rows()
    finally:
        _stop([proc])
        await case.cleanup()


async def test_a_nats_outage_turns_readiness_503_and_the_worker_resumes_after(tmp_path: Path) -> None:
    from nats_server import OwnJetStream

    server = OwnJetStream(tmp_path / "js")
    server.start()
    case = Case(tmp_path, nats_url=server.url)
    await case.create_table()
    port = _free_port()
    proc = case.worker("--http-port", str(port), JOBS_CONCURRENCY="2")
    try:
        assert await wait_until(lambda: _ready(port), 30)
        await _enqueue(case, [{"id": "before"}])
        assert await wait_until(lambda: _has_row(case, "before"), 15)
        server.kill9()

        async def not_ready() -> bool:
            return not await _ready(port)

        assert await wait_until(not_ready, 15)
        server.start()
        assert await wait_until(lambda: _ready(port), 30)
        await _enqueue(case, [{"id": "after"}])
        assert await wait_until(lambda: _has_row(case, "after"), 30)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 20) == 0
    finally:
        _stop([proc])
        await case.cleanup()
        server.stop()


async def _has_row(case: Case, msg_id: str) -> bool:
    return msg_id in await case.rows()
