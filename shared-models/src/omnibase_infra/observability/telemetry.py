"""Spans, metrics and operation records of an effect node, through the OpenTelemetry API.

One instance per node and target. :class:`OperationTelemetry` makes one CLIENT span per
operation (or of the ``span_kind`` given: a message producer's is PRODUCER), named
``<span_prefix>.<operation>``, a child of the caller's W3C trace when the correlation
context carries one, a duration histogram and two counters (operations by
outcome, retried attempts). Without an OpenTelemetry SDK every call is a cheap no-op: the
span is ``INVALID_SPAN`` and no attribute is built. Attribute values are whatever the node
passes: never put a secret in them (the nodes pass names, paths and codes, not values).

:class:`OperationRecordEmitter` hands a ``ModelOperationRecord`` per finished operation to a
sink (sync or async); a failing sink is logged and never fails the operation.

Each node picks its semantic conventions, e.g. PostgreSQL::

    OperationTelemetry(
        scope="omnibase_infra.nodes.node_postgres_adapter_effect",
        span_prefix="postgresql",
        operation_attributes=("db.operation", "db.operation.name"),
        span_attributes={"db.system": "postgresql", "server.address": "db", "server.port": 5432},
        metric_attributes={"db.system": "postgresql"},
        duration_metric="db.client.operation.duration",
        counter_prefix="omnibase.postgres",
    )
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

from opentelemetry import metrics, trace
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability.model_operation_record import (
    ModelOperationRecord,
    RecordAttributeValue,
)

__all__ = [
    "AttributeValue",
    "OperationRecordEmitter",
    "OperationTelemetry",
    "RecordSink",
    "split_target",
]

type AttributeValue = str | bool | int | float
type RecordSink = Callable[[ModelOperationRecord], Awaitable[object] | object]

# Providers without an SDK behind them: every span would be a no-op.
_NO_SDK = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
_RECHECK_SECONDS = 1.0


def split_target(target: str) -> tuple[str, int | None]:
    """``host:port`` → (``host``, port); anything else → (target, None)."""
    host, _, port = target.rpartition(":")
    if not host or "," in target or not port.isdigit():
        return target, None
    return host.strip("[]"), int(port)


class OperationTelemetry:
    """Creates the spans and records the metrics of one node for one target."""

    def __init__(
        self,
        *,
        scope: str,
        span_prefix: str,
        duration_metric: str,
        counter_prefix: str,
        operation_attributes: Sequence[str] = ("omnibase.operation",),
        span_attributes: Mapping[str, AttributeValue] | None = None,
        metric_attributes: Mapping[str, AttributeValue] | None = None,
        error_attributes: Callable[[InfraError], Mapping[str, AttributeValue]] | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        span_kind: SpanKind = SpanKind.CLIENT,
    ) -> None:
        if not operation_attributes:
            raise ValueError("operation_attributes needs at least one attribute name")
        self._span_prefix = span_prefix
        self._span_kind = span_kind
        self._operation_keys = tuple(operation_attributes)
        self._span_base = dict(span_attributes or {})
        self._metric_base = dict(metric_attributes or {})
        self._error_attributes = error_attributes
        self._provider = tracer_provider
        self._sdk = False
        self._recheck_at = float("-inf")
        self._tracer = trace.get_tracer(scope, tracer_provider=tracer_provider)
        meter = metrics.get_meter(scope, meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            duration_metric, unit="s", description="Duration of operations, retries included"
        )
        self._operations = meter.create_counter(
            f"{counter_prefix}.operations", unit="{operation}", description="Operations by outcome"
        )
        self._retries = meter.create_counter(
            f"{counter_prefix}.retries", unit="{retry}", description="Retried attempts"
        )
        self._ok_attrs: dict[str, dict[str, AttributeValue]] = {}

    def _tracing(self) -> bool:
        """Whether an SDK records spans (the global provider is re-read once a second)."""
        if self._provider is not None:
            return not isinstance(self._provider, _NO_SDK)
        now = time.monotonic()
        if now >= self._recheck_at:
            self._sdk = not isinstance(trace.get_tracer_provider(), _NO_SDK)
            self._recheck_at = now + _RECHECK_SECONDS
        return self._sdk

    def _metric_attrs(self, operation: str, outcome: str) -> dict[str, AttributeValue]:
        return {**self._metric_base, self._operation_keys[0]: operation, "outcome": outcome}

    def start(self, operation: str, correlation: ModelCorrelationContext) -> Span:
        """Start the operation's span; the caller may add attributes while it is recording."""
        if not self._tracing():
            return trace.INVALID_SPAN  # nothing would be recorded: skip building a parent
        parent = None
        if correlation.trace_id is not None and correlation.span_id is not None:
            remote = SpanContext(
                trace_id=int(correlation.trace_id, 16),
                span_id=int(correlation.span_id, 16),
                is_remote=True,
                trace_flags=TraceFlags(correlation.trace_flags),
            )
            parent = trace.set_span_in_context(NonRecordingSpan(remote))
        span = self._tracer.start_span(
            f"{self._span_prefix}.{operation}", context=parent, kind=self._span_kind
        )
        if span.is_recording():
            span.set_attributes(self._span_base)
            for key in self._operation_keys:
                span.set_attribute(key, operation)
            span.set_attribute("omnibase.correlation_id", str(correlation.correlation_id))
        return span

    def finish(
        self,
        span: Span,
        operation: str,
        duration_seconds: float,
        *,
        attempts: int = 1,
        error: InfraError | None = None,
    ) -> None:
        """End the span and record the duration, the outcome and any retries."""
        if error is None:
            attrs = self._ok_attrs.get(operation)
            if attrs is None:
                attrs = self._ok_attrs[operation] = self._metric_attrs(operation, "success")
        else:
            attrs = self._metric_attrs(operation, "error")
            attrs["error.type"] = type(error).__name__
            if span.is_recording():
                span.set_attribute("error.type", type(error).__name__)
                span.set_attribute("omnibase.error_code", error.infra_error_code.value)
                if self._error_attributes is not None:
                    span.set_attributes(self._error_attributes(error))
                span.set_status(Status(StatusCode.ERROR, error.message))
        if attempts > 1:
            self._retries.add(attempts - 1, attrs)
            if span.is_recording():
                span.set_attribute("omnibase.attempts", attempts)
        self._duration.record(duration_seconds, attrs)
        self._operations.add(1, attrs)
        span.end()


