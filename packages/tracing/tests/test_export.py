"""Exporters: console, OTLP/HTTP to a real loopback receiver, the optional extra, the env."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import pytest
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from pydantic import SecretStr, ValidationError

from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.nodes.node_tracing_compute import (
    EnumSpanExporter,
    ModelTracingConfig,
    NodeTracingCompute,
)
from omnibase_infra.nodes.node_tracing_compute.v1_0_0 import (
    build_tracer_provider,
    create_exporter,
)
from omnibase_infra.observability import ModelOperationRecord
from omnibase_infra_testing.services.receiver import WebhookReceiver

type RecordFactory = Callable[..., ModelOperationRecord]

TOKEN = "otlp-ingest-token-123456"


def test_console_exporter_writes_the_span_as_json(
    capsys: pytest.CaptureFixture[str], make_record: RecordFactory
) -> None:
    config = ModelTracingConfig(exporter=EnumSpanExporter.CONSOLE, service_name="deployer")
    node = NodeTracingCompute(ModelONEXContainer(), config=config)
    node.emit(make_record(attributes={"db.namespace": "app"}))
    node.shutdown()
    printed = json.loads(capsys.readouterr().out)
    assert printed["name"] == "app"
    assert printed["attributes"]["db.system.name"] == "postgresql"
    assert printed["resource"]["attributes"]["service.name"] == "deployer"


def test_otlp_export_reaches_a_real_http_receiver(
    webhook_receiver: WebhookReceiver, make_record: RecordFactory
) -> None:
    config = ModelTracingConfig(
        otlp_endpoint=webhook_receiver.url_for("/v1/traces"),
        otlp_headers={"authorization": SecretStr(f"Bearer {TOKEN}")},
        service_name="deployer",
    )
    assert config.resolved_exporter is EnumSpanExporter.OTLP
    assert config.batched
    assert TOKEN not in repr(config)
    assert TOKEN not in config.model_dump_json()
    node = NodeTracingCompute(ModelONEXContainer(), config=config)
    record = make_record(statement="DELETE FROM sessions WHERE id = 9")
    node.emit(record)
    node.shutdown()  # flushes the batch processor

    (request,) = webhook_receiver.wait_for(1, path="/v1/traces")
    assert request.method == "POST"
    assert request.header("content-type") == "application/x-protobuf"
    assert request.header("authorization") == f"Bearer {TOKEN}"
    payload = ExportTraceServiceRequest()
    payload.ParseFromString(request.body)
    (resource_spans,) = payload.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "deployer"
    (span,) = resource_spans.scope_spans[0].spans
    assert span.name == "DELETE sessions"
    assert span.span_id.hex() == record.correlation.span_id
    attributes = {a.key: a.value.string_value for a in span.attributes}
    assert attributes["db.query.text"] == record.statement


def test_otlp_without_the_extra_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(InfraConfigurationError, match=r"omnibase-infra-tracing\[otlp\]"):
        create_exporter(ModelTracingConfig(otlp_endpoint="http://127.0.0.1:4318/v1/traces"))


def test_exporter_choice_and_processors() -> None:
    assert create_exporter(ModelTracingConfig(exporter=EnumSpanExporter.NONE)) is None
    in_memory = ModelTracingConfig(exporter=EnumSpanExporter.IN_MEMORY)
    assert type(create_exporter(in_memory)).__name__ == "InMemorySpanExporter"
    assert ModelTracingConfig().resolved_exporter is EnumSpanExporter.CONSOLE
    assert ModelTracingConfig(otlp_endpoint=None).resolved_exporter is EnumSpanExporter.CONSOLE
    assert not ModelTracingConfig().batched
    batched = build_tracer_provider(in_memory.model_copy(update={"batch_export": True}))
    assert isinstance(batched.processor, BatchSpanProcessor)
    assert batched.provider._active_span_processor._span_processors == (batched.processor,)
    batched.provider.shutdown()
    simple = build_tracer_provider(in_memory)
    assert isinstance(simple.processor, SimpleSpanProcessor)
    simple.provider.shutdown()
    none = build_tracer_provider(ModelTracingConfig(exporter=EnumSpanExporter.NONE))
    assert none.processor is None
    assert none.provider._active_span_processor._span_processors == ()


@pytest.mark.parametrize(
    "endpoint", ["ftp://collector/v1/traces", "collector:4318", f"https://u:{TOKEN}@c/v1/traces"]
)
def test_endpoint_must_be_a_credential_free_http_url(endpoint: str) -> None:
    with pytest.raises(ValidationError) as info:
        ModelTracingConfig(otlp_endpoint=endpoint)
    assert TOKEN not in str(info.value)


def test_from_env_reads_the_standard_variables() -> None:
    config = ModelTracingConfig.from_env(
        {
            "OTEL_SERVICE_NAME": "deployer",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.25",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318/",
            "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{TOKEN}, x-tenant=acme,",
        }
    )
    assert config.service_name == "deployer"
    assert config.sample_ratio == 0.25
    assert config.otlp_endpoint == "http://127.0.0.1:4318/v1/traces"
    assert config.resolved_exporter is EnumSpanExporter.OTLP
    assert {k: v.get_secret_value() for k, v in config.otlp_headers.items()} == {
        "authorization": f"Bearer {TOKEN}",
        "x-tenant": "acme",
    }


@pytest.mark.parametrize(
    ("env", "ratio"),
    [
        ({}, 1.0),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, 0.0),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_on"}, 1.0),
        ({"OTEL_TRACES_SAMPLER": "traceidratio"}, 1.0),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": " "}, 1.0),
    ],
)
def test_from_env_samplers(env: dict[str, str], ratio: float) -> None:
    assert ModelTracingConfig.from_env(env).sample_ratio == ratio


def test_from_env_specific_traces_endpoint_and_exporter() -> None:
    config = ModelTracingConfig.from_env(
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/custom",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored:4318",
            "OTEL_TRACES_EXPORTER": "none",
        }
    )
    assert config.otlp_endpoint == "http://127.0.0.1:9/custom"
    assert config.resolved_exporter is EnumSpanExporter.NONE


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER"),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"}, "number"),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, "between"),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "key=value"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://u:{TOKEN}@h/v1/traces"}, "environment"),
    ],
)
def test_from_env_rejects_bad_values(env: dict[str, str], message: str) -> None:
    with pytest.raises(InfraConfigurationError, match=message) as info:
        ModelTracingConfig.from_env(env)
    assert TOKEN not in str(info.value)


def test_from_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-process-env")
    assert ModelTracingConfig.from_env().service_name == "from-process-env"
