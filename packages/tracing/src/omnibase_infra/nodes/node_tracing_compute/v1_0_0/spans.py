"""Turn operation records into finished OpenTelemetry spans, with the semantic conventions.

A record describes an operation that has already ended: its ids, parent, start time and
duration are known, its attributes already validated (primitives, redacted). So the node
does not run the SDK's live-span machinery (a ``Span`` with a lock, attributes checked one
by one again, ids through an id generator, ``start`` then ``end``); it makes the span in
its finished form, the ``ReadableSpan`` that the SDK itself hands to span processors when a
span ends, and hands it to the node's span processor. Everything an exporter sees is what
``Tracer.start_span`` + ``end`` would have produced (a test compares them): the sampler's
decision and ``tracestate``, the span limits (attributes beyond them go through the SDK's
own ``BoundedAttributes``), resource and instrumentation scope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.span import TraceFlags
from opentelemetry.util import types

from omnibase_infra.enums import EnumTransport
from omnibase_infra.nodes.node_tracing_compute.v1_0_0.models import (
    ModelSpanInfo,
    SpanAttributeValue,
)
from omnibase_infra.observability import EnumOperationOutcome, ModelOperationRecord, semconv

__all__ = ["RecordSpans", "SpanParts", "span_info", "span_parts"]

type Attributes = dict[str, SpanAttributeValue]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_PRODUCE: Final = ("publish", "send", "emit")
_UNSET: Final = Status(StatusCode.UNSET)
_RECORDING: Final = frozenset({Decision.RECORD_ONLY, Decision.RECORD_AND_SAMPLE})
_RANDOM_TRACE_ID: Final[int] = getattr(TraceFlags, "RANDOM_TRACE_ID", 0)
"""W3C Trace Context level 2 ``random`` flag, kept from a parent (never claimed for a root)
as the SDK does, by SDKs that know it (opentelemetry-sdk 1.3x does not: then no bit)."""


@dataclass(frozen=True, slots=True)
class SpanParts:
    """Everything a span needs besides ids and times."""

    name: str
    kind: SpanKind
    attributes: Attributes
    status: Status


class RecordSpans:
    """Makes the finished span of each record and hands it to ``processor``.

    ``tracer`` is the provider's tracer for the node's scope (its provider's ``resource``,
    ``sampler`` and ``limits`` are passed alongside); a no-op tracer (``OTEL_SDK_DISABLED``)
    makes every record a dropped span.
    """

    __slots__ = (
        "_enabled",
        "_info",
        "_limits",
        "_processor",
        "_random",
        "_resource",
        "_sampler",
        "_scope",
    )

    def __init__(
        self,
        tracer: trace.Tracer,
        *,
        resource: Resource,
        sampler: Sampler,
        limits: SpanLimits,
        processor: SpanProcessor | None,
    ) -> None:
        self._enabled = isinstance(tracer, SdkTracer)
        self._info = tracer.instrumentation_info if isinstance(tracer, SdkTracer) else None
        self._scope = (
            InstrumentationScope(self._info.name, self._info.version, self._info.schema_url)
            if self._info is not None
            else None
        )
        self._resource = resource
        self._sampler = sampler
        self._limits = limits
        self._processor = processor
        self._random = RandomIdGenerator()

    def emit(
        self, record: ModelOperationRecord
    ) -> tuple[ReadableSpan | None, SpanContext, SpanParts]:
        """The record's span (``None`` when the sampler drops it), its context, its parts."""
        parts = span_parts(record)
        correlation = record.correlation
        parent = correlation.parent_span_context()
        trace_id = (
            int(correlation.trace_id, 16)
            if correlation.trace_id is not None
            else self._random.generate_trace_id()
        )
        span_id = (
            int(correlation.span_id, 16)
            if correlation.span_id is not None
            else self._random.generate_span_id()
        )
        # An explicit (empty) context for a root: the sampler must not see the caller's span.
        parent_context = (
            Context() if parent is None else trace.set_span_in_context(NonRecordingSpan(parent))
        )
        result = self._sampler.should_sample(
            parent_context, trace_id, parts.name, parts.kind, parts.attributes, None
        )
        recording = self._enabled and result.decision in _RECORDING
        sampled = recording and result.decision is Decision.RECORD_AND_SAMPLE
        flags = (parent.trace_flags & _RANDOM_TRACE_ID if parent is not None else 0) | int(sampled)
        context = SpanContext(
            trace_id,
            span_id,
            is_remote=False,
            trace_flags=TraceFlags(flags),
            trace_state=result.trace_state,
        )
        if not recording:
            return None, context, parts
        start = _unix_nanos(record.started_at)
        span = ReadableSpan(
            name=parts.name,
            context=context,
            parent=parent,
            resource=self._resource,
            attributes=self._bounded(result.attributes),
            kind=parts.kind,
            instrumentation_info=self._info,
            status=parts.status,
            start_time=start,
            end_time=start + _duration_nanos(record),
            instrumentation_scope=self._scope,
        )
        if self._processor is not None:
            self._processor.on_end(span)
        return span, context, parts

    def _bounded(self, attributes: types.Attributes) -> types.Attributes:
        """The attributes as the SDK would keep them under the span limits.

        A record's attributes are primitives already; only when a limit applies (more
        attributes than allowed, a value length limit) do they go through the SDK's
        ``BoundedAttributes`` (which also counts what it drops).
        """
        most = self._limits.max_span_attributes
        if self._limits.max_span_attribute_length is None and (
            most is None or attributes is None or len(attributes) <= most
        ):
            return attributes  # the sampler's read-only view of the attributes it was given
        return BoundedAttributes(
            most,
            attributes,
            immutable=True,
            max_value_len=self._limits.max_span_attribute_length,
        )


