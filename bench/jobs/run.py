"""Jobs benchmark, one run. Writes bench/results/jobs.json and prints the ratios against the targets:

    enqueue  sequential ctx.jobs.enqueue(Job, payload, msg_id=...) within 1.1x the time of raw nats-py
             js.publish with a Nats-Msg-Id header (same NATS, same run, ABBA rounds)
    e2e      enqueue -> done of N no-op jobs, one producer, one worker process, concurrency 32:
             mega >= 1.0x arq (Redis) and >= 1.0x taskiq-nats (pull JetStream); a raw nats-py pull
             loop is the ceiling

    .venv/bin/python bench/jobs/run.py            # 10,000 jobs, 5,000 enqueues x 2 rounds
    .venv/bin/python bench/jobs/run.py --quick    # smoke: 500 jobs, 300 enqueues, 1 round

Needs NATS with JetStream on 127.0.0.1:4222, Redis on 6379, and the bench extra (arq, taskiq-nats).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = REPO / "bench" / "results"
NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ENQUEUE_TARGET = 1.1
E2E_TARGET = 1.0

JOB = """
import os
from mega import Job

N = int(os.environ.get("BENCH_N", "0"))
done = 0

class Noop(Job):
    subject = os.environ["BENCH_SUBJECT"]
    concurrency = 32
    retries = 0

    async def run(self, payload, ctx):
        global done
        done += 1
        if done == N:
            print("DONE", flush=True)
"""


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def project(root: Path, prefix: str) -> Path:
    files = {
        "mega_config.py": f"""config = {{"logger": {{"level": "warning"}},
            "services": {{"buses": {{"q": {{"driver": "nats", "url": "{NATS_URL}"}}}}}},
            "jobs": {{"stream_prefix": "{prefix}"}}}}\n""",
        "apps/main/app_config.py": "config = {}\n",
        "apps/main/jobs/noop.py": JOB,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


async def delete_streams(*names: str) -> None:
    import nats

    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    for name in names:
        with contextlib.suppress(Exception):
            await js.delete_stream(name)
    await nc.close()


# -- sequential enqueue ---------------------------------------------------------------------------------


async def bench_enqueue(n: int, rounds: int) -> dict[str, Any]:
    import nats

    from mega.testing import running

    tag = uuid.uuid4().hex[:8]
    subject, prefix = f"bench.enq.{tag}", f"BENCH_{tag}"
    os.environ["BENCH_SUBJECT"] = subject
    root = project(Path(tempfile.mkdtemp(prefix="mega-bench-jobs-")), prefix)
    stream = f"{prefix}_{subject.replace('.', '_')}"
    times: dict[str, list[float]] = {"mega": [], "raw": []}
    async with running(root, env="production", environ={**os.environ, "SESSION_SECRET": "x" * 40}) as rt:
        app = rt.apps["main"]
        job = app.jobs.jobs[subject]
        await app.jobs.enqueue(job, {"i": -1})  # streams created, connection warm
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        payload = b'{"i":0}'

        async def mega_run(r: int) -> float:
            started = time.perf_counter()
            for i in range(n):
                await app.jobs.enqueue(job, {"i": i}, msg_id=f"m{r}-{i}")
            return time.perf_counter() - started

        async def raw_run(r: int) -> float:
            started = time.perf_counter()
            for i in range(n):
                await js.publish(subject, payload, headers={"Nats-Msg-Id": f"r{r}-{i}"})
            return time.perf_counter() - started

        for r in range(rounds):
            order = [("mega", mega_run), ("raw", raw_run)]
            for name, fn in order if r % 2 == 0 else order[::-1]:
                times[name].append(await fn(r))
        await nc.close()
    await delete_streams(stream, stream + "_DLQ")
    mega_s, raw_s = min(times["mega"]), min(times["raw"])
    ratio = mega_s / raw_s
    return {
        "n": n,
        "rounds": rounds,
        "mega_per_s": round(n / mega_s),
        "raw_per_s": round(n / raw_s),
        "mega_time_over_raw": round(ratio, 3),
        "target": f"<= {ENQUEUE_TARGET}",
        "met": ratio <= ENQUEUE_TARGET,
    }


# -- enqueue -> done -----------------------------------------------------------------------------------


def _wait_line(proc: subprocess.Popen[str], word: str, timeout: float) -> bool:
    end = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            return False
        if line.strip() == word:
            return True
    return False


async def _e2e(system: str, n: int) -> float:
    tag = uuid.uuid4().hex[:8]
    subject, stream, queue = f"bench.e2e.{tag}", f"BENCH_{tag}", f"bench:arq:{tag}"
    env = {
        **os.environ,
        "BENCH_N": str(n),
        "BENCH_SUBJECT": subject,
        "BENCH_STREAM": stream,
        "BENCH_QUEUE": queue,
        "MEGA_ENV": "production",
        "SESSION_SECRET": "x" * 40,
    }
    root = project(Path(tempfile.mkdtemp(prefix="mega-bench-jobs-")), stream)
    if system == "mega":
        port = 20000 + int(tag[:4], 16) % 20000
        cmd = [sys.executable, "-m", "mega", "--root", str(root), "worker", "--http-port", str(port)]
    else:
        cmd = [sys.executable, str(HERE / "peers.py"), system]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, cwd=str(REPO))
    try:
        if system == "mega":
            await _ready(port)
        elif not _wait_line(proc, "READY", 60):
            raise RuntimeError(f"{system} worker did not start")
        produce = await _producer(system, root, env)
        started = time.perf_counter()
        waiter = asyncio.get_running_loop().run_in_executor(None, _wait_line, proc, "DONE", 600)
        await produce(n)
        if not await waiter:
            raise RuntimeError(f"{system} worker did not finish")
        return time.perf_counter() - started
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        await delete_streams(
            stream, f"{stream}_{subject.replace('.', '_')}", f"{stream}_{subject.replace('.', '_')}_DLQ"
        )


async def _ready(port: int) -> None:
    def status() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as r:
                return int(r.status)
        except Exception:
            return 0

    for _ in range(300):
        if await asyncio.to_thread(status) == 200:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("mega worker did not become ready")


async def _producer(system: str, root: Path, env: dict[str, str]) -> Any:
    """An async `produce(n)` that enqueues n jobs one after another with the system's own client."""
    if system == "mega":
        return await _mega_producer(root, env)
    if system == "arq":
        return await _arq_producer(env)
    if system == "taskiq":
        return await _taskiq_producer(env)
    return await _raw_producer(env)


