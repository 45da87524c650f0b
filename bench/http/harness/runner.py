"""The run: per server, per round, per app: start, check, measure each endpoint, stop."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .apps import App
from .cli import parse_args
from .common import BenchError, log
from .machine import snapshot_mega, take_lock
from .project import materialise
from .quiet import interference, wait_quiet
from .results import Results, build_meta
from .server import Server, check_shape, mega_cli_usable, verify
from .shapes import Shape, wrk_script
from .summary import print_tables, summarise
from .wrk import measure, parse_wrk, run_wrk


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def _errors(r: dict[str, Any], shape: Shape) -> list[str]:
    errors = []
    if shape.status == 200 and r["non_2xx"]:
        errors.append(f"{r['non_2xx']} non-2xx responses")
    if any(r["socket_errors"].values()):
        errors.append(f"socket errors {r['socket_errors']}")
    return errors


def measure_endpoint(res: Results, srv: Server, shape: Shape, rnd: int, args: argparse.Namespace) -> int:
    """Warm up and measure one endpoint; re-measure (up to --retries) when another job shared a core.
    Returns the number of requests sent."""
    server, app = srv.server, srv.app
    endpoint, path, script = shape.name, shape.path, wrk_script(shape)
    sent = 0
    for attempt in range(1, args.retries + 2):
        gate = wait_quiet(args.quiet_wait, args.noise, srv.pgid) if args.quiet_wait > 0 else {"skipped": True}
        warm = parse_wrk(run_wrk(args.port, path, args.warmup, script))
        sent += warm["requests"] or 0
        r = measure(args.port, srv.pgid, path, args.duration, script)
        sent += r["requests"] or 0
        check_shape(args.port, app, shape)  # still correct after the load
        run = {"server": server, "app": app.name, "endpoint": endpoint, "path": path, "round": rnd,
               "attempt": attempt, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "quiet_gate": gate, **r}
        shared = interference(r, args.noise)
        if shared:
            run["shared_cores"] = "; ".join(shared)
        noisy = [] if args.quick else shared  # a smoke run checks that everything runs, not the figures
        bad = _errors(r, shape) + noisy
        if bad:
            run["invalid"] = "; ".join(bad)
        res.runs.append(run)
        log(f"  {server:8} {app.name:20} {endpoint:13} r{rnd}  {r['rps']:>10,.0f} req/s  p99 "
            f"{r['p99_ms']:6.2f} ms  srv {r['server_cpu_us_per_req'] or 0:5.1f} µs/req  core0 "
            f"{r['core0_busy']:.0%} (other {r['core0_other']:.0%})  core1 {r['core1_busy']:.0%} (other "
            f"{r['core1_other']:.0%})" + (f"  !! {run['invalid']}" if bad else ""))
        if not noisy:  # errors on a quiet machine are the app's: keep them, do not retry
            break
        if attempt <= args.retries:
            log("    re-measuring: another job shared a core")
    if bad:
        res.problems.append(f"{server}/{app.name}/{endpoint} round {rnd}: {run['invalid']}")
    return sent


def _check_access_log(res: Results, srv: Server, rnd: int, sent: int) -> None:
    srv.stop()  # flush the batched access log before counting
    lines = count_lines(srv.logfile)
    if lines < 0.9 * sent:
        res.problems.append(f"{srv.server}/{srv.app.name} round {rnd}: access log wrote {lines} lines for "
                            f"{sent} load requests; is it really on?")
    res.runs[-1]["access_log_lines_session"] = lines
    res.runs[-1]["requests_session"] = sent


def bench_app(res: Results, server: str, app: App, rnd: int, args: argparse.Namespace, workdir: Path) -> None:
    srv = Server(server, app, args.port, args.launcher, workdir)
    sent = 0
    problems_before = len(res.problems)
    try:
        srv.start()
        checked = verify(args.port, app)
        res.responses.setdefault(server, {}).setdefault(app.name, checked)
        for shape in app.shapes:
            sent += measure_endpoint(res, srv, shape, rnd, args)
        if app.access_log:
            _check_access_log(res, srv, rnd, sent)
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        msg = f"{server}/{app.name} round {rnd}: {exc}"
        res.problems.append(msg)
        log(f"  !! {msg}")
    finally:
        srv.stop()
        if len(res.problems) == problems_before:  # keep the server log only when something went wrong
            with contextlib.suppress(OSError):
                srv.logfile.unlink()


def write_projects(apps: list[App], projects: Path) -> dict[str, Any]:
    """Each mega variant in the run, written to `projects`/<name>; returns their records for meta."""
    return {a.name: materialise(a.variant, projects / a.name) for a in apps if a.variant is not None}


def _finish(res: Results, args: argparse.Namespace, servers: list[str], apps: list[App], workdir: Path,
            complete: bool) -> None:
    res.meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    res.meta["complete"] = complete
    report = summarise(res.runs, servers, apps)
    res.write(args.out, report)
    print_tables(report, servers, apps, args.rounds)
    log("")
    if not complete:
        log("INCOMPLETE run (interrupted or failed): the tables above hold what was measured")
    if res.problems:
        log(f"PROBLEMS ({len(res.problems)}); server logs and projects kept in {workdir}:")
        for prob in res.problems:
            log(f"  - {prob}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    log(f"results: {args.out}")


def main(argv: list[str] | None = None) -> int:
    args, servers, apps = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="mega-bench-http-"))
    snapshot = None if args.no_snapshot else snapshot_mega(workdir / "snapshot")
    variants = write_projects(apps, workdir / "projects")
    if args.launcher == "auto":
        args.launcher = "cli" if mega_cli_usable() else "python"
    res = Results(meta=build_meta(args, servers, apps, workdir, variants))
    res.meta["mega_snapshot"] = snapshot
    log(f"mega on uvicorn via: {args.launcher}; servers {servers}; {len(apps)} apps; {args.rounds} round(s) "
        f"of {args.duration:g}s per endpoint")
    lock = take_lock()
    complete = False
    try:
        # Rounds outside, servers inside: every deployment of a round (uvicorn and granian alike) is
        # measured close in time, so a ratio across servers can be taken within the round.
        for rnd in range(1, args.rounds + 1):
            forward = rnd % 2 == 1
            for server in servers if forward else list(reversed(servers)):
                log(f"round {rnd}/{args.rounds}: {server}")
                for app in apps if forward else list(reversed(apps)):
                    if server in app.servers:
                        bench_app(res, server, app, rnd, args, workdir)
        complete = True
    finally:
        _finish(res, args, servers, apps, workdir, complete)
        lock.close()
    return 1 if res.problems else 0
