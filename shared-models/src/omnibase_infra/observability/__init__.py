"""Trace-context propagation and operation records, for every node; standard library only.

W3C ``traceparent``/``tracestate`` and baggage are carried in node operation metadata with
:func:`inject`/:func:`extract` (no OpenTelemetry needed), SQL statements carry the trace as
a sqlcommenter comment, and :class:`ModelOperationRecord` describes what an effect did for
the tracing node to turn into a span.
"""

from omnibase_infra.observability.baggage import (
    MAX_BAGGAGE_BYTES,
    MAX_BAGGAGE_MEMBERS,
    Baggage,
    BaggageEntry,
)
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
    extract,
    inject,
    ratio_sampled,
    start_trace,
)
from omnibase_infra.observability.sqlcommenter import add_trace_comment, has_sql_comment
from omnibase_infra.observability.traceparent import (
    SAMPLED_FLAG,
    TraceParent,
    format_traceparent,
    parse_traceparent,
)
from omnibase_infra.observability.tracestate import (
    MAX_TRACESTATE_LENGTH,
    MAX_TRACESTATE_MEMBERS,
    TraceState,
)

__all__ = [
    "BAGGAGE",
    "CAUSATION_ID",
    "CORRELATION_ID",
    "MAX_BAGGAGE_BYTES",
    "MAX_BAGGAGE_MEMBERS",
    "MAX_RECORD_ATTRIBUTES",
    "MAX_RECORD_TEXT",
    "MAX_TRACESTATE_LENGTH",
    "MAX_TRACESTATE_MEMBERS",
    "PROPAGATION_KEYS",
    "SAMPLED_FLAG",
    "TRACEPARENT",
    "TRACESTATE",
    "Baggage",
    "BaggageEntry",
    "EnumOperationOutcome",
    "ModelOperationRecord",
    "PropagatedContext",
    "RecordAttributeValue",
    "TraceParent",
    "TraceState",
    "add_trace_comment",
    "extract",
    "format_traceparent",
    "has_sql_comment",
    "inject",
    "parse_traceparent",
    "ratio_sampled",
    "start_trace",
]
