"""Page benchmark: one HTML page (a layout, a partial included 20 times, escaped values) served by
mega (`ctx.render`), by Starlette (`Jinja2Templates.TemplateResponse`) and by a bare Jinja2 render in a
raw ASGI app (the ceiling), measured side by side in the same run with bench/http's harness.

Same template files (bench/web/page_project/apps/bench/views) and data (page_data.json) for all three;
each server must answer the same bytes before it is measured. Method as bench/http: one server worker
pinned to core 0, `wrk -t1 -c64` on core 1, a quiet-machine gate before each measurement, rounds in
alternating order (ABBA), medians over rounds, ratios taken within a round.

    .venv/bin/python bench/web/page.py                 # 10 s per server, 2 rounds
    .venv/bin/python bench/web/page.py --quick         # smoke: 1 s, 1 round, no quiet wait

`run_page(...)` is what bench/web/run.py calls; it returns the results as a dict and takes no lock
(the caller holds the benchmark lock).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WEB = Path(__file__).resolve().parent
sys.path.insert(0, str(WEB.parent / "http"))  # bench/http's harness, reused as is

from harness.common import BIN, HOST, RESULTS, SERVER_CPU, BenchError, log  # noqa: E402
from harness.machine import snapshot_mega, take_lock  # noqa: E402
from harness.quiet import interference, wait_quiet  # noqa: E402
from harness.server import http_get, wait_port_free  # noqa: E402
from harness.wrk import measure, parse_wrk, run_wrk  # noqa: E402

PATH = "/page"
PROJECT = WEB / "page_project"
PEERS = WEB / "peers"


@dataclass(frozen=True)
class Target:
    name: str
    note: str
    peer: str = ""  # module in bench/web/peers; empty: the mega project


TARGETS = (
    Target("raw_jinja", "bare Jinja2 render (compiled once) in a raw ASGI app on uvicorn (ceiling)",
           "page_raw"),
    Target("mega", "mega: ctx.render with the app's views (mega start, production)"),
    Target("starlette", "Starlette: Jinja2Templates.TemplateResponse on uvicorn", "page_starlette"),
)


def command(target: Target, port: int) -> tuple[list[str], Path, dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGA_")}
    pin = ["taskset", "-c", SERVER_CPU]
    if not target.peer:
        env["MEGA_ENV"] = "production"
        env.setdefault("SESSION_SECRET", "bench-session-secret-" + "x" * 32)
        return [*pin, str(BIN / "mega"), "start", "--port", str(port)], PROJECT, env
    return [*pin, str(BIN / "uvicorn"), f"{target.peer}:app", "--host", HOST, "--port", str(port),
            "--app-dir", str(PEERS), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning"], PEERS, env


class PageServer:
    def __init__(self, target: Target, port: int, logfile: Path) -> None:
        self.target, self.port, self.logfile = target, port, logfile
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        cmd, cwd, env = command(self.target, self.port)
        wait_port_free(self.port)
        with self.logfile.open("wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.target.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                http_get(self.port, PATH, timeout=1.0)
                return
            except OSError:
                time.sleep(0.1)
        raise BenchError(f"{self.target.name} did not answer within {timeout:.0f}s:\n{self.tail()}")

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-30:])
        return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 8.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        wait_port_free(self.port)


def check(port: int, name: str, expected: bytes | None) -> bytes:
    """200, text/html, and the same page as the ceiling's (one template, one data set)."""
    status, headers, body = http_get(port, PATH)
    ctype = {k.lower(): v for k, v in headers}.get("content-type", "")
    if status != 200 or not ctype.startswith("text/html") or b"<li class=\"product sale\">" not in body:
        raise BenchError(f"{name} GET {PATH}: status {status}, content-type {ctype!r}, body {body[:300]!r}")
    if expected is not None and body != expected:
        raise BenchError(f"{name} GET {PATH} answered another page than raw_jinja ({len(body)} bytes vs "
                         f"{len(expected)}):\n{body[:400]!r}")
    return body


