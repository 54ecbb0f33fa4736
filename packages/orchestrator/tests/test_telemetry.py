"""Step spans and metrics through the OpenTelemetry API (recorded by an in-memory SDK)."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from tests.orchestrator_fakes import Journal, ScriptedNode

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConnectionError, InfraValidationError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import (
    EnumRunStatus,
    NodeRegistry,
    WorkflowRuntime,
    parse_workflow,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.runtime import workflow_telemetry


async def test_every_step_call_is_a_span_of_the_run_trace_and_parents_the_node(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    telemetry = workflow_telemetry(provider, MeterProvider(metric_readers=[reader]))
    nodes["node_a_effect"].script["create"] = [
        InfraConnectionError("refused", transport=EnumTransport.HTTP, operation="create")
    ]
    nodes["node_b_effect"].script["create"] = [
        InfraValidationError("no", transport=EnumTransport.HTTP, operation="create")
    ]
    workflow = parse_workflow(
        {
            "workflow": {"name": "traced"},
            "steps": [
                {
                    "id": "a",
                    "node": "node_a_effect",
                    "operation": "create",
                    "retry": {"max_attempts": 2, "base_delay_seconds": 0},
                    "compensation": {"node": "node_c_effect", "operation": "delete"},
                },
                {"id": "b", "node": "node_b_effect", "operation": "create", "depends_on": ["a"]},
            ],
        }
    )
    runtime = WorkflowRuntime(NodeRegistry(nodes, entry_points=False), telemetry=telemetry)
    result = await runtime.run(workflow)
    assert result.status is EnumRunStatus.FAILED
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {
        "workflow.step.node_a_effect.create",
        "workflow.step.node_b_effect.create",
        "workflow.step.node_c_effect.delete",
    }
    trace_id = (result.run.traceparent or "").split("-")[1]
    for span in spans.values():
        assert span.context is not None
        assert format(span.context.trace_id, "032x") == trace_id
    first = spans["workflow.step.node_a_effect.create"]
    assert first.attributes is not None
    assert first.attributes["omnibase.attempts"] == 2
    assert spans["workflow.step.node_b_effect.create"].status.status_code is StatusCode.ERROR
    # the node's traceparent names the step span as its parent
    assert first.context is not None
    parent = journal.calls[0].request.metadata["traceparent"].split("-")[2]
    assert parent == format(first.context.span_id, "016x")
    names = {
        metric.name
        for rm in (reader.get_metrics_data() or []).resource_metrics  # type: ignore[union-attr]
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    assert "omnibase.workflow.step.duration" in names
