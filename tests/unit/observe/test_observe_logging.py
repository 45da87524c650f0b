from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from mega.errors import MegaError
from mega.observe.logging import configure_logging, get_logger, request_logger

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
ANSI = "\x1b["


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(buf: io.StringIO) -> list[str]:
    return buf.getvalue().splitlines()


def json_lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in lines(buf)]


# -- JSON ---------------------------------------------------------------------------------------


def test_json_line_has_core_fields_in_order() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    get_logger("mega.test").info("hello %s", "world")
    [line] = json_lines(buf)
    assert list(line) == ["ts", "level", "logger", "msg"]
    assert TS.fullmatch(line["ts"])
    assert line["level"] == "info"
    assert line["logger"] == "mega.test"
    assert line["msg"] == "hello world"


def test_json_extra_fields_are_top_level_keys() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    get_logger("mega.test").warning("saved", extra={"user_id": 7, "tags": ["a", "b"]})
    [line] = json_lines(buf)
    assert line["user_id"] == 7
    assert line["tags"] == ["a", "b"]
    assert line["level"] == "warning"


def test_json_extra_field_named_like_a_core_key_does_not_replace_it() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    get_logger("mega.test").info("x", extra={"ts": "mine", "level": "mine"})
    [line] = json_lines(buf)
    assert TS.fullmatch(line["ts"])
    assert line["level"] == "info"
    assert line["extra_ts"] == "mine"
    assert line["extra_level"] == "mine"


def test_json_unserialisable_extra_is_written_as_its_repr() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<thing>"

    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    get_logger("mega.test").info("x", extra={"thing": Thing()})
    assert json_lines(buf)[0]["thing"] == "<thing>"


def test_json_exception_is_in_exc() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        get_logger("mega.test").exception("failed")
    [line] = json_lines(buf)
    assert line["msg"] == "failed"
    assert line["level"] == "error"
    assert line["exc"].startswith("Traceback")
    assert "ZeroDivisionError: division by zero" in line["exc"]


# -- request id -----------------------------------------------------------------------------------


def test_request_logger_carries_request_id_in_json() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    log = request_logger(get_logger("mega.app.blog"), "req-42")
    log.info("one")
    log.error("two")
    first, second = json_lines(buf)
    assert first["request_id"] == "req-42"
    assert second["request_id"] == "req-42"
    assert list(first)[:5] == ["ts", "level", "logger", "msg", "request_id"]
    assert first["logger"] == "mega.app.blog"


def test_request_logger_keeps_the_callers_extra() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    request_logger(get_logger("mega.app.blog"), "req-1").info("x", extra={"order": 9})
    [line] = json_lines(buf)
    assert line["request_id"] == "req-1"
    assert line["order"] == 9


def test_request_logger_carries_request_id_in_pretty() -> None:
    buf = io.StringIO()
    configure_logging(fmt="pretty", stream=buf)
    request_logger(get_logger("mega.app.blog"), "req-42").info("hello")
    [line] = lines(buf)
    assert "request_id=req-42" in line


def test_plain_logger_lines_have_no_request_id() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    get_logger("mega.app.blog").info("x")
    assert "request_id" not in json_lines(buf)[0]


# -- pretty ---------------------------------------------------------------------------------------


def test_pretty_line_shows_time_level_logger_message_and_extras() -> None:
    buf = io.StringIO()
    configure_logging(fmt="pretty", stream=buf)
    get_logger("mega.db").warning("slow query", extra={"ms": 120, "sql": "select 1"})
    [line] = lines(buf)
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} WARNING +mega\.db +slow query +ms=120 sql='select 1'", line)


def test_pretty_has_no_colour_unless_the_stream_is_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    plain = io.StringIO()
    configure_logging(fmt="pretty", stream=plain)
    get_logger("mega.test").info("x")
    assert ANSI not in plain.getvalue()
    tty = Tty()
    configure_logging(fmt="pretty", stream=tty)
    get_logger("mega.test").info("x")
    assert ANSI in tty.getvalue()


def test_pretty_honours_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    tty = Tty()
    configure_logging(fmt="pretty", stream=tty)
    get_logger("mega.test").info("x")
    assert ANSI not in tty.getvalue()


def test_pretty_exception_follows_the_line() -> None:
    buf = io.StringIO()
    configure_logging(fmt="pretty", stream=buf)
    try:
        raise ValueError("bad value")
    except ValueError:
        get_logger("mega.test").exception("failed")
    text = buf.getvalue()
    assert text.splitlines()[0].endswith("failed")
    assert "ValueError: bad value" in text


