"""Boot stage "jobs" (after "bus"): find each app's Job classes in `apps/<app>/jobs/`, check them, and
give every app its queue (`app.jobs`, `ctx.jobs`).

Checked here, so a bad class fails boot: its options (`job.invalid_option`), two classes on one subject
(`job.duplicate_subject`), and a bus named by `jobs.bus` or a Job's `bus` that is missing or not NATS
(`job.no_jetstream`). A project with no NATS bus at all still boots (its web tests need none): enqueue
and `mega worker` then fail with `job.no_jetstream`.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mega.errors import MegaError
from mega.jobs._errors import JobError
from mega.jobs._queue import JobQueue
from mega.jobs._settings import DEFAULT, JobsSettings
from mega.jobs._streams import Streams
from mega.jobs.job import Job, check_job_class

if TYPE_CHECKING:
    from mega.adapters._manager import AdapterManager
    from mega.adapters.nats import NatsAdapter
    from mega.boot.runtime import Runtime


def discover(app_name: str, app_dir: Path) -> list[type[Job]]:
    """The Job subclasses defined in `apps/<app>/jobs/*.py` (files starting with `_` are skipped)."""
    folder = app_dir / "jobs"
    found: list[type[Job]] = []
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
        if path.name.startswith("_"):
            continue
        name = f"apps.{app_name}.jobs.{path.stem}"
        try:
            module = importlib.import_module(name)
        except MegaError:
            raise
        except Exception as exc:
            raise MegaError(
                "boot.import_failed", f"cannot import {path}: {type(exc).__name__}: {exc}", cause=exc
            ) from exc
        found += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Job)
            and cls is not Job
            and cls.__module__ == module.__name__
            and not inspect.isabstract(cls)
        ]
    return found


def nats_connection(adapters: AdapterManager | None, settings: JobsSettings) -> Any:
    """`alias -> NatsAdapter` for this project (alias None: jobs.bus, else the only NATS bus)."""

    def connection(alias: str | None) -> NatsAdapter:
        declared = [] if adapters is None else adapters.aliases("bus")
        nats = [a for a in declared if adapters is not None and adapters.get("bus", a).driver == "nats"]
        chosen = alias or settings.bus or (nats[0] if len(nats) == 1 else None)
        if chosen is None or chosen not in nats:
            why = (
                f"bus {chosen!r} is not a NATS bus declared in services.buses"
                if chosen
                else "no NATS bus is declared"
                if not nats
                else f"several NATS buses ({', '.join(nats)})"
            )
            raise JobError(
                "job.no_jetstream",
                f"jobs need a NATS bus with JetStream: {why}",
                details={"bus": chosen, "declared": nats},
                status=503,
                hint="declare services.buses.<alias> = {'driver': 'nats', 'url': ...} and name it "
                "in jobs.bus (or the Job's `bus`)",
            )
        adapter: NatsAdapter = adapters.get("bus", chosen)  # type: ignore[union-attr]
        return adapter

    return connection


async def jobs_stage(rt: Runtime) -> None:
    settings: JobsSettings = rt.config.settings.get("jobs", DEFAULT)
    connection = nats_connection(rt.adapters, settings)
    streams = Streams(settings)
    owners: dict[str, type[Job]] = {}
    for name, app in rt.apps.items():
        queue = JobQueue(settings, connection, streams=streams, app_name=name)
        for cls in discover(name, rt.config.apps[name].dir):
            check_job_class(cls)
            other = owners.get(cls.subject)
            if other is not None:
                raise JobError(
                    "job.duplicate_subject",
                    f"{cls.__module__}.{cls.__name__} and {other.__module__}."
                    f"{other.__name__} both take subject {cls.subject!r}",
                    details={"subject": cls.subject, "classes": [other.__name__, cls.__name__]},
                    hint="one class per subject: rename one subject",
                )
            owners[cls.subject] = cls
            if queue.alias_of(cls) is not None:
                queue.connection(cls)  # a bus named in code or config must exist and be NATS
            queue.jobs[cls.subject] = cls
        for hook in rt.instruments.hooks("jobs") if rt.instruments is not None else ():
            hook(name, queue)  # metrics, tracing: only when on (no registry when both are off)
        app.jobs = queue
