"""Spans, metrics and operation records of the node, with an in-memory OpenTelemetry SDK:
they name operations and the agent, never a value or the token; a span is a child of the
caller's trace, or of the current span."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from omnibase_infra.errors import InfraConflictError, InfraConnectionError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.consul import (
    ModelConsulConfig,
    ModelConsulKVPutRequest,
    ModelConsulKVReadRequest,
    ModelConsulKVWaitRequest,
)
from omnibase_infra.nodes.node_consul_adapter_effect import NodeConsulAdapterEffect
from omnibase_infra.observability import ModelOperationRecord, semconv
from omnibase_infra.resilience import ModelRetryPolicy

from .conftest import FAST_RETRY

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


def _points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, object], float]]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        m.name: [
            (dict(p.attributes or {}), p.value)
            for p in m.data.data_points
            if isinstance(p, NumberDataPoint)
        ]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }


async def test_spans_metrics_and_records_name_operations_never_values(
    consul_config: ModelConsulConfig, providers: Providers, prefix: str
) -> None:
    tracer_provider, exporter, meter_provider, reader = providers
    records: list[ModelOperationRecord] = []
    node = NodeConsulAdapterEffect(
        config=consul_config,
        retry_policy=FAST_RETRY,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        record_sink=records.append,
    )
    value = f"otel-value-{uuid.uuid4().hex}"
    correlation = ModelCorrelationContext.new()
    key = f"{prefix}/app"
    try:
        await node.process(
            ModelConsulKVPutRequest(key=key, value=value, cas=0, correlation=correlation)
        )
        read = await node.process(ModelConsulKVReadRequest(key=key))
        assert read.entry is not None
        with pytest.raises(InfraConflictError):
            await node.process(ModelConsulKVPutRequest(key=key, value=value, cas=0))
        with tracer_provider.get_tracer("caller").start_as_current_span("caller") as caller:
            await node.kv_read(ModelConsulKVReadRequest(key=key))  # joins the current span
    finally:
        await node.close()

    put, get, conflict, joined, _ = exporter.get_finished_spans()
    assert [s.name for s in (put, get, conflict, joined)] == [
        "consul.kv_put",
        "consul.kv_get",
        "consul.kv_put",
        "consul.kv_get",
    ]
    assert put.kind is SpanKind.CLIENT
    # A child of the caller's trace.
    assert format(put.context.trace_id, "032x") == correlation.trace_id
    assert put.parent is not None
    assert format(put.parent.span_id, "016x") == correlation.span_id
    assert get.parent is None  # no caller trace, no current span: a root span
    assert joined.parent is not None
    assert joined.parent.span_id == caller.get_span_context().span_id
    attrs = dict(put.attributes or {})
    assert attrs[semconv.OPERATION] == "kv_put"
    assert attrs[semconv.RPC_METHOD] == "kv_put"
    assert attrs[semconv.RPC_SYSTEM_NAME] == "consul"
    assert attrs["server.port"] == consul_config.port
    assert attrs["omnibase.correlation_id"] == str(correlation.correlation_id)
    assert conflict.status.status_code is StatusCode.ERROR
    assert dict(conflict.attributes or {})["error.type"] == "InfraConflictError"

    points = _points(reader)
    outcomes = sorted(
        (str(a[semconv.OPERATION]), str(a[semconv.OUTCOME]), int(v))
        for a, v in points["omnibase.consul.operations"]
    )
    assert outcomes == [("kv_get", "success", 2), ("kv_put", "error", 1), ("kv_put", "success", 1)]
    assert "omnibase.consul.operation.duration" in points

    assert [(r.operation, r.outcome.value) for r in records] == [
        ("kv_put", "success"),
        ("kv_get", "success"),
        ("kv_put", "error"),
        ("kv_get", "success"),
    ]
    assert records[0].correlation.correlation_id == correlation.correlation_id
    assert records[2].error_type == "InfraConflictError"
    everything = repr([dict(s.attributes or {}) for s in exporter.get_finished_spans()])
    everything += repr(points) + "".join(r.model_dump_json() for r in records)
    assert value not in everything


async def test_retries_are_counted_and_a_cancelled_read_is_not_an_outcome(
    providers: Providers, consul_config: ModelConsulConfig, prefix: str
) -> None:
    tracer_provider, exporter, meter_provider, reader = providers
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    unreachable = NodeConsulAdapterEffect(
        config=ModelConsulConfig(port=closed_port, token=None),
        retry_policy=ModelRetryPolicy(
            max_attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.02
        ),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    watching = NodeConsulAdapterEffect(
        config=consul_config, tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    key = f"{prefix}/w"
    try:
        with pytest.raises(InfraConnectionError):
            await unreachable.kv_read(ModelConsulKVReadRequest(key="k"))
        first = await watching.kv_wait(ModelConsulKVWaitRequest(key=key, wait_seconds=1))
        waiter = asyncio.create_task(
            watching.kv_wait(ModelConsulKVWaitRequest(key=key, index=first.index, wait_seconds=30))
        )
        await asyncio.sleep(0.2)
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
    finally:
        await unreachable.aclose()
        await watching.aclose()
    failed = exporter.get_finished_spans()[0]
    assert dict(failed.attributes or {})[semconv.ATTEMPTS] == 3
    assert [e.name for e in failed.events] == ["retry", "retry"]
    points = _points(reader)
    assert [(a[semconv.OPERATION], v) for a, v in points["omnibase.consul.retries"]] == [
        ("kv_get", 2)
    ]
    outcomes = sorted(
        (str(a[semconv.OPERATION]), str(a[semconv.OUTCOME]), int(v))
        for a, v in points["omnibase.consul.operations"]
    )
    # The cancelled blocking read ended its span but counted no outcome.
    assert outcomes == [("kv_get", "error", 1), ("kv_wait", "success", 1)]
    assert [s.name for s in exporter.get_finished_spans()] == [
        "consul.kv_get",
        "consul.kv_wait",
        "consul.kv_wait",
    ]
