"""Logging sinks: per-sink level and format, rotating files, the Telegram sink against a loopback server."""

from __future__ import annotations

import io
import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mega.config import load_project_config
from mega.errors import MegaError
from mega.observe.logging import configure_logging, get_logger, request_logger
from mega.observe.telegram import TelegramHandler
from mega.testing import write_project


class BotApi:
    """A Bot API stand-in on 127.0.0.1 that records each POST; `status`/`delay` shape its answers."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any], float]] = []
        self.status = 200
        self.delay = 0.0
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with api.lock:
                    api.posts.append((self.path, body, time.monotonic()))
                time.sleep(api.delay)
                payload = b'{"ok": true}' if api.status == 200 else b'{"ok": false}'
                self.send_response(api.status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.posts) >= count, f"{len(self.posts)} post(s), expected {count}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bot() -> Iterator[BotApi]:
    api = BotApi()
    yield api
    api.close()


def telegram_sink(bot: BotApi, **options: Any) -> dict[str, Any]:
    return {
        "type": "telegram",
        "token": "123:secret",
        "chat_id": -1001,
        "api_url": bot.url,
        "flush_interval": 0.2,
        "min_interval": 0,
        **options,
    }


def telegram_handler() -> TelegramHandler:
    found = [h for h in logging.getLogger("mega").handlers if isinstance(h, TelegramHandler)]
    assert len(found) == 1
    return found[0]


def test_error_lines_reach_the_chat_in_one_batched_message(bot: BotApi) -> None:
    configure_logging(level="info", sinks=[telegram_sink(bot)])
    log = get_logger("mega.app")
    log.info("not an alert")
    log.warning("not an alert either")
    for i in range(5):
        log.error("payment %d failed", i)
    bot.wait_for(1)
    time.sleep(0.4)  # nothing else comes
    assert len(bot.posts) == 1
    path, body, _ = bot.posts[0]
    assert path == "/bot123:secret/sendMessage"
    assert body["chat_id"] == "-1001"
    text = body["text"]
    assert [f"payment {i} failed" in text for i in range(5)] == [True] * 5
    assert "ERROR mega.app" in text and "not an alert" not in text
    assert telegram_handler().stats() == {"queued": 0, "sent": 1, "failed": 0, "dropped": 0}


def test_alerts_carry_the_request_id_and_the_traceback(bot: BotApi) -> None:
    configure_logging(sinks=[telegram_sink(bot, flush_interval=0.01, title="shop (production)")])
    try:
        raise ValueError("card declined")
    except ValueError:
        request_logger(get_logger("mega.app.billing"), "rid-42").exception("charge failed")
    bot.wait_for(1)
    text = bot.posts[0][1]["text"]
    assert text.startswith("shop (production)\nERROR mega.app.billing: charge failed (request rid-42)\n")
    assert "Traceback" in text and "ValueError: card declined" in text


def test_posts_are_rate_limited_and_lines_between_them_are_batched(bot: BotApi) -> None:
    configure_logging(sinks=[telegram_sink(bot, flush_interval=0.05, min_interval=0.6, batch_size=2)])
    log = get_logger("mega.app")
    for i in range(6):
        log.error("boom %d", i)
    bot.wait_for(3)
    times = [t for _, _, t in bot.posts]
    assert all(later - earlier >= 0.55 for earlier, later in itertools.pairwise(times))
    texts = [body["text"] for _, body, _ in bot.posts]
    assert "boom 0" in texts[0] and "boom 1" in texts[0] and "boom 5" in texts[2]


def test_logging_never_waits_for_a_slow_api_and_a_full_queue_drops_with_a_count(bot: BotApi) -> None:
    bot.delay = 1.0
    configure_logging(sinks=[telegram_sink(bot, queue_size=3, batch_size=1, flush_interval=0.01)])
    log = get_logger("mega.app")
    log.error("first")  # taken by the sender, which then hangs in the slow post
    bot.wait_for(1)
    started = time.perf_counter()
    for i in range(50):
        log.error("burst %d", i)
    assert time.perf_counter() - started < 0.5  # 50 emits while the API hangs: none waited on it
    handler = telegram_handler()
    assert handler.dropped == 47 and handler.stats()["queued"] == 3


def test_a_failing_api_is_logged_locally_once_then_again_when_it_recovers(
    bot: BotApi, records: list[logging.LogRecord]
) -> None:
    bot.status = 500
    configure_logging(
        level="debug",
        sinks=[
            telegram_sink(bot, batch_size=1, flush_interval=0.01),
            {"type": "console", "stream": "stderr"},
        ],
    )
    log = get_logger("mega.app")
    for i in range(4):
        log.error("down %d", i)
    bot.wait_for(4)
    time.sleep(0.2)
    own = [r for r in records if r.name == "mega.observe.telegram"]
    assert len(own) == 1 and own[0].levelno == logging.WARNING
    assert "HTTP 500" in own[0].getMessage() and "secret" not in own[0].getMessage()
    assert len(bot.posts) == 4  # its own warning was never posted: no loop
    bot.status = 200
    log.error("up again")
    bot.wait_for(5)
    time.sleep(0.2)
    own = [r for r in records if r.name == "mega.observe.telegram"]
    assert len(own) == 2 and "posting again (4 message(s) failed" in own[1].getMessage()
    assert telegram_handler().stats()["sent"] == 1


def test_a_warning_level_sink_never_posts_its_own_failure_and_closes_without_hanging(bot: BotApi) -> None:
    bot.status = 500
    configure_logging(sinks=[telegram_sink(bot, level="warning", batch_size=1, flush_interval=0.01)])
    get_logger("mega.app").warning("disk almost full")
    bot.wait_for(1)
    get_logger("mega.app").warning("disk full")  # queued while the failure is being logged
    started = time.monotonic()
    configure_logging(sinks=[])
    assert time.monotonic() - started < 5
    assert all("telegram sink" not in body["text"] for _, body, _ in bot.posts)


def test_close_sends_what_is_queued(bot: BotApi) -> None:
    configure_logging(sinks=[telegram_sink(bot, flush_interval=30)])
    get_logger("mega.app").error("last words")
    configure_logging(sinks=[])  # replaces (closes) the sink: it flushes first
    assert len(bot.posts) == 1 and "last words" in bot.posts[0][1]["text"]


def test_token_and_chat_id_come_from_the_environment(bot: BotApi) -> None:
    configure_logging(
        sinks=[{"type": "telegram", "api_url": bot.url, "min_interval": 0, "flush_interval": 0.01}],
        environ={"MEGA_TELEGRAM_TOKEN": "9:env", "MEGA_TELEGRAM_CHAT_ID": "42"},
    )
    get_logger("mega.app").critical("from env")
    bot.wait_for(1)
    assert bot.posts[0][0] == "/bot9:env/sendMessage" and bot.posts[0][1]["chat_id"] == "42"


def test_a_telegram_sink_without_a_token_names_the_variable_to_set() -> None:
    with pytest.raises(MegaError) as info:
        configure_logging(sinks=[{"type": "telegram", "chat_id": 1}], environ={})
    assert info.value.code == "config.invalid_value"
    assert info.value.details["key"] == "logger.sinks[0].token"
    assert "MEGA_TELEGRAM_TOKEN" in (info.value.hint or "")


def test_size_rotation_keeps_the_configured_backups(tmp_path: Path) -> None:
    path = tmp_path / "log" / "app.log"
    configure_logging(
        fmt="json", sinks=[{"type": "file", "path": str(path), "max_bytes": 2048, "backups": 2}]
    )
    log = get_logger("mega.app")
    for i in range(200):
        log.info("line %03d %s", i, "x" * 40)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["app.log", "app.log.1", "app.log.2"]
    assert all(p.stat().st_size <= 2048 for p in path.parent.iterdir())
    assert "line 199" in path.read_text()


def test_time_rotation_rolls_the_file_over_after_its_interval(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    configure_logging(sinks=[{"type": "file", "path": str(path), "rotate_every": "1s", "backups": 3}])
    log = get_logger("mega.app")
    log.info("before")
    time.sleep(1.2)
    log.info("after")
    rotated = [p for p in tmp_path.iterdir() if p.name != "app.log"]
    assert len(rotated) == 1 and "before" in rotated[0].read_text()
    assert "after" in path.read_text() and "before" not in path.read_text()


def test_each_sink_can_have_its_own_level_and_format(tmp_path: Path) -> None:
    path = tmp_path / "errors.log"
    stream = io.StringIO()
    configure_logging(
        level="info",
        fmt="pretty",
        stream=stream,
        sinks=[{"type": "console"}, {"type": "file", "path": str(path), "level": "error", "format": "json"}],
    )
    log = get_logger("mega.app")
    log.info("routine")
    log.error("bad")
    assert "routine" in stream.getvalue() and "bad" in stream.getvalue()
    lines = path.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["msg"] == "bad"


@pytest.mark.parametrize(
    ("sink", "key", "code", "hint"),
    [
        (
            {"type": "file", "path": "a.log", "max_byte": 10_000},
            "logger.sinks[0].max_byte",
            "config.unknown_key",
            "did you mean 'max_bytes'",
        ),
        (
            {"type": "file", "path": "a.log", "max_bytes": 10_000, "rotate_every": 60},
            "logger.sinks[0].rotate_every",
            "config.invalid_value",
            "keep one of",
        ),
        (
            {"type": "file", "path": "a.log", "rotate_every": "soon"},
            "logger.sinks[0].rotate_every",
            "config.invalid_value",
            "'5m'",
        ),
        ({"type": "telegram", "batch_size": 0}, "logger.sinks[0].batch_size", "config.invalid_value", None),
    ],
)
def test_bad_sink_options_are_config_problems_with_the_key(
    tmp_path: Path, sink: dict[str, Any], key: str, code: str, hint: str | None
) -> None:
    root = write_project(
        tmp_path,
        {
            "mega_config.py": f"config = {{'logger': {{'sinks': [{sink!r}]}}}}\n",
            "apps/main/routes/r.py": "def routes(router):\n    pass\n",
        },
    )
    with pytest.raises(MegaError) as info:
        load_project_config(root, environ={})
    problems = info.value.details["problems"]
    assert [(p["code"], p["key"]) for p in problems] == [(code, key)]
    if hint is not None:
        assert hint in problems[0]["hint"]
