"""OTLP/HTTP export of finished spans: a lean protobuf encoder and the exporter that uses it.

The OpenTelemetry encoder builds a protobuf message object per span, attribute and value (about
30 µs a span); this one writes the same bytes directly (a few µs): per-span fields in order, each
attribute's KeyValue cached while the same (key, value) pair repeats (route, method, app), the
resource and scope encoded once per batch. A span it does not cover (events, links, attribute values
other than str, bool, int64 and float) is encoded by OpenTelemetry's encoder, so every span is sent,
the same bytes a collector would get from the SDK's exporter (tests/unit/observe/test_otlp.py
compares the two). The request is `ExportTraceServiceRequest` of opentelemetry-proto.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from itertools import islice
from typing import Any, cast

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope as PB2Scope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PB2Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanContext

from mega.observe._otlp_http import KeepAlivePost
from mega.observe._spans import _ERROR, _UNSET, ServerSpan, server_address

__all__ = ["OtlpExporter", "encode"]

log = logging.getLogger("mega.tracing")

_U64 = 0xFFFFFFFFFFFFFFFF
_SMALL = [bytes((n,)) for n in range(128)]
_PACK_Q = struct.Struct("<Q").pack
_PACK_I = struct.Struct("<I").pack
_PACK_D = struct.Struct("<d").pack
_IDS = struct.Struct(">2sQQ2sQ").pack  # span fields 1 and 2: the trace id (16 bytes), the span id (8)
_TIMES = struct.Struct("<cQcQ").pack  # span fields 7 and 8: start and end, fixed64
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200  # SpanFlags of opentelemetry-proto
_FLAGS_LOCAL = b"\x85\x01" + _PACK_I(_HAS_IS_REMOTE)  # field 16, fixed32
_FLAGS_REMOTE = b"\x85\x01" + _PACK_I(_HAS_IS_REMOTE | _IS_REMOTE)
_STATUS_UNSET = b"\x7a\x00"  # field 15, an empty Status (what the SDK's encoder sends for UNSET)
_STATUS_ERROR = b"\x7a\x02\x18\x02"  # code 2, no description
_KV_CACHE_MAX = 4096


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag byte(s), the length, the payload."""
    return tag + _varint(len(payload)) + payload


def _any_value(value: Any) -> bytes | None:
    """An AnyValue's bytes, or None for what the fast path leaves to OpenTelemetry's encoder."""
    kind = type(value)
    if kind is str:
        return _field(b"\x0a", value.encode("utf-8"))
    if kind is bool:
        return b"\x10\x01" if value else b"\x10\x00"
    if kind is int and -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
        return b"\x18" + _varint(value & _U64)
    if kind is float:
        return b"\x21" + _PACK_D(value)
    return None


def _status_field(status: Any) -> bytes:
    """Span field 15: the Status message (empty for UNSET, as OpenTelemetry's encoder sends it)."""
    if status is _UNSET or status is _ERROR:  # the two mega sets itself
        return _STATUS_UNSET if status is _UNSET else _STATUS_ERROR
    if status.description or status.status_code.value:
        inner = (_field(b"\x12", status.description.encode("utf-8")) if status.description else b"") + \
            (b"\x18" + _varint(status.status_code.value) if status.status_code.value else b"")
        return _field(b"\x7a", inner)
    return _STATUS_UNSET


