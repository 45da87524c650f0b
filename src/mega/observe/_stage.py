"""Boot stages "observe" (after "adapters", before "apps") and "observe-wire" (after "bus").

"observe" builds the instrument registry from the `metrics` and `tracing` sections, so that the apps
are compiled with their hooks; with both off it leaves `rt.instruments` None and nothing is wrapped.
"observe-wire" reaches what exists only after the apps: every app's lock and bus.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from mega.errors import MegaError
from mega.observe._metrics_settings import MetricsSettings
from mega.observe._tracing_settings import TracingSettings
from mega.observe.instruments import Instruments

if TYPE_CHECKING:
    from mega.boot.runtime import Runtime
    from mega.http._pipeline import Endpoint
    from mega.observe.metrics import Metrics

log = logging.getLogger("mega.observe")


def observe_stage(rt: Runtime) -> None:
    metrics_cfg: MetricsSettings | None = rt.config.settings.get("metrics")
    tracing_cfg: TracingSettings | None = rt.config.settings.get("tracing")
    metrics_on = metrics_cfg is not None and metrics_cfg.enabled
    tracing_on = tracing_cfg is not None and tracing_cfg.enabled
    if not metrics_on and not tracing_on:
        return
    instruments = Instruments()
    rt.shutdown.register_resource("observe", instruments.close)
    if metrics_on:
        assert metrics_cfg is not None
        try:
            from mega.observe.metrics import Metrics
        except ImportError as exc:
            raise _missing("metrics", "prometheus-client", exc) from exc

        rt.metrics = metrics = Metrics(metrics_cfg)
        metrics.install(instruments)
        if metrics_cfg.port is not None:
            _serve_apart(rt, metrics)
        elif rt.env == "production" and not metrics_cfg.protected:
            log.warning("metrics.unprotected: %s is served on the public port with no metrics.token and no "
                        "metrics.allow: anyone can read it", metrics_cfg.path)
    if tracing_on:  # installed last: its span is outermost, so the metrics' time is inside it
        assert tracing_cfg is not None
        try:
            from mega.observe.tracing import Tracing
        except ImportError as exc:
            raise _missing("tracing", "opentelemetry-sdk and its exporters", exc) from exc

        rt.tracing = tracing = Tracing(tracing_cfg, project=rt.root.name, env=rt.env)
        tracing.install(instruments)
    if rt.adapters is not None:
        for adapter in rt.adapters.all():
            instruments.attach(adapter)
    rt.instruments = instruments


def metrics_endpoints(rt: Runtime) -> dict[tuple[str, str], Endpoint]:
    """`GET /metrics` (the configured path) for every app, unless it is served on its own port."""
    metrics = rt.metrics
    if metrics is None or metrics.settings.port is not None:
        return {}
    return {("GET", metrics.settings.path): metrics.endpoint()}


def observe_wire_stage(rt: Runtime) -> None:
    """Hook every app's lock (wait times) and bus (request latency, trace headers) once they exist."""
    if rt.instruments is None:
        return
    apps = dict(rt.apps)
    metrics, tracing = rt.metrics, rt.tracing
    if metrics is not None:
        from mega.observe.metrics import bus_source, lock_source

        metrics.sources.append(lock_source(lambda: {n: a._lock for n, a in apps.items() if a._lock}))
        metrics.sources.append(bus_source(lambda: {n: a._bus for n, a in apps.items() if a._bus}))
        metrics.start()
    for name, app in apps.items():
        lock, bus = app._lock, app._bus
        if lock is not None:
            lock.observe = _both(metrics.timer(metrics.lock_waits, name, lock.driver) if metrics else None,
                                 tracing.timer("lock acquire", name, lock.driver) if tracing else None)
        if bus is not None:
            bus.observe = _both(metrics.timer(metrics.bus_requests, name, bus.driver) if metrics else None,
                                tracing.timer("bus request", name, bus.driver) if tracing else None)
            if tracing is not None:
                bus.tracer = tracing


def _missing(extra: str, what: str, exc: ImportError) -> MegaError:
    return MegaError(f"{extra}.not_installed", f"{extra} is on in mega_config.py but {what} is not installed "
                     f"({exc.name or exc})", hint=f"pip install 'mega[{extra}]', or turn {extra} off")


Timer = Callable[[float, str], None]


def _both(first: Timer | None, second: Timer | None) -> Timer | None:
    if first is None or second is None:
        return first or second

    def observe(seconds: float, outcome: str) -> None:
        first(seconds, outcome)
        second(seconds, outcome)

    return observe


def _serve_apart(rt: Runtime, metrics: Metrics) -> None:
    from prometheus_client import start_http_server

    settings = metrics.settings
    server, thread = start_http_server(settings.port or 0, addr=settings.host, registry=metrics.registry)
    log.info("metrics served on http://%s:%s%s", settings.host, settings.port, "/metrics")

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    rt.shutdown.register_resource("metrics-server", stop)