class OperationRecordEmitter:
    """Hands one ``ModelOperationRecord`` per finished operation to a sink.

    Async sinks run as tasks the emitter keeps a reference to until they finish; a sink
    that raises is logged (its exception type only) and never fails the operation.
    """

    def __init__(self, sink: RecordSink, *, transport: EnumTransport, logger: logging.Logger):
        self._sink = sink
        self._transport = transport
        self._logger = logger
        self._tasks: set[asyncio.Future[object]] = set()

    def emit(
        self,
        *,
        operation: str,
        correlation: ModelCorrelationContext,
        duration_seconds: float,
        error: InfraError | None,
        target: str | None,
        statement: str | None = None,
        attributes: Mapping[str, RecordAttributeValue] | None = None,
    ) -> None:
        try:
            record = ModelOperationRecord.from_outcome(
                transport=self._transport,
                operation=operation,
                # The operation's own span, a child of the caller's.
                correlation=correlation.child(),
                started_at=datetime.fromtimestamp(time.time() - duration_seconds, UTC),
                duration_ms=duration_seconds * 1000,
                error=error,
                target=target,
                statement=statement,
                attributes=dict(attributes or {}),
            )
            result = self._sink(record)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except Exception as exc:
            self._logger.warning(
                "%s %s: operation record sink failed (%s)",
                self._transport.value,
                operation,
                type(exc).__name__,
                extra={"correlation_id": str(correlation.correlation_id), "operation": operation},
            )
