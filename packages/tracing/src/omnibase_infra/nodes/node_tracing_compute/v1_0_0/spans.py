"""Turn operation records into OpenTelemetry spans, with the semantic conventions."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.span import TraceFlags, TraceState

from omnibase_infra.enums import EnumTransport
from omnibase_infra.nodes.node_tracing_compute.v1_0_0 import semconv
from omnibase_infra.nodes.node_tracing_compute.v1_0_0.models import (
    ModelSpanInfo,
    SpanAttributeValue,
)
from omnibase_infra.observability import ModelOperationRecord
from omnibase_infra.redaction import redact_url
from omnibase_infra.sql import analyze_sql

__all__ = ["RecordIdGenerator", "SpanParts", "emit_span", "span_info", "span_parts"]

type Attributes = dict[str, SpanAttributeValue]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_HOST_PORT: Final = re.compile(r"\[?(?P<host>[^\s/\[\]@]+?)\]?:(?P<port>\d{1,5})")
_HOST: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]*")
_PRODUCE: Final = ("publish", "send", "emit")


@dataclass(frozen=True, slots=True)
class SpanParts:
    """Everything a span needs besides ids and times."""

    name: str
    kind: SpanKind
    attributes: Attributes
    status: Status


class RecordIdGenerator(IdGenerator):
    """Gives the tracer the ids of the record being turned into a span, random ids otherwise.

    The record's ``span_id`` must become the span's id, or a child recorded elsewhere (whose
    ``parent_span_id`` is that id) would point at nothing.
    """

    def __init__(self) -> None:
        self._random = RandomIdGenerator()
        self._pinned: ContextVar[tuple[int | None, int | None]] = ContextVar(
            "omnibase_tracing_pinned_ids", default=(None, None)
        )

    def pin(
        self, trace_id: int | None, span_id: int | None
    ) -> Token[tuple[int | None, int | None]]:
        """Hand out these ids (``None``: a random one) until :meth:`unpin`."""
        return self._pinned.set((trace_id, span_id))

    def unpin(self, token: Token[tuple[int | None, int | None]]) -> None:
        """Back to what was pinned before :meth:`pin` returned ``token``."""
        self._pinned.reset(token)

    def generate_span_id(self) -> int:
        span_id = self._pinned.get()[1]
        return span_id if span_id is not None else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        trace_id = self._pinned.get()[0]
        return trace_id if trace_id is not None else self._random.generate_trace_id()


def _hex(value: str | None) -> int | None:
    return int(value, 16) if value is not None else None


def _unix_nanos(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _parent_context(record: ModelOperationRecord) -> Context | None:
    correlation = record.correlation
    if correlation.trace_id is None or correlation.parent_span_id is None:
        return None
    parent = SpanContext(
        trace_id=int(correlation.trace_id, 16),
        span_id=int(correlation.parent_span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(correlation.trace_flags),
        trace_state=TraceState.from_header([correlation.tracestate])
        if correlation.tracestate
        else None,
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


def emit_span(
    tracer: trace.Tracer, ids: RecordIdGenerator, record: ModelOperationRecord
) -> tuple[trace.Span, SpanParts]:
    """Start and end the record's span (non-recording when the sampler drops it)."""
    parts = span_parts(record)
    correlation = record.correlation
    start = _unix_nanos(record.started_at)
    token = ids.pin(_hex(correlation.trace_id), _hex(correlation.span_id))
    try:
        span = tracer.start_span(
            parts.name,
            context=_parent_context(record),
            kind=parts.kind,
            attributes=parts.attributes,
            start_time=start,
        )
    finally:
        ids.unpin(token)
    if span.is_recording():
        span.set_status(parts.status)
        span.end(end_time=start + _duration_nanos(record))
    return span, parts


def span_info(span: trace.Span, parts: SpanParts, record: ModelOperationRecord) -> ModelSpanInfo:
    """A JSON-friendly description of an emitted span (attributes only when recorded)."""
    context = span.get_span_context()
    start = _unix_nanos(record.started_at)
    attributes: Attributes = {}
    if isinstance(span, ReadableSpan):  # what the exporter got, after the SDK's limits
        attributes = {
            key: value
            for key, value in (span.attributes or {}).items()
            if isinstance(value, str | bool | int | float)
        }
    return ModelSpanInfo(
        name=parts.name,
        kind=parts.kind.name.lower(),
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        parent_span_id=record.correlation.parent_span_id,
        sampled=context.trace_flags.sampled,
        start_time_unix_nano=start,
        end_time_unix_nano=start + _duration_nanos(record),
        status=parts.status.status_code.name.lower(),
        status_description=parts.status.description,
        attributes=attributes,
    )


def _duration_nanos(record: ModelOperationRecord) -> int:
    return round(record.duration_ms * 1_000_000)


# -- semantic conventions ---------------------------------------------------------------


def span_parts(record: ModelOperationRecord) -> SpanParts:
    """Name, kind, attributes and status of the record's span."""
    attributes: Attributes = dict(record.attributes)
    _common(record, attributes)
    convention = _CONVENTIONS.get(record.transport, _internal)
    name, kind = convention(record, attributes)
    if record.succeeded:
        status = Status(StatusCode.UNSET)
    else:
        status = Status(StatusCode.ERROR, record.error_message or record.error_code)
    return SpanParts(name=name, kind=kind, attributes=attributes, status=status)


