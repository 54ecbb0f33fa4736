"""A trace across two nodes, and parent-based ratio sampling."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased

from omnibase_infra.enums import EnumTransport
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.nodes.node_tracing_compute import (
    EnumSpanExporter,
    ModelTracingConfig,
    NodeTracingCompute,
)
from omnibase_infra.observability import (
    ModelOperationRecord,
    PropagatedContext,
    extract,
    inject,
    start_trace,
)

type NodeFactory = Callable[..., NodeTracingCompute]
type RecordFactory = Callable[..., ModelOperationRecord]


def test_parentage_across_two_nodes(make_record: RecordFactory) -> None:
    """Node A's record, its context sent in metadata, node B's record: B's span is A's child.

    Each side has its own tracing node and exporter, as in two processes.
    """
    exporter_a, exporter_b = InMemorySpanExporter(), InMemorySpanExporter()
    config = ModelTracingConfig(exporter=EnumSpanExporter.NONE)
    tracing_a = NodeTracingCompute(ModelONEXContainer(), config=config, exporter=exporter_a)
    tracing_b = NodeTracingCompute(ModelONEXContainer(), config=config, exporter=exporter_b)

    context_a = start_trace()
    metadata = inject(context_a, {"operation": "provision"})  # what node A sends to node B
    context_b = extract(metadata).correlation  # what node B reads
    tracing_a.emit(make_record(EnumTransport.VAULT, "kv_read", correlation=context_a))
    tracing_b.emit(
        make_record(statement="CREATE TABLE t (id int)", correlation=context_b, target="db:5432")
    )
    tracing_a.shutdown()
    tracing_b.shutdown()

    (span_a,) = exporter_a.get_finished_spans()
    (span_b,) = exporter_b.get_finished_spans()
    assert span_a.parent is None
    assert span_b.parent is not None
    assert span_b.parent.span_id == span_a.context.span_id
    assert span_b.parent.is_remote
    assert span_b.context.trace_id == span_a.context.trace_id
    for span in (span_a, span_b):
        attributes = dict(span.attributes or {})
        assert attributes["omnibase.correlation_id"] == str(context_a.correlation_id)


def test_tracestate_travels_to_the_child_span(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    parent = start_trace().model_copy(update={"tracestate": "vendor=abc"})
    child = extract(inject(PropagatedContext(parent))).correlation
    node.emit(make_record(correlation=child))
    (span,) = exporter.get_finished_spans()
    assert span.parent is not None
    assert span.parent.trace_state.get("vendor") == "abc"
    assert span.context.trace_state.get("vendor") == "abc"


def test_a_root_is_sampled_by_ratio(
    make_node: NodeFactory, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    never, always = make_node(sample_ratio=0.0), make_node(sample_ratio=1.0)
    assert never.emit(make_record()) is None
    kept = always.emit(make_record())
    assert kept is not None
    assert kept.context is not None
    assert kept.context.trace_flags.sampled
    assert exporter.get_finished_spans() == (kept,)


def test_a_child_follows_its_parents_decision_whatever_the_ratio(
    make_node: NodeFactory, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    sampled_parent = start_trace(sample_ratio=1.0)
    dropped_parent = start_trace(sample_ratio=0.0)
    never, always = make_node(sample_ratio=0.0), make_node(sample_ratio=1.0)
    kept = never.emit(make_record(correlation=sampled_parent.child()))
    assert always.emit(make_record(correlation=dropped_parent.child())) is None
    assert kept is not None
    assert kept.context is not None
    assert kept.context.trace_flags.sampled
    assert exporter.get_finished_spans() == (kept,)


def test_unsampled_records_are_described_but_not_exported(
    make_node: NodeFactory, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    record = make_record(correlation=start_trace(sample_ratio=0.0).child())
    (info,) = make_node().emit_all([record])
    assert not info.sampled
    assert info.attributes == {}
    assert info.span_id == record.correlation.span_id
    assert info.parent_span_id == record.correlation.parent_span_id
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize("ratio", [0.1, 0.5, 0.9])
def test_head_sampling_agrees_with_the_nodes_root_sampling(
    ratio: float, make_node: NodeFactory, make_record: RecordFactory
) -> None:
    """start_trace(sample_ratio=r) flags a trace sampled exactly when the node (ratio r)
    and the SDK's TraceIdRatioBased would sample it as a root, so every node agrees."""
    tracing = make_node(sample_ratio=ratio)
    sdk = TraceIdRatioBased(ratio)
    decisions = []
    for _ in range(300):
        root = start_trace(sample_ratio=ratio)
        assert root.trace_id is not None
        sdk_sampled = sdk.should_sample(None, int(root.trace_id, 16), "x").decision
        node_sampled = tracing.emit(make_record(correlation=root)) is not None
        assert root.sampled == node_sampled == (sdk_sampled is Decision.RECORD_AND_SAMPLE)
        decisions.append(root.sampled)
    assert 0 < sum(decisions) < len(decisions)


def test_records_without_a_trace_get_a_fresh_one(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    context = ModelCorrelationContext.new(with_trace=False)
    first = node.emit(make_record(correlation=context))
    second = node.emit(make_record(correlation=context))
    assert first is not None
    assert second is not None
    assert first.context is not None
    assert second.context is not None
    assert first.context.trace_id != second.context.trace_id
    for span in exporter.get_finished_spans():
        assert dict(span.attributes or {})["omnibase.correlation_id"] == str(context.correlation_id)
