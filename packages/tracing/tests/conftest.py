"""Fixtures: a tracing node exporting to memory, and records made the way effect nodes do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from omnibase_infra.enums import EnumTransport
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.nodes.node_tracing_compute import ModelTracingConfig, NodeTracingCompute
from omnibase_infra.nodes.node_tracing_compute.v1_0_0 import EnumSpanExporter
from omnibase_infra.observability import (
    EnumOperationOutcome,
    ModelOperationRecord,
    RecordAttributeValue,
)

STARTED = datetime(2025, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)

type NodeFactory = Callable[..., NodeTracingCompute]
type RecordFactory = Callable[..., ModelOperationRecord]


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def make_node(exporter: InMemorySpanExporter) -> Iterator[NodeFactory]:
    """Nodes exporting to ``exporter`` (a config of their own may be passed)."""
    nodes: list[NodeTracingCompute] = []

    def factory(sample_ratio: float = 1.0, **config: object) -> NodeTracingCompute:
        settings = ModelTracingConfig.model_validate(
            {"exporter": EnumSpanExporter.NONE, "sample_ratio": sample_ratio, **config}
        )
        node = NodeTracingCompute(ModelONEXContainer(), config=settings, exporter=exporter)
        nodes.append(node)
        return node

    yield factory
    for node in nodes:
        node.shutdown()


@pytest.fixture
def node(make_node: NodeFactory) -> NodeTracingCompute:
    return make_node()


@pytest.fixture
def make_record() -> RecordFactory:
    def factory(
        transport: EnumTransport = EnumTransport.POSTGRES,
        operation: str = "execute",
        *,
        correlation: ModelCorrelationContext | None = None,
        attributes: dict[str, RecordAttributeValue] | None = None,
        **fields: object,
    ) -> ModelOperationRecord:
        data: dict[str, object] = {
            "transport": transport,
            "operation": operation,
            "correlation": correlation or ModelCorrelationContext.new(),
            "started_at": STARTED,
            "duration_ms": 7.5,
            "outcome": EnumOperationOutcome.SUCCESS,
            "attributes": attributes or {},
        }
        data.update(fields)
        return ModelOperationRecord.model_validate(data)

    return factory
