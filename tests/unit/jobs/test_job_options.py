"""Job classes and the `jobs` section are checked at boot: every bad option names the class (or key),
the option and the value; two classes on one subject, and a missing NATS bus, fail boot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mega.boot.stages import BootError
from mega.config import load_project_config
from mega.config._problems import ConfigError
from mega.errors import MegaError
from mega.jobs._events import Events
from mega.jobs._retry import backoff_wait
from mega.jobs._streams import dlq_stream_name, stream_name
from mega.jobs.job import Job, check_job_class
from mega.testing import boot_for_test, write_project
from tests import services


def _job(**attrs: Any) -> type[Job]:
    async def run(self: Job, payload: Any, ctx: Any) -> None:
        return None

    return type("SendMail", (Job,), {"subject": "mail.send", "run": run, **attrs})


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("subject", ""),
        ("subject", "mail.*"),
        ("subject", "mail.>"),
        ("subject", "mail send"),
        ("subject", "mail.dlq"),
        ("subject", None),
        ("bus", ""),
        ("concurrency", 0),
        ("concurrency", 1.5),
        ("concurrency", True),
        ("retries", -1),
        ("retries", "3"),
        ("backoff", {"type": "linear"}),
        ("backoff", {"initial": -1}),
        ("backoff", {"initial": 5, "max": 1}),
        ("backoff", {"factor": 2}),
        ("backoff", [1, 2]),
        ("timeout", -1),
        ("timeout", float("nan")),
        ("timeout", "30s"),
    ],
)
def test_a_bad_option_is_invalid_option_naming_class_option_and_value(option: str, value: Any) -> None:
    with pytest.raises(MegaError) as caught:
        check_job_class(_job(**{option: value}))
    assert caught.value.code == "job.invalid_option"
    assert caught.value.details == {"class": "SendMail", "option": option, "value": repr(value)}
    assert f"SendMail.{option}" in caught.value.message


def test_a_class_without_an_async_run_is_refused() -> None:
    cls = type("NoRun", (Job,), {"subject": "a.b"})
    with pytest.raises(MegaError) as caught:
        check_job_class(cls)
    assert (caught.value.code, caught.value.details["option"]) == ("job.invalid_option", "run")


def test_good_options_pass() -> None:
    check_job_class(_job(concurrency=32, retries=0, backoff={"type": "fixed", "initial": 0.5}, timeout=0))


def test_stream_names_are_distinct_for_subjects_that_flatten_alike() -> None:
    assert stream_name("MEGA_JOBS", "mail.send") == "MEGA_JOBS_mail_send"
    assert stream_name("P", "mail_send") != stream_name("P", "mail.send")
    assert dlq_stream_name("P", "a.b") == "P_a_b_DLQ"


def test_exponential_backoff_doubles_from_initial_with_jitter_up_to_max() -> None:
    wait = backoff_wait({"type": "exponential", "initial": 1, "max": 30})

    class State:
        attempt_number = 1

    waits = []
    for n in (1, 2, 3, 10):
        State.attempt_number = n
        waits.append(wait(State()))  # type: ignore[arg-type]
    assert 1 <= waits[0] <= 1.5 and 2 <= waits[1] <= 2.5 and 4 <= waits[2] <= 4.5 and waits[3] == 30


async def test_events_are_a_whitelist_and_a_raising_listener_is_isolated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = Events()
    seen: list[str] = []

    def boom(event: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    async def record(event: dict[str, Any]) -> None:
        seen.append(event["subject"])

    events.on("done", boom)
    events.on("done", record)
    await events.emit("done", {"subject": "a.b"})
    assert seen == ["a.b"] and "listener bug" in caplog.text
    with pytest.raises(MegaError) as caught:
        events.on("finish", record)
    assert caught.value.code == "job.unknown_event" and "dispatch" in (caught.value.hint or "")


def _project(tmp_path: Path, config: str, jobs: dict[str, str] | None = None) -> Path:
    files = {"mega_config.py": f"config = {config}\n", "apps/main/app_config.py": "config = {}\n"}
    files.update({f"apps/main/jobs/{name}.py": text for name, text in (jobs or {}).items()})
    return write_project(tmp_path, files)


@pytest.mark.parametrize(
    ("jobs", "key"),
    [
        ({"ack_wait": 0}, "jobs.ack_wait"),
        ({"ack_wait": "soon"}, "jobs.ack_wait"),
        ({"max_deliver": 0}, "jobs.max_deliver"),
        ({"stream_prefix": "A.B"}, "jobs.stream_prefix"),
        ({"dlq_max_bytes": 0}, "jobs.dlq_max_bytes"),
        ({"run_timeout": -1}, "jobs.run_timeout"),
        ({"ack_wait": 10, "heartbeat": 10}, "jobs.heartbeat"),
        ({"duplicate_window": 0}, "jobs.duplicate_window"),
    ],
)
def test_a_bad_jobs_setting_is_invalid_option_with_its_key(
    tmp_path: Path, jobs: dict[str, Any], key: str
) -> None:
    root = _project(tmp_path, repr({"jobs": jobs}))
    with pytest.raises(ConfigError) as caught:
        load_project_config(root, environ={})
    assert [(p.code, p.key) for p in caught.value.problems] == [("job.invalid_option", key)]


def test_jobs_settings_take_durations_and_derive_the_heartbeat(tmp_path: Path) -> None:
    root = _project(tmp_path, repr({"jobs": {"ack_wait": "1m", "run_timeout": 0, "dlq_max_age": "1 day"}}))
    settings = load_project_config(root, environ={}).settings["jobs"]
    assert (settings.ack_wait, settings.heartbeat, settings.run_timeout, settings.dlq_max_age) == (
        60.0,
        30.0,
        0.0,
        86400.0,
    )


JOB = """
from mega import Job

class {name}(Job):
    subject = "mail.send"

    async def run(self, payload, ctx):
        return None
"""
NATS = repr({"services": {"buses": {"q": {"driver": "nats", "url": services.url("nats")}}}})


@pytest.mark.service("nats")
async def test_two_classes_on_one_subject_fail_boot(tmp_path: Path) -> None:
    root = _project(tmp_path, NATS, {"a": JOB.format(name="A"), "b": JOB.format(name="B")})
    with pytest.raises(BootError) as caught:
        await boot_for_test(root)
    assert caught.value.stage == "jobs"
    assert caught.value.original.code == "job.duplicate_subject"  # type: ignore[attr-defined]
    assert "apps.main.jobs.a.A" in caught.value.original.message  # type: ignore[attr-defined]


async def test_a_job_bus_that_is_not_declared_fails_boot_with_no_jetstream(tmp_path: Path) -> None:
    job = JOB.format(name="A").replace('subject = "mail.send"', 'subject = "mail.send"\n    bus = "nope"')
    root = _project(tmp_path, "{}", {"a": job})
    with pytest.raises(BootError) as caught:
        await boot_for_test(root)
    assert caught.value.stage == "jobs"
    assert caught.value.original.code == "job.no_jetstream"  # type: ignore[attr-defined]
    assert "'nope'" in caught.value.original.message  # type: ignore[attr-defined]


async def test_without_any_nats_bus_boot_works_and_enqueue_says_no_jetstream(tmp_path: Path) -> None:
    root = _project(tmp_path, "{}", {"a": JOB.format(name="A")})
    rt = await boot_for_test(root)
    try:
        app = rt.apps["main"]
        with pytest.raises(MegaError) as caught:
            await app.jobs.enqueue(app.jobs.jobs["mail.send"], {"to": "x"})
        assert caught.value.code == "job.no_jetstream" and caught.value.status == 503
    finally:
        await rt.close()
