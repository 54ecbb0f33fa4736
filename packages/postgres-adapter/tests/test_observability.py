"""Spans with the db.* conventions, metrics per operation, correlation ids on every log
record, operation records, and no DSN password anywhere."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import SecretStr

from omnibase_infra.errors import InfraError, error_to_safe_dict
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.postgres import (
    ModelPostgresExecuteRequest,
    ModelPostgresFetchValueRequest,
    ModelPostgresHealthRequest,
    ModelPostgresPoolConfig,
)
from omnibase_infra.nodes.node_postgres_adapter_effect import NodePostgresAdapterEffect
from omnibase_infra.observability import ModelOperationRecord
from omnibase_infra.resilience import ModelRetryPolicy

pytestmark = pytest.mark.real_service

PASSWORD = "pw-" + uuid.uuid4().hex  # trust auth ignores it; it must never show up


@pytest.fixture
def telemetry() -> Iterator[
    tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader]
]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield tracer_provider, exporter, meter_provider, reader
    tracer_provider.shutdown()
    meter_provider.shutdown()


def _with_password(dsn: str) -> str:
    parts = urlsplit(dsn)
    netloc = f"{parts.username or 'postgres'}:{PASSWORD}@{parts.hostname}:{parts.port}"
    return parts._replace(netloc=netloc).geturl()


async def test_spans_metrics_logs_and_records(
    database_dsn: str,
    telemetry: tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader],
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracer_provider, exporter, meter_provider, reader = telemetry
    records: list[ModelOperationRecord] = []
    node = NodePostgresAdapterEffect(
        config=ModelPostgresPoolConfig(dsn=SecretStr(_with_password(database_dsn))),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        record_sink=records.append,
        retry_policy=ModelRetryPolicy(max_attempts=1),
    )
    caller = ModelCorrelationContext.new()
    caplog.set_level(logging.DEBUG, logger="omnibase_infra.nodes.node_postgres_adapter_effect")
    async with node:
        await node.process(
            ModelPostgresFetchValueRequest(
                sql="SELECT $1::text || 'literal-kept-out'",
                params=("param-kept-out",),
                correlation=caller,
            )
        )
        failing = ModelCorrelationContext.new()
        with pytest.raises(InfraError):
            await node.process(
                ModelPostgresExecuteRequest(
                    sql="SELECT * FROM missing_table_x", correlation=failing
                )
            )
        await node.process(ModelPostgresHealthRequest())
    ok, failed, health = exporter.get_finished_spans()
    assert ok.name == "postgresql.fetch_value"
    assert ok.kind is SpanKind.CLIENT
    attrs = dict(ok.attributes or {})
    assert attrs["db.system.name"] == "postgresql"
    assert attrs["omnibase.operation"] == "fetch_value"
    assert attrs["db.namespace"] == database_dsn.rsplit("/", 1)[1]
    assert attrs["db.query.text"] == "SELECT $1::text || ?"
    assert attrs["omnibase.correlation_id"] == str(caller.correlation_id)
    assert attrs["server.address"] == "127.0.0.1" or "server.address" in attrs
    # The span continues the caller's W3C trace.
    assert ok.context is not None
    assert ok.parent is not None
    assert f"{ok.context.trace_id:032x}" == caller.trace_id
    assert f"{ok.parent.span_id:016x}" == caller.span_id
    assert failed.status.status_code is StatusCode.ERROR
    assert dict(failed.attributes or {})["db.response.status_code"] == "42P01"
    assert health.name == "postgresql.health"
    data = reader.get_metrics_data()
    assert data is not None
    metrics = {
        m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    assert "db.client.operation.duration" in metrics
    outcomes = {
        (
            dict(p.attributes or {})["omnibase.operation"],
            dict(p.attributes or {})["omnibase.outcome"],
        ): p.value
        for p in metrics["omnibase.postgres.operations"].data.data_points
        if isinstance(p, NumberDataPoint)
    }
    assert outcomes[("fetch_value", "success")] == 1
    assert outcomes[("execute", "error")] == 1
    mine = [r for r in caplog.records if r.name.startswith("omnibase_infra.nodes.node_postgres")]
    assert mine
    assert all(getattr(r, "correlation_id", None) for r in mine)
    # The failure's log line carries the failing call's correlation id.
    assert any(getattr(r, "correlation_id", None) == str(failing.correlation_id) for r in mine)
    assert [r.operation for r in records] == ["fetch_value", "execute", "health"]
    assert records[0].correlation.correlation_id == caller.correlation_id
    assert records[0].correlation.trace_id == caller.trace_id
    assert records[0].correlation.parent_span_id == caller.span_id
    assert records[1].error_code == "ONEX_INFRA_015_VALIDATION_ERROR"
    assert records[0].statement == "SELECT $1::text || ?"
    assert records[0].attributes["db.system.name"] == "postgresql"
    everything = [str(s.attributes) for s in exporter.get_finished_spans()]
    everything += [r.getMessage() for r in caplog.records] + [r.model_dump_json() for r in records]
    for text in everything:
        assert PASSWORD not in text
        assert "param-kept-out" not in text
        assert "literal-kept-out" not in text


async def test_no_password_in_errors_logs_or_output_when_the_server_is_unreachable(
    unused_tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    dsn = f"postgresql://app:{PASSWORD}@127.0.0.1:{unused_tcp_port}/db"
    config = ModelPostgresPoolConfig(dsn=SecretStr(dsn), password=SecretStr(PASSWORD))
    assert PASSWORD not in repr(config)
    assert PASSWORD not in str(config.model_dump())
    caplog.set_level(logging.DEBUG)
    node = NodePostgresAdapterEffect(
        config=config, retry_policy=ModelRetryPolicy(max_attempts=2, base_delay_seconds=0.01)
    )
    with pytest.raises(InfraError) as info:
        await node.process(ModelPostgresFetchValueRequest(sql="SELECT 1"))
    health = await node.process(ModelPostgresHealthRequest(timeout_seconds=2))
    await node.close()
    texts = [
        str(info.value),
        repr(info.value),
        info.value.to_json(),
        str(error_to_safe_dict(info.value)),
        health.model_dump_json(),
        repr(node),
        repr(node.pool),
        *(r.getMessage() for r in caplog.records),
        *(str(r.__dict__) for r in caplog.records),
    ]
    assert info.value.target == f"127.0.0.1:{unused_tcp_port}"
    for text in texts:
        assert PASSWORD not in text


async def test_record_sinks_may_be_async_and_never_fail_the_call(
    database_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    async def publish(record: ModelOperationRecord) -> None:
        seen.append(record.operation)

    def broken(record: ModelOperationRecord) -> None:
        raise RuntimeError("sink down")

    config = ModelPostgresPoolConfig(dsn=SecretStr(database_dsn))
    async with NodePostgresAdapterEffect(config=config, record_sink=publish) as node:
        await node.process(ModelPostgresFetchValueRequest(sql="SELECT 1"))
        await asyncio.sleep(0)
    assert seen == ["fetch_value"]
    async with NodePostgresAdapterEffect(config=config, record_sink=broken) as node:
        value = await node.process(ModelPostgresFetchValueRequest(sql="SELECT 2"))
    assert value.value == 2
    assert any("record sink failed" in r.getMessage() for r in caplog.records)