async def _mega_producer(root: Path, env: dict[str, str]) -> Any:
    from mega.boot.stages import boot

    os.environ.update({k: env[k] for k in ("BENCH_SUBJECT",)})
    rt = await boot(root, environ=env)
    app = rt.apps["main"]
    job = app.jobs.jobs[env["BENCH_SUBJECT"]]

    async def produce(n: int) -> None:
        try:
            for i in range(n):
                await app.jobs.enqueue(job, {"i": i})
        finally:
            await rt.close()

    return produce


async def _arq_producer(env: dict[str, str]) -> Any:
    from arq import create_pool
    from arq.connections import RedisSettings

    pool = await create_pool(RedisSettings.from_dsn(REDIS_URL))

    async def produce(n: int) -> None:
        for _ in range(n):
            await pool.enqueue_job("noop", _queue_name=env["BENCH_QUEUE"])
        await pool.aclose()

    return produce


async def _taskiq_producer(env: dict[str, str]) -> Any:
    sys.path.insert(0, str(HERE))
    os.environ.update({k: env[k] for k in ("BENCH_SUBJECT", "BENCH_STREAM")})
    import peers

    broker: Any = peers.taskiq_broker()

    @broker.task(task_name="noop")
    async def noop() -> None:
        return None

    await broker.startup()

    async def produce(n: int) -> None:
        for _ in range(n):
            await noop.kiq()
        await broker.shutdown()

    return produce


async def _raw_producer(env: dict[str, str]) -> Any:
    import nats

    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()

    async def produce(n: int) -> None:
        for i in range(n):
            await js.publish(env["BENCH_SUBJECT"], b'{"i":%d}' % i)
        await nc.close()

    return produce


async def bench_e2e(n: int) -> dict[str, Any]:
    out: dict[str, Any] = {"n": n, "concurrency": 32}
    for system in ("mega", "arq", "taskiq", "raw"):
        log(f"== enqueue -> done: {system}, {n} jobs")
        try:
            seconds = await _e2e(system, n)
            out[system] = {"seconds": round(seconds, 3), "jobs_per_s": round(n / seconds)}
        except Exception as exc:  # a missing peer is reported, the others still run
            out[system] = {"error": f"{type(exc).__name__}: {exc}"}
    mega = out["mega"].get("jobs_per_s")
    for peer, target in (("arq", E2E_TARGET), ("taskiq", E2E_TARGET), ("raw", None)):
        rate = out[peer].get("jobs_per_s")
        if mega and rate:
            out[f"mega_over_{peer}"] = round(mega / rate, 3)
            if target is not None:
                out[f"mega_over_{peer}_met"] = mega / rate >= target
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke: few jobs, one round")
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    enq_n, rounds, e2e_n = (300, 1, 500) if args.quick else (5_000, 2, 10_000)
    e2e_n = args.jobs or e2e_n
    log("== sequential enqueue with msg_id: mega vs raw nats-py js.publish")
    enqueue = asyncio.run(bench_enqueue(enq_n, rounds))
    e2e = asyncio.run(bench_e2e(e2e_n))
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
        "enqueue": enqueue,
        "e2e": e2e,
    }
    out = args.out or (RESULTS / ("jobs-quick.json" if args.quick else "jobs.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    log(
        f"enqueue: mega {enqueue['mega_per_s']}/s, raw {enqueue['raw_per_s']}/s, time ratio "
        f"{enqueue['mega_time_over_raw']} (target <= {ENQUEUE_TARGET})"
    )
    for peer in ("arq", "taskiq", "raw"):
        if f"mega_over_{peer}" in e2e:
            log(f"e2e: mega / {peer} = {e2e[f'mega_over_{peer}']}")
    log(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
