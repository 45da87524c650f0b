"""Logging for the `mega` logger hierarchy: one handler per sink, JSON or pretty lines.

Only `mega` (and uvicorn's loggers, which mega serves through) are configured; the root logger
and other libraries' loggers are left as they are.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from logging import CRITICAL, DEBUG, ERROR, INFO, WARNING
from logging.handlers import RotatingFileHandler, TimedRotatingFileHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mega.config._checks import Invalid
from mega.config._sinks import SINK_TYPES, sink
from mega.errors import MegaError
from mega.observe._colour import wants_colour
from mega.observe._formatters import JsonFormatter, PrettyFormatter

if TYPE_CHECKING:
    from mega.observe.telegram import TelegramHandler

__all__ = ["FORMATS", "LEVELS", "SINK_TYPES", "configure_logging", "get_logger", "request_logger"]

LEVELS = {
    "debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
    "error": logging.ERROR, "critical": logging.CRITICAL,
}  # fmt: skip
FORMATS = ("json", "pretty")

# uvicorn's own handlers (from its default dictConfig) are replaced: its lines go through mega's.
_UVICORN = ("uvicorn", "uvicorn.error")
_UVICORN_ACCESS = "uvicorn.access"  # off: mega writes its own access log (observe.access)

_installed: list[logging.Handler] = []


def get_logger(name: str = "mega") -> logging.Logger:
    """A logger in the `mega` hierarchy (`get_logger("mega.db")`)."""
    return logging.getLogger(name)


class _RequestLogger(logging.LoggerAdapter[logging.Logger]):
    """Adds `request_id` to every record and, unlike the 3.11 stdlib adapter, keeps the caller's extra.

    Each level method checks the logger's cached level first and builds the record itself, with the
    call site read from the caller's frame: the same file, line and function the stdlib would find,
    without its walk up the stack. Loggers themselves are left plain stdlib loggers.
    """

    def __init__(self, logger: logging.Logger, request_id: str) -> None:
        # Not LoggerAdapter.__init__: one is built per request that logs.
        self.logger = logger
        self.extra = {"request_id": request_id}
        self.request_id = request_id

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = kwargs.get("extra")
        kwargs["extra"] = self.extra if extra is None else {"request_id": self.request_id, **extra}
        return msg, kwargs

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(DEBUG):
            self._emit(DEBUG, msg, args, **kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(INFO):
            self._emit(INFO, msg, args, **kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(WARNING):
            self._emit(WARNING, msg, args, **kwargs)

    warn = warning  # the deprecated alias, bound to the same frame layout

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(ERROR):
            self._emit(ERROR, msg, args, **kwargs)

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(ERROR):
            self._emit(ERROR, msg, args, exc_info=exc_info, **kwargs)

    def critical(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(CRITICAL):
            self._emit(CRITICAL, msg, args, **kwargs)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(level):
            self._emit(level, msg, args, **kwargs)

    def _emit(
        self,
        level: int,
        msg: object,
        args: tuple[object, ...],
        exc_info: Any = None,
        extra: Mapping[str, object] | None = None,
        stack_info: bool = False,
        stacklevel: int = 1,
    ) -> None:
        logger = self.logger
        extra = self.extra if extra is None else {"request_id": self.request_id, **extra}
        if stack_info or stacklevel != 1:
            # The stdlib's own lookup, told to skip this frame and the level method's.
            logger._log(level, msg, args, exc_info, extra, stack_info, stacklevel + 2)
            return
        frame = sys._getframe(2)  # 0: _emit, 1: the level method, 2: the call site
        code = frame.f_code
        if exc_info:
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                exc_info = sys.exc_info()
        logger.handle(logger.makeRecord(logger.name, level, code.co_filename, frame.f_lineno, msg, args,
                                        exc_info, code.co_name, extra, None))


def request_logger(base: logging.Logger, request_id: str) -> logging.LoggerAdapter[logging.Logger]:
    """A logger for one request: every line it writes carries `request_id`."""
    return _RequestLogger(base, request_id)


def configure_logging(
    *,
    level: str = "info",
    fmt: str = "pretty",
    sinks: list[dict[str, Any]] | None = None,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Send the `mega` and uvicorn loggers to `sinks` in `fmt` at `level`; calling again replaces it all.

    `stream` replaces the console sink's stream (stderr by default), e.g. to capture lines in tests.
    An empty `sinks` list discards mega's lines. `environ` (default `os.environ`) supplies a telegram
    sink's `MEGA_TELEGRAM_TOKEN` and `MEGA_TELEGRAM_CHAT_ID` when the sink does not set them.
    """
    levelno = _level(level)
    if fmt not in FORMATS:
        raise MegaError("config.invalid_value", f"logger.format must be one of {', '.join(FORMATS)}, "
                        f"got {fmt!r}", details={"key": "logger.format", "value": fmt},
                        hint="use 'pretty' in development and 'json' in production")
    specs = [{"type": "console"}] if sinks is None else sinks
    env = os.environ if environ is None else environ
    # Build every handler before touching the live config: a bad sink leaves the old one working.
    handlers: list[logging.Handler] = []
    try:
        for i, spec in enumerate(specs):
            handlers.append(_handler(spec, i, fmt, stream, env))
    except MegaError:
        for handler in handlers:  # files opened for the sinks before the bad one
            handler.close()
        raise
    if not handlers:
        handlers = [logging.NullHandler()]
    _uninstall()
    _install(handlers, levelno)


