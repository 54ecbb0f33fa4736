"""Spans, metrics and operation records of an effect node, through the OpenTelemetry API.

One instance per node and target. :class:`OperationTelemetry` makes one CLIENT span per
operation (or of the ``span_kind`` given: a message producer's is PRODUCER), named
``<span_prefix>.<operation>``: a child of the correlation's remote span
when the correlation carries a trace (its ``tracestate`` kept), else of the caller's
current span. It also records a duration histogram, with explicit bucket boundaries advised
(:func:`~omnibase_infra.observability.semconv.duration_buckets`), and two counters
(operations by outcome, retried attempts). Without an OpenTelemetry SDK every call is a
cheap no-op: the span is ``INVALID_SPAN`` and no attribute is built. Attribute values are
whatever the node passes: never put a secret in them (the nodes pass names, paths and
codes, not values).

:class:`OperationRecordEmitter` hands a ``ModelOperationRecord`` per finished operation to a
sink (sync or async); a failing sink is logged and never fails the operation.

Each node takes its conventions from :mod:`omnibase_infra.observability.semconv`, e.g.
PostgreSQL::

    OperationTelemetry.for_client(
        semconv.database_client(
            "postgresql", target="db:5432", namespace="app", name="postgres"
        ),
        scope="omnibase_infra.nodes.node_postgres_adapter_effect",
    )
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

from opentelemetry import metrics, trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanKind, Status, StatusCode

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability import semconv
from omnibase_infra.observability.model_operation_record import (
    ModelOperationRecord,
    RecordAttributeValue,
)
from omnibase_infra.observability.semconv import (
    AttributeValue,
    ClientConventions,
    duration_buckets,
    split_target,
)

__all__ = [
    "AttributeValue",
    "OperationRecordEmitter",
    "OperationTelemetry",
    "RecordSink",
    "split_target",
]

type RecordSink = Callable[[ModelOperationRecord], Awaitable[object] | object]

# Providers without an SDK behind them: every span would be a no-op.
_NO_SDK = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
_RECHECK_SECONDS = 1.0
_LEGACY_OUTCOME: Final = "outcome"
"""The metrics' outcome attribute of telemetry built by the constructor (kept for the nodes
that build it so); :meth:`OperationTelemetry.for_client` uses ``omnibase.outcome``."""


class OperationTelemetry:
    """Creates the spans and records the metrics of one node for one target.

    Prefer :meth:`for_client` with a helper of :mod:`~omnibase_infra.observability.semconv`.
    ``duration_buckets`` (seconds) is advised to the SDK for the duration histogram
    (default: :func:`~omnibase_infra.observability.semconv.duration_buckets` of
    ``duration_metric``); an application's View still overrides it.
    ``outcome_attribute`` names the metrics' outcome attribute.
    """

    def __init__(
        self,
        *,
        scope: str,
        span_prefix: str,
        duration_metric: str,
        counter_prefix: str,
        operation_attributes: Sequence[str] = (semconv.OPERATION,),
        span_attributes: Mapping[str, AttributeValue] | None = None,
        metric_attributes: Mapping[str, AttributeValue] | None = None,
        error_attributes: Callable[[InfraError], Mapping[str, AttributeValue]] | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        duration_buckets: Sequence[float] | None = None,
        outcome_attribute: str = _LEGACY_OUTCOME,
        span_kind: SpanKind = SpanKind.CLIENT,
    ) -> None:
        if not operation_attributes:
            raise ValueError("operation_attributes needs at least one attribute name")
        self._span_prefix = span_prefix
        self._span_kind = span_kind
        self._operation_keys = tuple(operation_attributes)
        self._span_base = dict(span_attributes or {})
        self._metric_base = dict(metric_attributes or {})
        self._outcome_key = outcome_attribute
        self._error_attributes = error_attributes
        self._provider = tracer_provider
        self._sdk = False
        self._recheck_at = float("-inf")
        self._tracer = trace.get_tracer(scope, tracer_provider=tracer_provider)
        meter = metrics.get_meter(scope, meter_provider=meter_provider)
        buckets = _duration_buckets(duration_metric, duration_buckets)
        self._duration = meter.create_histogram(
            duration_metric,
            unit="s",
            description="Duration of operations, retries included",
            explicit_bucket_boundaries_advisory=buckets,
        )
        self._operations = meter.create_counter(
            f"{counter_prefix}.operations", unit="{operation}", description="Operations by outcome"
        )
        self._retries = meter.create_counter(
            f"{counter_prefix}.retries", unit="{retry}", description="Retried attempts"
        )
        self._ok_attrs: dict[str, dict[str, AttributeValue]] = {}
        self._start_attrs: dict[str, dict[str, AttributeValue]] = {}

    @classmethod
    def for_client(
        cls,
        conventions: ClientConventions,
        *,
        scope: str,
        error_attributes: Callable[[InfraError], Mapping[str, AttributeValue]] | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> OperationTelemetry:
        """The telemetry that ``conventions`` describe (outcomes under ``omnibase.outcome``)."""
        return cls(
            scope=scope,
            span_prefix=conventions.span_prefix,
            duration_metric=conventions.duration_metric,
            counter_prefix=conventions.counter_prefix,
            operation_attributes=conventions.operation_attributes,
            span_attributes=conventions.span_attributes,
            metric_attributes=conventions.metric_attributes,
            error_attributes=error_attributes,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            duration_buckets=conventions.duration_buckets,
            outcome_attribute=semconv.OUTCOME,
        )

    def tracing(self) -> bool:
        """Whether an SDK records spans (the global provider is re-read once a second):
        when False, :meth:`start` returns the invalid span and nothing is recorded."""
        if self._provider is not None:
            return not isinstance(self._provider, _NO_SDK)
        now = time.monotonic()
        if now >= self._recheck_at:
            self._sdk = not isinstance(trace.get_tracer_provider(), _NO_SDK)
            self._recheck_at = now + _RECHECK_SECONDS
        return self._sdk

    def _metric_attrs(self, operation: str, outcome: str) -> dict[str, AttributeValue]:
        return {**self._metric_base, self._operation_keys[0]: operation, self._outcome_key: outcome}

    def _attributes(self, operation: str) -> dict[str, AttributeValue]:
        """The span attributes every ``operation`` span starts with (built once)."""
        attrs = self._start_attrs.get(operation)
        if attrs is None:
            attrs = dict(self._span_base)
            attrs.update(dict.fromkeys(self._operation_keys, operation))
            self._start_attrs[operation] = attrs
        return attrs

    def start(self, operation: str, correlation: ModelCorrelationContext) -> Span:
        """Start the operation's span; the caller may add attributes while it is recording.

        Its parent is the correlation's span when the correlation names one (a remote
        parent, with its trace flags and ``tracestate``), else the current span.
        """
        if not self.tracing():
            return trace.INVALID_SPAN  # nothing would be recorded: skip building a parent
        remote = correlation.to_span_context()
        parent = None if remote is None else trace.set_span_in_context(NonRecordingSpan(remote))
        # Attributes at start, not set one by one afterwards: samplers see them too.
        attributes = {
            **self._attributes(operation),
            semconv.CORRELATION_ID: str(correlation.correlation_id),
        }
        return self._tracer.start_span(
            f"{self._span_prefix}.{operation}",
            context=parent,
            kind=self._span_kind,
            attributes=attributes,
        )

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
            error_type = type(error).__name__
            attrs = self._metric_attrs(operation, "error")
            attrs[semconv.ERROR_TYPE] = error_type
            if span.is_recording():
                span.set_attributes(
                    {
                        semconv.ERROR_TYPE: error_type,
                        semconv.ERROR_CODE: error.infra_error_code.value,
                        **(self._error_attributes(error) if self._error_attributes else {}),
                    }
                )
                span.set_status(Status(StatusCode.ERROR, error.message))
        if attempts > 1:
            self._retries.add(attempts - 1, attrs)
            if span.is_recording():
                span.set_attribute(semconv.ATTEMPTS, attempts)
        self._duration.record(duration_seconds, attrs)
        self._operations.add(1, attrs)
        span.end()


def _duration_buckets(metric: str, buckets: Sequence[float] | None) -> Sequence[float]:
    if buckets is None:
        return duration_buckets(metric)
    if not buckets or any(b >= c for b, c in itertools.pairwise(buckets)):
        raise ValueError("duration_buckets must be a non-empty increasing sequence")
    return tuple(buckets)


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
