"""`mega worker`: run the project's jobs (no HTTP server)."""

from __future__ import annotations

import click

from mega.cli._project import project_root


@click.command("worker")
@click.option(
    "--job",
    "subjects",
    multiple=True,
    metavar="SUBJECT",
    help="Run only this job subject (repeatable; default: every discovered job).",
)
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    default=None,
    metavar="N",
    help="Serve /health/live, /health/ready and /metrics on this port.",
)
@click.option("--burst", is_flag=True, help="Exit 0 once the job streams are empty.")
@click.pass_context
def worker(ctx: click.Context, subjects: tuple[str, ...], http_port: int | None, burst: bool) -> int:
    """Run jobs from their JetStream queues until SIGTERM (a second signal exits at once)."""
    import asyncio

    from mega.cli._failure import CliFailure, failure_from
    from mega.errors import MegaError
    from mega.jobs._worker import run_worker

    try:
        return asyncio.run(run_worker(project_root(ctx), subjects, http_port=http_port, burst=burst))
    except MegaError as exc:
        if exc.code == "job.unknown_job":
            failure = CliFailure.usage(exc.message, exc.hint)
            failure.lines.append(f"code: {exc.code}")
            raise failure from exc
        raise failure_from(exc, debug=ctx.obj.debug) from exc