class _Encoder:
    """The per-process encoder: caches of attribute, resource and scope bytes (one export thread uses it,
    and a flush from another thread holds the same lock, so no two batches encode at once)."""

    def __init__(self) -> None:
        self._kv: dict[tuple[str, Any], bytes] = {}
        self._once: dict[int, tuple[object, bytes]] = {}  # id(resource or scope) -> (it, its bytes)
        self._names: dict[str, bytes] = {}  # a server span's name -> its name and kind fields
        self._requests: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}  # a request span's values -> bytes
        self._prefixes: dict[int, bytes] = {}  # a span's length -> its tag and length bytes

    def attribute(self, key: str, value: Any) -> bytes | None:
        """The span field 9 (a KeyValue) for one attribute."""
        try:
            cached = self._kv.get((key, value))
        except TypeError:  # an unhashable value (a list): the slow path
            return None
        if cached is not None:
            return cached
        any_value = _any_value(value)
        if any_value is None:
            return None
        encoded = _field(b"\x4a", _field(b"\x0a", key.encode("utf-8")) + _field(b"\x12", any_value))
        if len(self._kv) >= _KV_CACHE_MAX:
            self._kv.clear()
        self._kv[(key, value)] = encoded
        return encoded

    def span(self, span: ReadableSpan) -> bytes:
        """One Span message (without its own tag and length)."""
        if type(span) is ServerSpan:
            fast = self._server_span(span)
        else:
            fast = None if span.events or span.links else self._fast_span(span)
        if fast is not None:
            return fast
        request = encode_spans([span])  # OpenTelemetry's encoder, for what the fast path leaves out
        return bytes(request.resource_spans[0].scope_spans[0].spans[0].SerializeToString())

    def _server_span(self, span: ServerSpan) -> bytes | None:
        """mega's request spans: their fields read directly; what follows the ids and times (name, kind,
        attributes, status, flags) encoded once while it repeats."""
        if span._events or span._links or span._end_time is None:
            return None
        parent = span._parent
        remote = parent is not None and parent.is_remote
        if span._attrs is None:  # nobody read or set an attribute: the request's values as they came
            key = (span._route, span._name, span._path, span._scheme, span._host, span._status_code,
                   span._method, span._status, remote)
            parts = self._requests.get(key)
            if parts is None:
                parts = self._request_parts(span, remote)
                if parts is None:
                    return None
                if len(self._requests) >= _KV_CACHE_MAX:
                    self._requests.clear()
                self._requests[key] = parts
            name, tail = parts
        else:
            attributes = self._set_attributes(span)
            if attributes is None:
                return None
            name = self._name_field(span._name)
            tail = attributes + _status_field(span._status) + (_FLAGS_REMOTE if remote else _FLAGS_LOCAL)
        trace_id, state = span._trace_id, span._trace_state
        head = _IDS(b"\x0a\x10", trace_id >> 64, trace_id & _U64, b"\x12\x08", span._span_id)
        if state:
            head += _field(b"\x1a", ",".join(f"{k}={v}" for k, v in state.items()).encode("utf-8"))
        if parent is not None:
            head += b"\x22\x08" + parent.span_id.to_bytes(8, "big")
        return b"".join((head, name, _TIMES(b"\x39", span._start_time, b"\x41", span._end_time), tail))

    def _name_field(self, name: str) -> bytes:
        """Span fields 5 and 6: the name, and the kind SERVER."""
        names = self._names
        encoded = names.get(name)
        if encoded is None:
            if len(names) >= _KV_CACHE_MAX:
                names.clear()
            encoded = names[name] = _field(b"\x2a", name.encode("utf-8")) + b"\x30\x02"
        return encoded

    def _request_parts(self, span: ServerSpan, remote: bool) -> tuple[bytes, bytes] | None:
        """The name field, and the attributes, status and flags of a span whose attributes dict was never
        made, in the order `ServerSpan._make_attributes` would put them."""
        route = span._route
        attribute = self.attribute
        parts = [self._route_attributes(route.fixed), attribute("url.path", span._path),
                 attribute("url.scheme", span._scheme)]
        if route.unmatched:
            parts.append(attribute("http.request.method", span._method))
        if span._host is not None:
            parts.append(attribute("server.address", server_address(span._host)))
        if span._status_code is not None:
            parts.append(attribute("http.response.status_code", span._status_code))
        if None in parts:
            return None
        parts += (_status_field(span._status), _FLAGS_REMOTE if remote else _FLAGS_LOCAL)
        return self._name_field(span._name), b"".join(parts)  # type: ignore[arg-type]

    def _route_attributes(self, fixed: dict[str, Any]) -> bytes | None:
        hit = self._once.get(id(fixed))
        if hit is None or hit[0] is not fixed:
            encoded = [self.attribute(key, value) for key, value in fixed.items()]
            if None in encoded:
                return None
            hit = self._once[id(fixed)] = (fixed, b"".join(encoded))  # type: ignore[arg-type]
        return hit[1]

    def _set_attributes(self, span: ServerSpan) -> bytes | None:
        """The attributes of a span whose dict was made (read, or set by the application)."""
        attrs = span._attrs
        assert attrs is not None
        fixed, items = span._fixed, attrs.items()
        parts = []
        if fixed is not None:  # the route's attributes come first, unchanged: encoded once per route
            route = self._route_attributes(fixed)
            if route is None:
                return None
            parts.append(route)
            items = islice(items, len(fixed), None)  # type: ignore[assignment]
        cached, attribute = self._kv.get, self.attribute
        for key, value in items:
            try:
                encoded = cached((key, value)) or attribute(key, value)
            except TypeError:  # an unhashable value
                encoded = None
            if encoded is None:
                return None
            parts.append(encoded)
        return b"".join(parts)

    def _fast_span(self, span: ReadableSpan) -> bytes | None:
        context = span.context
        if context is None or span.start_time is None or span.end_time is None:
            return None
        parts = [b"\x0a\x10", context.trace_id.to_bytes(16, "big"), b"\x12\x08",
                 context.span_id.to_bytes(8, "big")]
        state = context.trace_state
        if state:
            parts.append(_field(b"\x1a", ",".join(f"{k}={v}" for k, v in state.items()).encode("utf-8")))
        parent = span.parent
        if parent is not None:
            parts += (b"\x22\x08", parent.span_id.to_bytes(8, "big"))
        parts += (_field(b"\x2a", span.name.encode("utf-8")), b"\x30", _varint(span.kind.value + 1),
                  b"\x39", _PACK_Q(span.start_time), b"\x41", _PACK_Q(span.end_time))
        attributes = span.attributes
        if attributes:
            for key, value in attributes.items():
                encoded = self.attribute(key, value)
                if encoded is None:
                    return None
                parts.append(encoded)
        if span.dropped_attributes:
            parts += (b"\x50", _varint(span.dropped_attributes))
        parts.append(_status_field(span.status))
        parts.append(_FLAGS_REMOTE if parent is not None and parent.is_remote else _FLAGS_LOCAL)
        return b"".join(parts)

    def _encoded_once(self, thing: Any, make: Any) -> bytes:
        hit = self._once.get(id(thing))
        if hit is not None and hit[0] is thing:
            return hit[1]
        encoded = bytes(make(thing).SerializeToString())
        self._once[id(thing)] = (thing, encoded)
        return encoded

    def request(self, spans: Sequence[ReadableSpan]) -> bytes:
        """An ExportTraceServiceRequest: spans grouped by resource, then by instrumentation scope; the
        pieces joined once at the end."""
        groups: dict[tuple[int, int], tuple[Any, Any, list[bytes]]] = {}
        prefixes = self._prefixes
        last_resource: Any = None
        last_scope: Any = None
        last: list[bytes] | None = None
        for span in spans:
            resource, scope = span._resource, span._instrumentation_scope
            if resource is not last_resource or scope is not last_scope or last is None:
                key = (id(resource), id(scope))
                group = groups.get(key)
                if group is None:
                    group = groups[key] = (resource, scope, [])
                last_resource, last_scope, last = resource, scope, group[2]
            body = (self._server_span(span) if type(span) is ServerSpan else None) or self.span(span)
            size = len(body)
            prefix = prefixes.get(size)
            if prefix is None:
                prefix = prefixes[size] = b"\x12" + _varint(size)  # field 2 of ScopeSpans, its length
            last += (prefix, body)
        by_resource: dict[int, tuple[Any, list[bytes]]] = {}
        for resource, scope, encoded in groups.values():
            head = _field(b"\x0a", self._encoded_once(scope, _scope)) if scope is not None else b""
            schema = scope.schema_url if scope is not None else None
            tail = _field(b"\x1a", schema.encode("utf-8")) if schema else b""
            inner = by_resource.setdefault(id(resource), (resource, []))[1]
            inner += (b"\x12", _varint(len(head) + sum(map(len, encoded)) + len(tail)), head)
            inner += encoded
            inner.append(tail)
        out: list[bytes] = []
        for resource, scope_spans in by_resource.values():
            parts = [_field(b"\x0a", self._encoded_once(resource, _resource)), *scope_spans]
            if resource.schema_url:
                parts.append(_field(b"\x1a", resource.schema_url.encode("utf-8")))
            out += (b"\x0a", _varint(sum(map(len, parts))))
            out += parts
        return b"".join(out)


