"""OperationTelemetry and OperationRecordEmitter against the OpenTelemetry SDK in memory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConflictError, InfraError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability import ModelOperationRecord, semconv
from omnibase_infra.observability.telemetry import (
    AttributeValue,
    OperationRecordEmitter,
    OperationTelemetry,
    split_target,
)

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


def _status(error: InfraError) -> dict[str, AttributeValue]:
    return {"http.response.status_code": 409} if isinstance(error, InfraConflictError) else {}


def _telemetry(providers: Providers) -> OperationTelemetry:
    tracer_provider, _, meter_provider, _ = providers
    return OperationTelemetry(
        scope="test.scope",
        span_prefix="vault",
        duration_metric="omnibase.vault.duration",
        counter_prefix="omnibase.vault",
        operation_attributes=("vault.operation", "rpc.method"),
        span_attributes={"server.address": "127.0.0.1", "server.port": 8200},
        metric_attributes={"vault.system": "openbao"},
        error_attributes=_status,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )


type Point = tuple[dict[str, object], float]


def _points(reader: InMemoryMetricReader) -> dict[str, list[Point]]:
    """Counter points by metric name: (attributes, value); histograms are left out."""
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: [
            (dict(p.attributes or {}), p.value)
            for p in metric.data.data_points
            if isinstance(p, NumberDataPoint)
        ]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }


def test_success_span_is_a_child_of_the_callers_trace(providers: Providers) -> None:
    telemetry = _telemetry(providers)
    correlation = ModelCorrelationContext.new()
    span = telemetry.start("kv_read", correlation)
    telemetry.finish(span, "kv_read", 0.004)
    (finished,) = providers[1].get_finished_spans()
    assert finished.name == "vault.kv_read"
    assert finished.kind is SpanKind.CLIENT
    assert format(finished.context.trace_id, "032x") == correlation.trace_id
    assert finished.parent is not None
    assert format(finished.parent.span_id, "016x") == correlation.span_id
    attrs = dict(finished.attributes or {})
    assert attrs["vault.operation"] == attrs["rpc.method"] == "kv_read"
    assert attrs["server.port"] == 8200
    assert attrs["omnibase.correlation_id"] == str(correlation.correlation_id)
    assert finished.status.status_code is StatusCode.UNSET

    points = _points(providers[3])
    ((count_attrs, count),) = points["omnibase.vault.operations"]
    assert count == 1
    assert count_attrs == {
        "vault.system": "openbao",
        "vault.operation": "kv_read",
        "outcome": "success",
    }
    assert "omnibase.vault.retries" not in points


def test_span_kind_is_the_callers_choice(providers: Providers) -> None:
    tracer_provider, exporter, meter_provider, _ = providers
    telemetry = OperationTelemetry(
        scope="test.scope",
        span_prefix="nats",
        duration_metric="messaging.client.operation.duration",
        counter_prefix="omnibase.event_bus",
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        span_kind=SpanKind.PRODUCER,
    )
    span = telemetry.start("publish", ModelCorrelationContext.new())
    telemetry.finish(span, "publish", 0.001)
    (finished,) = exporter.get_finished_spans()
    assert finished.kind is SpanKind.PRODUCER


def test_a_context_without_trace_starts_a_root_span(providers: Providers) -> None:
    telemetry = _telemetry(providers)
    span = telemetry.start("kv_list", ModelCorrelationContext.new(with_trace=False))
    telemetry.finish(span, "kv_list", 0.001)
    telemetry.finish(telemetry.start("kv_list", ModelCorrelationContext.new()), "kv_list", 0.001)
    first, _ = providers[1].get_finished_spans()
    assert first.parent is None
    ((_, count),) = _points(providers[3])["omnibase.vault.operations"]
    assert count == 2  # the cached success attributes are reused


def test_error_and_retries_are_recorded(providers: Providers) -> None:
    telemetry = _telemetry(providers)
    error = InfraConflictError("cas mismatch", transport=EnumTransport.VAULT, operation="kv_write")
    span = telemetry.start("kv_write", ModelCorrelationContext.new())
    telemetry.finish(span, "kv_write", 0.02, attempts=3, error=error)
    other = InfraError("boom", transport=EnumTransport.VAULT, operation="kv_write")
    telemetry.finish(
        telemetry.start("kv_write", ModelCorrelationContext.new()), "kv_write", 0.1, error=other
    )

    first, second = providers[1].get_finished_spans()
    attrs = dict(first.attributes or {})
    assert attrs["error.type"] == "InfraConflictError"
    assert attrs["omnibase.error_code"] == error.infra_error_code.value
    assert attrs["http.response.status_code"] == 409
    assert attrs["omnibase.attempts"] == 3
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description == "cas mismatch"
    assert "http.response.status_code" not in dict(second.attributes or {})

    points = _points(providers[3])
    ((retry_attrs, retries),) = points["omnibase.vault.retries"]
    assert retries == 2
    assert retry_attrs["error.type"] == "InfraConflictError"
    outcomes = sorted(str(attrs["error.type"]) for attrs, _ in points["omnibase.vault.operations"])
    assert outcomes == ["InfraConflictError", "InfraError"]


def test_without_an_sdk_nothing_is_built() -> None:
    telemetry = OperationTelemetry(
        scope="test.scope",
        span_prefix="x",
        duration_metric="x.duration",
        counter_prefix="x",
        tracer_provider=trace.NoOpTracerProvider(),
    )
    span = telemetry.start("op", ModelCorrelationContext.new())
    assert span is trace.INVALID_SPAN
    error = InfraError("boom", transport=EnumTransport.VAULT, operation="op")
    telemetry.finish(span, "op", 0.001, attempts=2, error=error)  # no-op, no exception


def test_the_global_provider_is_read_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = OperationTelemetry(
        scope="test.global", span_prefix="g", duration_metric="g.d", counter_prefix="g"
    )
    monkeypatch.setattr(trace, "get_tracer_provider", trace.NoOpTracerProvider)
    assert telemetry.start("op", ModelCorrelationContext.new()) is trace.INVALID_SPAN
    # Within the recheck interval the cached answer stands; after it the provider is re-read.
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: sdk)
    # The telemetry's tracer is the API's proxy, which follows the provider set globally.
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", sdk)
    assert telemetry.start("op", ModelCorrelationContext.new()) is trace.INVALID_SPAN
    telemetry._recheck_at = float("-inf")
    span = telemetry.start("op", ModelCorrelationContext.new())
    assert span.is_recording()
    span.end()
    assert [s.name for s in exporter.get_finished_spans()] == ["g.op"]
    sdk.shutdown()


def test_operation_attributes_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="at least one"):
        OperationTelemetry(
            scope="s",
            span_prefix="p",
            duration_metric="d",
            counter_prefix="c",
            operation_attributes=(),
        )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("127.0.0.1:8200", ("127.0.0.1", 8200)),
        ("[::1]:5432", ("::1", 5432)),
        ("db", ("db", None)),
        ("a:1,b:2", ("a:1,b:2", None)),
        ("host:port", ("host:port", None)),
    ],
)
def test_split_target(target: str, expected: tuple[str, int | None]) -> None:
    assert split_target(target) == expected


async def test_records_go_to_sync_and_async_sinks() -> None:
    seen: list[ModelOperationRecord] = []
    correlation = ModelCorrelationContext.new()

    async def async_sink(record: ModelOperationRecord) -> None:
        seen.append(record)

    for sink in (seen.append, async_sink):
        emitter = OperationRecordEmitter(
            sink, transport=EnumTransport.VAULT, logger=logging.getLogger("t")
        )
        emitter.emit(
            operation="kv_read",
            correlation=correlation,
            duration_seconds=0.002,
            error=None,
            target="127.0.0.1:8200",
            attributes={"vault.mount": "secret"},
        )
    await asyncio.sleep(0)
    assert len(seen) == 2
    for record in seen:
        assert record.operation == "kv_read"
        assert record.duration_ms == pytest.approx(2.0)
        assert record.attributes == {"vault.mount": "secret"}
        assert record.correlation.parent_span_id == correlation.span_id


def test_a_failing_sink_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken(record: ModelOperationRecord) -> None:
        raise RuntimeError("sink down")

    emitter = OperationRecordEmitter(
        broken, transport=EnumTransport.CONSUL, logger=logging.getLogger("t.sink")
    )
    with caplog.at_level(logging.WARNING, logger="t.sink"):
        emitter.emit(
            operation="kv_get",
            correlation=ModelCorrelationContext.new(),
            duration_seconds=0.001,
            error=None,
            target=None,
        )
    (message,) = caplog.messages
    assert message == "consul kv_get: operation record sink failed (RuntimeError)"


def test_errors_without_extra_error_attributes(providers: Providers) -> None:
    tracer_provider, exporter, meter_provider, _ = providers
    telemetry = OperationTelemetry(
        scope="s",
        span_prefix="consul",
        duration_metric="d",
        counter_prefix="c",
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    error = InfraError("down", transport=EnumTransport.CONSUL, operation="kv_get")
    telemetry.finish(
        telemetry.start("kv_get", ModelCorrelationContext.new()), "kv_get", 1, error=error
    )
    (span,) = exporter.get_finished_spans()
    assert dict(span.attributes or {})["omnibase.operation"] == "kv_get"
    assert span.status.status_code is StatusCode.ERROR


def _histogram_bounds(reader: InMemoryMetricReader) -> dict[str, list[float]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: list(point.explicit_bounds)
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        for point in metric.data.data_points
        if isinstance(point, HistogramDataPoint)
    }


def test_tracestate_is_kept_through_a_remote_parent(providers: Providers) -> None:
    telemetry = _telemetry(providers)
    correlation = ModelCorrelationContext.new().model_copy(
        update={"tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", "trace_flags": 3}
    )
    span = telemetry.start("kv_read", correlation)
    telemetry.finish(span, "kv_read", 0.001)
    (finished,) = providers[1].get_finished_spans()
    assert finished.parent is not None
    assert finished.parent.is_remote
    assert finished.parent.trace_state.to_header() == correlation.tracestate
    assert finished.parent.trace_flags == 3
    # The SDK hands the parent's tracestate on to the child, so it travels downstream.
    assert finished.context.trace_state.to_header() == correlation.tracestate


def test_the_duration_histogram_is_advised_its_buckets(providers: Providers) -> None:
    telemetry = _telemetry(providers)
    telemetry.finish(telemetry.start("kv_read", ModelCorrelationContext.new()), "kv_read", 0.004)
    tracer_provider, _, meter_provider, reader = providers
    custom = OperationTelemetry(
        scope="test.custom",
        span_prefix="c",
        duration_metric="c.duration",
        counter_prefix="c",
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        duration_buckets=(0.1, 1, 10),
    )
    custom.finish(custom.start("op", ModelCorrelationContext.new()), "op", 0.5)
    bounds = _histogram_bounds(reader)
    assert bounds["omnibase.vault.duration"] == list(semconv.OPERATION_DURATION_BUCKETS)
    assert bounds["c.duration"] == [0.1, 1, 10]


@pytest.mark.parametrize("buckets", [(), (1.0, 1.0), (2.0, 1.0)])
def test_duration_buckets_must_increase(buckets: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="increasing"):
        OperationTelemetry(
            scope="s", span_prefix="p", duration_metric="d", counter_prefix="c",
            duration_buckets=buckets,
        )  # fmt: skip


def test_telemetry_for_a_client_uses_the_shared_conventions(providers: Providers) -> None:
    tracer_provider, exporter, meter_provider, reader = providers
    telemetry = OperationTelemetry.for_client(
        semconv.database_client("postgresql", target="db:5432", namespace="app", name="postgres"),
        scope="test.db",
        error_attributes=lambda error: {semconv.DB_RESPONSE_STATUS_CODE: "40001"},
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    correlation = ModelCorrelationContext.fresh()
    telemetry.finish(telemetry.start("fetch", correlation), "fetch", 0.002)
    error = InfraError("serialization", transport=EnumTransport.POSTGRES, operation="fetch")
    telemetry.finish(telemetry.start("fetch", correlation), "fetch", 0.003, error=error)
    ok, failed = exporter.get_finished_spans()
    assert ok.name == "postgresql.fetch"
    assert dict(ok.attributes or {}) == {
        "db.system.name": "postgresql",
        "server.address": "db",
        "server.port": 5432,
        "db.namespace": "app",
        "omnibase.operation": "fetch",
        "omnibase.correlation_id": str(correlation.correlation_id),
    }
    failed_attributes = dict(failed.attributes or {})
    assert failed_attributes["error.type"] == "InfraError"
    assert failed_attributes["db.response.status_code"] == "40001"
    points = _points(reader)
    outcomes = sorted(str(a["omnibase.outcome"]) for a, _ in points["omnibase.postgres.operations"])
    assert outcomes == ["error", "success"]
    assert _histogram_bounds(reader)["db.client.operation.duration"] == list(
        semconv.DB_DURATION_BUCKETS
    )
