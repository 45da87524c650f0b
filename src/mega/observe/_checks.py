"""What `mega check` says about metrics and tracing (besides the config's own errors, such as a
sampling ratio outside 0..1, which the config refuses)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from mega.config._project import ProjectConfig

__all__ = ["Finding", "observability_findings"]


@dataclass(frozen=True)
class Finding:
    """One thing `mega check` reports: level 'warning' or 'error', a code, a sentence and a hint."""

    level: str
    code: str
    message: str
    hint: str | None = None


def observability_findings(config: ProjectConfig, *, connect_timeout: float = 1.0) -> list[Finding]:
    out: list[Finding] = []
    metrics = config.settings.get("metrics")
    if metrics is not None and metrics.enabled and config.env == "production" and not metrics.protected:
        if metrics.port is None:
            out.append(Finding("warning", "metrics.unprotected",
                               f"metrics are served on {metrics.path} of the public port in production with "
                               "no token and no allow list: anyone can read them",
                               "set metrics.token (scrapers send 'Authorization: Bearer <token>'), "
                               "metrics.allow = ['<scraper network>'], or metrics.port for a private port"))
        elif not _private(metrics.host):
            out.append(Finding("warning", "metrics.unprotected",
                               f"metrics are served on {metrics.host}:{metrics.port}, a public address, in "
                               "production: the separate port has no token check",
                               "bind metrics.host to a private or loopback address (default 127.0.0.1)"))
    tracing = config.settings.get("tracing")
    if tracing is not None and tracing.enabled and tracing.exporter in ("otlp", "zipkin"):
        url = tracing.export_url or ""
        problem = _unreachable(url, connect_timeout)
        if problem is not None:
            out.append(Finding("warning", "tracing.endpoint_unreachable",
                               f"the {tracing.exporter} exporter's endpoint {url} does not answer "
                               f"({problem}): spans will be dropped until it does",
                               "start the collector, or set tracing.endpoint (or MEGA_OTEL_ENDPOINT)"))
    return out


def _private(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: it may resolve anywhere
    return (address.is_private or address.is_loopback) and not address.is_unspecified


def _unreachable(url: str, timeout: float) -> str | None:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None
