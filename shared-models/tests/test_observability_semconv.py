"""The shared semantic-convention names, per-call attribute helpers and client conventions."""

from __future__ import annotations

import pytest

from omnibase_infra.observability import semconv


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("db.internal:5432", {"server.address": "db.internal", "server.port": 5432}),
        ("[::1]:5432", {"server.address": "::1", "server.port": 5432}),
        ("127.0.0.1:8200", {"server.address": "127.0.0.1", "server.port": 8200}),
        ("db.local", {"server.address": "db.local"}),
        ("db:99999", {"omnibase.target": "db:99999"}),
        ("kv/data/app", {"omnibase.target": "kv/data/app"}),
        ("a:1,b:2", {"omnibase.target": "a:1,b:2"}),
        ("host:port", {"omnibase.target": "host:port"}),
    ],
)
def test_server_attributes_of_a_target(target: str, expected: dict[str, object]) -> None:
    attributes = semconv.server_attributes(target)
    assert dict(attributes) == expected
    with pytest.raises(TypeError):
        attributes["server.address"] = "changed"  # type: ignore[index]  # shared: read-only


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://user:pw@hooks.example.com:8443/x?token=abc&page=2",
            {
                "url.full": "https://hooks.example.com:8443/x?token=***&page=2",
                "server.address": "hooks.example.com",
                "server.port": 8443,
            },
        ),
        ("http://h/x", {"url.full": "http://h/x", "server.address": "h"}),
        ("/relative/path", {"url.full": "/relative/path"}),
        ("http://h:x/", {"url.full": "http://h:x/"}),
    ],
)
def test_url_attributes_drop_credentials(url: str, expected: dict[str, object]) -> None:
    assert dict(semconv.url_attributes(url)) == expected


def test_db_statement_attributes() -> None:
    assert dict(semconv.db_statement_attributes("SELECT id FROM services WHERE env = $1")) == {
        "db.query.text": "SELECT id FROM services WHERE env = $1",
        "db.operation.name": "SELECT",
        "db.collection.name": "services",
    }
    joined = semconv.db_statement_attributes("SELECT * FROM a JOIN b ON a.id = b.id")
    assert "db.collection.name" not in joined
    assert dict(semconv.db_statement_attributes("")) == {"db.query.text": ""}


def test_duration_buckets_follow_the_conventions_advice() -> None:
    assert semconv.duration_buckets("db.client.operation.duration") == semconv.DB_DURATION_BUCKETS
    assert semconv.duration_buckets("http.client.request.duration") == semconv.HTTP_DURATION_BUCKETS
    ours = semconv.duration_buckets("omnibase.vault.operation.duration")
    assert ours == (*semconv.HTTP_DURATION_BUCKETS, 30.0, 60.0)
    for buckets in (semconv.DB_DURATION_BUCKETS, ours):
        assert list(buckets) == sorted(set(buckets))


def test_database_client() -> None:
    conventions = semconv.database_client(
        "postgresql", target="db:5432", namespace="app", name="postgres"
    )
    assert conventions.span_prefix == "postgresql"
    assert conventions.counter_prefix == "omnibase.postgres"
    assert conventions.duration_metric == "db.client.operation.duration"
    assert conventions.duration_buckets == semconv.DB_DURATION_BUCKETS
    assert conventions.operation_attributes == ("omnibase.operation",)
    expected = {
        "db.system.name": "postgresql",
        "server.address": "db",
        "server.port": 5432,
        "db.namespace": "app",
    }
    assert dict(conventions.span_attributes) == dict(conventions.metric_attributes) == expected
    bare = semconv.database_client("postgresql", target="db", attributes={"x": 1})
    assert bare.counter_prefix == "omnibase.postgresql"
    assert dict(bare.span_attributes) == {
        "db.system.name": "postgresql",
        "server.address": "db",
        "x": 1,
    }
    assert "x" not in bare.metric_attributes


def test_http_client() -> None:
    keycloak = semconv.http_client(
        "keycloak", target="idp:8080", attributes={"oidc.issuer": "http://idp:8080/realms/r"}
    )
    assert (keycloak.span_prefix, keycloak.counter_prefix) == ("keycloak", "omnibase.keycloak")
    assert keycloak.duration_metric == "omnibase.keycloak.operation.duration"
    assert keycloak.duration_buckets == semconv.OPERATION_DURATION_BUCKETS
    assert dict(keycloak.span_attributes) == {
        "server.address": "idp",
        "server.port": 8080,
        "oidc.issuer": "http://idp:8080/realms/r",
    }
    assert dict(keycloak.metric_attributes) == {}
    webhook = semconv.http_client("webhook", method="post")
    assert dict(webhook.span_attributes) == {"http.request.method": "POST"}
    assert dict(webhook.metric_attributes) == {"http.request.method": "POST"}


def test_rpc_client() -> None:
    vault = semconv.rpc_client("vault", target="127.0.0.1:8200")
    assert vault.operation_attributes == ("omnibase.operation", "rpc.method")
    assert dict(vault.span_attributes) == {
        "rpc.system.name": "vault",
        "server.address": "127.0.0.1",
        "server.port": 8200,
    }
    assert dict(vault.metric_attributes) == {"rpc.system.name": "vault"}
    assert vault.duration_metric == "omnibase.vault.operation.duration"