def _install(handlers: list[logging.Handler], levelno: int) -> None:
    mega = logging.getLogger("mega")
    mega.setLevel(levelno)
    mega.propagate = False  # mega's lines are written once, by mega's handlers, not again by root's
    uvicorn = logging.getLogger(_UVICORN[0])
    uvicorn.handlers.clear()
    uvicorn.setLevel(levelno)
    uvicorn.propagate = False
    for handler in handlers:
        mega.addHandler(handler)
        uvicorn.addHandler(handler)
    error = logging.getLogger(_UVICORN[1])  # propagates to "uvicorn", so to the same handlers
    error.handlers.clear()
    error.setLevel(logging.NOTSET)
    error.propagate = True
    access = logging.getLogger(_UVICORN_ACCESS)
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    _installed.extend(handlers)


def _uninstall() -> None:
    """Remove and close the handlers a previous `configure_logging` installed (others stay)."""
    for name in ("mega", *_UVICORN):
        logger = logging.getLogger(name)
        for handler in _installed:
            logger.removeHandler(handler)
    for handler in _installed:
        handler.close()
    _installed.clear()


def _level(level: str) -> int:
    levelno = LEVELS.get(level.lower()) if isinstance(level, str) else None
    if levelno is None:
        raise MegaError("config.invalid_value", f"logger.level must be one of {', '.join(LEVELS)}, "
                        f"got {level!r}", details={"key": "logger.level", "value": level})
    return levelno


def _handler(raw: Any, i: int, fmt: str, stream: TextIO | None,
             environ: Mapping[str, str]) -> logging.Handler:
    key = f"logger.sinks[{i}]"
    try:
        spec = sink(raw)
    except Invalid as exc:
        details: dict[str, Any] = {"key": f"{key}{exc.subkey}"}
        if exc.subkey == ".type":
            details["valid"] = list(SINK_TYPES)
        raise MegaError(exc.code, f"{key}{exc.subkey} {exc.text}", details=details, hint=exc.hint) from None
    kind = spec["type"]
    handler: logging.Handler
    if kind == "telegram":
        return _telegram_handler(spec, key, environ)
    if kind == "console":
        out = stream if stream is not None else sys.stdout if spec["stream"] == "stdout" else sys.stderr
        handler = logging.StreamHandler(out)
    else:
        handler = _file_handler(spec, key)
    if spec["level"] is not None:
        handler.setLevel(LEVELS[spec["level"]])
    if (spec["format"] or fmt) == "json":
        handler.setFormatter(JsonFormatter())
    else:
        colour = (kind == "console" and isinstance(handler, logging.StreamHandler)
                  and wants_colour(handler.stream))
        handler.setFormatter(PrettyFormatter(colour=colour))
    return handler


def _file_handler(spec: dict[str, Any], key: str) -> logging.FileHandler:
    path = Path(spec["path"])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if spec["max_bytes"] is not None:
            return RotatingFileHandler(path, maxBytes=spec["max_bytes"], backupCount=spec["backups"],
                                       encoding="utf-8")
        if spec["rotate_every"] is not None:
            seconds = max(1, round(spec["rotate_every"]))
            return TimedRotatingFileHandler(path, when="S", interval=seconds, backupCount=spec["backups"],
                                            encoding="utf-8")
        return logging.FileHandler(path, mode="a", encoding="utf-8")
    except OSError as exc:
        raise MegaError("config.invalid_value", f"{key}.path {str(path)!r} cannot be opened: {exc}",
                        details={"key": f"{key}.path", "value": str(path)},
                        hint="point it at a writable file", cause=exc) from exc


def _telegram_handler(spec: dict[str, Any], key: str, environ: Mapping[str, str]) -> TelegramHandler:
    from mega.observe.telegram import TelegramHandler  # urllib.request: only with a telegram sink

    token = _required(spec["token"] or environ.get("MEGA_TELEGRAM_TOKEN"), f"{key}.token",
                      "MEGA_TELEGRAM_TOKEN")
    chat_id = _required(spec["chat_id"] or environ.get("MEGA_TELEGRAM_CHAT_ID"), f"{key}.chat_id",
                        "MEGA_TELEGRAM_CHAT_ID")
    return TelegramHandler(token, chat_id, api_url=spec["api_url"], level=LEVELS[spec["level"]],
                           title=spec["title"], batch_size=spec["batch_size"],
                           flush_interval=spec["flush_interval"], min_interval=spec["min_interval"],
                           queue_size=spec["queue_size"], timeout=spec["timeout"])


def _required(value: str | None, key: str, var: str) -> str:
    if not value:
        name = key.rpartition(".")[2]
        raise MegaError("config.invalid_value", f"{key} is required for a telegram sink",
                        details={"key": key},
                        hint=f"set {var} in the environment (or .env), or {name!r} in the sink")
    return value
