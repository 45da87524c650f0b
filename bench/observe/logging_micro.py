"""µs per log call on mega's loggers: disabled debug, enabled info through ctx.log / app.log, the access log.

    .venv/bin/python bench/observe/logging_micro.py [--label NAME] [--calls N] [--rounds R]

Lines go through `configure_logging` (JSON or pretty) to /dev/null, so the figures are the logging
machinery and the formatter, not the terminal. `ctx.log` is `request_logger(app.log, rid)`, as in a
request. Each figure is the best of `--rounds` rounds of `--calls` calls, minus the empty loop: many
short rounds, so that on a busy machine the best one still ran undisturbed. Results go
to bench/results/logging.json under `--label` (default: the current git commit); running a
label again keeps the best figure of each line over its runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mega.observe.access import AccessLog
from mega.observe.logging import configure_logging, get_logger, request_logger

RESULTS = Path(__file__).resolve().parents[1] / "results" / "logging.json"


def best_us(call: Callable[[], object], calls: int, rounds: int) -> float:
    for _ in range(min(calls, 1000)):
        call()  # warm up (and let any per-logger setup happen before timing)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter_ns()
        for _ in range(calls):
            call()
        best = min(best, time.perf_counter_ns() - started)
    return best / calls / 1000


def log_cases(fmt: str) -> dict[str, Callable[[], object]]:
    app_log = get_logger(f"mega.app.bench_{fmt}")
    ctx_log = request_logger(app_log, "7f3a9c-000012")
    return {
        f"ctx.log.info ({fmt})": lambda: ctx_log.info("charged %s", 1200),
        f"ctx.log.info with extra ({fmt})": lambda: ctx_log.info("charged", extra={"amount": 1200}),
        f"app.log.info ({fmt})": lambda: app_log.info("charged %s", 1200),
    }


def measure(calls: int, rounds: int) -> dict[str, float]:
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed at the end
    figures: dict[str, float] = {}
    figures["empty loop"] = best_us(lambda: None, calls, rounds)

    def net(name: str, call: Callable[[], object]) -> None:
        figures[name] = round(best_us(call, calls, rounds) - figures["empty loop"], 3)

    configure_logging(level="info", fmt="json", stream=devnull)
    app_log = get_logger("mega.app.bench")
    ctx_log = request_logger(app_log, "7f3a9c-000012")
    net("ctx.log.debug, disabled", lambda: ctx_log.debug("cart %s", 3))
    net("app.log.debug, disabled", lambda: app_log.debug("cart %s", 3))
    net("request_logger(app.log, rid)", lambda: request_logger(app_log, "7f3a9c-000012"))
    for name, call in log_cases("json").items():
        net(name, call)
    configure_logging(level="info", fmt="pretty", stream=devnull)
    for name, call in log_cases("pretty").items():
        net(name, call)

    access = AccessLog(devnull, fmt="json", max_pending=10 * calls)
    net("access log record()", lambda: access.record("GET", "/users/7", 200, 1.234, "7f3a9c-000012"))
    batch = [("GET", "/users/7", 200, 1.234, "7f3a9c-000012")] * 1000
    figures["access log flush, per line (json)"] = round(_flush_per_line(access, batch, rounds), 3)
    devnull.close()
    return figures


def _flush_per_line(access: AccessLog, batch: list[tuple[str, str, int, float, str]], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        for line in batch:
            access.record(*line)
        started = time.perf_counter_ns()
        access.flush()
        best = min(best, time.perf_counter_ns() - started)
    return best / len(batch) / 1000


def _git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=Path(__file__).parent)
    return out.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", default=None)
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    label = args.label or _git_commit()
    asyncio.run(asyncio.sleep(0))  # nothing async is timed; keeps the import cost out of the figures
    figures = measure(args.calls, args.rounds)
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:7.3f} µs")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous = results.get(label)
    if previous is not None:  # a repeated label keeps the best figure of its runs
        figures = {k: min(v, previous["us_per_call"].get(k, v)) for k, v in figures.items()}
    results[label] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "calls": args.calls,
        "rounds": args.rounds,
        "runs": 1 if previous is None else previous["runs"] + 1,
        "us_per_call": figures,
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    logging.shutdown()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
