"""The global `jobs` config section (mega_config.py) and the settings every job queue gets.

    jobs = {"bus": "events",            # services.buses alias (default: the only NATS bus)
            "ack_wait": 30, "max_deliver": 5, "heartbeat": None,   # None: max(1, ack_wait / 2)
            "stream_prefix": "MEGA_JOBS", "duplicate_window": 120,
            "dlq_max_age": "7 days", "dlq_max_bytes": None, "run_timeout": "30m",
            "shutdown_timeout": 10}

Durations are seconds or strings ('30s', '5m'); `0` means none for dlq_max_age and run_timeout.
A bad value is `job.invalid_option` naming the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, const
from mega.config.sections import GLOBAL, Resolve, register_section

__all__ = ["DEFAULT", "JOBS", "JobsSettings"]

CODE = "job.invalid_option"
_STREAM = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class JobsSettings:
    bus: str | None  # services.buses alias; None: the only NATS bus declared
    ack_wait: float = 30.0
    max_deliver: int = 5
    heartbeat: float = 15.0
    stream_prefix: str = "MEGA_JOBS"
    duplicate_window: float = 120.0
    dlq_max_age: float = 7 * 86400.0  # 0 = none
    dlq_max_bytes: int | None = None
    run_timeout: float = 1800.0  # 0 = none
    shutdown_timeout: float = 10.0


DEFAULT = JobsSettings(None)


def default_heartbeat(ack_wait: float) -> float:
    beat = max(1.0, ack_wait / 2)
    return beat if beat < ack_wait else ack_wait / 2


def _job(check: c.Check) -> c.Check:
    """`check`, its failures reported as job.invalid_option."""

    def checked(value: Any) -> Any:
        try:
            return check(value)
        except c.Invalid as exc:
            raise c.Invalid(CODE, exc.text, hint=exc.hint, subkey=exc.subkey) from exc

    return checked


def _prefix(value: Any) -> str:
    if not isinstance(value, str) or not _STREAM.fullmatch(value):
        raise c.Invalid(
            CODE,
            f"must be letters, digits, '_' and '-' (a JetStream stream name), got {value!r}",
            hint="e.g. 'MEGA_JOBS'",
        )
    return value


JOBS = Section(
    {
        "bus": Leaf(_job(c.optional(c.alias)), const(None)),
        "ack_wait": Leaf(_job(c.duration()), const(30.0)),
        "max_deliver": Leaf(_job(c.integer(1)), const(5)),
        "heartbeat": Leaf(_job(c.optional(c.duration())), const(None)),
        "stream_prefix": Leaf(_prefix, const("MEGA_JOBS")),
        "duplicate_window": Leaf(_job(c.duration()), const(120.0)),
        "dlq_max_age": Leaf(_job(c.duration(zero_ok=True)), const(7 * 86400.0)),
        "dlq_max_bytes": Leaf(_job(c.optional(c.integer(1))), const(None)),
        "run_timeout": Leaf(_job(c.duration(zero_ok=True)), const(1800.0)),
        "shutdown_timeout": Leaf(_job(c.duration(zero_ok=True)), const(10.0)),
    }
)


def _is_nats(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("driver") == "nats"


def jobs_settings(value: dict[str, Any], resolve: Resolve) -> JobsSettings:
    ack_wait = value["ack_wait"]
    heartbeat = value["heartbeat"]
    if heartbeat is None:
        heartbeat = default_heartbeat(ack_wait)
    elif heartbeat >= ack_wait:
        resolve.report(
            CODE,
            "heartbeat",
            f"must be below jobs.ack_wait ({ack_wait:g}s), got {heartbeat:g}s: "
            "the lease would lapse mid-run and the job run twice",
            "leave it out (ack_wait / 2) or set it to a third of ack_wait",
        )
        heartbeat = default_heartbeat(ack_wait)
    alias = value["bus"]
    if alias is not None:
        resolve.alias(
            "bus",
            alias,
            "buses",
            accept=_is_nats,
            want="a NATS bus",
            example="{'driver': 'nats', 'url': 'nats://127.0.0.1:4222'}",
        )
    return JobsSettings(
        bus=alias,
        ack_wait=ack_wait,
        max_deliver=value["max_deliver"],
        heartbeat=heartbeat,
        stream_prefix=value["stream_prefix"],
        duplicate_window=value["duplicate_window"],
        dlq_max_age=value["dlq_max_age"],
        dlq_max_bytes=value["dlq_max_bytes"],
        run_timeout=value["run_timeout"],
        shutdown_timeout=value["shutdown_timeout"],
    )


register_section("jobs", JOBS, scope=GLOBAL, settings=jobs_settings)
