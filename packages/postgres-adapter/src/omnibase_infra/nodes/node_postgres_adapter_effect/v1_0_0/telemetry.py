"""Spans, metrics and log records of the node: the database semantic conventions.

One CLIENT span per operation (``db.system``, ``db.operation``, ``db.namespace``,
``db.query.text`` holding the sanitized, parameterized statement: never a parameter
value), a duration histogram and counters per operation, through the shared
``OperationTelemetry``. Without an OpenTelemetry SDK every call is a cheap no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final
from uuid import UUID

from opentelemetry import metrics, trace

from omnibase_infra.errors import InfraError
from omnibase_infra.observability.telemetry import (
    AttributeValue,
    OperationTelemetry,
    split_target,
)

__all__ = ["SCOPE", "log_extra", "logger", "postgres_telemetry"]

SCOPE: Final = "omnibase_infra.nodes.node_postgres_adapter_effect"
DB_SYSTEM: Final = "postgresql"
logger = logging.getLogger(SCOPE)


def _sqlstate(error: InfraError) -> Mapping[str, AttributeValue]:
    sqlstate = error.details.get("sqlstate")
    return {"db.response.status_code": sqlstate} if isinstance(sqlstate, str) else {}


def postgres_telemetry(
    *,
    target: str,
    database: str | None,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> OperationTelemetry:
    """The telemetry of one node (one target)."""
    address, port = split_target(target)
    base: dict[str, AttributeValue] = {
        "db.system": DB_SYSTEM,
        "db.system.name": DB_SYSTEM,
        "server.address": address,
    }
    if port is not None:
        base["server.port"] = port
    if database:
        base["db.namespace"] = database
    return OperationTelemetry(
        scope=SCOPE,
        span_prefix=DB_SYSTEM,
        duration_metric="db.client.operation.duration",
        counter_prefix="omnibase.postgres",
        operation_attributes=("db.operation", "db.operation.name"),
        span_attributes=base,
        metric_attributes={"db.system": DB_SYSTEM},
        error_attributes=_sqlstate,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )


def log_extra(correlation_id: UUID, operation: str, target: str) -> dict[str, object]:
    """The ``extra`` of every log record of an operation."""
    return {"correlation_id": str(correlation_id), "operation": operation, "target": target}
