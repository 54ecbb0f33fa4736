"""Trace-context propagation, semantic conventions, telemetry and operation records.

The correlation id, W3C ``traceparent``/``tracestate`` and baggage are carried in node
operation metadata with :func:`inject`/:func:`extract` (through opentelemetry-api's W3C
propagators), SQL statements carry the trace as a sqlcommenter comment,
:mod:`~omnibase_infra.observability.semconv` holds the one set of semantic-convention names
that the nodes' spans and the tracing node share, and :class:`ModelOperationRecord`
describes what an effect did for the tracing node to turn into a span.
"""

from omnibase_infra.models.model_correlation_context import MAX_TRACESTATE_LENGTH
from omnibase_infra.observability.model_operation_record import (
    MAX_RECORD_ATTRIBUTES,
    MAX_RECORD_TEXT,
    EnumOperationOutcome,
    ModelOperationRecord,
    RecordAttributeValue,
)
from omnibase_infra.observability.propagation import (
    BAGGAGE,
    CAUSATION_ID,
    CORRELATION_ID,
    PROPAGATION_KEYS,
    TRACEPARENT,
    TRACESTATE,
    PropagatedContext,
    caller_context,
    extract,
    inject,
    ratio_sampled,
    start_trace,
    trace_headers,
)
from omnibase_infra.observability.sqlcommenter import add_trace_comment, has_sql_comment

__all__ = [
    "BAGGAGE",
    "CAUSATION_ID",
    "CORRELATION_ID",
    "MAX_RECORD_ATTRIBUTES",
    "MAX_RECORD_TEXT",
    "MAX_TRACESTATE_LENGTH",
    "PROPAGATION_KEYS",
    "TRACEPARENT",
    "TRACESTATE",
    "EnumOperationOutcome",
    "ModelOperationRecord",
    "PropagatedContext",
    "RecordAttributeValue",
    "add_trace_comment",
    "caller_context",
    "extract",
    "has_sql_comment",
    "inject",
    "ratio_sampled",
    "start_trace",
    "trace_headers",
]
