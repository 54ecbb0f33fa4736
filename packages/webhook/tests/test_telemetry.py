"""Spans and metrics of deliveries, recorded by an in-memory OpenTelemetry SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import SecretStr

from omnibase_infra.models.webhook import ModelWebhookSendRequest
from omnibase_infra_testing.services.receiver import WebhookReceiver

from .conftest import NodeFactory

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


@pytest.mark.real_service
async def test_spans_and_metrics_of_deliveries(
    make_node: NodeFactory,
    webhook_receiver: WebhookReceiver,
    secret: SecretStr,
    providers: Providers,
) -> None:
    tracer_provider, exporter, meter_provider, reader = providers
    node = make_node(tracer_provider=tracer_provider, meter_provider=meter_provider)
    webhook_receiver.respond_with(503, times=1)
    ok = ModelWebhookSendRequest(url=webhook_receiver.url_for("/t"), secrets=(secret,))
    assert (await node.send(ok)).success
    webhook_receiver.respond_with(404)
    bad = ModelWebhookSendRequest(url=webhook_receiver.url_for("/t"), secrets=(secret,))
    assert not (await node.send(bad)).success

    first, second = exporter.get_finished_spans()
    assert first.name == "webhook.send"
    assert first.kind is SpanKind.CLIENT
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["webhook.message_id"] == ok.message_id
    assert first.attributes["http.response.status_code"] == 200
    assert first.attributes["server.port"] == webhook_receiver.port
    assert first.attributes["url.full"] == ok.url
    assert first.attributes["http.request.method"] == "POST"
    assert first.attributes["omnibase.attempts"] == 2
    assert second.status.status_code is StatusCode.ERROR
    assert second.attributes["http.response.status_code"] == 404
    assert second.attributes["error.type"] == "InfraNotFoundError"
    for span in (first, second):
        assert secret.get_secret_value() not in str(dict(span.attributes or {}))

    data = reader.get_metrics_data()
    assert data is not None
    names = {
        metric.name: metric
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {"omnibase.webhook.operations", "omnibase.webhook.retries"} <= set(names)
    outcomes = {
        point.attributes["omnibase.outcome"]: point.value  # type: ignore[index, union-attr]
        for point in names["omnibase.webhook.operations"].data.data_points
    }
    assert outcomes == {"success": 1, "error": 1}