def run_page(*, duration: float = 10.0, rounds: int = 2, warmup: float = 2.0, port: int = 8766,
             quiet_wait: float = 600.0, noise: float = 0.05, retries: int = 5,
             workdir: Path | None = None) -> dict[str, Any]:
    """Measure the three servers; returns {"meta", "runs", "summary", "problems"}."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="mega-bench-page-"))
    runs: list[dict[str, Any]] = []
    problems: list[str] = []
    expected = None
    for rnd in range(1, rounds + 1):
        order = TARGETS if rnd % 2 == 1 else tuple(reversed(TARGETS))
        log(f"page: round {rnd}/{rounds}")
        for target in order:
            srv = PageServer(target, port, workdir / f"page-{target.name}.log")
            try:
                srv.start()
                body = check(port, target.name, expected if target.name != "raw_jinja" else None)
                if target.name == "raw_jinja":
                    expected = body
                assert srv.proc is not None
                for attempt in range(1, retries + 2):
                    gate = wait_quiet(quiet_wait, noise, srv.proc.pid)
                    parse_wrk(run_wrk(port, PATH, warmup))
                    r = measure(port, srv.proc.pid, PATH, duration)
                    r.pop("wrk_output", None)
                    noisy = interference(r, noise)
                    bad = ([f"{r['non_2xx']} non-2xx"] if r["non_2xx"] else []) + noisy
                    run = {"app": target.name, "round": rnd, "attempt": attempt, "quiet_gate": gate, **r}
                    if bad:
                        run["invalid"] = "; ".join(bad)
                    runs.append(run)
                    log(f"  {target.name:10} r{rnd}  {r['rps']:>9,.0f} req/s  p99 {r['p99_ms']:6.2f} ms  "
                        f"srv {r['server_cpu_us_per_req'] or 0:6.1f} µs/req" + (f"  !! {run['invalid']}"
                                                                                 if bad else ""))
                    if not noisy:
                        break
                check(port, target.name, expected if target.name != "raw_jinja" else None)
            except (BenchError, OSError, subprocess.SubprocessError) as exc:
                problems.append(f"{target.name} round {rnd}: {exc}")
                log(f"  !! {target.name} round {rnd}: {exc}")
            finally:
                srv.stop()
    summary = summarise(runs, rounds)
    return {"meta": {"benchmark": "page", "path": PATH, "duration_s": duration, "rounds": rounds,
                     "warmup_s": warmup, "page_bytes": len(expected or b""),
                     "targets": {t.name: t.note for t in TARGETS},
                     "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
            "runs": runs, "summary": summary, "problems": problems}


def summarise(runs: list[dict[str, Any]], rounds: int) -> dict[str, Any]:
    """Median req/s and p99 per server; mega ÷ peer is the median of the ratios within each round."""
    valid = [r for r in runs if "invalid" not in r]
    # The last valid attempt of each; with none valid (a smoke run on a busy machine), the last attempts,
    # and the summary says the figures are noisy.
    best = {(r["app"], r["round"]): r for r in (valid or runs)}
    rps = {t.name: statistics.median([r["rps"] for (a, _), r in best.items() if a == t.name])
           for t in TARGETS if any(a == t.name for a, _ in best)}
    p99 = {t.name: statistics.median([r["p99_ms"] for (a, _), r in best.items() if a == t.name])
           for t in TARGETS if any(a == t.name for a, _ in best)}
    cpu = {t.name: statistics.median([r["server_cpu_us_per_req"] or 0.0 for (a, _), r in best.items()
                                      if a == t.name])
           for t in TARGETS if any(a == t.name for a, _ in best)}
    ratios = {}
    for peer in ("starlette", "raw_jinja"):
        within = [best[("mega", n)]["rps"] / best[(peer, n)]["rps"] for n in range(1, rounds + 1)
                  if ("mega", n) in best and (peer, n) in best]
        if within:
            ratios[f"mega/{peer}"] = round(statistics.median(within), 3)
    # Server CPU per request: what each server spends on one page, steadier than req/s on a shared machine.
    cpu_ratios = {"starlette/mega cpu_us_per_req": round(cpu["starlette"] / cpu["mega"], 3)} \
        if cpu.get("mega") and cpu.get("starlette") else {}
    return {"rps": rps, "p99_ms": p99, "server_cpu_us_per_req": cpu, "ratios": ratios,
            "cpu_ratios": cpu_ratios, "noisy": not valid}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=None)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--warmup", type=float, default=None)
    p.add_argument("--quick", action="store_true", help="smoke: 1 s per server, 1 round, no quiet wait")
    p.add_argument("--port", type=int, default=8766)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    quick = args.quick
    workdir = Path(tempfile.mkdtemp(prefix="mega-bench-page-"))
    snapshot = snapshot_mega(workdir / "snapshot")
    lock = take_lock()
    try:
        results = run_page(duration=args.duration or (1.0 if quick else 10.0),
                           rounds=args.rounds or (1 if quick else 2),
                           warmup=args.warmup if args.warmup is not None else (1.0 if quick else 2.0),
                           port=args.port, quiet_wait=0.0 if quick else 600.0, retries=0 if quick else 5,
                           workdir=workdir)
    finally:
        lock.close()
    results["meta"]["mega_snapshot"] = snapshot
    out = args.out or (RESULTS / "web-page-quick.json" if quick else RESULTS / "web-page.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    summary = results["summary"]
    for name, value in summary["rps"].items():
        log(f"{name:10} {value:>9,.0f} req/s  p99 {summary['p99_ms'][name]:.2f} ms  server "
            f"{summary['server_cpu_us_per_req'][name]:.0f} µs/req")
    for name, ratio in summary["ratios"].items():
        noisy = "  (noisy: other jobs shared the cores)" if summary["noisy"] else ""
        log(f"{name:20} {ratio:.2f}x{noisy}")
    for name, ratio in summary["cpu_ratios"].items():
        log(f"{name:20} {ratio:.2f}x")
    for problem in results["problems"]:
        log(f"PROBLEM: {problem}")
    log(f"results: {out}")
    return 1 if results["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
