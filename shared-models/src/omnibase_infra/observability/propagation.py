"""Carry the correlation id, W3C trace context and baggage through node operation metadata.

Metadata is the ``str -> str`` dict of node inputs (and HTTP headers: the keys are the
W3C header names), so a trace follows a workflow from node to node without any
OpenTelemetry dependency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability.baggage import Baggage
from omnibase_infra.observability.traceparent import SAMPLED_FLAG, parse_traceparent
from omnibase_infra.observability.tracestate import TraceState

__all__ = [
    "BAGGAGE",
    "CAUSATION_ID",
    "CORRELATION_ID",
    "PROPAGATION_KEYS",
    "TRACEPARENT",
    "TRACESTATE",
    "PropagatedContext",
    "extract",
    "inject",
    "ratio_sampled",
    "start_trace",
]

TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
BAGGAGE: Final = "baggage"
CORRELATION_ID: Final = "x-correlation-id"
CAUSATION_ID: Final = "x-causation-id"
PROPAGATION_KEYS: Final = frozenset(
    {TRACEPARENT, TRACESTATE, BAGGAGE, CORRELATION_ID, CAUSATION_ID}
)
"""The metadata keys :func:`inject` owns (matched case-insensitively)."""

_LOW_64_BITS: Final = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class PropagatedContext:
    """What travels between nodes: the correlation/trace context and the baggage."""

    correlation: ModelCorrelationContext
    baggage: Baggage = field(default_factory=Baggage)

    @property
    def correlation_id(self) -> UUID:
        """The workflow's correlation id."""
        return self.correlation.correlation_id

    def child(self, *, causation_id: UUID | None = None) -> PropagatedContext:
        """The context of a downstream operation: same trace and baggage, a new span."""
        return PropagatedContext(self.correlation.child(causation_id=causation_id), self.baggage)


def ratio_sampled(trace_id: str, ratio: float) -> bool:
    """The head-sampling decision for ``trace_id`` at ``ratio`` (0..1).

    The rule of OpenTelemetry's ``TraceIdRatioBased`` sampler (the low 64 bits of the trace
    id against ``ratio * 2**64``), so a trace started here with a ratio is sampled exactly
    when the tracing node, configured with the same ratio, would sample it as a root.
    """
    if not 0.0 <= ratio <= 1.0:
        raise InfraValidationError(
            "sample ratio must be between 0 and 1",
            transport=EnumTransport.INTERNAL,
            operation="ratio_sampled",
        )
    return int(trace_id, 16) & _LOW_64_BITS < round(ratio * (_LOW_64_BITS + 1))


def start_trace(
    correlation_id: UUID | None = None,
    *,
    causation_id: UUID | None = None,
    sample_ratio: float = 1.0,
) -> ModelCorrelationContext:
    """A new root context (fresh trace and span) with the sampled flag set by ``sample_ratio``."""
    context = ModelCorrelationContext.new(correlation_id)
    sampled = context.trace_id is not None and ratio_sampled(context.trace_id, sample_ratio)
    return context.model_copy(
        update={"causation_id": causation_id, "trace_flags": SAMPLED_FLAG if sampled else 0}
    )


def inject(
    context: ModelCorrelationContext | PropagatedContext,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A copy of ``metadata`` carrying ``context``; ``metadata`` itself is not changed.

    Writes ``x-correlation-id`` (and ``x-causation-id``), and when the context has a trace
    ``traceparent`` (version 00, the context's span as the parent) and ``tracestate``;
    ``baggage`` when there is any. Any earlier value of these keys, in any letter case,
    is replaced.
    """
    if isinstance(context, PropagatedContext):
        correlation, baggage = context.correlation, context.baggage
    else:
        correlation, baggage = context, None
    result = {
        key: value for key, value in (metadata or {}).items() if key.lower() not in PROPAGATION_KEYS
    }
    result[CORRELATION_ID] = str(correlation.correlation_id)
    if correlation.causation_id is not None:
        result[CAUSATION_ID] = str(correlation.causation_id)
    traceparent = correlation.traceparent
    if traceparent is not None:
        result[TRACEPARENT] = traceparent
        tracestate = TraceState.parse(correlation.tracestate).to_header()
        if tracestate:
            result[TRACESTATE] = tracestate
    if baggage:
        header = baggage.to_header()
        if header:
            result[BAGGAGE] = header
    return result


def extract(metadata: Mapping[str, str] | None, *, sample_ratio: float = 1.0) -> PropagatedContext:
    """The context of the operation that received ``metadata``; never raises on bad input.

    With a valid ``traceparent`` the result continues the caller's trace: same trace id
    and flags, ``tracestate``, the caller's span as ``parent_span_id`` and a new
    ``span_id`` for this operation. Without one (or with an invalid one: the spec says
    restart the trace and ignore ``tracestate``), a new trace starts, sampled by
    ``sample_ratio``. The correlation id is the caller's ``x-correlation-id``; when it is
    missing or malformed it is derived from the trace id, so that every node continuing the
    same trace agrees on it. Keys are matched case-insensitively; repeated ``tracestate`` or
    ``baggage`` keys are combined, conflicting ``traceparent`` values are invalid.
    """
    values: dict[str, list[str]] = {}
    for key, value in (metadata or {}).items():
        lowered = key.lower()
        if lowered in PROPAGATION_KEYS and isinstance(value, str):
            values.setdefault(lowered, []).append(value)
    parents = set(values.get(TRACEPARENT, ()))
    parent = parse_traceparent(parents.pop()) if len(parents) == 1 else None
    correlation_id = _uuid(values.get(CORRELATION_ID))
    causation_id = _uuid(values.get(CAUSATION_ID))
    if parent is None:
        correlation = start_trace(
            correlation_id, causation_id=causation_id, sample_ratio=sample_ratio
        )
    else:
        tracestate = TraceState.parse(",".join(values.get(TRACESTATE, ()))).to_header()
        remote = ModelCorrelationContext(
            correlation_id=correlation_id or UUID(hex=parent.trace_id),
            causation_id=causation_id,
            trace_id=parent.trace_id,
            span_id=parent.parent_id,
            trace_flags=parent.trace_flags,
            tracestate=tracestate or None,
        )
        correlation = remote.child()
    return PropagatedContext(correlation, Baggage.parse(",".join(values.get(BAGGAGE, ()))))


def _uuid(values: list[str] | None) -> UUID | None:
    if not values or len(set(values)) != 1:
        return None
    try:
        return UUID(values[0].strip())
    except ValueError:
        return None
