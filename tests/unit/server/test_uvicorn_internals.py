"""mega's HTTP protocol rebuilds uvicorn internals: each one it relies on is checked here, by name.

When a uvicorn upgrade moves one of them, this fails and names it, instead of the server misbehaving.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections.abc import Callable

import httptools
import pytest
import uvicorn
from uvicorn.protocols.http import flow_control, httptools_impl
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.protocol import Protocol
from websockets.server import ServerProtocol

from mega.server import UVICORN_TESTED

# Module-level names imported by mega.server._uvicorn_cycle / _uvicorn_protocol.
MODULE_NAMES = {
    "uvicorn.protocols.http.httptools_impl": (
        "HEADER_RE", "HEADER_VALUE_RE", "STATUS_LINE", "HttpToolsProtocol", "RequestResponseCycle",
    ),
    "uvicorn.protocols.utils": ("get_client_addr", "get_path_with_query_string"),
    "uvicorn._types": ("ASGISendEvent", "HTTPResponseStartEvent"),
}  # fmt: skip

# Methods mega overrides or calls, with the parameters it passes.
METHODS: dict[type, dict[str, tuple[str, ...]]] = {
    httptools_impl.HttpToolsProtocol: {
        "connection_made": ("self", "transport"),
        "connection_lost": ("self", "exc"),
        "data_received": ("self", "data"),
        "handle_websocket_upgrade": ("self",),
        "on_message_begin": ("self",),
        "on_headers_complete": ("self",),
        "on_header": ("self", "name", "value"),
        "on_body": ("self", "body"),
        "on_response_complete": ("self",),
        "_start_asgi_task": ("self", "cycle", "app"),
        "send_400_response": ("self", "msg"),
        "_should_upgrade": ("self",),
        "_unsupported_upgrade_warning": ("self",),
    },
    httptools_impl.RequestResponseCycle: {
        # mega builds its cycle with these, by position (mega.server._uvicorn_protocol.on_headers_complete).
        "__init__": ("self", "scope", "transport", "flow", "logger", "access_logger", "access_log",
                     "default_headers", "message_event", "expect_100_continue", "keep_alive", "on_response"),
        "send": ("self", "message"),
        "send_500_response": ("self",),
        "run_asgi": ("self", "app"),
    },
    flow_control.FlowControl: {"drain": ("self",), "resume_reading": ("self",)},
    # mega.server._uvicorn_ws: permessage-deflate negotiated when the app accepts.
    WebSocketsSansIOProtocol: {"send": ("self", "message"), "handle_connect": ("self", "event"),
                               "connection_lost": ("self", "exc")},
    ServerProtocol: {"process_extensions": ("self", "headers")},
}
ASYNC_METHODS = {(WebSocketsSansIOProtocol, "send"),
                 (httptools_impl.RequestResponseCycle, "send"), (httptools_impl.RequestResponseCycle,
                 "send_500_response"), (httptools_impl.RequestResponseCycle, "run_asgi"),
                 (flow_control.FlowControl, "drain")}  # fmt: skip

# Instance attributes mega reads or writes: uvicorn's own code must assign each one (`self.<name> = ...`).
ATTRIBUTES: dict[type, tuple[str, ...]] = {
    httptools_impl.HttpToolsProtocol: (
        "loop", "logger", "transport", "flow", "parser", "url", "headers", "scope", "cycle",
        "server_state", "timeout_keep_alive_task", "pipeline", "tasks", "expect_100_continue",
        # read by mega's own on_message_begin / on_headers_complete / on_response_complete and the sweep
        "asgi_version", "root_path", "app_state", "limit_concurrency", "connections", "app", "config",
        "access_logger", "access_log", "server", "client", "scheme", "timeout_keep_alive",
    ),
    httptools_impl.RequestResponseCycle: (
        "scope", "transport", "flow", "access_logger", "access_log", "default_headers", "message_event",
        "on_response", "disconnected", "keep_alive", "waiting_for_100_continue", "response_started",
        "response_complete",
    ),
    flow_control.FlowControl: ("write_paused",),
    ServerState: ("default_headers",),
    WebSocketsSansIOProtocol: ("conn", "request", "response", "handshake_complete", "initial_response",
                               "scope", "writable", "disconnected", "close_sent", "transport"),
    ServerProtocol: ("available_extensions",),
    Protocol: ("extensions", "expect_continuation_frame", "writes"),
}  # fmt: skip


def _fail(name: str, what: str) -> None:
    pytest.fail(
        f"mega's HTTP protocol rebuilds uvicorn internals tested on uvicorn {UVICORN_TESTED}; "
        f"uvicorn {uvicorn.__version__} changed {name}: {what}. Update mega.server._uvicorn_protocol / "
        "_uvicorn_cycle / _uvicorn_ws for it, or pin uvicorn to a tested version.",
        pytrace=False,
    )


def _assigned_attributes(cls: type) -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    names = set()
    for node in ast.walk(tree):
        targets = (
            node.targets if isinstance(node, ast.Assign)
            else [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else []
        )  # fmt: skip
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                    and target.value.id == "self":
                names.add(target.attr)
    return names


def _function_tree(function: Callable[..., object]) -> ast.AST:
    return ast.parse(textwrap.dedent(inspect.getsource(function)))


def test_installed_uvicorn_is_a_tested_minor_version() -> None:
    minor = ".".join(uvicorn.__version__.split(".")[:2])
    if minor not in UVICORN_TESTED.split(", "):
        _fail("its version", f"mega was tested on {UVICORN_TESTED} only")


@pytest.mark.parametrize("module", sorted(MODULE_NAMES))
def test_module_names_mega_imports_exist(module: str) -> None:
    loaded = importlib.import_module(module)
    for name in MODULE_NAMES[module]:
        if not hasattr(loaded, name):
            _fail(f"{module}.{name}", "it no longer exists")


@pytest.mark.parametrize("cls", list(METHODS), ids=lambda c: c.__name__)
def test_methods_mega_overrides_or_calls_keep_their_signature(cls: type) -> None:
    for name, params in METHODS[cls].items():
        method = getattr(cls, name, None)
        if method is None:
            _fail(f"{cls.__name__}.{name}", "the method is gone")
        found = tuple(inspect.signature(method).parameters)
        if found != params:
            _fail(f"{cls.__name__}.{name}", f"parameters are {found}, mega expects {params}")
        if ((cls, name) in ASYNC_METHODS) != inspect.iscoroutinefunction(method):
            _fail(f"{cls.__name__}.{name}", "it changed between a coroutine function and a plain one")


@pytest.mark.parametrize("cls", list(ATTRIBUTES), ids=lambda c: c.__name__)
def test_attributes_mega_uses_are_still_set_by_uvicorn(cls: type) -> None:
    assigned = _assigned_attributes(cls)
    for name in ATTRIBUTES[cls]:
        if name not in assigned:
            _fail(f"{cls.__name__}.{name}", "uvicorn no longer assigns this attribute")


def test_the_request_head_steps_mega_took_over_are_still_uvicorns() -> None:
    # mega runs its own on_message_begin / on_headers_complete / on_message_complete / on_response_complete,
    # written from these (0.54/0.55): a new uvicorn that changes what they do must be read before mega
    # follows it.
    expected = {
        "on_message_begin": ('"asgi": {"version": self.asgi_version', '"state": self.app_state.copy()'),
        "on_headers_complete": ("httptools.parse_url(self.url)", "urllib.parse.unquote(path)",
                                "service_unavailable", "self.pipeline.appendleft((self.cycle, app))"),
        "on_response_complete": ("self.server_state.total_requests += 1", "self.flow.resume_reading()",
                                 "self.timeout_keep_alive_handler"),
        "timeout_keep_alive_handler": ("self.transport.close()",),
        "on_message_complete": ("self.parser.should_upgrade() and self._should_upgrade()",
                                "self.cycle.response_complete", "self.cycle.more_body = False",
                                "self.cycle.message_event.set()"),
    }
    for name, fragments in expected.items():
        code = ast.unparse(_function_tree(getattr(httptools_impl.HttpToolsProtocol, name)))
        for fragment in fragments:
            if fragment.replace('"', "'") not in code:
                _fail(f"HttpToolsProtocol.{name}", f"it no longer does {fragment}...")


def test_send_400_response_is_called_while_the_parser_error_is_handled() -> None:
    # mega reads llhttp's reason from sys.exc_info() inside send_400_response.
    tree = _function_tree(httptools_impl.HttpToolsProtocol.data_received)
    for handler in ast.walk(tree):
        if isinstance(handler, ast.ExceptHandler) and ast.unparse(handler.type or ast.Name("")).endswith(
            "HttpParserError"
        ) and "self.send_400_response(" in ast.unparse(handler):
            return
    _fail("HttpToolsProtocol.data_received", "send_400_response is no longer called in its "
          "`except httptools.HttpParserError` block")


def test_parser_still_offers_what_mega_reads() -> None:
    for name in ("HttpParserError",):
        if not hasattr(httptools, name):
            _fail(f"httptools.{name}", "it no longer exists")
    if not hasattr(httptools.HttpRequestParser, "get_method"):
        _fail("httptools.HttpRequestParser.get_method", "it no longer exists")



def test_the_websocket_handshake_is_answered_from_self_response_when_the_app_accepts() -> None:
    # mega adds the negotiated Sec-WebSocket-Extensions to self.response before uvicorn's send writes it.
    source = ast.unparse(_function_tree(WebSocketsSansIOProtocol.send))
    if "self.conn.send_response(self.response)" not in source:
        _fail("WebSocketsSansIOProtocol.send", "the accept no longer sends self.response")
    connect = ast.unparse(_function_tree(WebSocketsSansIOProtocol.handle_connect))
    if "self.request = event" not in connect or "self.conn.accept(event)" not in connect:
        _fail("WebSocketsSansIOProtocol.handle_connect", "it no longer keeps the request and accepts it")


def test_protocol_code_paths_mega_relies_on() -> None:
    # Trailer fields: uvicorn's on_header appends to self.headers (mega swaps that list for a counter once
    # a chunked body starts). Refusals in order: a queued (cycle, app) entry of self.pipeline is started by
    # on_response_complete through _start_asgi_task, which runs cycle.run_asgi(app) in a task kept in
    # self.tasks (mega queues its error answer there, and cancels a handler task that has not started).
    protocol = httptools_impl.HttpToolsProtocol
    expected = {
        "on_header": "self.headers.append(",
        "on_response_complete": "self.pipeline.pop()",
        "_start_asgi_task": "cycle.run_asgi(app)",
    }
    for name, fragment in expected.items():
        if fragment not in ast.unparse(_function_tree(getattr(protocol, name))):
            _fail(f"HttpToolsProtocol.{name}", f"it no longer does {fragment}...")
    if "self.tasks.add(task)" not in ast.unparse(_function_tree(protocol._start_asgi_task)):
        _fail("HttpToolsProtocol._start_asgi_task", "its task no longer goes to self.tasks")


def test_parser_reports_trailer_fields_through_on_header_between_chunk_callbacks() -> None:
    # mega counts and drops trailer fields: they must come after on_chunk_header of the last chunk, through
    # on_header, before on_chunk_complete; data comes through on_body.
    events: list[str] = []

    class Recorder:
        def on_header(self, name: bytes, value: bytes) -> None:
            events.append("header")

        def on_headers_complete(self) -> None:
            events.append("headers_complete")

        def on_body(self, body: bytes) -> None:
            events.append("body")

        def on_chunk_header(self) -> None:
            events.append("chunk_header")

        def on_chunk_complete(self) -> None:
            events.append("chunk_complete")

        def on_message_complete(self) -> None:
            events.append("message_complete")

    parser = httptools.HttpRequestParser(Recorder())
    parser.feed_data(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n")
    expected = ["header", "headers_complete", "chunk_header", "body", "chunk_complete", "chunk_header",
                "header", "chunk_complete", "message_complete"]
    if events != expected:
        _fail("httptools' chunk callbacks", f"the order is {events}, mega expects {expected}")


def test_a_text_is_sent_as_mega_write_now_writes_it() -> None:
    # mega.server._uvicorn_ws.write_now does what send does for websocket.send text (and frames a text
    # itself when the connection has no extensions): uvicorn must still frame through self.conn.send_text.
    source = ast.unparse(_function_tree(WebSocketsSansIOProtocol.send))
    if "self.conn.send_text(text_data.encode())" not in source or "self.writable.wait()" not in source:
        _fail("WebSocketsSansIOProtocol.send", "websocket.send no longer waits for writable then frames text")
    connect = ast.unparse(_function_tree(WebSocketsSansIOProtocol.handle_connect))
    if "'extensions':" not in connect or "self.loop.create_task(self.run_asgi())" not in connect:
        _fail("WebSocketsSansIOProtocol.handle_connect", "the scope's extensions or the app task moved")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_mega_frames_a_text_as_websockets_does(size: int) -> None:
    from websockets.protocol import State

    from mega.server._uvicorn_ws import _frame

    conn = ServerProtocol()
    conn.state = State.OPEN
    for text in ("é" * (size // 2), "x" * size):
        conn.send_text(text.encode())
        assert _frame(text) == b"".join(conn.data_to_send())
        assert _frame(text) == _frame(text)  # the second one from the cache
