"""Carry the correlation id, W3C trace context and baggage through node operation metadata.

Metadata is the ``str -> str`` dict of node inputs (and HTTP headers: the keys are the
W3C header names), so a trace follows a workflow from node to node. The W3C headers
(``traceparent``, ``tracestate``, ``baggage``) are written and read by opentelemetry-api's
propagators (``TraceContextTextMapPropagator``, ``W3CBaggagePropagator``); this module adds
the correlation and causation ids, the rules for metadata dicts (keys in any letter case,
repeated keys) and the conversion to and from :class:`ModelCorrelationContext`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID, uuid4

from opentelemetry import baggage as otel_baggage
from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.model_correlation_context import MAX_TRACESTATE_LENGTH

__all__ = [
    "BAGGAGE",
    "CAUSATION_ID",
    "CORRELATION_ID",
    "PROPAGATION_KEYS",
    "TRACEPARENT",
    "TRACESTATE",
    "PropagatedContext",
    "caller_context",
    "extract",
    "inject",
    "ratio_sampled",
    "start_trace",
    "trace_headers",
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
_TRACE_CONTEXT: Final = TraceContextTextMapPropagator()
_BAGGAGE: Final = W3CBaggagePropagator()


@dataclass(frozen=True, slots=True)
class PropagatedContext:
    """What travels between nodes: the correlation/trace context and the baggage.

    ``baggage`` maps keys to (decoded) values; never put a secret in it: it is sent to
    every downstream service.
    """

    correlation: ModelCorrelationContext
    baggage: Mapping[str, str] = field(default_factory=dict)

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
        update={
            "causation_id": causation_id,
            "trace_flags": TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT,
        }
    )


def trace_headers(context: ModelCorrelationContext) -> dict[str, str]:
    """``traceparent`` (naming the context's span as the parent) and ``tracestate`` as
    OpenTelemetry's W3C propagator writes them; empty without a trace."""
    span_context = context.to_span_context()
    headers: dict[str, str] = {}
    if span_context is not None:
        parent = trace.set_span_in_context(NonRecordingSpan(span_context), Context())
        _TRACE_CONTEXT.inject(headers, context=parent)
    return headers


def inject(
    context: ModelCorrelationContext | PropagatedContext,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A copy of ``metadata`` carrying ``context``; ``metadata`` itself is not changed.

    Writes ``x-correlation-id`` (and ``x-causation-id``), and when the context has a trace
    ``traceparent`` and ``tracestate`` (:func:`trace_headers`); ``baggage`` when there is
    any, as opentelemetry-api's W3C baggage propagator encodes it (within the W3C size
    limits where the installed opentelemetry-api applies them). Any earlier value of these
    keys, in any letter case, is replaced.
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
    result.update(trace_headers(correlation))
    if baggage:
        carried = Context()
        for key, value in baggage.items():
            carried = otel_baggage.set_baggage(key, value, carried)
        _BAGGAGE.inject(result, context=carried)
    return result


def extract(metadata: Mapping[str, str] | None, *, sample_ratio: float = 1.0) -> PropagatedContext:
    """The context of the operation that received ``metadata``; never raises on bad input.

    With a valid ``traceparent`` (as opentelemetry-api's W3C propagator reads it) the result
    continues the caller's trace: same trace id and flags, ``tracestate``, the caller's span
    as ``parent_span_id`` and a new ``span_id`` for this operation. Without one (or with an
    invalid one: the spec says restart the trace and ignore ``tracestate``), a new trace
    starts, sampled by ``sample_ratio``. The correlation id is the caller's
    ``x-correlation-id``; when it is missing or malformed it is derived from the trace id,
    so that every node continuing the same trace agrees on it. Keys are matched
    case-insensitively; repeated ``tracestate`` or ``baggage`` keys are combined,
    conflicting ``traceparent`` values are invalid; an invalid or over-long ``tracestate``
    is dropped.

    To build a request that a node runs for the sender, use :func:`caller_context`.
    """
    values, caller = _read(metadata)
    if caller.trace_id is not None:
        correlation = caller.child()
    else:
        correlation = start_trace(
            caller.correlation_id, causation_id=caller.causation_id, sample_ratio=sample_ratio
        )
    baggage: dict[str, str] = {}
    if BAGGAGE in values:
        carried = _BAGGAGE.extract({BAGGAGE: ",".join(values[BAGGAGE])}, context=Context())
        baggage = {key: str(value) for key, value in otel_baggage.get_all(carried).items()}
    return PropagatedContext(correlation, baggage)


def caller_context(metadata: Mapping[str, str] | None) -> ModelCorrelationContext:
    """The sender's own context as ``metadata`` carries it: what a request made from
    ``metadata`` should carry; never raises on bad input.

    Read as :func:`extract` reads it, but not continued: the sender's span (its
    ``traceparent``, flags and ``tracestate``) is the context's span, so the span of the
    operation run for it is that span's child. Without a valid ``traceparent`` the
    context has no trace, and the operation's span joins the current OpenTelemetry span.
    The correlation id is the sender's (derived from its trace id when missing, a new one
    without a trace either).
    """
    return _read(metadata)[1]


def _read(
    metadata: Mapping[str, str] | None,
) -> tuple[dict[str, list[str]], ModelCorrelationContext]:
    """The propagation values of ``metadata`` by lower-cased key, and the sender's context."""
    values: dict[str, list[str]] = {}
    for key, value in (metadata or {}).items():
        lowered = key.lower()
        if lowered in PROPAGATION_KEYS and isinstance(value, str):
            values.setdefault(lowered, []).append(value)
    correlation_id = _uuid(values.get(CORRELATION_ID))
    causation_id = _uuid(values.get(CAUSATION_ID))
    parents = set(values.get(TRACEPARENT, ()))
    if len(parents) == 1:
        carrier = {TRACEPARENT: parents.pop()}
        tracestate = ",".join(values.get(TRACESTATE, ()))
        if tracestate and len(tracestate) <= MAX_TRACESTATE_LENGTH:
            carrier[TRACESTATE] = tracestate
        remote = trace.get_current_span(_TRACE_CONTEXT.extract(carrier)).get_span_context()
        if remote.is_valid:
            return values, ModelCorrelationContext.from_span_context(
                remote, correlation_id=correlation_id, causation_id=causation_id
            )
    return values, ModelCorrelationContext(
        correlation_id=correlation_id if correlation_id is not None else uuid4(),
        causation_id=causation_id,
    )


def _uuid(values: list[str] | None) -> UUID | None:
    if not values or len(set(values)) != 1:
        return None
    try:
        return UUID(values[0].strip())
    except ValueError:
        return None
