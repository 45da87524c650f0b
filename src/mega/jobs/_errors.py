"""Job errors: one class, codes `job.*` (listed in docs/reference/errors.md)."""

from __future__ import annotations

from typing import Any

from mega.errors import MegaError


class JobError(MegaError):
    status = 500
    default_code = "job.enqueue_failed"


def invalid_option(owner: str, option: str, value: Any, why: str, hint: str | None = None) -> JobError:
    """A bad Job class attribute or `jobs` setting: `owner` is the class name or 'jobs'."""
    where = f"{owner}.{option}" if owner != "jobs" else f"jobs.{option}"
    return JobError(
        "job.invalid_option",
        f"{where} {why}, got {value!r}",
        details={"class": owner, "option": option, "value": repr(value)},
        hint=hint or "see docs/reference/jobs.md for the options and their defaults",
    )


def run_timeout(subject: str, seconds: float) -> JobError:
    return JobError(
        "job.run_timeout",
        f"job {subject!r} ran past its timeout of {seconds:g}s and was cancelled",
        details={"subject": subject, "timeout": seconds},
        hint="raise the Job's `timeout` (0 = none) or jobs.run_timeout, or make the run shorter",
    )


def decode_failed(subject: str, error: BaseException) -> JobError:
    return JobError(
        "job.decode_failed",
        f"job {subject!r}: the payload is not valid JSON ({error})",
        details={"subject": subject},
        hint="enqueue through ctx.jobs.enqueue, which encodes it",
        cause=error,
    )


def nats_failed(code: str, what: str, exc: BaseException, *, details: dict[str, Any], hint: str) -> JobError:
    """NATS failed under a job operation: 503, `what` then the exception's type and text; a JobError
    raised below is passed on as it is."""
    if isinstance(exc, JobError):
        return exc
    return JobError(code, f"{what}: {type(exc).__name__}: {exc}", details=details, status=503, cause=exc,
                    hint=hint)
