"""inject/extract of correlation id, trace context and baggage through node metadata."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from omnibase_infra.errors import InfraValidationError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability import (
    BAGGAGE,
    CAUSATION_ID,
    CORRELATION_ID,
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

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


def _context(**update: object) -> ModelCorrelationContext:
    fields: dict[str, object] = {
        "correlation_id": uuid4(),
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
        "tracestate": "congo=t61rcWkgMzE,rojo=1",
    }
    fields.update(update)
    return ModelCorrelationContext.model_validate(fields)


def test_inject_writes_every_key_into_a_copy() -> None:
    context = _context(causation_id=uuid4())
    original = {"other": "kept"}
    metadata = inject(PropagatedContext(context, {"tenant": "acme corp"}), original)
    assert original == {"other": "kept"}
    assert metadata == {
        "other": "kept",
        CORRELATION_ID: str(context.correlation_id),
        CAUSATION_ID: str(context.causation_id),
        TRACEPARENT: f"00-{TRACE_ID}-{SPAN_ID}-01",
        TRACESTATE: "congo=t61rcWkgMzE,rojo=1",
        BAGGAGE: "tenant=acme+corp",  # opentelemetry-api's encoding (quote_plus)
    }


def test_inject_replaces_stale_keys_in_any_letter_case() -> None:
    metadata = inject(_context(), {"TraceParent": "stale", "Baggage": "old=1", "x": "y"})
    assert "TraceParent" not in metadata
    assert "Baggage" not in metadata
    assert BAGGAGE not in metadata  # no baggage in a bare correlation context
    assert metadata[TRACEPARENT].startswith("00-")


def test_inject_without_a_trace_carries_only_the_correlation_id() -> None:
    context = ModelCorrelationContext.new(with_trace=False)
    assert inject(context) == {CORRELATION_ID: str(context.correlation_id)}


def test_inject_omits_empty_tracestate_and_baggage() -> None:
    metadata = inject(PropagatedContext(_context(tracestate=None)))
    assert TRACESTATE not in metadata
    assert BAGGAGE not in metadata


def test_baggage_values_round_trip_whatever_their_characters() -> None:
    baggage = {"tenant": "acme corp", "path": "a=b,c;d%e", "name": "Zoë 🚀", "empty": ""}
    received = extract(inject(PropagatedContext(_context(), baggage)))
    assert dict(received.baggage) == baggage


def test_tracestate_is_kept_end_to_end() -> None:
    first = extract(inject(_context()))
    second = extract(inject(first.correlation))
    assert second.correlation.tracestate == "congo=t61rcWkgMzE,rojo=1"
    assert inject(second.correlation)[TRACESTATE] == "congo=t61rcWkgMzE,rojo=1"


def test_trace_headers_name_the_contexts_span() -> None:
    assert trace_headers(_context(trace_flags=0)) == {
        TRACEPARENT: f"00-{TRACE_ID}-{SPAN_ID}-00",
        TRACESTATE: "congo=t61rcWkgMzE,rojo=1",
    }
    assert trace_headers(_context(tracestate=None)) == {TRACEPARENT: f"00-{TRACE_ID}-{SPAN_ID}-01"}
    assert trace_headers(ModelCorrelationContext.new(with_trace=False)) == {}


def test_a_future_traceparent_version_is_continued() -> None:
    received = extract({TRACEPARENT: f"01-{TRACE_ID}-{SPAN_ID}-01-future"})
    assert received.correlation.trace_id == TRACE_ID
    assert received.correlation.parent_span_id == SPAN_ID


def test_extract_continues_the_callers_trace_as_a_child() -> None:
    caller = PropagatedContext(_context(trace_flags=0), {"tenant": "acme"})
    received = extract(inject(caller))
    context = received.correlation
    assert context.correlation_id == caller.correlation_id
    assert context.trace_id == TRACE_ID
    assert context.parent_span_id == SPAN_ID  # the caller's span is the parent
    assert context.span_id not in (None, SPAN_ID)  # this operation's own span
    assert context.trace_flags == 0
    assert context.tracestate == "congo=t61rcWkgMzE,rojo=1"
    assert received.baggage == caller.baggage


def test_a_trace_follows_a_chain_of_nodes() -> None:
    a = PropagatedContext(start_trace())
    b = extract(inject(a))
    c = extract(inject(b))
    assert a.correlation.trace_id == b.correlation.trace_id == c.correlation.trace_id
    assert c.correlation.parent_span_id == b.correlation.span_id
    assert b.correlation.parent_span_id == a.correlation.span_id
    assert len({a.correlation_id, b.correlation_id, c.correlation_id}) == 1


def test_extract_without_traceparent_starts_a_trace_keeping_the_correlation_id() -> None:
    correlation_id, causation_id = uuid4(), uuid4()
    received = extract(
        {CORRELATION_ID: str(correlation_id), CAUSATION_ID: str(causation_id), TRACESTATE: "a=1"}
    )
    context = received.correlation
    assert context.correlation_id == correlation_id
    assert context.causation_id == causation_id
    assert context.trace_id is not None
    assert context.parent_span_id is None
    assert context.tracestate is None  # tracestate means nothing without its traceparent
    assert context.sampled


def test_extract_with_an_invalid_traceparent_restarts_the_trace() -> None:
    received = extract({TRACEPARENT: f"00-{TRACE_ID.upper()}-{SPAN_ID}-01", TRACESTATE: "a=1"})
    assert received.correlation.trace_id != TRACE_ID
    assert received.correlation.tracestate is None


def test_extract_new_trace_honours_the_sample_ratio() -> None:
    assert not extract({}, sample_ratio=0.0).correlation.sampled
    assert extract(None, sample_ratio=1.0).correlation.sampled


def test_missing_or_bad_correlation_id_is_derived_from_the_trace() -> None:
    metadata = {TRACEPARENT: f"00-{TRACE_ID}-{SPAN_ID}-01", CORRELATION_ID: "not-a-uuid"}
    first, second = extract(metadata), extract({TRACEPARENT: metadata[TRACEPARENT]})
    assert first.correlation_id == second.correlation_id == UUID(hex=TRACE_ID)


def test_keys_match_case_insensitively_and_non_text_values_are_ignored() -> None:
    correlation_id = uuid4()
    metadata: dict[str, object] = {
        "TRACEPARENT": f"00-{TRACE_ID}-{SPAN_ID}-01",
        "X-Correlation-Id": f" {correlation_id} ",
        "baggage": 42,
    }
    received = extract(metadata)  # type: ignore[arg-type]
    assert received.correlation.trace_id == TRACE_ID
    assert received.correlation_id == correlation_id
    assert len(received.baggage) == 0


def test_repeated_tracestate_and_baggage_keys_are_combined() -> None:
    received = extract(
        {
            TRACEPARENT: f"00-{TRACE_ID}-{SPAN_ID}-01",
            TRACESTATE: "a=1",
            "Tracestate": "b=2",
            BAGGAGE: "x=1",
            "BAGGAGE": "y=2",
        }
    )
    assert received.correlation.tracestate == "a=1,b=2"
    assert dict(received.baggage) == {"x": "1", "y": "2"}


def test_conflicting_traceparents_are_invalid_identical_ones_are_not() -> None:
    other = f"00-{'1' * 32}-{SPAN_ID}-01"
    conflicting = extract({TRACEPARENT: f"00-{TRACE_ID}-{SPAN_ID}-01", "TraceParent": other})
    assert conflicting.correlation.trace_id not in (TRACE_ID, "1" * 32)
    same = extract({TRACEPARENT: other, "TraceParent": other})
    assert same.correlation.trace_id == "1" * 32


def test_conflicting_correlation_ids_fall_back_to_the_trace() -> None:
    received = extract(
        {
            TRACEPARENT: f"00-{TRACE_ID}-{SPAN_ID}-01",
            CORRELATION_ID: str(uuid4()),
            "X-CORRELATION-ID": str(uuid4()),
        }
    )
    assert received.correlation_id == UUID(hex=TRACE_ID)


@pytest.mark.parametrize(
    "tracestate", ["Bad=1", "a=1,a=2", ",".join(f"k{n}=" + "v" * 200 for n in range(3))]
)
def test_an_invalid_or_over_long_tracestate_is_dropped_but_the_trace_continues(
    tracestate: str,
) -> None:
    received = extract({TRACEPARENT: f"00-{TRACE_ID}-{SPAN_ID}-01", TRACESTATE: tracestate})
    assert received.correlation.trace_id == TRACE_ID
    assert received.correlation.tracestate is None


def test_propagated_context_child() -> None:
    parent = PropagatedContext(_context(), {"k": "v"})
    cause = uuid4()
    child = parent.child(causation_id=cause)
    assert child.baggage is parent.baggage
    assert child.correlation.parent_span_id == SPAN_ID
    assert child.correlation.causation_id == cause
    assert child.correlation_id == parent.correlation_id


def test_ratio_sampling_uses_the_low_64_bits_of_the_trace_id() -> None:
    low_zero = "f" * 16 + "0" * 16
    low_max = "0" * 16 + "f" * 16
    assert ratio_sampled(low_zero, 1e-9)
    assert not ratio_sampled(low_zero, 0.0)
    assert not ratio_sampled(low_max, 0.999)
    assert ratio_sampled(low_max, 1.0)
    half = "0" * 16 + "7fffffffffffffff"
    assert ratio_sampled(half, 0.5)
    assert not ratio_sampled("0" * 16 + "8000000000000000", 0.5)


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_ratio_must_be_a_probability(ratio: float) -> None:
    with pytest.raises(InfraValidationError):
        ratio_sampled(TRACE_ID, ratio)


def test_start_trace_sets_the_flag_by_ratio_and_keeps_ids() -> None:
    correlation_id, causation_id = uuid4(), uuid4()
    always = start_trace(correlation_id, causation_id=causation_id)
    assert (always.correlation_id, always.causation_id) == (correlation_id, causation_id)
    assert always.sampled
    assert not start_trace(sample_ratio=0.0).sampled
    decisions = [start_trace(sample_ratio=0.5).sampled for _ in range(400)]
    assert 100 < sum(decisions) < 300


def test_caller_context_is_the_senders_span_not_a_child() -> None:
    sender = _context(causation_id=uuid4())
    received = caller_context(inject(sender))
    assert received == sender


def test_caller_context_without_a_trace_has_none() -> None:
    correlation_id = uuid4()
    received = caller_context({CORRELATION_ID: str(correlation_id), TRACESTATE: "a=1"})
    assert received.correlation_id == correlation_id
    assert (received.trace_id, received.span_id, received.tracestate) == (None, None, None)
    assert caller_context(None).trace_id is None
    assert caller_context({TRACEPARENT: "garbage"}).trace_id is None
