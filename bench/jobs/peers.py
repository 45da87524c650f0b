"""The worker side of bench/jobs: one process per system, each printing READY once it consumes and DONE
after N no-op jobs (N from BENCH_N). Run by run.py as `python peers.py raw|arq|taskiq`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

N = int(os.environ.get("BENCH_N", "1000"))
CONCURRENCY = 32
NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
done = 0


def count() -> None:
    global done
    done += 1
    if done == N:
        print("DONE", flush=True)


async def raw() -> None:
    """The ceiling: a bare nats-py pull loop, acks as it goes, 32 in flight."""
    import nats
    from nats.js import api

    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    stream, subject = os.environ["BENCH_STREAM"], os.environ["BENCH_SUBJECT"]
    await js.add_stream(name=stream, subjects=[subject], retention=api.RetentionPolicy.WORK_QUEUE)
    sub = await js.pull_subscribe(
        subject,
        durable="raw",
        stream=stream,
        config=api.ConsumerConfig(max_ack_pending=CONCURRENCY, ack_wait=30),
    )
    print("READY", flush=True)

    async def handle(msg: object) -> None:
        await msg.ack()  # type: ignore[attr-defined]
        count()

    while done < N:
        try:  # one long poll, then what is ready (a batch long poll holds the first until it is full)
            msgs = await sub.fetch(1, timeout=1)
        except nats.errors.TimeoutError:
            continue
        with contextlib.suppress(nats.errors.TimeoutError):
            msgs += await sub.fetch(CONCURRENCY - 1, timeout=0.05)
        await asyncio.gather(*(handle(m) for m in msgs))
    await nc.close()


async def noop(ctx: dict[str, object]) -> None:
    """arq's job (arq names a job by its function's qualified name: module level)."""
    count()


async def arq() -> None:
    from arq.connections import RedisSettings
    from arq.worker import Worker

    worker = Worker(
        functions=[noop],
        queue_name=os.environ["BENCH_QUEUE"],
        max_jobs=CONCURRENCY,
        redis_settings=RedisSettings.from_dsn(REDIS_URL),
        handle_signals=False,
    )
    print("READY", flush=True)
    task = asyncio.get_running_loop().create_task(worker.async_run())
    while done < N:
        await asyncio.sleep(0.01)
    await worker.close()
    task.cancel()


def taskiq_broker() -> object:
    from taskiq_nats import PullBasedJetStreamBroker

    return PullBasedJetStreamBroker(
        servers=NATS_URL,
        subject=os.environ["BENCH_SUBJECT"],
        stream_name=os.environ["BENCH_STREAM"],
        durable="taskiq",
        pull_consume_batch=CONCURRENCY,
        pull_consume_timeout=1.0,
    )


async def taskiq() -> None:
    from taskiq.api import run_receiver_task

    broker = taskiq_broker()

    @broker.task(task_name="noop")  # type: ignore[attr-defined]
    async def noop() -> None:
        count()

    await broker.startup()  # type: ignore[attr-defined]
    print("READY", flush=True)
    task = asyncio.get_running_loop().create_task(
        run_receiver_task(broker, max_async_tasks=CONCURRENCY, run_startup=False)
    )  # type: ignore[arg-type]
    while done < N:
        await asyncio.sleep(0.01)
    task.cancel()
    await broker.shutdown()  # type: ignore[attr-defined]


if __name__ == "__main__":
    asyncio.run({"raw": raw, "arq": arq, "taskiq": taskiq}[sys.argv[1]]())