# -- levels, sinks, reconfiguration -------------------------------------------------------------


def test_level_filters_lines() -> None:
    buf = io.StringIO()
    configure_logging(level="warning", fmt="json", stream=buf)
    log = get_logger("mega.test")
    log.info("hidden")
    log.warning("shown")
    assert [line["msg"] for line in json_lines(buf)] == ["shown"]


def test_file_sink_appends(tmp_path: Path) -> None:
    path = tmp_path / "var" / "log" / "app.log"
    path.parent.mkdir(parents=True)
    path.write_text("earlier line\n")
    configure_logging(fmt="json", sinks=[{"type": "file", "path": str(path)}])
    get_logger("mega.test").info("to the file")
    configure_logging(fmt="json", sinks=[])  # closes the file handler, flushing it
    text = path.read_text().splitlines()
    assert text[0] == "earlier line"
    assert orjson.loads(text[1])["msg"] == "to the file"


def test_file_sink_creates_missing_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "app.log"
    configure_logging(fmt="pretty", sinks=[{"type": "file", "path": str(path)}])
    get_logger("mega.test").info("hello file")
    configure_logging(sinks=[])
    content = path.read_text()
    assert "hello file" in content
    assert ANSI not in content


def test_console_and_file_sinks_both_receive_lines(tmp_path: Path) -> None:
    buf = io.StringIO()
    path = tmp_path / "app.log"
    sinks = [{"type": "console"}, {"type": "file", "path": str(path)}]
    configure_logging(fmt="json", stream=buf, sinks=sinks)
    get_logger("mega.test").info("both")
    configure_logging(sinks=[])
    assert json_lines(buf)[0]["msg"] == "both"
    assert orjson.loads(path.read_text())["msg"] == "both"


def test_unknown_sink_type_names_the_key_and_the_valid_types() -> None:
    with pytest.raises(MegaError) as info:
        configure_logging(sinks=[{"type": "console"}, {"type": "syslog"}])
    err = info.value
    assert err.code == "config.invalid_value"
    assert "logger.sinks[1].type" in err.message
    assert "console" in err.message and "file" in err.message
    assert err.details["key"] == "logger.sinks[1].type"
    assert err.details["valid"] == ["console", "file", "telegram"]


def test_bad_sink_leaves_the_previous_configuration_working() -> None:
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    with pytest.raises(MegaError):
        configure_logging(fmt="json", sinks=[{"type": "nope"}])
    get_logger("mega.test").info("still here")
    assert json_lines(buf)[0]["msg"] == "still here"


def test_file_sink_without_path_is_an_error() -> None:
    with pytest.raises(MegaError) as info:
        configure_logging(sinks=[{"type": "file"}])
    assert info.value.code == "config.invalid_value"
    assert info.value.details["key"] == "logger.sinks[0].path"


@pytest.mark.parametrize(("kwargs", "key"), [({"level": "loud"}, "logger.level"),
                                              ({"fmt": "xml"}, "logger.format")])
