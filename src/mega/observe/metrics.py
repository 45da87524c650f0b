"""Prometheus metrics: what mega records, kept in plain Python numbers and turned into the text format
only when scraped.

Recording is a list-slot increment and a `bisect` per request (no lock, no label lookup: requests run
on one event loop thread, and every label value of a route is fixed when the route is compiled). The
collector below reads those numbers, the adapters', locks' and buses' own counters, and
prometheus_client's process, platform and GC collectors, at scrape time.

Series are bounded by construction: HTTP series are per (app, method, route pattern, status class),
requests no route answers fold into `__unmatched__`; adapter series per declared alias and operation;
rejections per error code. A later family (jobs, websockets) adds its own `Family` of series the same
way (`Metrics.family(...)`).

Cluster mode: every worker process has its own numbers; `snapshot()` returns them as plain data so
the primary can merge the workers' snapshots (`merge`) and serve one text.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import sys
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from mega.errors import MegaError
from mega.observe._metrics_settings import MetricsSettings
from mega.observe.instruments import UNMATCHED, Instruments
from mega.resilience._breaker import BreakerEvent, breaker_names, get_breaker, observe_breakers
from mega.security._client_ip import client_ip
from mega.security.rejections import on_rejection

if TYPE_CHECKING:
    from mega.adapters.base import Adapter
    from mega.http._pipeline import Endpoint
    from mega.jobs._queue import JobQueue
    from mega.security.rejections import Rejection

__all__ = ["Metrics", "merge"]

log = logging.getLogger("mega.metrics")
_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}  # mega_breaker_state's values
BREAKER_OUTCOMES = ("success", "failure", "reject", "fallback")  # the BreakerEvent kinds counted
JOB_EVENTS = ("dispatch", "done", "retry", "dlq")  # mega_job_events_total's `event` values
Series = dict[tuple[str, ...], list[float]]  # label values -> [count, sum, bucket counts...]


class Histograms:
    """Histograms of one metric, one row per label values: [count, sum, bucket_0 .. bucket_n]."""

    def __init__(self, buckets: Iterable[float]) -> None:
        self.bounds = tuple(buckets)
        self.rows: Series = {}

    def row(self, labels: tuple[str, ...]) -> list[float]:
        """The row of `labels`, made once (callers keep it: recording then needs no lookup)."""
        row = self.rows.get(labels)
        if row is None:
            row = self.rows[labels] = [0.0] * (len(self.bounds) + 3)
        return row

    def observe(self, row: list[float], seconds: float) -> None:
        row[0] += 1
        row[1] += seconds
        row[2 + bisect_left(self.bounds, seconds)] += 1

    def family(self, name: str, doc: str, labels: list[str]) -> HistogramMetricFamily:
        out = HistogramMetricFamily(name, doc, labels=labels)
        for values, row in self.rows.items():
            if not row[0]:  # made at boot, never hit: not exported
                continue
            cumulative, buckets = 0.0, []
            for bound, count in zip((*self.bounds, float("inf")), row[2:], strict=True):
                cumulative += count
                buckets.append((_bound(bound), cumulative))
            out.add_metric(list(values), buckets, row[1])
        return out


class Metrics:
    """One process's metrics: the registry served on `/metrics` and the hooks that feed it."""

    def __init__(self, settings: MetricsSettings) -> None:
        self.settings = settings
        self.http = Histograms(settings.buckets)
        self.adapters = Histograms(settings.buckets)
        self.lock_waits = Histograms(settings.buckets)
        self.bus_requests = Histograms(settings.buckets)
        self.rejections: dict[str, int] = {}
        self.breaker_calls: dict[tuple[str, str], int] = {}
        self.job_runs = Histograms(settings.buckets)
        self.job_events: dict[tuple[str, str], int] = {}  # (subject, event)
        self.job_failures: dict[tuple[str, str], int] = {}  # (subject, phase)
        # WebSockets, per (app, ns): [opened, open now, messages in, messages out]
        self.ws: dict[tuple[str, str], list[int]] = {}
        self.ws_closed: dict[tuple[str, str, str], int] = {}  # (app, ns, close code label)
        self.ws_broadcasts: dict[tuple[str, str, str], int] = {}  # (app, ns, origin)
        self.loop_lag = 0.0
        self.loop_lag_max = 0.0
        self.sources: list[Callable[[], Iterable[Metric]]] = []  # more families (locks, buses, jobs, ...)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))
        if settings.process:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self._lag_task: asyncio.Task[None] | None = None
        self.started = time.time()
        # Cluster mode: the whole cluster's text, asked of the primary (set by the worker at start).
        self.aggregate: Callable[[], Awaitable[bytes]] | None = None

    # -- hooks ---------------------------------------------------------------------------------

    def install(self, instruments: Instruments) -> None:
        instruments.add_http(self.http_hook)
        instruments.add_adapter(self.observe_adapter)
        stop = on_rejection(self.count_rejection)
        instruments.closers.append(stop)
        instruments.closers.append(observe_breakers(self.count_breaker))
        instruments.add("jobs", self.jobs_hook)
        instruments.add("ws", self.ws_hook)
        instruments.add("ws_presence", self.presence_hook)
        instruments.closers.append(self.stop)

    def http_hook(self, app: str, method: str, pattern: str, endpoint: Endpoint) -> Endpoint:
        """`endpoint`, counted and timed; its rows are made here, at boot."""
        http = self.http
        if method == "*":  # the app's unmatched answers: the request's method, a fixed set of names
            return self._unmatched(app, pattern, endpoint)
        rows = [http.row((app, method, pattern, cls)) for cls in _CLASSES]
        bounds = http.bounds
        clock = time.perf_counter

        async def measured(scope: dict[str, Any], receive: Any, send: Any, params: Any) -> int:
            started = clock()
            status: int = 500
            try:
                status = await endpoint(scope, receive, send, params)
                return status
            finally:
                seconds = clock() - started
                row = rows[status // 100 - 1] if 100 <= status < 600 else rows[4]
                row[0] += 1
                row[1] += seconds
                row[2 + bisect_left(bounds, seconds)] += 1

        measured.returns_status = True  # type: ignore[attr-defined]
        return measured

    def _unmatched(self, app: str, pattern: str, endpoint: Endpoint) -> Endpoint:
        http = self.http
        known = {m: [http.row((app, m, pattern, cls)) for cls in _CLASSES]
                 for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}
        other = [http.row((app, "OTHER", pattern, cls)) for cls in _CLASSES]

        async def measured(scope: dict[str, Any], receive: Any, send: Any, params: Any) -> int:
            started = time.perf_counter()
            status: int = 500
            try:
                status = await endpoint(scope, receive, send, params)
                return status
            finally:
                rows = known.get(scope["method"], other)
                http.observe(rows[status // 100 - 1] if 100 <= status < 600 else rows[4],
                             time.perf_counter() - started)

        measured.returns_status = True  # type: ignore[attr-defined]
        return measured

    def observe_adapter(self, adapter: Adapter, op: str, seconds: float, error: BaseException | None) -> None:
        outcome = "ok" if error is None else "error"
        labels = (adapter.family, adapter.driver, adapter.alias, op, outcome)
        self.adapters.observe(self.adapters.row(labels), seconds)

    def timer(self, histograms: Histograms, app: str, driver: str) -> Callable[[float, str], None]:
        """An `observe(seconds, outcome)` for a lock's waits or a bus's requests (rows per outcome)."""

        def observe(seconds: float, outcome: str) -> None:
            histograms.observe(histograms.row((app, driver, outcome)), seconds)

        return observe

    def count_rejection(self, rejection: Rejection) -> None:
        self.rejections[rejection.reason] = self.rejections.get(rejection.reason, 0) + 1

    def count_breaker(self, event: BreakerEvent) -> None:
        """`observe_breakers` observer: calls by breaker and outcome (state changes are read at scrape)."""
        if event.kind in BREAKER_OUTCOMES:
            key = (event.breaker, event.kind)
            self.breaker_calls[key] = self.breaker_calls.get(key, 0) + 1

    def jobs_hook(self, app: str, queue: JobQueue) -> None:
        """The "jobs" slot: count an app's job events and time its runs (called once per app queue)."""
        events, failures, runs = self.job_events, self.job_failures, self.job_runs

        def counter(event: str) -> Callable[[dict[str, Any]], None]:
            def count(fields: dict[str, Any]) -> None:
                key = (fields["subject"], event)
                events[key] = events.get(key, 0) + 1

            return count

        def failed(fields: dict[str, Any]) -> None:
            key = (fields["subject"], fields.get("phase", "run"))
            failures[key] = failures.get(key, 0) + 1

        for event in JOB_EVENTS:
            queue.on(event, counter(event))
        queue.on("fail", failed)
        queue.run_observers.append(lambda subject, seconds: runs.observe(runs.row((subject,)), seconds))

    def ws_hook(self, app: str, ns: str) -> _WsRoute:
        """The "ws" slot: one channel route's counters (its row made here, at boot)."""
        row = self.ws.setdefault((app, ns), [0, 0, 0, 0])
        return _WsRoute(row, self.ws_closed, app, ns)

    def presence_hook(self, app: str, presence: Any, namespaces: Iterable[str]) -> None:
        """The "ws_presence" slot: count an app's broadcasts by ns and origin (`local`: this process
        called `broadcast`; `remote`: another instance's, delivered here). A namespace that is not one
        of the app's channel paths (sent by another instance) counts as `__unmatched__`."""
        known = frozenset(namespaces)
        counts = self.ws_broadcasts

        def observe(ns: str, origin: str) -> None:
            key = (app, ns if ns in known else UNMATCHED, origin)
            counts[key] = counts.get(key, 0) + 1

        presence.observe_broadcast = observe

    # -- event-loop lag ------------------------------------------------------------------------

    def start(self) -> None:
        """Start sampling the event-loop lag (on the running loop), when configured."""
        interval = self.settings.loop_lag_interval
        if interval > 0 and self._lag_task is None:
            self._lag_task = asyncio.get_running_loop().create_task(self._sample_lag(interval))

    async def _sample_lag(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            planned = loop.time() + interval
            await asyncio.sleep(interval)
            self.loop_lag = max(0.0, loop.time() - planned)
            self.loop_lag_max = max(self.loop_lag_max, self.loop_lag)

    async def stop(self) -> None:
        task, self._lag_task = self._lag_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # -- exposition ----------------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)

    def snapshot(self) -> dict[str, Any]:
        """This process's recorded numbers as plain data (what a cluster primary merges)."""
        return {"http": {k: list(v) for k, v in self.http.rows.items()},
                "adapters": {k: list(v) for k, v in self.adapters.rows.items()},
                "lock_waits": {k: list(v) for k, v in self.lock_waits.rows.items()},
                "bus_requests": {k: list(v) for k, v in self.bus_requests.rows.items()},
                "rejections": dict(self.rejections),
                "job_runs": {k: list(v) for k, v in self.job_runs.rows.items()},
                "job_events": {k: [v] for k, v in self.job_events.items()},
                "job_failures": {k: [v] for k, v in self.job_failures.items()},
                "breaker_calls": {k: [v] for k, v in self.breaker_calls.items()},
                "ws": {k: list(v) for k, v in self.ws.items()},
                "ws_closed": {k: [v] for k, v in self.ws_closed.items()},
                "ws_broadcasts": {k: [v] for k, v in self.ws_broadcasts.items()}}

    def collect(self) -> Iterator[Metric]:
        yield self.http.family("mega_http_request_duration_seconds",
                               "HTTP request duration by app, method, matched route pattern and status class",
                               ["app", "method", "route", "status"])
        total = CounterMetricFamily("mega_http_requests", "HTTP requests answered",
                                    labels=["app", "method", "route", "status"])
        for labels, row in self.http.rows.items():
            if row[0]:
                total.add_metric(list(labels), row[0])
        yield total
        yield self.adapters.family("mega_adapter_call_duration_seconds",
                                   "Calls to databases, caches and other adapters",
                                   ["family", "driver", "alias", "op", "outcome"])
        yield self.lock_waits.family("mega_lock_wait_seconds", "Time spent acquiring a lock, by outcome",
                                     ["app", "driver", "outcome"])
        yield self.bus_requests.family("mega_bus_request_duration_seconds",
                                       "Bus request/reply latency, by outcome", ["app", "driver", "outcome"])
        rejected = CounterMetricFamily("mega_security_rejections", "Requests refused by a security check",
                                       labels=["reason"])
        for reason, count in sorted(self.rejections.items()):
            rejected.add_metric([reason], count)
        yield rejected
        yield from _process_memory(self.started)
        lag = GaugeMetricFamily("mega_event_loop_lag_seconds", "How late the last event-loop tick ran",
                                labels=["kind"])
        lag.add_metric(["last"], self.loop_lag)
        lag.add_metric(["max"], self.loop_lag_max)
        yield lag
        yield from self._breakers()
        yield from self._jobs()
        yield from self._websockets()
        for source in self.sources:
            yield from source()

    def _breakers(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("mega_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, "
                                  "2 open", labels=["name"])
        for name in sorted(breaker_names()):
            try:
                state.add_metric([name], BREAKER_STATES.get(get_breaker(name).state, 2))
            except MegaError:  # forgotten between the two calls
                continue
        yield state
        calls = CounterMetricFamily("mega_breaker_calls", "Calls through a circuit breaker, by outcome",
                                    labels=["name", "outcome"])
        for (name, outcome), count in sorted(self.breaker_calls.items()):
            calls.add_metric([name, outcome], count)
        yield calls

    def _jobs(self) -> Iterator[Metric]:
        if not (self.job_events or self.job_failures or self.job_runs.rows):
            return  # no job ran or was enqueued in this process
        events = CounterMetricFamily("mega_job_events", "Jobs dispatched, done, retried in process, sent "
                                     "to the DLQ", labels=["subject", "event"])
        for (subject, event), count in sorted(self.job_events.items()):
            events.add_metric([subject, event], count)
        yield events
        failures = CounterMetricFamily("mega_job_failures", "Job failures by phase",
                                       labels=["subject", "phase"])
        for (subject, phase), count in sorted(self.job_failures.items()):
            failures.add_metric([subject, phase], count)
        yield failures
        yield self.job_runs.family("mega_job_run_duration_seconds",
                                   "Job run time (all attempts of a delivery)", ["subject"])

    def _websockets(self) -> Iterator[Metric]:
        if not self.ws:
            return  # no channel route in this process
        labels = ["app", "ns"]
        open_now = GaugeMetricFamily("mega_ws_connections_open", "WebSocket connections open now",
                                     labels=labels)
        opened = CounterMetricFamily("mega_ws_connections", "WebSocket connections accepted", labels=labels)
        messages = CounterMetricFamily("mega_ws_messages", "WebSocket data frames received (in) and sent "
                                       "(out)", labels=[*labels, "direction"])
        for (app, ns), row in sorted(self.ws.items()):
            opened.add_metric([app, ns], row[0])
            open_now.add_metric([app, ns], row[1])
            messages.add_metric([app, ns, "in"], row[2])
            messages.add_metric([app, ns, "out"], row[3])
        closed = CounterMetricFamily("mega_ws_connections_closed", "WebSocket connections closed, by close "
                                     "code", labels=[*labels, "code"])
        for key, count in sorted(self.ws_closed.items()):
            closed.add_metric(list(key), count)
        broadcasts = CounterMetricFamily("mega_ws_presence_broadcasts", "Presence broadcasts by origin "
                                         "(local: sent by this process; remote: received from another "
                                         "instance)", labels=[*labels, "origin"])
        for key, count in sorted(self.ws_broadcasts.items()):
            broadcasts.add_metric(list(key), count)
        yield from (open_now, opened, closed, messages, broadcasts)

    # -- the /metrics endpoint -----------------------------------------------------------------

    def endpoint(self) -> Endpoint:
        """`GET <path>`: the text format, behind the configured token and address list."""
        token = f"Bearer {self.settings.token}".encode() if self.settings.token else None
        allow = self.settings.allow
        headers = [(b"content-type", CONTENT_TYPE_LATEST.encode()), (b"cache-control", b"no-store")]

        async def scrape(scope: dict[str, Any], receive: Any, send: Any, params: Any) -> int:
            status, body = 200, b""
            if allow and not _allowed(client_ip(scope), allow):
                status, body = 403, b"forbidden\n"
            elif token is not None:
                given = next((v for n, v in scope["headers"] if n == b"authorization"), b"")
                if not hmac.compare_digest(given, token):
                    status, body = 401, b"unauthorized\n"
            if status == 200:
                body = self.render() if self.aggregate is None else await self.aggregate()
            extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
            await send({"type": "http.response.start", "status": status,
                        "headers": [*headers, (b"content-length", b"%d" % len(body)), *extra]})
            await send({"type": "http.response.body", "body": body})
            return status

        scrape.returns_status = True  # type: ignore[attr-defined]
        return scrape


_CLOSE_CODES = frozenset(range(1000, 1016)) | {4503}  # RFC 6455's codes and mega's requeue


def close_label(code: int) -> str:
    """The `code` label of a close: the RFC 6455 codes (1000-1015) and mega's 4503 as themselves, other
    codes by class (`3xxx`, `4xxx`), anything else `other`: a bounded set."""
    if code in _CLOSE_CODES:
        return str(code)
    if 3000 <= code < 5000:
        return f"{code // 1000}xxx"
    return "other"


class _WsRoute:
    """One channel route's counters: list slots, no lookup per frame."""

    __slots__ = ("app", "closes", "ns", "row")

    def __init__(self, row: list[int], closes: dict[tuple[str, str, str], int], app: str, ns: str) -> None:
        self.row = row
        self.closes = closes
        self.app = app
        self.ns = ns

    def opened(self) -> None:
        self.row[0] += 1
        self.row[1] += 1

    def closed(self, code: int) -> None:
        self.row[1] -= 1
        key = (self.app, self.ns, close_label(code))
        self.closes[key] = self.closes.get(key, 0) + 1

    def wrap(self, receive: Any, send: Any) -> tuple[Any, Any]:
        row = self.row

        async def counted_receive() -> Any:
            message = await receive()
            if message["type"] == "websocket.receive":
                row[2] += 1
            return message

        async def counted_send(message: dict[str, Any]) -> None:
            await send(message)
            if message["type"] == "websocket.send":
                row[3] += 1

        return counted_receive, counted_send

    def wrap_write_now(self, write: Any) -> Any:
        row = self.row

        def counted_write(text: str) -> bool:
            if write(text):
                row[3] += 1
                return True
            return False

        return counted_write


class _Collector:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self.metrics.collect()


def lock_source(locks: Callable[[], dict[str, Any]]) -> Callable[[], Iterable[Metric]]:
    """The locks' own counters (acquired, timeouts, lost, waiting now), per app, read at scrape time."""

    def collect() -> Iterator[Metric]:
        counts = CounterMetricFamily("mega_lock_events", "Lock acquisitions, timeouts and losses",
                                     labels=["app", "driver", "event"])
        waiting = GaugeMetricFamily("mega_lock_waiting", "Callers waiting for a lock now",
                                    labels=["app", "driver"])
        for app, lock in locks().items():
            for event, attr in (("acquired", "acquired"), ("timeout", "timeouts"), ("lost", "lost"),
                                ("error", "errors")):
                counts.add_metric([app, lock.driver, event], getattr(lock, attr, 0))
            waiting.add_metric([app, lock.driver], getattr(lock, "_waiting", 0))
        yield counts
        yield waiting

    return collect


def bus_source(buses: Callable[[], dict[str, Any]]) -> Callable[[], Iterable[Metric]]:
    """The buses' own counters per app (published, received, requests, timeouts, errors)."""
    kinds = ("published", "received", "requests", "timeouts", "no_responders", "handler_errors",
             "decode_errors", "reply_errors", "dropped")

    def collect() -> Iterator[Metric]:
        counts = CounterMetricFamily("mega_bus_messages", "Bus messages and requests by kind",
                                     labels=["app", "driver", "kind"])
        for app, bus in buses().items():
            for kind in kinds:
                counts.add_metric([app, bus.driver, kind], getattr(bus, kind, 0))
        yield counts

    return collect


def merge(snapshots: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The sum of several processes' `snapshot()`s (a cluster primary serves one text from it)."""
    parts = ("http", "adapters", "lock_waits", "bus_requests", "job_runs", "job_events", "job_failures",
             "breaker_calls", "ws", "ws_closed", "ws_broadcasts")
    out: dict[str, Any] = {part: {} for part in parts}
    out["rejections"] = {}
    for snap in snapshots:
        for part in parts:
            for labels, row in snap.get(part, {}).items():
                mine = out[part].setdefault(labels, [0.0] * len(row))
                for i, value in enumerate(row):
                    mine[i] += value
        for reason, count in snap["rejections"].items():
            out["rejections"][reason] = out["rejections"].get(reason, 0) + count
    return out


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MEMORY_KINDS = ("rss", "vms")  # a fixed set: never grows with anything


def _process_memory(started: float) -> Iterator[Metric]:
    """`mega_process_memory_bytes{kind}` (rss and vms, from /proc where there is one), the
    interpreter's allocated blocks, and the uptime."""
    memory = GaugeMetricFamily("mega_process_memory_bytes", "Process memory by kind", labels=["kind"])
    try:
        with open("/proc/self/statm", "rb") as statm:
            vms_pages, rss_pages = (int(x) for x in statm.read().split()[:2])
        memory.add_metric(["rss"], rss_pages * _PAGE)
        memory.add_metric(["vms"], vms_pages * _PAGE)
    except (OSError, ValueError):
        pass
    yield memory
    yield GaugeMetricFamily("mega_python_allocated_blocks", "Memory blocks the interpreter holds",
                            value=sys.getallocatedblocks())
    yield GaugeMetricFamily("mega_process_uptime_seconds", "Seconds since metrics started",
                            value=time.time() - started)


def _allowed(address: str | None, allow: tuple[Any, ...]) -> bool:
    if address is None:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in allow)


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)