_PLACEHOLDER = SpanContext(1, 1, False)  # a span around a resource or scope, for the public encoder


def _resource(resource: Any) -> PB2Resource:
    resource_spans = encode_spans([ReadableSpan("r", _PLACEHOLDER, resource=resource)]).resource_spans[0]
    return cast(PB2Resource, resource_spans.resource)


def _scope(scope: Any) -> PB2Scope:
    request = encode_spans([ReadableSpan("s", _PLACEHOLDER, instrumentation_scope=scope)])
    return cast(PB2Scope, request.resource_spans[0].scope_spans[0].scope)


_ENCODER = _Encoder()


def encode(spans: Sequence[ReadableSpan]) -> bytes:
    """The OTLP ExportTraceServiceRequest bytes of `spans` (one thread at a time: the exporter's)."""
    return _ENCODER.request(spans)


class OtlpExporter(OTLPSpanExporter):
    """OpenTelemetry's OTLP/HTTP exporter (its headers, timeout, compression, retries) with the lean
    encoder; to a plain `http://` collector, a batch the collector takes goes over a kept-alive stdlib
    connection (`_otlp_http.py`), anything else through OpenTelemetry's client."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._encoder = _Encoder()
        self._direct: KeepAlivePost | None = None
        client = getattr(self, "_client", None)
        headers, compress = getattr(client, "_headers", None), getattr(client, "_compress", None)
        if isinstance(headers, dict) and callable(compress) and str(getattr(self, "_endpoint", "")).startswith("http://"):
            self._direct = KeepAlivePost(self._endpoint, headers, float(getattr(client, "_timeout", 10.0)))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        client = getattr(self, "_client", None)
        if client is None:  # an exporter release without its HTTP client object: its own encoder then
            return super().export(spans)
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            data = self._encoder.request(spans)
        except Exception:
            log.exception("encoding %d spans for OTLP failed", len(spans))
            return SpanExportResult.FAILURE
        if self._direct is not None and self._direct.post(client._compress(data)):
            return SpanExportResult.SUCCESS
        result = client.export(data)  # its retries and backoff, and its log of what failed
        return SpanExportResult.SUCCESS if getattr(result, "success", False) else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        if self._direct is not None:
            self._direct.close()
        super().shutdown()  # type: ignore[no-untyped-call]
