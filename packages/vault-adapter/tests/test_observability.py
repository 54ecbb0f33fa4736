"""Spans, metrics and operation records of the node, with an in-memory OpenTelemetry SDK.

Every span and metric attribute is also handed to the suite's secret scan: the values
written here must never show up in them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import SecretStr

from omnibase_infra.errors import InfraNotFoundError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.vault import (
    ModelVaultConfig,
    ModelVaultKvReadRequest,
    ModelVaultKvWriteRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect
from omnibase_infra.observability import ModelOperationRecord

from .conftest import FAST_RETRY, SCANNER

type Providers = tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader]


@pytest.fixture
def providers() -> Iterator[Providers]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield tracer_provider, exporter, meter_provider, reader
    tracer_provider.shutdown()
    meter_provider.shutdown()


async def test_spans_metrics_and_records_name_operations_never_values(
    config: ModelVaultConfig, providers: Providers, prefix: str
) -> None:
    tracer_provider, exporter, meter_provider, reader = providers
    records: list[ModelOperationRecord] = []
    node = NodeVaultAdapterEffect(
        config=config,
        policy_overrides=FAST_RETRY,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        record_sink=records.append,
    )
    value = SCANNER.note(f"otel-secret-{uuid.uuid4().hex}")
    correlation = ModelCorrelationContext.new()
    try:
        await node.kv_write(
            ModelVaultKvWriteRequest(
                path=f"{prefix}/app", data={"password": SecretStr(value)}, correlation=correlation
            )
        )
        read = await node.kv_read(ModelVaultKvReadRequest(path=f"{prefix}/app"))
        assert read.data is not None
        with pytest.raises(InfraNotFoundError):
            await node.kv_read(ModelVaultKvReadRequest(path=f"{prefix}/missing"))
    finally:
        await node.close()

    write, ok_read, missing = exporter.get_finished_spans()
    assert [s.name for s in (write, ok_read, missing)] == [
        "vault.kv_write",
        "vault.kv_read",
        "vault.kv_read",
    ]
    assert write.kind is SpanKind.CLIENT
    assert format(write.context.trace_id, "032x") == correlation.trace_id
    attrs = dict(write.attributes or {})
    assert attrs["omnibase.operation"] == attrs["rpc.method"] == "kv_write"
    assert attrs["rpc.system.name"] == "vault"
    assert attrs["server.port"] == int(config.target.rpartition(":")[2])
    assert missing.status.status_code is StatusCode.ERROR
    assert dict(missing.attributes or {})["error.type"] == "InfraNotFoundError"

    data = reader.get_metrics_data()
    assert data is not None
    metrics = {
        m.name: [
            (dict(p.attributes or {}), p.value)
            for p in m.data.data_points
            if isinstance(p, NumberDataPoint)
        ]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    outcomes = sorted(
        (str(attrs["omnibase.operation"]), str(attrs["omnibase.outcome"]), int(value))
        for attrs, value in metrics["omnibase.vault.operations"]
    )
    assert outcomes == [
        ("kv_read", "error", 1),
        ("kv_read", "success", 1),
        ("kv_write", "success", 1),
    ]
    assert "omnibase.vault.operation.duration" in metrics

    assert [(r.operation, r.outcome.value) for r in records] == [
        ("kv_write", "success"),
        ("kv_read", "success"),
        ("kv_read", "error"),
    ]
    assert records[0].correlation.correlation_id == correlation.correlation_id
    assert records[2].error_type == "InfraNotFoundError"

    # Everything the telemetry produced goes through the suite's secret scan.
    for span in exporter.get_finished_spans():
        SCANNER.capture(f"span {span.name}", repr(dict(span.attributes or {})) + repr(span.status))
    for name, points in metrics.items():
        SCANNER.capture(f"metric {name}", repr(points))
    for record in records:
        SCANNER.capture(f"record {record.operation}", record.model_dump_json())
    assert value not in repr([dict(s.attributes or {}) for s in exporter.get_finished_spans()])


async def test_the_span_is_a_child_of_the_callers_current_span(
    config: ModelVaultConfig, providers: Providers, prefix: str
) -> None:
    """Without a trace in the request's correlation, the node joins the caller's trace."""
    tracer_provider, exporter, _, _ = providers
    node = NodeVaultAdapterEffect(
        config=config, policy_overrides=FAST_RETRY, tracer_provider=tracer_provider
    )
    try:
        with tracer_provider.get_tracer("caller").start_as_current_span("caller") as parent:
            await node.kv_write(
                ModelVaultKvWriteRequest(path=f"{prefix}/joined", data={"k": SecretStr("v")})
            )
    finally:
        await node.close()
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "vault.kv_write"]
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.context.trace_id == parent.get_span_context().trace_id
