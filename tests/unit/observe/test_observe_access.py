from __future__ import annotations

import asyncio
import io
import logging
import re
from typing import Any

import orjson
import pytest

from mega.errors import MegaError
from mega.observe.access import MAX_PENDING, AccessLog

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class Counting(io.StringIO):
    """A stream that counts write calls."""

    def __init__(self, tty: bool = False) -> None:
        super().__init__()
        self.writes = 0
        self.tty = tty

    def write(self, s: str) -> int:
        self.writes += 1
        return super().write(s)

    def isatty(self) -> bool:
        return self.tty


class Broken(io.StringIO):
    """A stream that fails while `broken` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    def write(self, s: str) -> int:
        if self.broken:
            raise OSError(28, "No space left on device")
        return super().write(s)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


async def test_many_records_are_written_in_one_write() -> None:
    stream = Counting()
    access = AccessLog(stream, fmt="json", flush_interval=0.01)
    access.start()
    for i in range(1000):
        access.record("GET", f"/items/{i}", 200, 0.5, f"rid-{i}")
    assert stream.writes == 0  # nothing happens on the request path
    await asyncio.sleep(0.05)
    assert stream.writes == 1
    assert len(stream.getvalue().splitlines()) == 1000
    await access.close()


async def test_an_idle_log_arms_no_timer() -> None:
    stream = Counting()
    access = AccessLog(stream, fmt="json", flush_interval=0.01)
    access.start()
    assert access._timer is None
    access.record("GET", "/", 200, 1.0, "r1")
    assert access._timer is not None
    await asyncio.sleep(0.03)
    assert access._timer is None  # fired once, not re-armed while nothing is pending
    assert stream.writes == 1
    await asyncio.sleep(0.03)
    assert stream.writes == 1
    await access.close()


async def test_records_before_start_are_kept_and_written_after_start() -> None:
    stream = Counting()
    access = AccessLog(stream, fmt="json", flush_interval=0.01)
    access.record("GET", "/early", 200, 1.0, "r1")
    await asyncio.sleep(0.02)
    assert stream.writes == 0
    assert access.pending == 1
    access.start()
    await asyncio.sleep(0.03)
    assert [line["path"] for line in json_lines(stream)] == ["/early"]


async def test_close_writes_pending_lines_and_stops_the_timer() -> None:
    stream = Counting()
    access = AccessLog(stream, fmt="json", flush_interval=10.0)
    access.start()
    access.record("GET", "/a", 200, 1.0, "r1")
    access.record("GET", "/b", 404, 2.0, "r2")
    await access.close()
    assert [line["path"] for line in json_lines(stream)] == ["/a", "/b"]
    assert access._timer is None
    access.record("GET", "/late", 200, 1.0, "r3")  # kept, not written by a timer
    await asyncio.sleep(0.02)
    assert stream.writes == 1
    access.flush()
    assert json_lines(stream)[-1]["path"] == "/late"


def test_flush_is_synchronous_and_a_noop_when_empty() -> None:
    stream = Counting()
    access = AccessLog(stream, fmt="json")
    access.flush()
    assert stream.writes == 0
    access.record("GET", "/", 200, 1.0, "r1")
    access.flush()
    assert stream.writes == 1
    assert access.pending == 0


def test_json_line_fields() -> None:
    stream = io.StringIO()
    access = AccessLog(stream, fmt="json")
    access.record("POST", "/users/7", 201, 1.23456, "abc-1")
    access.flush()
    [line] = json_lines(stream)
    assert list(line) == ["ts", "level", "logger", "method", "path", "status", "duration_ms", "request_id"]
    assert TS.fullmatch(line["ts"])
    assert line["level"] == "info"
    assert line["logger"] == "mega.access"
    assert (line["method"], line["path"], line["status"]) == ("POST", "/users/7", 201)
    assert line["duration_ms"] == 1.235
    assert line["request_id"] == "abc-1"


def test_json_escapes_hostile_paths() -> None:
    stream = io.StringIO()
    access = AccessLog(stream, fmt="json")
    access.record("GET", '/a"\n{"forged":1}', 200, 1.0, "r")
    access.flush()
    [line] = json_lines(stream)
    assert line["path"] == '/a"\n{"forged":1}'


def test_pretty_line() -> None:
    stream = Counting(tty=False)
    access = AccessLog(stream, fmt="pretty")
    access.record("GET", "/hello", 200, 1.234, "r-9")
    access.flush()
    assert re.fullmatch(r"\d\d:\d\d:\d\d GET /hello 200 1\.23ms rid=r-9\n", stream.getvalue())


def test_pretty_colours_the_status_on_a_tty_only() -> None:
    tty = Counting(tty=True)
    access = AccessLog(tty, fmt="pretty")
    access.record("GET", "/boom", 500, 1.0, "r")
    access.flush()
    assert "\x1b[31m500\x1b[0m" in tty.getvalue()


def test_pretty_escapes_control_characters_in_the_path() -> None:
    stream = io.StringIO()
    access = AccessLog(stream, fmt="pretty")
    access.record("GET", "/a\n12:00:00 GET /forged 200", 200, 1.0, "r")
    access.flush()
    assert len(stream.getvalue().splitlines()) == 1
    assert "/a\\n12:00:00" in stream.getvalue()


def test_pending_lines_are_capped_and_drops_counted_and_logged(records: list[logging.LogRecord]) -> None:
    stream = io.StringIO()
    access = AccessLog(stream, fmt="json", max_pending=10)
    for i in range(15):
        access.record("GET", f"/{i}", 200, 1.0, "r")
    assert access.pending == 10
    access.flush()
    assert [line["path"] for line in json_lines(stream)] == [f"/{i}" for i in range(10)]
    assert access.dropped == 5
    [warning] = [r for r in records if r.name == "mega.access"]
    assert warning.levelno == logging.WARNING
    assert "dropped 5 lines" in warning.getMessage()


def test_default_cap_is_100_000() -> None:
    assert MAX_PENDING == 100_000
    assert AccessLog(io.StringIO(), fmt="json").max_pending == 100_000


def test_a_broken_sink_does_not_raise_and_is_reported_once(records: list[logging.LogRecord]) -> None:
    stream = Broken()
    access = AccessLog(stream, fmt="json")
    for _ in range(2):
        access.record("GET", "/", 200, 1.0, "r")
        access.record("GET", "/", 200, 1.0, "r")
        access.flush()  # must not raise
    assert access.pending == 0  # the failed batches are dropped, not kept to grow
    assert access.dropped == 4
    errors = [r for r in records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "No space left on device" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    stream.broken = False
    access.record("GET", "/ok", 200, 1.0, "r")
    access.flush()
    assert json_lines(stream)[0]["path"] == "/ok"
    recovered = [r for r in records if r.levelno == logging.WARNING]
    assert "4 lines were dropped" in recovered[-1].getMessage()


async def test_a_broken_sink_does_not_reach_the_loop() -> None:
    loop = asyncio.get_running_loop()
    problems: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: problems.append(context))
    access = AccessLog(Broken(), fmt="pretty", flush_interval=0.005)
    access.start()
    access.record("GET", "/", 200, 1.0, "r")
    await asyncio.sleep(0.03)
    await access.close()
    assert problems == []
    assert access.dropped == 1


def test_start_outside_a_running_loop_is_an_error() -> None:
    with pytest.raises(MegaError) as info:
        AccessLog(io.StringIO(), fmt="json").start()
    assert info.value.code == "access_log.no_loop"


@pytest.mark.parametrize("kwargs", [{"fmt": "xml"}, {"fmt": "json", "flush_interval": 0},
                                    {"fmt": "json", "max_pending": 0}])
def test_invalid_options(kwargs: dict[str, Any]) -> None:
    with pytest.raises(MegaError):
        AccessLog(io.StringIO(), **kwargs)
