"""Spans and metrics of the node, with an in-memory OpenTelemetry SDK: operations are named,
secrets never appear in attributes."""

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

from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.keycloak import ModelKeycloakTokenRequest, ModelKeycloakVerifyRequest
from omnibase_infra.nodes.node_keycloak_adapter_effect import NodeKeycloakAdapterEffect
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import TokenExpiredError
from omnibase_infra_testing.services.oidc import OidcService

from .conftest import FAST_RETRY, Minter, node_config, note

pytestmark = pytest.mark.real_service

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


async def test_spans_and_metrics_name_operations_never_secrets(
    private_realm: tuple[OidcService, Minter], providers: Providers
) -> None:
    service, minter = private_realm
    tracer_provider, exporter, meter_provider, reader = providers
    node = NodeKeycloakAdapterEffect(
        config=node_config(service, "omnibase-app"),
        retry_policy=FAST_RETRY,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    try:
        correlation = ModelCorrelationContext.new()
        token = await node.token(ModelKeycloakTokenRequest(correlation=correlation))
        note(token.access_token)
        await node.verify(ModelKeycloakVerifyRequest(token=token.access_token))
        expired = minter.mint(exp=1)
        with pytest.raises(TokenExpiredError):
            await node.verify(ModelKeycloakVerifyRequest(token=SecretStr(expired)))
    finally:
        await node.close()

    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert {"keycloak.discovery", "keycloak.token", "keycloak.jwks", "keycloak.verify"} <= set(
        spans
    )
    token_span = spans["keycloak.token"]
    assert token_span.kind is SpanKind.CLIENT
    assert token_span.attributes is not None
    assert token_span.attributes["omnibase.operation"] == "token"
    assert token_span.attributes["server.address"] == "127.0.0.1"
    assert token_span.attributes["http.request.method"] == "POST"
    assert token_span.attributes["http.response.status_code"] == 200
    jwks_parent = spans["keycloak.jwks"].parent
    assert jwks_parent is not None  # fetched inside verify: a child of its span
    verify_spans = [s for s in exporter.get_finished_spans() if s.name == "keycloak.verify"]
    assert jwks_parent.span_id in {s.context.span_id for s in verify_spans if s.context}
    assert token_span.attributes["oidc.issuer"] == service.issuer
    assert token_span.attributes["omnibase.correlation_id"] == str(correlation.correlation_id)
    assert token_span.context is not None
    assert f"{token_span.context.trace_id:032x}" == correlation.trace_id
    failed = [s for s in exporter.get_finished_spans() if s.status.status_code is StatusCode.ERROR]
    assert len(failed) == 1
    assert failed[0].attributes is not None
    assert failed[0].attributes["error.type"] == "TokenExpiredError"

    secrets = [
        token.access_token.get_secret_value(),
        expired,
        service.client("omnibase-app").secret or "",
    ]
    dumped = " ".join(s.to_json() for s in exporter.get_finished_spans())
    data = reader.get_metrics_data()
    assert data is not None
    dumped += data.to_json()
    for value in secrets:
        assert value not in dumped
    assert "omnibase.keycloak.operation.duration" in dumped
    assert '"omnibase.outcome": "error"' in dumped
