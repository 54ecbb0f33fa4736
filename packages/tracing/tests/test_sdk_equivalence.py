"""The node makes finished spans itself: exporters must get exactly what the SDK's own
``Tracer.start_span`` + ``end`` would have given them for the same record."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import NonRecordingSpan

from omnibase_infra.enums import EnumTransport
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.nodes.node_tracing_compute import (
    EnumSpanExporter,
    ModelTracingConfig,
    NodeTracingCompute,
)
from omnibase_infra.nodes.node_tracing_compute.v1_0_0 import span_parts
from omnibase_infra.nodes.node_tracing_compute.v1_0_0.compute import _SCOPE, _scope_version
from omnibase_infra.nodes.node_tracing_compute.v1_0_0.exporters import build_tracer_provider
from omnibase_infra.observability import (
    EnumOperationOutcome,
    ModelOperationRecord,
    extract,
    inject,
    start_trace,
)

type RecordFactory = Callable[..., ModelOperationRecord]


class _PinnedIds(IdGenerator):
    """Hands the SDK the record's ids, as the node gives its spans the record's ids."""

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0

    def generate_span_id(self) -> int:
        return self.span_id

    def generate_trace_id(self) -> int:
        return self.trace_id


def _through_the_sdk(
    config: ModelTracingConfig, records: list[ModelOperationRecord]
) -> tuple[ReadableSpan, ...]:
    """Each record's span made with the SDK's tracer: start_span, set_status, end."""
    exporter = InMemorySpanExporter()
    pipeline = build_tracer_provider(config, exporter=exporter)
    ids = _PinnedIds()
    provider = TracerProvider(
        sampler=pipeline.sampler,
        resource=pipeline.provider.resource,
        span_limits=pipeline.limits,
        id_generator=ids,
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(_SCOPE, _scope_version())
    for record in records:
        correlation = record.correlation
        assert correlation.trace_id is not None
        assert correlation.span_id is not None
        ids.trace_id, ids.span_id = int(correlation.trace_id, 16), int(correlation.span_id, 16)
        parent = correlation.parent_span_context()
        context = (
            Context() if parent is None else trace.set_span_in_context(NonRecordingSpan(parent))
        )
        parts = span_parts(record)
        start = round(record.started_at.timestamp() * 1e6) * 1000
        span = tracer.start_span(
            parts.name, context=context, kind=parts.kind, attributes=parts.attributes,
            start_time=start,
        )  # fmt: skip
        span.set_status(parts.status)
        span.end(end_time=start + round(record.duration_ms * 1e6))
    provider.shutdown()
    pipeline.provider.shutdown()
    return exporter.get_finished_spans()


def _through_the_node(
    config: ModelTracingConfig, records: list[ModelOperationRecord]
) -> tuple[ReadableSpan, ...]:
    exporter = InMemorySpanExporter()
    node = NodeTracingCompute(ModelONEXContainer(), config=config, exporter=exporter)
    for record in records:
        node.emit(record)
    node.shutdown()
    return exporter.get_finished_spans()


def _exported(span: ReadableSpan) -> dict[str, Any]:
    """What an exporter reads of a span."""
    description: dict[str, Any] = json.loads(span.to_json())
    scope = span.instrumentation_scope
    assert scope is not None
    description["scope"] = (scope.name, scope.version, scope.schema_url)
    description["flags"] = int(span.context.trace_flags) if span.context else None
    description["tracestate"] = span.context.trace_state.to_header() if span.context else None
    description["parent_tracestate"] = span.parent.trace_state.to_header() if span.parent else None
    description["parent_remote"] = span.parent.is_remote if span.parent else None
    description["dropped"] = (span.dropped_attributes, span.dropped_events, span.dropped_links)
    return description


@pytest.fixture
def records(make_record: RecordFactory) -> list[ModelOperationRecord]:
    root = start_trace().model_copy(update={"tracestate": "congo=t61rcWkgMzE"})
    child = extract(inject(root)).correlation
    random_flagged = child.model_copy(update={"trace_flags": 3})
    unsampled = extract(inject(start_trace(sample_ratio=0.0))).correlation
    return [
        make_record(correlation=root, statement="SELECT id FROM t WHERE x = 1", target="db:5432"),
        make_record(
            EnumTransport.HTTP,
            "deliver",
            correlation=child,
            attributes={"http.request.method": "post", "url.full": "https://u:p@h:8443/x?a=1"},
        ),
        make_record(
            EnumTransport.VAULT,
            "kv_read",
            correlation=random_flagged,
            outcome=EnumOperationOutcome.ERROR,
            error_code="ONEX_INFRA_009_UNAVAILABLE",
            error_type="InfraUnavailableError",
            error_message="sealed",
        ),
        make_record(EnumTransport.CONSUL, "kv_get", correlation=unsampled),
        make_record(EnumTransport.EVENT_BUS, "publish", correlation=child.child()),
        make_record(EnumTransport.INTERNAL, "plan", attributes={f"k{n}": n for n in range(40)}),
    ]


@pytest.mark.parametrize("ratio", [1.0, 0.5, 0.0])
def test_exported_spans_are_the_sdks(ratio: float, records: list[ModelOperationRecord]) -> None:
    config = ModelTracingConfig(exporter=EnumSpanExporter.NONE, sample_ratio=ratio)
    ours, sdk = _through_the_node(config, records), _through_the_sdk(config, records)
    assert [_exported(span) for span in ours] == [_exported(span) for span in sdk]
    if ratio == 1.0:
        assert len(ours) == len(records) - 1  # the unsampled parent's child is dropped


def test_span_limits_apply_as_in_the_sdk(
    monkeypatch: pytest.MonkeyPatch, records: list[ModelOperationRecord]
) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "12")
    config = ModelTracingConfig(exporter=EnumSpanExporter.NONE)
    ours, sdk = _through_the_node(config, records), _through_the_sdk(config, records)
    assert [_exported(span) for span in ours] == [_exported(span) for span in sdk]
    assert ours[-1].dropped_attributes > 0
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "128")
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "8")
    ours, sdk = _through_the_node(config, records), _through_the_sdk(config, records)
    assert [_exported(span) for span in ours] == [_exported(span) for span in sdk]
    assert all(
        len(value) <= 8 for value in (ours[0].attributes or {}).values() if isinstance(value, str)
    )


def test_a_disabled_sdk_exports_nothing(
    monkeypatch: pytest.MonkeyPatch, make_record: RecordFactory
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    config = ModelTracingConfig(exporter=EnumSpanExporter.NONE)
    exporter = InMemorySpanExporter()
    node = NodeTracingCompute(ModelONEXContainer(), config=config, exporter=exporter)
    assert node.emit(make_record()) is None
    (info,) = node.emit_all([make_record()])
    assert not info.sampled
    node.shutdown()
    assert exporter.get_finished_spans() == ()


def test_a_root_record_stays_a_root_inside_the_callers_span(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    """The record carries its own trace: a span current where it is emitted is no parent."""
    caller = TracerProvider().get_tracer("app")
    root = ModelCorrelationContext.new()
    with caller.start_as_current_span("caller"):
        node.emit(make_record(correlation=root))
    (span,) = exporter.get_finished_spans()
    assert span.parent is None
    assert f"{span.context.trace_id:032x}" == root.trace_id
