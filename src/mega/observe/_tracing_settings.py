"""The `tracing` config section (mega_config.py only: one tracer provider per process) and its settings.

    tracing = True                                    # OTLP over HTTP to 127.0.0.1:4318, every request
    tracing = {"enabled": True,
               "service_name": "shop",                # default: the project folder's name
               "service_version": "2.1.0",            # default: none
               "environment": "staging",              # default: the project's env
               "exporter": "otlp",                    # otlp | zipkin | console | none
               "endpoint": "http://collector:4318/v1/traces",
               "headers": {"authorization": "..."},   # sent with every export (OTLP)
               "sample_ratio": 0.1,                   # 0..1, of root traces (a sampled parent wins)
               "attributes": {"team": "payments"}}    # extra resource attributes

Every key can come from the environment when the file does not set it (the file wins):
MEGA_OTEL_ENABLED, MEGA_OTEL_SERVICE_NAME, MEGA_OTEL_SERVICE_VERSION, MEGA_OTEL_ENVIRONMENT,
MEGA_OTEL_EXPORTER, MEGA_OTEL_ENDPOINT, MEGA_OTEL_SAMPLE_RATIO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, Switch, const
from mega.config.sections import GLOBAL, Resolve, register_section

__all__ = ["DEFAULT_ENDPOINTS", "ENV_VARS", "EXPORTERS", "TRACING", "TracingSettings"]

EXPORTERS = ("otlp", "zipkin", "console", "none")
DEFAULT_ENDPOINTS = {"otlp": "http://127.0.0.1:4318/v1/traces", "zipkin": "http://127.0.0.1:9411/api/v2/spans"}
RATIO_CODE = "tracing.invalid_sample_ratio"
ENV_VARS = {
    "enabled": "MEGA_OTEL_ENABLED",
    "service_name": "MEGA_OTEL_SERVICE_NAME",
    "service_version": "MEGA_OTEL_SERVICE_VERSION",
    "environment": "MEGA_OTEL_ENVIRONMENT",
    "exporter": "MEGA_OTEL_EXPORTER",
    "endpoint": "MEGA_OTEL_ENDPOINT",
    "sample_ratio": "MEGA_OTEL_SAMPLE_RATIO",
}


@dataclass(frozen=True)
class TracingSettings:
    enabled: bool
    service_name: str | None  # None: the project folder's name
    service_version: str | None
    environment: str | None  # None: the project's env
    exporter: str
    endpoint: str | None  # None: the exporter's default (DEFAULT_ENDPOINTS)
    headers: tuple[tuple[str, str], ...]
    sample_ratio: float
    attributes: tuple[tuple[str, str], ...]

    @property
    def export_url(self) -> str | None:
        return self.endpoint or DEFAULT_ENDPOINTS.get(self.exporter)


OFF = TracingSettings(False, None, None, None, "none", None, (), 1.0, ())


def sample_ratio(value: Any) -> float:
    """A number in [0, 1]; a numeric string (from the environment) is accepted."""
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, int | float) or math.isnan(number):
        raise c.Invalid(c.INVALID_TYPE,
                        f"must be a number from 0 to 1, got {value!r} ({type(value).__name__})",
                        hint="e.g. 0.1 samples one trace in ten; 1 samples every trace, 0 none")
    if not 0.0 <= number <= 1.0:
        raise c.Invalid(RATIO_CODE, f"must be from 0 to 1, got {value!r}",
                        hint="a ratio of traces: 0.1 samples one in ten, 1 all, 0 none (not a percentage)")
    return float(number)


def _url(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise c.Invalid(c.INVALID_VALUE, f"must be an http(s) URL, got {value!r}",
                        hint="e.g. 'http://127.0.0.1:4318/v1/traces' (OTLP) or "
                             "'http://127.0.0.1:9411/api/v2/spans' (Zipkin)")
    return value


def _str_dict(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and k and isinstance(v, str)
                                               for k, v in value.items()):
        raise c.Invalid(c.INVALID_TYPE, f"must be a dict of strings, got {value!r}",
                        hint="e.g. {'team': 'payments'}")
    return dict(value)


_SECTION = Section({
    "enabled": Leaf(c.boolean, const(True), env_var=ENV_VARS["enabled"]),
    "service_name": Leaf(c.optional(c.string), const(None), env_var=ENV_VARS["service_name"]),
    "service_version": Leaf(c.optional(c.string), const(None), env_var=ENV_VARS["service_version"]),
    "environment": Leaf(c.optional(c.string), const(None), env_var=ENV_VARS["environment"]),
    "exporter": Leaf(c.choice(*EXPORTERS), const("otlp"), env_var=ENV_VARS["exporter"]),
    "endpoint": Leaf(c.optional(_url), const(None), env_var=ENV_VARS["endpoint"]),
    "headers": Leaf(_str_dict, const({})),
    "sample_ratio": Leaf(sample_ratio, const(1.0), env_var=ENV_VARS["sample_ratio"]),
    "attributes": Leaf(_str_dict, const({})),
})

TRACING = Switch(
    _SECTION,
    # Absent: off, unless MEGA_OTEL_ENABLED turns it on (then every key takes its default/env var).
    lambda ctx: _SECTION.default("tracing", ctx) if ctx.environ.get(ENV_VARS["enabled"]) else False,
    "True, False or a dict of tracing settings",
    hint="e.g. tracing = True or {'exporter': 'zipkin', 'sample_ratio': 0.1}",
    true_ok=True,
)


def tracing_settings(value: Any, resolve: Resolve) -> TracingSettings:
    if value is False or not value["enabled"]:
        return OFF
    return TracingSettings(True, value["service_name"], value["service_version"], value["environment"],
                           value["exporter"], value["endpoint"], tuple(value["headers"].items()),
                           value["sample_ratio"], tuple(value["attributes"].items()))


register_section("tracing", TRACING, scope=GLOBAL, settings=tracing_settings)