def span_info(
    span: ReadableSpan | None, context: SpanContext, parts: SpanParts, record: ModelOperationRecord
) -> ModelSpanInfo:
    """A JSON-friendly description of an emitted span (attributes only when recorded)."""
    start = _unix_nanos(record.started_at)
    attributes: Attributes = {}
    if span is not None:  # what the exporter got, after the SDK's limits
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


def _unix_nanos(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _duration_nanos(record: ModelOperationRecord) -> int:
    return round(record.duration_ms * 1_000_000)


# -- semantic conventions ---------------------------------------------------------------

type _Convention = Callable[[ModelOperationRecord, Attributes], tuple[str, SpanKind]]


def span_parts(record: ModelOperationRecord) -> SpanParts:
    """Name, kind, attributes and status of the record's span.

    The record's own attributes are kept; the node's ``omnibase.*`` attributes and each
    transport's system name replace a record's value of the same name.
    """
    transport = record.transport
    attributes: Attributes = {
        **_DEFAULTS.get(transport, {}),
        **record.attributes,
        **_FORCED[transport],
    }
    correlation = record.correlation
    attributes[semconv.CORRELATION_ID] = str(correlation.correlation_id)
    if correlation.causation_id is not None:
        attributes[semconv.CAUSATION_ID] = str(correlation.causation_id)
    attributes[semconv.OPERATION] = record.operation
    if record.outcome is _SUCCESS:
        attributes[semconv.OUTCOME] = _SUCCESS_VALUE
        status = _UNSET
    else:
        code = str(record.error_code)
        attributes[semconv.OUTCOME] = record.outcome.value
        attributes[semconv.ERROR_CODE] = code
        attributes.setdefault(semconv.ERROR_TYPE, record.error_type or code)
        status = Status(StatusCode.ERROR, record.error_message or code)
    url = attributes.get(semconv.URL_FULL)
    from_url: Mapping[str, SpanAttributeValue] = {}
    if isinstance(url, str):
        from_url = semconv.url_attributes(url)
        attributes[semconv.URL_FULL] = from_url[semconv.URL_FULL]
    if semconv.SERVER_ADDRESS not in attributes:
        server = semconv.server_attributes(record.target) if record.target is not None else {}
        if semconv.SERVER_ADDRESS not in server:  # no host in the target: the URL's, if any
            attributes.update(server)  # the unusable target itself, under omnibase.target
            server = {k: v for k, v in from_url.items() if k != semconv.URL_FULL}
        for key, value in server.items():
            attributes.setdefault(key, value)
    convention = _CONVENTIONS.get(transport, _internal)
    name, kind = convention(record, attributes)
    return SpanParts(name=name, kind=kind, attributes=attributes, status=status)


def _postgres(record: ModelOperationRecord, attributes: Attributes) -> tuple[str, SpanKind]:
    if record.statement is not None:
        for key, value in semconv.db_statement_attributes(record.statement).items():
            attributes.setdefault(key, value)
        attributes[semconv.DB_QUERY_TEXT] = record.statement
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
        method = attributes.setdefault(semconv.RPC_METHOD, record.operation)
        return f"{system}/{method}", SpanKind.CLIENT

    return convention


def _redis(record: ModelOperationRecord, attributes: Attributes) -> tuple[str, SpanKind]:
    return str(attributes.setdefault(semconv.DB_OPERATION_NAME, record.operation)), SpanKind.CLIENT


def _event_bus(record: ModelOperationRecord, attributes: Attributes) -> tuple[str, SpanKind]:
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
_SYSTEMS: Final[dict[EnumTransport, Attributes]] = {
    EnumTransport.POSTGRES: {semconv.DB_SYSTEM_NAME: "postgresql"},
    EnumTransport.VAULT: {semconv.RPC_SYSTEM_NAME: "vault"},
    EnumTransport.CONSUL: {semconv.RPC_SYSTEM_NAME: "consul"},
    EnumTransport.REDIS: {semconv.DB_SYSTEM_NAME: "redis"},
}
# Per transport, built once: what a record's attributes may override, and what they may not.
_DEFAULTS: Final[dict[EnumTransport, Attributes]] = {
    EnumTransport.EVENT_BUS: {semconv.MESSAGING_SYSTEM: "omnibase_infra"},
}
_FORCED: Final[dict[EnumTransport, Attributes]] = {
    transport: {**_SYSTEMS.get(transport, {}), semconv.TRANSPORT: transport.value}
    for transport in EnumTransport
}
_SUCCESS: Final = EnumOperationOutcome.SUCCESS
_SUCCESS_VALUE: Final = _SUCCESS.value
