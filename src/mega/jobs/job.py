"""`Job`: a class in `apps/<app>/jobs/` whose `run(payload, ctx)` a `mega worker` runs from a JetStream
work queue.

    class SendMail(Job):
        subject = "mail.send"       # required: one subject per class, no wildcards
        concurrency = 8             # jobs in flight across ALL workers (the consumer's max_ack_pending)
        retries = 3                 # extra attempts in process, with backoff between them
        backoff = {"type": "exponential", "initial": 1, "max": 30}   # seconds, factor 2, jitter
        timeout = None              # seconds, the whole run: None = jobs.run_timeout, 0 = none

        async def run(self, payload, ctx):
            await send(payload["to"])
"""

from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from mega.jobs._errors import invalid_option

if TYPE_CHECKING:
    from mega.app.ctx import Ctx

__all__ = ["Job", "JobInfo", "check_job_class"]

_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
BACKOFF_KEYS = ("type", "initial", "max")


class Job:
    """Subclass it, set `subject`, write `async def run(self, payload, ctx)`."""

    subject: ClassVar[str] = ""
    bus: ClassVar[str | None] = None  # a services.buses alias; None = jobs.bus
    concurrency: ClassVar[int] = 1
    retries: ClassVar[int] = 3
    backoff: ClassVar[dict[str, Any]] = {"type": "exponential", "initial": 1, "max": 30}
    timeout: ClassVar[float | None] = None

    async def run(self, payload: Any, ctx: Ctx) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.run(payload, ctx) is not written")


@dataclass(frozen=True)
class JobInfo:
    """What a running job knows about its message (`ctx.job`)."""

    subject: str
    stream: str
    seq: int
    delivery: int  # 1 on the first delivery, 2+ on redeliveries
    msg_id: str | None
    attempt: int = 1  # in-process attempt of this delivery


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_subject(owner: str, subject: Any) -> str:
    if not isinstance(subject, str) or not subject:
        raise invalid_option(
            owner,
            "subject",
            subject,
            "must be a non-empty NATS subject",
            hint="set subject = 'mail.send' on the class",
        )
    tokens = subject.split(".")
    if not all(_TOKEN.fullmatch(t) for t in tokens):
        raise invalid_option(
            owner,
            "subject",
            subject,
            "must be dot-separated tokens of letters, digits, '-' and '_' (no wildcards, no spaces)",
            hint="e.g. subject = 'mail.send'",
        )
    if tokens[-1] == "dlq":
        raise invalid_option(owner, "subject", subject, "must not end in '.dlq' (the dead-letter subjects)")
    return subject


def check_job_class(cls: type[Job]) -> None:
    """Raise `job.invalid_option` (class, option, value) for the first bad attribute."""
    name = cls.__name__
    check_subject(name, cls.subject)
    if cls.bus is not None and (not isinstance(cls.bus, str) or not cls.bus):
        raise invalid_option(name, "bus", cls.bus, "must be a services.buses alias or None")
    conc = cls.concurrency
    if isinstance(conc, bool) or not isinstance(conc, int) or conc < 1:
        raise invalid_option(name, "concurrency", conc, "must be an integer >= 1")
    if isinstance(cls.retries, bool) or not isinstance(cls.retries, int) or cls.retries < 0:
        raise invalid_option(name, "retries", cls.retries, "must be an integer >= 0")
    _check_backoff(name, cls.backoff)
    if cls.timeout is not None and (not _number(cls.timeout) or cls.timeout < 0):
        raise invalid_option(name, "timeout", cls.timeout, "must be seconds >= 0 (0 = none) or None")
    if not inspect.iscoroutinefunction(cls.run) or cls.run is Job.run:
        raise invalid_option(
            name, "run", getattr(cls, "run", None), "must be `async def run(self, payload, ctx)`"
        )


def _check_backoff(name: str, backoff: Any) -> None:
    if not isinstance(backoff, dict):
        raise invalid_option(
            name,
            "backoff",
            backoff,
            "must be a dict {'type': 'exponential', 'initial': seconds, 'max': seconds}",
        )
    unknown = [k for k in backoff if k not in BACKOFF_KEYS]
    if unknown:
        raise invalid_option(
            name,
            "backoff",
            backoff,
            f"has unknown key {unknown[0]!r}",
            hint=f"keys: {', '.join(BACKOFF_KEYS)}",
        )
    if backoff.get("type", "exponential") not in ("exponential", "fixed"):
        raise invalid_option(name, "backoff", backoff, "type must be 'exponential' or 'fixed'")
    initial, most = backoff.get("initial", 1), backoff.get("max", 30)
    if not _number(initial) or initial < 0 or not _number(most) or most < initial:
        raise invalid_option(name, "backoff", backoff, "needs 0 <= initial <= max (seconds)")
