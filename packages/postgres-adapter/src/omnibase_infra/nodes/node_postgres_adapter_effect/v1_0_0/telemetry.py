"""Spans, metrics and log records of the node, through the OpenTelemetry API.

One CLIENT span per operation with the database semantic conventions (``db.system``,
``db.operation``, ``db.namespace``, ``db.query.text`` holding the sanitized,
parameterized statement: never a parameter value), a duration histogram and counters per
operation. Without an OpenTelemetry SDK every call is a cheap no-op.
"""

from __future__ import annotations

import logging
import time
from typing import Final
from uuid import UUID

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

from omnibase_infra.errors import InfraError
from omnibase_infra.models import ModelCorrelationContext

__all__ = ["SCOPE", "PostgresTelemetry", "logger"]

SCOPE: Final = "omnibase_infra.nodes.node_postgres_adapter_effect"
DB_SYSTEM: Final = "postgresql"
logger = logging.getLogger(SCOPE)

type AttributeValue = str | bool | int | float
# Providers without an SDK behind them: every span would be a no-op.
_NO_SDK = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
_RECHECK_SECONDS = 1.0


def _split_target(target: str) -> tuple[str, int | None]:
    host, _, port = target.rpartition(":")
    if not host or "," in target or not port.isdigit():
        return target, None
    return host.strip("[]"), int(port)


class PostgresTelemetry:
    """Creates spans and records metrics for one node (one target)."""

    def __init__(
        self,
        *,
        target: str,
        database: str | None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._provider = tracer_provider
        self._sdk = False
        self._recheck_at = float("-inf")
        self._tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of PostgreSQL adapter operations, retries included",
        )
        self._operations = meter.create_counter(
            "omnibase.postgres.operations",
            unit="{operation}",
            description="PostgreSQL adapter operations by outcome",
        )
        self._retries = meter.create_counter(
            "omnibase.postgres.retries",
            unit="{retry}",
            description="Retried attempts of PostgreSQL adapter operations",
        )
        address, port = _split_target(target)
        base: dict[str, AttributeValue] = {
            "db.system": DB_SYSTEM,
            "db.system.name": DB_SYSTEM,
            "server.address": address,
        }
        if port is not None:
            base["server.port"] = port
        if database:
            base["db.namespace"] = database
        self._base = base
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

    def _metric_attrs(self, operation: str) -> dict[str, AttributeValue]:
        attrs = self._ok_attrs.get(operation)
        if attrs is None:
            attrs = self._ok_attrs[operation] = {
                "db.system": DB_SYSTEM,
                "db.operation": operation,
                "outcome": "success",
            }
        return attrs

    def start(self, operation: str, correlation: ModelCorrelationContext) -> Span:
        """Start the operation's span, a child of the caller's W3C trace when it has one.

        Attributes are only set when the span is recorded; the caller adds
        ``db.query.text`` (sanitized) once the statement is validated.
        """
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
            f"{DB_SYSTEM}.{operation}", context=parent, kind=SpanKind.CLIENT
        )
        if span.is_recording():
            span.set_attributes(self._base)
            span.set_attribute("db.operation", operation)
            span.set_attribute("db.operation.name", operation)
            span.set_attribute("omnibase.correlation_id", str(correlation.correlation_id))
        return span

    def finish(
        self,
        span: Span,
        operation: str,
        duration_seconds: float,
        *,
        attempts: int,
        error: InfraError | None = None,
    ) -> None:
        """End the span and record the duration, the outcome and any retries."""
        if error is None:
            attrs = self._metric_attrs(operation)
        else:
            sqlstate = error.details.get("sqlstate")
            attrs = {
                "db.system": DB_SYSTEM,
                "db.operation": operation,
                "outcome": "error",
                "error.type": type(error).__name__,
            }
            if span.is_recording():
                span.set_attribute("error.type", type(error).__name__)
                span.set_attribute("omnibase.error_code", error.infra_error_code.value)
                if isinstance(sqlstate, str):
                    span.set_attribute("db.response.status_code", sqlstate)
                span.set_status(Status(StatusCode.ERROR, error.message))
        if attempts > 1:
            self._retries.add(attempts - 1, attrs)
            if span.is_recording():
                span.set_attribute("omnibase.attempts", attempts)
        self._duration.record(duration_seconds, attrs)
        self._operations.add(1, attrs)
        span.end()


def log_extra(correlation_id: UUID, operation: str, target: str) -> dict[str, object]:
    """The ``extra`` of every log record of an operation."""
    return {"correlation_id": str(correlation_id), "operation": operation, "target": target}
