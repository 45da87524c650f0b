"""The development error page: a server error, for a client that prefers HTML (a browser), as a
page with the traceback, the request and the route. Only ever built in development (the caller
decides); JSON clients keep the envelope. Every value on the page is escaped."""

from __future__ import annotations

import traceback
from html import escape
from typing import Any

from mega.errors import MegaError
from mega.http.request import Request

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_JSON_TYPES = ("application/json", "application/*", "*/*")
_HIDDEN = frozenset({"authorization", "proxy-authorization", "cookie"})
_BODY_SHOWN = 4096

_STYLE = (
    "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}"
    "header{background:#b3261e;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}"
    "header p{margin:6px 0 0;opacity:.9}main{padding:8px 28px 28px}h2{font-size:15px;margin:22px 0 8px}"
    "table{border-collapse:collapse}td{padding:3px 14px 3px 0;vertical-align:top}"
    "td:first-child{color:#666;white-space:nowrap}pre{background:#fff;border:1px solid #ddd;"
    "padding:12px;overflow:auto;font:12.5px/1.4 ui-monospace,monospace;white-space:pre-wrap}"
    "footer{color:#777;padding:0 28px 24px}"
)


def prefers_html(headers: list[tuple[bytes, bytes]]) -> bool:
    """True when Accept ranks an HTML type above JSON (a browser); `*/*` alone means JSON."""
    accept = None  # one plain loop: this runs for every 404 of an app with error pages
    for field, content in headers:
        if field == b"accept":
            accept = content if accept is None else accept + b"," + content
    if accept is None or b"html" not in accept:
        return False
    html = json = 0.0
    for part in accept.decode("latin-1").split(","):
        media, _, params = part.partition(";")
        media = media.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media in _HTML_TYPES:
            html = max(html, q)
        elif media in _JSON_TYPES or media.endswith("+json"):
            json = max(json, q)
    return html > 0 and html > json


def render(exc: BaseException, req: Request, status: int, *, route: str, handler: str, app: str) -> bytes:
    """The page, as UTF-8 bytes."""
    kind = type(exc).__name__
    title = f"{status} {kind}" + (f" [{exc.code}]" if isinstance(exc, MegaError) else "")
    message = exc.message if isinstance(exc, MegaError) else str(exc)
    error_rows: list[tuple[str, Any]] = []
    if isinstance(exc, MegaError):
        error_rows += [("code", exc.code), ("details", exc.details)]
        if exc.dev_details:
            error_rows.append(("dev details", exc.dev_details))
        if exc.hint:
            error_rows.append(("hint", exc.hint))
    request_rows: list[tuple[str, Any]] = [
        ("method", req.method), ("path", req.path), ("query", req.query_string or "(none)"),
        ("request id", req.request_id), ("params", req.params or "(none)"),
    ]
    header_rows = [(name, "(hidden)" if name in _HIDDEN else value) for name, value in req.headers.items()]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<header><h1>{_e(title)}</h1><p>{_e(message)}</p></header><main>",
        "<h2>Route</h2>", _table([("route", route), ("handler", handler), ("app", app)]),
    ]
    if error_rows:
        parts += ["<h2>Error</h2>", _table(error_rows)]
    parts += ["<h2>Traceback</h2><pre>", _e("".join(traceback.format_exception(exc))), "</pre>",
              "<h2>Request</h2>", _table(request_rows), "<h2>Headers</h2>", _table(header_rows)]
    body = _read_body(req)
    if body is not None:
        parts += ["<h2>Body</h2><pre>", _e(body), "</pre>"]
    parts.append("</main><footer>This page is shown in development only: in production the client gets "
                 "the JSON error envelope and the log has this traceback.</footer></body></html>")
    return "".join(parts).encode("utf-8", "replace")


def _e(value: Any) -> str:
    return escape(value if isinstance(value, str) else repr(value), quote=True)


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><td>{_e(name)}</td><td>{_e(value)}</td></tr>" for name, value in rows)
    return f"<table>{cells}</table>"


def _read_body(req: Request) -> str | None:
    """The body, when the handler read it (the page never reads it itself)."""
    try:
        raw: bytes = req._body
    except AttributeError:
        return None
    text = raw[:_BODY_SHOWN].decode("utf-8", "replace")
    return text + (f"\n... ({len(raw)} bytes in all)" if len(raw) > _BODY_SHOWN else "")
