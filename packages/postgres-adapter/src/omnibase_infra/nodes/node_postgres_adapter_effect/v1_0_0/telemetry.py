"""Spans, metrics and log records of the node: the shared semantic conventions of a
database client (``omnibase_infra.observability.semconv.database_client``).

One CLIENT span ``postgresql.<operation>`` per operation (``db.system.name``,
``db.namespace``, ``server.*``, ``omnibase.operation``; the node adds ``db.query.text``,
the sanitized, parameterized statement: never a parameter value), the conventions'
``db.client.operation.duration`` histogram and ``omnibase.postgres.*`` counters, through
the shared ``OperationTelemetry``. Without an OpenTelemetry SDK every call is a cheap no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final

from opentelemetry import metrics, trace

from omnibase_infra.errors import InfraError
from omnibase_infra.observability import semconv
from omnibase_infra.observability.telemetry import AttributeValue, OperationTelemetry

__all__ = ["DB_SYSTEM", "RECORD_ATTRIBUTES", "SCOPE", "logger", "postgres_telemetry"]

SCOPE: Final = "omnibase_infra.nodes.node_postgres_adapter_effect"
DB_SYSTEM: Final = "postgresql"
RECORD_ATTRIBUTES: Final[Mapping[str, str]] = {semconv.DB_SYSTEM_NAME: DB_SYSTEM}
"""What every operation record says beyond the operation (for the tracing node)."""
logger = logging.getLogger(SCOPE)


def _sqlstate(error: InfraError) -> Mapping[str, AttributeValue]:
    sqlstate = error.details.get("sqlstate")
    return {semconv.DB_RESPONSE_STATUS_CODE: sqlstate} if isinstance(sqlstate, str) else {}


def postgres_telemetry(
    *,
    target: str,
    database: str | None,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> OperationTelemetry:
    """The telemetry of one node (one target)."""
    return OperationTelemetry.for_client(
        semconv.database_client(DB_SYSTEM, target=target, namespace=database, name="postgres"),
        scope=SCOPE,
        error_attributes=_sqlstate,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
