"""Background jobs on NATS JetStream: `Job` classes in `apps/<app>/jobs/`, `ctx.jobs`, `mega worker`."""

from mega.jobs._errors import JobError
from mega.jobs._queue import EnqueueResult, JobQueue
from mega.jobs.job import Job, JobInfo

__all__ = ["EnqueueResult", "Job", "JobError", "JobInfo", "JobQueue"]
