"""The tracer's resource and exporters, built from the settings in one place."""

from __future__ import annotations

from dataclasses import replace

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from mega.errors import MegaError
from mega.observe._tracing_settings import OFF
from mega.observe.tracing import Tracing, build_exporter, build_resource

ON = replace(OFF, enabled=True)


def test_the_resource_names_service_version_environment_and_extra_attributes() -> None:
    settings = replace(ON, service_name="shop", service_version="2.1.0", attributes=(("team", "pay"),))
    attributes = build_resource(settings, project="folder", env="production").attributes
    assert attributes["service.name"] == "shop" and attributes["service.version"] == "2.1.0"
    assert attributes["deployment.environment.name"] == "production" and attributes["team"] == "pay"
    defaults = build_resource(ON, project="folder", env="staging").attributes
    assert defaults["service.name"] == "folder" and "service.version" not in defaults
    assert defaults["deployment.environment.name"] == "staging"


def test_each_exporter_is_built_with_its_endpoint() -> None:
    otlp = build_exporter(replace(ON, exporter="otlp", endpoint="http://collector:4318/v1/traces"))
    assert isinstance(otlp, OTLPSpanExporter) and otlp._endpoint == "http://collector:4318/v1/traces"
    zipkin = build_exporter(replace(ON, exporter="zipkin"))
    assert isinstance(zipkin, ZipkinExporter) and zipkin.endpoint == "http://127.0.0.1:9411/api/v2/spans"
    assert isinstance(build_exporter(replace(ON, exporter="console")), ConsoleSpanExporter)
    assert build_exporter(replace(ON, exporter="none")) is None


def test_a_ratio_outside_0_to_1_given_in_code_is_refused() -> None:
    with pytest.raises(MegaError) as info:
        Tracing(replace(ON, sample_ratio=1.5))
    assert info.value.code == "tracing.invalid_sample_ratio"