def test_invalid_level_or_format(kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(MegaError) as info:
        configure_logging(**kwargs)
    assert info.value.code == "config.invalid_value"
    assert info.value.details["key"] == key


def test_configuring_twice_does_not_duplicate_lines() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(fmt="json", stream=first)
    configure_logging(fmt="json", stream=second)
    get_logger("mega.test").info("once")
    logging.getLogger("uvicorn.error").info("uvicorn once")
    assert first.getvalue() == ""
    assert [line["msg"] for line in json_lines(second)] == ["once", "uvicorn once"]


def test_uvicorn_logs_go_through_mega_and_its_access_log_is_off(capsys: pytest.CaptureFixture[str]) -> None:
    buf = io.StringIO()
    logging.getLogger("uvicorn").addHandler(logging.StreamHandler(io.StringIO()))  # uvicorn's own config
    configure_logging(fmt="json", stream=buf)
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("uvicorn.access").warning("GET / 200")
    assert "GET / 200" not in capsys.readouterr().err  # not even through logging's last-resort handler
    assert [(line["logger"], line["msg"]) for line in json_lines(buf)] == [
        ("uvicorn.error", "Started server process")]
    assert len(logging.getLogger("uvicorn").handlers) == 1


def test_root_logger_and_other_libraries_are_left_alone() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    other = logging.getLogger("some.library")
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    other.warning("not mega")
    assert root.handlers == before
    assert buf.getvalue() == ""
    assert logging.getLogger("mega").propagate is False  # not written again by root's handlers
    assert type(other) is logging.Logger


class CallSites(logging.Handler):
    """A user's own handler printing the stdlib's call-site fields."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(filename)s %(funcName)s:%(lineno)d %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def call_sites() -> Iterator[CallSites]:
    configure_logging(level="debug", fmt="json", stream=io.StringIO())  # mega's own handlers are live too
    handler = CallSites()
    app_log = logging.getLogger("mega.app.sites")
    app_log.addHandler(handler)
    yield handler
    app_log.removeHandler(handler)


def _line_of(marker: str) -> int:
    source = Path(__file__).read_text().splitlines()
    return next(i for i, text in enumerate(source, 1) if marker in text and "_line_of" not in text)


def test_a_users_handler_sees_the_call_site_of_app_log_lines(call_sites: CallSites) -> None:
    app_log = get_logger("mega.app.sites")
    for _ in range(3):  # every line, not only the first one a logger writes
        app_log.info("plain")  # site: app_log
    line = _line_of("# site: app_log")
    assert call_sites.lines == [f"test_observe_logging.py test_a_users_handler_sees_the_call_site_of_app_log_"
                                f"lines:{line} plain"] * 3


def test_a_users_handler_sees_the_call_site_of_request_logger_lines(call_sites: CallSites) -> None:
    ctx_log = request_logger(get_logger("mega.app.sites"), "req-1")
    ctx_log.debug("d")  # site: debug
    ctx_log.info("i %s", 1)  # site: info
    ctx_log.warning("w", extra={"k": 1})  # site: warning
    ctx_log.error("e")  # site: error
    ctx_log.critical("c")  # site: critical
    ctx_log.log(logging.INFO, "l")  # site: log
    try:
        raise ValueError("boom")
    except ValueError:
        ctx_log.exception("x")  # site: exception
    ctx_log.info("s", stack_info=True)  # site: stack_info
    ctx_log.info("t", stacklevel=1)  # site: stacklevel
    ctx_log.warn("v")  # site: deprecated warn
    name = "test_a_users_handler_sees_the_call_site_of_request_logger_lines"
    expected = [("debug", "d"), ("info", "i 1"), ("warning", "w"), ("error", "e"), ("critical", "c"),
                ("log", "l"), ("exception", "x"), ("stack_info", "s"), ("stacklevel", "t"),
                ("deprecated warn", "v")]
    assert [line.splitlines()[0] for line in call_sites.lines] == [
        f"test_observe_logging.py {name}:{_line_of(f'# site: {site}')} {message}"
        for site, message in expected
    ]
    assert "Traceback" in call_sites.lines[6] and "ValueError: boom" in call_sites.lines[6]
    assert "Stack (most recent call last)" in call_sites.lines[7]


def test_a_users_handler_sees_the_handlers_call_site_of_ctx_log(make_client: Any) -> None:
    handler = CallSites()
    app_log = logging.getLogger("mega.app.main")
    app_log.addHandler(handler)
    configure_logging(level="info", fmt="json", stream=io.StringIO())

    async def show(req: Any, reply: Any, ctx: Any) -> int:
        ctx.log.info("from ctx")  # site: ctx.log
        return 1

    async def go() -> None:
        async with make_client(lambda r: r.get("/", show)) as http:
            for rid in ("rid-7", "rid-8"):
                assert (await http.get("/", headers={"x-request-id": rid})).status_code == 200

    try:
        asyncio.run(go())
    finally:
        app_log.removeHandler(handler)
    assert handler.lines == [f"test_observe_logging.py show:{_line_of('# site: ctx.log')} from ctx"] * 2


def test_mega_leaves_logger_classes_and_the_global_switches_alone() -> None:
    configure_logging(fmt="json", stream=io.StringIO())
    log = logging.getLogger("mega.created_after_configure")
    log.info("first")
    log.info("second")
    assert type(log) is logging.Logger
    assert type(logging.getLogger("mega")) is logging.Logger
    assert logging._srcfile is not None


def test_empty_sinks_discard_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(sinks=[])
    get_logger("mega.test").error("nowhere")
    captured = capsys.readouterr()
    assert "nowhere" not in captured.err + captured.out


def test_console_sink_defaults_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt="json")
    get_logger("mega.test").info("to stderr")
    captured = capsys.readouterr()
    assert "to stderr" in captured.err
    assert "to stderr" not in captured.out
