"""ASP's per-request cost in-process: mega's own server protocol fed raw requests over a fake transport.

    .venv/bin/python bench/http/asp_micro.py                      # 15 rounds x 2,000 requests per endpoint
    .venv/bin/python bench/http/asp_micro.py --profile asp        # cProfile of the ASP endpoint instead

No socket and no client: each request is handed to the protocol (`data_received`) and awaited until its
answer is written, so the figure is what the server process spends per request (parse, dispatch,
route, ASP, handler, JSON, write). The same project and routes as bench/http/asp_echo.py; the two
endpoints alternate per round and the medians are compared. A design aid, not the benchmark of record
(bench/http/asp_echo.py under wrk is).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from asp_echo import APP_CONFIG, BODY, ROUTES, SECRET, raw_request
from harness.project import BASE_PROJECT

from mega.asp import Client
from mega.testing import boot_for_test

PORT = 8766


class _Transport(asyncio.Transport):
    """Collects what the protocol writes; wakes the waiter on each write."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", PORT), "peername": ("127.0.0.1", 40000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def _run(args: argparse.Namespace) -> None:  # noqa: C901 - one measuring script
    import uvicorn

    from mega.server._serve import uvicorn_config

    work = Path(tempfile.mkdtemp(prefix="mega-asp-micro-"))
    project = work / "project"
    shutil.copytree(BASE_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__", "var"))
    (project / "apps/bench/routes/echo.py").write_text(ROUTES)
    (project / "apps/bench/app_config.py").write_text(APP_CONFIG)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MEGA_")}
    environ.update(ASP_MASTER_SECRET=SECRET, SESSION_SECRET="bench-session-secret-" + "x" * 32)
    rt = await boot_for_test(project, environ=environ, env="production")
    try:
        config = uvicorn_config(rt, rt.server_config)
        config.load()
        state = uvicorn.server.ServerState()
        proto = config.http_protocol_class(config=config, server_state=state, app_state={})  # type: ignore[call-arg]
        transport = _Transport()
        proto.connection_made(transport)
        loop = asyncio.get_running_loop()
        asp = Client(SECRET)
        plain_req = raw_request(PORT, "/echo", {}, BODY)

        def asp_requests(n: int) -> list[bytes]:
            out = []
            for _ in range(n):
                sealed = asp.seal("POST", "/asp/echo", BODY)
                out.append(raw_request(PORT, "/asp/echo", sealed.headers, sealed.body))
            return out

        async def one(data: bytes) -> bytes:
            transport.waiter = loop.create_future()
            proto.data_received(data)
            await transport.waiter
            return transport.written.pop()

        first = await one(plain_req)
        assert first.startswith(b"HTTP/1.1 200"), first[:200]
        answer = await one(asp_requests(1)[0])
        assert answer.startswith(b"HTTP/1.1 200") and b"x-mega-asp-tag" in answer, answer[:300]

        def plain_headed(n: int) -> list[bytes]:  # the plain route, with ASP's request headers (ignored)
            out = []
            for _ in range(n):
                sealed = asp.seal("POST", "/asp/echo", BODY)
                out.append(raw_request(PORT, "/echo", sealed.headers, BODY))
            return out

        async def timed(name: str, n: int) -> float:
            reqs = [plain_req] * n if name == "plain" else \
                asp_requests(n) if name == "asp" else plain_headed(n)
            gc.collect()
            start = time.thread_time()
            for data in reqs:
                await one(data)
            return (time.thread_time() - start) / n * 1e6

        if args.only:  # one endpoint, no warm-up round: for `perf stat` (subtract a run with -n 0)
            await timed(args.only, args.n)
            return
        if args.profile:
            await timed(args.profile, 2000)
            prof = cProfile.Profile()
            prof.enable()
            await timed(args.profile, args.n)
            prof.disable()
            stats = pstats.Stats(prof).sort_stats(os.environ.get("SORT", "tottime"))  # SORT=ncalls, ...
            stats.print_stats(int(os.environ.get("TOP", "35")))
            return
        names = ("plain", "asp", "headed") if args.headed else ("plain", "asp")
        for name in names:
            await timed(name, 2000)  # warm-up
        per: dict[str, list[float]] = {name: [] for name in names}
        for round_no in range(args.rounds):
            order = names if round_no % 2 == 0 else names[::-1]
            for name in order:
                per[name].append(await timed(name, args.n))
        for label, pick in (("median", statistics.median), ("min", min)):
            plain, aspm = pick(per["plain"]), pick(per["asp"])
            headed = f", plain route with ASP's headers {pick(per['headed']):.1f}" if args.headed else ""
            print(f"{label:6} plain {plain:.1f} us/request, asp {aspm:.1f}{headed}; "
                  f"asp - plain {aspm - plain:.1f} us, asp / plain rate = {plain / aspm:.3f} "
                  f"(server side only; {args.rounds} x {args.n})")
    finally:
        await rt.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("-n", type=int, default=2000, help="requests per round and endpoint")
    parser.add_argument("--headed", action="store_true", help="also: the plain route sent ASP's headers")
    parser.add_argument("--only", choices=("plain", "asp", "headed"), default=None)
    parser.add_argument("--profile", choices=("plain", "asp"), default=None)
    args = parser.parse_args()
    import uvloop

    uvloop.run(_run(args))


if __name__ == "__main__":
    main()
