"""The PostgreSQL adapter's request/response models and pool configuration."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr, ValidationError

from omnibase_infra.enums import EnumHealthStatus
from omnibase_infra.models.postgres import (
    DEFAULT_MAX_ROWS,
    DEFAULT_MIGRATIONS_TABLE,
    EnumPostgresIsolation,
    EnumPostgresOperation,
    ModelPostgresCopyRecordsRequest,
    ModelPostgresExecuteManyRequest,
    ModelPostgresExecuteRequest,
    ModelPostgresFetchOneResponse,
    ModelPostgresFetchRequest,
    ModelPostgresFetchValueRequest,
    ModelPostgresHealthRequest,
    ModelPostgresHealthResponse,
    ModelPostgresMigrateRequest,
    ModelPostgresMigrationRecord,
    ModelPostgresMigrationSource,
    ModelPostgresPoolConfig,
    ModelPostgresPoolStats,
    ModelPostgresStatement,
    ModelPostgresTransactionRequest,
    dsn_target,
    parse_postgres_request,
)
from omnibase_infra.resilience import ModelRetryPolicy

SECRET = "s3cr3t-pg-Passw0rd"


def test_requests_are_told_apart_by_operation() -> None:
    kinds = {
        "fetch": ModelPostgresFetchRequest,
        "fetch_value": ModelPostgresFetchValueRequest,
        "execute": ModelPostgresExecuteRequest,
        "health": ModelPostgresHealthRequest,
    }
    for operation, model in kinds.items():
        data: dict[str, object] = {"operation": operation}
        if operation != "health":
            data["sql"] = "SELECT 1"
        assert type(parse_postgres_request(data)) is model
    tx = parse_postgres_request(
        {"operation": "transaction", "statements": [{"sql": "SELECT $1", "params": [1]}]}
    )
    assert isinstance(tx, ModelPostgresTransactionRequest)
    assert tx.statements[0].params == (1,)
    with pytest.raises(ValidationError):
        parse_postgres_request({"operation": "drop_everything", "sql": "x"})
    assert {op.value for op in EnumPostgresOperation} >= set(kinds)


def test_statement_requests_defaults_and_limits() -> None:
    fetch = ModelPostgresFetchRequest(sql="SELECT $1", params=[5])  # type: ignore[arg-type]
    assert fetch.params == (5,)
    assert (fetch.max_rows, fetch.read_only, fetch.operation) == (DEFAULT_MAX_ROWS, True, "fetch")
    assert fetch.timeout_seconds > 0
    assert fetch.correlation.correlation_id == fetch.correlation_id
    with pytest.raises(ValidationError):
        ModelPostgresFetchRequest(sql="")
    with pytest.raises(ValidationError):
        ModelPostgresFetchRequest(sql="SELECT 1", max_rows=0)
    with pytest.raises(ValidationError):
        ModelPostgresFetchValueRequest(sql="SELECT 1", column=-1)
    assert ModelPostgresFetchValueRequest(sql="SELECT 1", column="name").column == "name"
    with pytest.raises(ValidationError):
        ModelPostgresExecuteRequest(sql="SELECT 1", surprise=True)  # type: ignore[call-arg]
    policy = ModelRetryPolicy(max_attempts=1)
    assert ModelPostgresExecuteRequest(sql="SELECT 1", retry_policy=policy).retry_policy == policy


def test_bulk_inputs_are_checked_without_copying() -> None:
    rows = [(i, "x") for i in range(1000)]
    many = ModelPostgresExecuteManyRequest(sql="INSERT INTO t VALUES ($1, $2)", args=rows)
    assert many.args is rows
    copy = ModelPostgresCopyRecordsRequest(table="t", records=rows, columns=("a", "b"))
    assert copy.records is rows
    assert ModelPostgresCopyRecordsRequest(table="t", records=[]).records == []
    with pytest.raises(ValidationError, match="at least one row"):
        ModelPostgresExecuteManyRequest(sql="INSERT", args=[])
    with pytest.raises(ValidationError, match="list of rows"):
        ModelPostgresExecuteManyRequest(sql="INSERT", args="rows")
    with pytest.raises(ValidationError, match="each row"):
        ModelPostgresCopyRecordsRequest(table="t", records=[1, 2])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="columns"):
        ModelPostgresCopyRecordsRequest(table="t", records=rows, columns=())
    with pytest.raises(ValidationError, match="columns"):
        ModelPostgresCopyRecordsRequest(table="t", records=rows, columns=("a", ""))


def test_transactions() -> None:
    tx = ModelPostgresTransactionRequest(statements=(ModelPostgresStatement(sql="SELECT 1"),))
    assert (tx.isolation, tx.read_only, tx.deferrable) == (
        EnumPostgresIsolation.READ_COMMITTED,
        False,
        False,
    )
    with pytest.raises(ValidationError):
        ModelPostgresTransactionRequest(statements=())
    with pytest.raises(ValidationError, match="deferrable"):
        ModelPostgresTransactionRequest(
            statements=(ModelPostgresStatement(sql="SELECT 1"),), deferrable=True, read_only=True
        )
    ok = ModelPostgresTransactionRequest(
        statements=(ModelPostgresStatement(sql="SELECT 1"),),
        deferrable=True,
        read_only=True,
        isolation=EnumPostgresIsolation.SERIALIZABLE,
    )
    assert ok.deferrable


def test_migration_sources_and_requests() -> None:
    directory = ModelPostgresMigrationSource(directory="/srv/migrations")
    assert directory.label == "/srv/migrations"
    package = ModelPostgresMigrationSource(package="app.db")
    assert package.label == "app.db/migrations"
    with pytest.raises(ValidationError, match="exactly one"):
        ModelPostgresMigrationSource()
    with pytest.raises(ValidationError, match="exactly one"):
        ModelPostgresMigrationSource(directory="/x", package="y")
    request = ModelPostgresMigrateRequest(source=directory)
    assert (request.table, request.schema_name, request.dry_run) == (
        DEFAULT_MIGRATIONS_TABLE,
        "public",
        False,
    )
    with pytest.raises(ValidationError):
        ModelPostgresMigrateRequest(source=directory, lock_key=2**63)
    with pytest.raises(ValidationError):
        ModelPostgresMigrationRecord(version=1, name="x", checksum="not-a-sha256")


def test_pool_config_keeps_the_dsn_secret() -> None:
    config = ModelPostgresPoolConfig(
        dsn=SecretStr(f"postgresql://app:{SECRET}@db.internal:6432/orders?sslmode=require"),
        password=SecretStr(SECRET),
    )
    assert (config.target, config.database) == ("db.internal:6432", "orders")
    for text in (
        repr(config),
        str(config),
        config.model_dump_json(),
        json.dumps(config.model_dump(mode="json")),
    ):
        assert SECRET not in text
    with pytest.raises(ValidationError) as info:
        ModelPostgresPoolConfig(dsn=SecretStr(f"mysql://app:{SECRET}@db/x"))
    assert SECRET not in str(info.value)
    with pytest.raises(ValidationError, match="min_size"):
        ModelPostgresPoolConfig(dsn=SecretStr("postgresql://db/x"), min_size=5, max_size=2)
    assert ModelPostgresPoolConfig(dsn=SecretStr("postgres://db/x")).statement_cache_size == 100


@pytest.mark.parametrize(
    ("dsn", "target", "database"),
    [
        ("postgresql://u:p@h/db", "h:5432", "db"),
        ("postgresql://u@h:6000", "h:6000", "u"),
        ("postgresql://u:p@h1:1,h2:2/x", "h1:1,h2:2", "x"),
        ("postgresql:///db?host=/var/run/postgresql&port=5433", "/var/run/postgresql:5433", "db"),
        ("postgresql://[::1]/d", "[::1]:5432", "d"),
        ("postgresql://[::1]:7/d", "[::1]:7", "d"),
        ("postgresql://h/?dbname=app", "h:5432", "app"),
    ],
)
def test_dsn_target_never_has_credentials(dsn: str, target: str, database: str) -> None:
    assert dsn_target(dsn) == (target, database)


def test_responses_dump_to_json() -> None:
    response = ModelPostgresFetchOneResponse(
        correlation_id=uuid.uuid4(),
        success=True,
        duration_ms=1.5,
        target="db:5432",
        row={"raw": b"\x00\xff", "at": datetime(2024, 1, 2, tzinfo=UTC)},
    )
    data = json.loads(response.model_dump_json())
    assert data["row"] == {"raw": "AP8=", "at": "2024-01-02T00:00:00Z"}
    assert (data["operation"], data["attempts"]) == ("fetch_one", 1)
    stats = ModelPostgresPoolStats(target="db:5432", open=False, min_size=0, max_size=1)
    health = ModelPostgresHealthResponse(
        correlation_id=uuid.uuid4(),
        success=True,
        duration_ms=0.1,
        target="db:5432",
        status=EnumHealthStatus.UNHEALTHY,
        pool=stats,
        message="down",
    )
    assert health.model_dump()["pool"]["in_use"] == 0
    with pytest.raises(ValidationError):
        ModelPostgresFetchOneResponse(
            correlation_id=uuid.uuid4(),
            success=True,
            duration_ms=1,
            target="t",
            row=None,
            attempts=0,
        )
