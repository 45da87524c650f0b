"""`mega scheduler`: boot the project without HTTP and run its schedules' timers.

    mega scheduler                      # every schedule of every app
    mega scheduler --only Nightly       # only these (repeatable; `app:Name` when two apps share a name)
    mega scheduler --once Nightly       # fire one now, through its lock, print the outcome, exit
    mega scheduler --http-port 9102     # /health/live, /health/ready (503 while draining), /metrics

SIGTERM or SIGINT: no new fires, runs in flight finish (up to `schedules.shutdown_timeout`, then they
are cancelled), exit 0. A second signal exits at once (code 1).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

import click

from mega.cli._project import cli_state, project_root

log = logging.getLogger("mega.schedules")


@click.command("scheduler")
@click.option("--only", multiple=True, metavar="NAME", help="Run only this schedule (repeatable).")
@click.option("--once", metavar="NAME", help="Fire this schedule once now, through its lock, and exit.")
@click.option("--http-port", type=click.IntRange(1, 65535),
              help="Serve /health/live, /health/ready, /metrics.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface for --http-port.")
@click.pass_context
def scheduler(ctx: click.Context, only: tuple[str, ...], once: str | None, http_port: int | None,
              host: str) -> int:
    """Run the project's schedules (apps/<app>/schedules/) until SIGTERM."""
    from mega.cli._failure import CliFailure, failure_from
    from mega.errors import MegaError

    root = project_root(ctx)
    try:
        return asyncio.run(_main(root, list(only), once, http_port, host))
    except MegaError as exc:
        if exc.code == "schedule.unknown":
            failure = CliFailure.usage(exc.message, exc.hint)
            failure.lines.append(f"code: {exc.code}")
            raise failure from exc
        raise failure_from(exc, debug=cli_state(ctx).debug) from exc


async def _main(root: Path, only: list[str], once: str | None, http_port: int | None, host: str) -> int:
    from mega.boot.stages import boot
    from mega.schedules._scheduler import Scheduler, entries_of

    rt = await boot(root)
    try:
        apps = list(rt.apps.values())
        _check_names(entries_of(apps), [*only, *([once] if once else [])])
        if once:
            return await _once(apps, once)
        entries = entries_of(apps, only or None)
        for schedules, sdef in entries:
            if not sdef.locked:
                log.warning("schedule %s (app %s) has no lock: every scheduler instance runs it; give it "
                            "lock = {'ttl': ...} to run it once across instances", sdef.name,
                            schedules.app.name)
        settings = entries[0][0].settings if entries else None
        timer = Scheduler(entries)
        server = None
        if http_port is not None:
            from mega.observe.probe_server import serve_probes

            async def metrics() -> tuple[int, Any]:
                return 200, _metrics(timer)

            server = await serve_probes(host, http_port, {"/health/live": rt.health.live,
                                                          "/health/ready": rt.health.ready,
                                                          "/metrics": metrics})
        loop = asyncio.get_running_loop()
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals > 1:
                os._exit(1)
            rt.health.mark_draining()
            timer.stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        click.echo(f"mega scheduler: {len(entries)} schedule(s): "
                   f"{', '.join(d.name for _, d in entries) or '(none)'}", err=True)
        await timer.run()
        grace = settings.shutdown_timeout if settings is not None else 10.0
        if not await timer.drain(grace):
            log.warning("schedules still running after %g s: cancelled", grace)
            timer.cancel_runs()
            await timer.drain(2.0)
        if server is not None:
            server.close()
        return 0
    finally:
        await rt.close()


def _check_names(known: list[Any], names: list[str]) -> None:
    from mega.errors import MegaError

    for name in names:
        if not any(name in (d.name, f"{s.app.name}:{d.name}") for s, d in known):
            listed = ", ".join(sorted({d.name for _, d in known})) or "(none)"
            raise MegaError("schedule.unknown", f"no schedule named {name!r}", details={"name": name},
                            hint=f"schedules: {listed}")


async def _once(apps: list[Any], name: str) -> int:
    from mega.schedules._scheduler import entries_of

    schedules, sdef = entries_of(apps, [name])[0]
    result = await schedules.fire(sdef.name)
    click.echo(json.dumps({"name": result.name, "fire_time": result.fire_time.isoformat(), "ran": result.ran,
                           "skipped": result.skipped, "ok": result.ok, "reason": result.reason,
                           "error": None if result.error is None else str(result.error)}, default=str))
    return 0 if result.ok or result.skipped else 1


def _metrics(timer: Any) -> str:
    lines = ["# TYPE mega_schedule_fires_total counter"]
    counts: dict[tuple[str, str], int] = {}
    for result in timer.results:
        outcome = "ok" if result.ok else result.reason if result.skipped else "failed"
        counts[(result.name, outcome)] = counts.get((result.name, outcome), 0) + 1
    for (name, outcome), n in sorted(counts.items()):
        lines.append(f'mega_schedule_fires_total{{schedule="{name}",outcome="{outcome}"}} {n}')
    lines.append(f"mega_schedule_running {timer.running}")
    return "\n".join(lines) + "\n"
