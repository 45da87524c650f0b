"""Stream and consumer names, and the one place that creates streams (cached per subject).

Per job subject: a work-queue stream (`<prefix>_<subject>`), a limits stream `<prefix>_<subject>_DLQ`
on `<subject>.dlq`, and one durable pull consumer `worker` on the work stream. A subject holding
characters a stream name cannot (`.` becomes `_`) gets a short hash, so two subjects never share one.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import TYPE_CHECKING

from mega.jobs._errors import nats_failed

if TYPE_CHECKING:
    from nats.js import api
    from nats.js.client import JetStreamContext

    from mega.jobs._settings import JobsSettings

DURABLE = "worker"
_PLAIN = re.compile(r"^[A-Za-z0-9.-]+$")


def stream_name(prefix: str, subject: str) -> str:
    base = subject.replace(".", "_")
    if not _PLAIN.fullmatch(subject):
        base += "_" + hashlib.sha1(subject.encode()).hexdigest()[:8]
    return f"{prefix}_{base}"


def dlq_subject(subject: str) -> str:
    return f"{subject}.dlq"


def dlq_stream_name(prefix: str, subject: str) -> str:
    return stream_name(prefix, subject) + "_DLQ"


class Streams:
    """Creates each subject's streams once per connection; a failed check is forgotten, so the next
    call tries again (after a NATS outage, say)."""

    def __init__(self, settings: JobsSettings) -> None:
        self.settings = settings
        self._checked: dict[tuple[int, str], asyncio.Future[str]] = {}

    async def ensure(self, js: JetStreamContext, alias: str, subject: str) -> str:
        key = (id(js._nc), subject)
        future = self._checked.get(key)
        if future is not None and future.done() and not future.cancelled() and future.exception() is None:
            return future.result()  # the hot path: checked before
        if future is None:
            future = self._checked[key] = asyncio.ensure_future(self._create(js, alias, subject))
        try:
            return await asyncio.shield(future)
        except BaseException:
            if self._checked.get(key) is future and future.done():
                del self._checked[key]
            raise

    def forget(self, subject: str) -> None:
        for key in [k for k in self._checked if k[1] == subject]:
            del self._checked[key]

    async def _create(self, js: JetStreamContext, alias: str, subject: str) -> str:
        import nats.errors as nerr  # nats-py: only projects that use jobs load it
        from nats.js import api
        from nats.js import errors as jserr

        s = self.settings
        name = stream_name(s.stream_prefix, subject)
        work = api.StreamConfig(
            name=name,
            subjects=[subject],
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE,
            duplicate_window=s.duplicate_window,
        )
        dlq = api.StreamConfig(
            name=dlq_stream_name(s.stream_prefix, subject),
            subjects=[dlq_subject(subject)],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            max_age=s.dlq_max_age or None,
            max_bytes=s.dlq_max_bytes,
            duplicate_window=s.duplicate_window,
        )
        try:
            for config in (work, dlq):
                await self._add_if_missing(js, config)
        except (nerr.NoRespondersError, jserr.ServiceUnavailableError) as exc:
            raise nats_failed("job.no_jetstream", f"bus '{alias}' has no JetStream", exc,
                              details={"bus": alias},
                              hint="start nats-server with -js (JetStream), or point jobs.bus at a server "
                              "that has it") from exc
        except (jserr.Error, nerr.Error, OSError, TimeoutError) as exc:
            raise nats_failed("job.enqueue_failed", f"cannot create the streams of {subject!r}", exc,
                              details={"subject": subject},
                              hint="check NATS is up; the next call tries again") from exc
        return name

    @staticmethod
    async def _add_if_missing(js: JetStreamContext, config: api.StreamConfig) -> None:
        from nats.js import errors as jserr

        assert config.name is not None
        try:
            await js.stream_info(config.name)
            return  # limits apply only on creation: an existing stream is left as it is
        except jserr.NotFoundError:
            pass
        try:
            await js.add_stream(config)
        except jserr.BadRequestError as exc:
            if exc.err_code != 10058:  # created by a peer meanwhile ("stream name already in use")
                raise
