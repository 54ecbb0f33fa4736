"""Spans from records: semantic conventions per transport, ids, times, status, no secrets."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from omnibase_infra.enums import EnumTransport
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.nodes.node_tracing_compute import NodeTracingCompute
from omnibase_infra.observability import EnumOperationOutcome, ModelOperationRecord
from omnibase_infra.redaction import register_secret, unregister_secret

type RecordFactory = Callable[..., ModelOperationRecord]

STARTED = datetime(2025, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)  # as in conftest
SECRET = "Zq9-very-secret-Pw"
LEAKY_SQL = f"UPDATE users SET password = '{SECRET}' WHERE id = 1"  # noqa: S608 - to sanitize


def _only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1
    return spans[0]


def test_postgres_record_becomes_a_db_client_span(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    record = make_record(
        target="db.internal:5432",
        statement="SELECT id, name FROM users WHERE email = 'a@b.c' AND id = 7",
        attributes={"db.namespace": "app", "db.response.returned_rows": 1},
    )
    node.emit(record)
    span = _only_span(exporter)
    assert span.name == "SELECT users"
    assert span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert attributes["db.system.name"] == "postgresql"
    assert "db.system" not in attributes  # deprecated names are not written
    assert attributes["db.namespace"] == "app"
    assert attributes["db.operation.name"] == "SELECT"
    assert attributes["db.collection.name"] == "users"
    assert attributes["db.query.text"] == record.statement
    assert "a@b.c" not in str(attributes["db.query.text"])
    assert (attributes["server.address"], attributes["server.port"]) == ("db.internal", 5432)
    assert attributes["omnibase.correlation_id"] == str(record.correlation.correlation_id)
    assert attributes["omnibase.outcome"] == "success"
    assert span.status.status_code is StatusCode.UNSET


def test_span_keeps_the_records_ids_and_times(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    record = make_record()
    node.emit(record)
    span = _only_span(exporter)
    assert f"{span.context.trace_id:032x}" == record.correlation.trace_id
    assert f"{span.context.span_id:016x}" == record.correlation.span_id
    assert span.parent is None
    assert span.start_time == int(STARTED.timestamp()) * 10**9 + 250_000_000
    assert span.end_time == span.start_time + 7_500_000


def test_causation_id_and_an_empty_statement(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    context = ModelCorrelationContext.new().child(causation_id=uuid4())
    node.emit(make_record(correlation=context, statement=""))
    span = _only_span(exporter)
    attributes = dict(span.attributes or {})
    assert attributes["omnibase.causation_id"] == str(context.causation_id)
    assert attributes["db.query.text"] == ""
    assert "db.operation.name" not in attributes
    assert span.name == "postgresql"


def test_db_span_name_without_a_statement(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    node.emit(make_record(operation="ping"))
    node.emit(make_record(attributes={"db.namespace": "app"}))
    node.emit(make_record(attributes={"db.operation.name": "VACUUM", "db.namespace": "app"}))
    names = [span.name for span in exporter.get_finished_spans()]
    assert names == ["postgresql", "app", "VACUUM app"]


def test_a_multi_table_statement_names_no_collection(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    node.emit(make_record(statement="SELECT * FROM a JOIN b ON a.id = b.id"))
    attributes = dict(_only_span(exporter).attributes or {})
    assert "db.collection.name" not in attributes
    assert attributes["db.operation.name"] == "SELECT"


@pytest.mark.parametrize("transport", [EnumTransport.HTTP, EnumTransport.KEYCLOAK])
def test_http_records_become_http_client_spans(
    transport: EnumTransport,
    node: NodeTracingCompute,
    exporter: InMemorySpanExporter,
    make_record: RecordFactory,
) -> None:
    node.emit(
        make_record(
            transport,
            "deliver",
            attributes={
                "http.request.method": "post",
                "url.full": "https://hooks.example.com:8443/in?x=1",
                "http.response.status_code": 204,
            },
        )
    )
    span = _only_span(exporter)
    attributes = dict(span.attributes or {})
    assert span.name == "POST"
    assert span.kind is SpanKind.CLIENT
    assert attributes["http.request.method"] == "POST"
    assert attributes["http.response.status_code"] == 204
    assert attributes["url.full"] == "https://hooks.example.com:8443/in?x=1"
    assert (attributes["server.address"], attributes["server.port"]) == ("hooks.example.com", 8443)


def test_http_span_name_uses_the_url_template_and_falls_back_to_the_operation(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    node.emit(
        make_record(
            EnumTransport.KEYCLOAK,
            "token",
            attributes={
                "http.request.method": "POST",
                "url.template": "/realms/{realm}/protocol/openid-connect/token",
            },
        )
    )
    node.emit(make_record(EnumTransport.HTTP, "deliver"))
    names = [span.name for span in exporter.get_finished_spans()]
    assert names == ["POST /realms/{realm}/protocol/openid-connect/token", "deliver"]


def test_url_credentials_and_query_secrets_never_reach_the_span(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    url = f"https://deployer:{SECRET}@hooks.example.com/in?token={SECRET}&x=1"
    node.emit(make_record(EnumTransport.HTTP, "deliver", attributes={"url.full": url}))
    attributes = dict(_only_span(exporter).attributes or {})
    assert attributes["url.full"] == "https://hooks.example.com/in?token=***&x=1"
    assert attributes["server.address"] == "hooks.example.com"


@pytest.mark.parametrize(
    ("transport", "system"), [(EnumTransport.VAULT, "vault"), (EnumTransport.CONSUL, "consul")]
)
def test_vault_and_consul_records_become_rpc_spans(
    transport: EnumTransport,
    system: str,
    node: NodeTracingCompute,
    exporter: InMemorySpanExporter,
    make_record: RecordFactory,
) -> None:
    node.emit(
        make_record(transport, "kv_read", target="127.0.0.1:8200", attributes={"x.custom": 1})
    )
    span = _only_span(exporter)
    attributes = dict(span.attributes or {})
    assert span.name == f"{system}/kv_read"
    assert span.kind is SpanKind.CLIENT
    assert attributes["rpc.system.name"] == system
    assert "rpc.system" not in attributes
    assert attributes["rpc.method"] == "kv_read"
    assert attributes["x.custom"] == 1
    assert attributes["server.address"] == "127.0.0.1"


def test_redis_event_bus_and_internal_records(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    node.emit(make_record(EnumTransport.REDIS, "HGETALL", target="cache"))
    node.emit(
        make_record(
            EnumTransport.EVENT_BUS,
            "publish",
            attributes={"messaging.destination.name": "infra.events"},
        )
    )
    node.emit(make_record(EnumTransport.EVENT_BUS, "subscribe"))
    node.emit(make_record(EnumTransport.INTERNAL, "plan", target="kv/data/app"))
    redis, publish, subscribe, internal = exporter.get_finished_spans()
    assert (redis.name, redis.kind) == ("HGETALL", SpanKind.CLIENT)
    assert dict(redis.attributes or {})["db.system.name"] == "redis"
    assert dict(redis.attributes or {})["server.address"] == "cache"
    assert (publish.name, publish.kind) == ("publish infra.events", SpanKind.PRODUCER)
    assert dict(publish.attributes or {})["messaging.operation.name"] == "publish"
    assert (subscribe.name, subscribe.kind) == ("subscribe", SpanKind.INTERNAL)
    assert (internal.name, internal.kind) == ("plan", SpanKind.INTERNAL)
    assert dict(internal.attributes or {})["omnibase.target"] == "kv/data/app"
    assert "server.address" not in dict(internal.attributes or {})


@pytest.mark.parametrize(
    ("target", "address", "port"),
    [("[::1]:5432", "::1", 5432), ("db:99999", None, None), ("db.local", "db.local", None)],
)
def test_server_attributes_from_the_target(
    target: str,
    address: str | None,
    port: int | None,
    *,
    node: NodeTracingCompute,
    exporter: InMemorySpanExporter,
    make_record: RecordFactory,
) -> None:
    node.emit(make_record(target=target))
    attributes = dict(_only_span(exporter).attributes or {})
    assert attributes.get("server.address") == address
    assert attributes.get("server.port") == port


def test_explicit_server_attributes_win_and_bad_urls_are_tolerated(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    node.emit(
        make_record(
            EnumTransport.HTTP,
            "deliver",
            target="proxy:3128",
            attributes={"server.address": "origin", "url.full": "http://h:1/x"},
        )
    )
    node.emit(make_record(EnumTransport.HTTP, "deliver", attributes={"url.full": "http://h:x/"}))
    first, second = (dict(s.attributes or {}) for s in exporter.get_finished_spans())
    assert first["server.address"] == "origin"
    assert "server.port" not in first
    assert "server.address" not in second


def test_failed_record_sets_error_status_and_type(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    node.emit(
        make_record(
            outcome=EnumOperationOutcome.ERROR,
            error_code="ONEX_INFRA_003_TIMEOUT",
            error_type="InfraTimeoutError",
            error_message="query did not finish",
        )
    )
    node.emit(make_record(outcome=EnumOperationOutcome.ERROR, error_code="E1"))
    first, second = exporter.get_finished_spans()
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description == "query did not finish"
    assert dict(first.attributes or {})["error.type"] == "InfraTimeoutError"
    assert dict(first.attributes or {})["omnibase.error_code"] == "ONEX_INFRA_003_TIMEOUT"
    assert dict(second.attributes or {})["error.type"] == "E1"
    assert second.status.description == "E1"


def test_a_known_secret_appears_in_no_exported_span(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    register_secret(SECRET)
    try:
        records = [
            make_record(
                target=f"postgresql://app:{SECRET}@db:5432/app",
                statement=LEAKY_SQL,
                attributes={"db.password": SECRET, "note": f"token={SECRET}", "x": SECRET},
                outcome=EnumOperationOutcome.ERROR,
                error_code="E",
                error_message=f"login failed: password={SECRET}",
            ),
            make_record(
                EnumTransport.HTTP,
                "deliver",
                attributes={
                    "url.full": f"https://u:{SECRET}@h.example/x?api_key={SECRET}",
                    "http.request.header.authorization": f"Bearer {SECRET}",
                },
            ),
            make_record(
                EnumTransport.VAULT,
                "approle_login",
                attributes={"vault.secret_id": SECRET},
                correlation=ModelCorrelationContext.new(),
            ),
        ]
        infos = node.emit_all(records)
    finally:
        unregister_secret(SECRET)
    exported = [span.to_json() for span in exporter.get_finished_spans()]
    assert len(exported) == 3
    for text in [*exported, *(info.model_dump_json() for info in infos)]:
        assert SECRET not in text


def test_span_info_describes_the_exported_span(
    node: NodeTracingCompute, make_record: RecordFactory
) -> None:
    record = make_record(attributes={"db.namespace": "app"})
    (info,) = node.emit_all([record])
    assert info.name == "app"
    assert info.kind == "client"
    assert info.trace_id == record.correlation.trace_id
    assert info.span_id == record.correlation.span_id
    assert info.parent_span_id is None
    assert info.sampled
    assert info.end_time_unix_nano - info.start_time_unix_nano == 7_500_000
    assert info.status == "unset"
    assert info.attributes["db.namespace"] == "app"
    assert json.loads(info.model_dump_json())["attributes"]["db.system.name"] == "postgresql"