def _common(record: ModelOperationRecord, attributes: Attributes) -> None:
    correlation = record.correlation
    attributes[semconv.CORRELATION_ID] = str(correlation.correlation_id)
    if correlation.causation_id is not None:
        attributes[semconv.CAUSATION_ID] = str(correlation.causation_id)
    attributes[semconv.TRANSPORT] = record.transport.value
    attributes[semconv.OPERATION] = record.operation
    attributes[semconv.OUTCOME] = record.outcome.value
    if not record.succeeded:
        attributes[semconv.ERROR_CODE] = str(record.error_code)
        attributes.setdefault(semconv.ERROR_TYPE, record.error_type or str(record.error_code))
    url = attributes.get(semconv.URL_FULL)
    server: tuple[str | None, int | None] = (None, None)
    if isinstance(url, str):
        safe_url, host, port = _safe_url(url)
        attributes[semconv.URL_FULL] = safe_url
        server = (host, port)
    _server(record.target, server, attributes)


@functools.lru_cache(maxsize=1024)
def _safe_url(url: str) -> tuple[str, str | None, int | None]:
    """``url`` without user info and with sensitive query values masked; its host and port.

    Cached: a few endpoints recur in every workflow, and redaction is the costliest step of
    a span. The key is the record's attribute, already redacted when the record was made.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return redact_url(url), None, None
    if "@" in parts.netloc:
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return redact_url(url), host, port


def _server(
    target: str | None, from_url: tuple[str | None, int | None], attributes: Attributes
) -> None:
    """``server.address``/``server.port`` from the target (``host:port``) or the URL."""
    if semconv.SERVER_ADDRESS in attributes:
        return
    if target is not None:
        match = _HOST_PORT.fullmatch(target)
        if match is not None and int(match["port"]) <= 65535:
            attributes[semconv.SERVER_ADDRESS] = match["host"]
            attributes.setdefault(semconv.SERVER_PORT, int(match["port"]))
            return
        if _HOST.fullmatch(target) is not None:
            attributes[semconv.SERVER_ADDRESS] = target
            return
        attributes[semconv.TARGET] = target
    host, port = from_url
    if host:
        attributes[semconv.SERVER_ADDRESS] = host
        if port is not None:
            attributes.setdefault(semconv.SERVER_PORT, port)


type _Convention = Callable[[ModelOperationRecord, Attributes], tuple[str, SpanKind]]


def _postgres(record: ModelOperationRecord, attributes: Attributes) -> tuple[str, SpanKind]:
    attributes[semconv.DB_SYSTEM_NAME] = "postgresql"
    attributes[semconv.DB_SYSTEM_LEGACY] = "postgresql"
    if record.statement is not None:
        analysis = analyze_sql(record.statement)
        attributes[semconv.DB_QUERY_TEXT] = record.statement
        if analysis.operation:
            attributes.setdefault(semconv.DB_OPERATION_NAME, analysis.operation)
        if len(analysis.tables) == 1:
            attributes.setdefault(semconv.DB_COLLECTION_NAME, analysis.tables[0])
    operation = attributes.get(semconv.DB_OPERATION_NAME)
    target = attributes.get(semconv.DB_COLLECTION_NAME) or attributes.get(semconv.DB_NAMESPACE)
    if operation and target:
        name = f"{operation} {target}"
    else:
        name = str(operation or target or "postgresql")
    return name, SpanKind.CLIENT


def _http(record: ModelOperationRecord, attributes: Attributes) -> tuple[str, SpanKind]:
    method = attributes.get(semconv.HTTP_REQUEST_METHOD)
    if not isinstance(method, str) or not method:
        return record.operation, SpanKind.CLIENT
    method = method.upper()
    attributes[semconv.HTTP_REQUEST_METHOD] = method
    template = attributes.get(semconv.URL_TEMPLATE)
    return (f"{method} {template}" if template else method), SpanKind.CLIENT


def _rpc(system: str) -> _Convention:
    def convention(record: ModelOperationRecord, attributes: Attributes) -> tuple[str, SpanKind]:
        attributes[semconv.RPC_SYSTEM_NAME] = system
        attributes[semconv.RPC_SYSTEM_LEGACY] = system
        attributes.setdefault(semconv.RPC_METHOD, record.operation)
        return f"{system}/{attributes[semconv.RPC_METHOD]}", SpanKind.CLIENT

    return convention


def _redis(record: ModelOperationRecord, attributes: Attributes) -> tuple[str, SpanKind]:
    attributes[semconv.DB_SYSTEM_NAME] = "redis"
    attributes[semconv.DB_SYSTEM_LEGACY] = "redis"
    attributes.setdefault(semconv.DB_OPERATION_NAME, record.operation)
    return str(attributes[semconv.DB_OPERATION_NAME]), SpanKind.CLIENT


def _event_bus(record: ModelOperationRecord, attributes: Attributes) -> tuple[str, SpanKind]:
    attributes.setdefault(semconv.MESSAGING_SYSTEM, "omnibase_infra")
    attributes.setdefault(semconv.MESSAGING_OPERATION_NAME, record.operation)
    destination = attributes.get(semconv.MESSAGING_DESTINATION_NAME)
    name = f"{record.operation} {destination}" if destination else record.operation
    kind = SpanKind.PRODUCER if record.operation.startswith(_PRODUCE) else SpanKind.INTERNAL
    return name, kind


def _internal(record: ModelOperationRecord, _attributes: Attributes) -> tuple[str, SpanKind]:
    return record.operation, SpanKind.INTERNAL


_CONVENTIONS: Final[dict[EnumTransport, _Convention]] = {
    EnumTransport.POSTGRES: _postgres,
    EnumTransport.HTTP: _http,
    EnumTransport.KEYCLOAK: _http,
    EnumTransport.VAULT: _rpc("vault"),
    EnumTransport.CONSUL: _rpc("consul"),
    EnumTransport.REDIS: _redis,
    EnumTransport.EVENT_BUS: _event_bus,
}
