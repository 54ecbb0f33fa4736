"""Every operation against the real server, and its errors."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import asyncpg
import pytest
from omnibase_core.enums.enum_effect_types import EnumEffectType, EnumTransactionState
from omnibase_core.nodes import ModelEffectInput
from pydantic import SecretStr, ValidationError

from omnibase_infra.enums import EnumHealthStatus
from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraConflictError,
    InfraConnectionError,
    InfraReadOnlyError,
    InfraValidationError,
)
from omnibase_infra.models.postgres import (
    EnumPostgresIsolation,
    ModelPostgresCopyRecordsRequest,
    ModelPostgresExecuteManyRequest,
    ModelPostgresExecuteRequest,
    ModelPostgresFetchOneRequest,
    ModelPostgresFetchRequest,
    ModelPostgresFetchValueRequest,
    ModelPostgresHealthRequest,
    ModelPostgresPoolConfig,
    ModelPostgresStatement,
    ModelPostgresTransactionRequest,
)
from omnibase_infra.nodes.node_postgres_adapter_effect import NodePostgresAdapterEffect
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0 import DSN_ENV

pytestmark = pytest.mark.real_service


async def _people(admin: asyncpg.Connection[asyncpg.Record], table: str, count: int = 5) -> None:
    """A table of ``count`` people (``table`` is a literal name chosen by the test)."""
    await admin.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, name text NOT NULL, score numeric, "
        "seen timestamptz, tag uuid, raw bytea)"
    )
    await admin.executemany(
        f"INSERT INTO {table} (id, name) VALUES ($1, $2)",  # noqa: S608 - a literal name
        [(i, f"p{i}") for i in range(1, count + 1)],
    )


async def test_fetch_returns_rows_as_dicts_with_columns(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    await _people(admin, "t_fetch_returns")
    response = await node.process(
        ModelPostgresFetchRequest(
            sql="SELECT id, name FROM t_fetch_returns WHERE id <= $1 ORDER BY id", params=(3,)
        )
    )
    assert response.rows == [
        {"id": 1, "name": "p1"},
        {"id": 2, "name": "p2"},
        {"id": 3, "name": "p3"},
    ]
    assert response.columns == ("id", "name")
    assert response.row_count == 3
    assert response.success
    assert response.attempts == 1
    assert response.target == node.target
    empty = await node.process(
        ModelPostgresFetchRequest(sql="SELECT id FROM t_fetch_returns WHERE id > $1", params=(99,))
    )
    assert (empty.rows, empty.columns, empty.row_count) == ([], (), 0)


async def test_fetch_beyond_max_rows_is_an_error_not_a_truncation(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    await _people(admin, "t_fetch_beyond", count=6)
    exact = await node.process(
        ModelPostgresFetchRequest(sql="SELECT id FROM t_fetch_beyond", max_rows=6)
    )
    assert exact.row_count == 6
    with pytest.raises(InfraValidationError, match="more than max_rows=5") as info:
        await node.process(
            ModelPostgresFetchRequest(sql="SELECT id FROM t_fetch_beyond", max_rows=5)
        )
    assert info.value.details["reason"] == "max_rows_exceeded"
    assert not info.value.retryable


async def test_a_huge_result_is_refused_without_loading_it(node: NodePostgresAdapterEffect) -> None:
    # 50 million rows would take minutes to load; the row limit stops the server at 11.
    # (A set-returning function in the select list streams; one in FROM would be
    # materialized by the server first, which takes seconds on a loaded machine.)
    with pytest.raises(InfraValidationError, match="max_rows=10"):
        await node.process(
            ModelPostgresFetchRequest(
                sql="SELECT generate_series(1, 50000000) AS g", max_rows=10, timeout_seconds=5
            )
        )


async def test_fetch_one_and_fetch_value(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    await _people(admin, "t_fetch_one")
    one = await node.process(
        ModelPostgresFetchOneRequest(
            sql="SELECT id, name FROM t_fetch_one WHERE id = $1", params=(2,)
        )
    )
    assert one.row == {"id": 2, "name": "p2"}
    none = await node.process(
        ModelPostgresFetchOneRequest(sql="SELECT id FROM t_fetch_one WHERE id = $1", params=(42,))
    )
    assert none.row is None
    value = await node.process(
        ModelPostgresFetchValueRequest(sql="SELECT count(*) FROM t_fetch_one")
    )
    assert (value.value, value.found) == (5, True)
    by_name = await node.process(
        ModelPostgresFetchValueRequest(
            sql="SELECT id, name FROM t_fetch_one WHERE id = $1",
            params=(4,),
            column="name",
        )
    )
    assert by_name.value == "p4"
    null = await node.process(
        ModelPostgresFetchValueRequest(sql="SELECT score FROM t_fetch_one WHERE id = 1")
    )
    assert (null.value, null.found) == (None, True)
    missing = await node.process(
        ModelPostgresFetchValueRequest(sql="SELECT score FROM t_fetch_one WHERE id = 0")
    )
    assert (missing.value, missing.found) == (None, False)
    with pytest.raises(InfraValidationError, match="no column 3"):
        await node.process(ModelPostgresFetchValueRequest(sql="SELECT 1, 2", column=3))
    with pytest.raises(InfraValidationError, match="no column 'nope'"):
        await node.process(ModelPostgresFetchValueRequest(sql="SELECT 1 AS a", column="nope"))


async def test_execute_reports_status_and_row_count(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    created = await node.process(
        ModelPostgresExecuteRequest(sql="CREATE TABLE t_execute_reports (id int, v text)")
    )
    assert (created.status, created.row_count) == ("CREATE TABLE", None)
    inserted = await node.process(
        ModelPostgresExecuteRequest(
            sql="INSERT INTO t_execute_reports SELECT g, $1 FROM generate_series(1, 3) g",
            params=("x",),
        )
    )
    assert (inserted.status, inserted.row_count) == ("INSERT 0 3", 3)
    updated = await node.process(
        ModelPostgresExecuteRequest(
            sql="UPDATE t_execute_reports SET v = $1 WHERE id > $2", params=("y", 1)
        )
    )
    assert (updated.status, updated.row_count) == ("UPDATE 2", 2)
    assert await admin.fetchval("SELECT count(*) FROM t_execute_reports WHERE v = 'y'") == 2


async def test_fetch_with_read_only_false_allows_insert_returning(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    await admin.execute("CREATE TABLE t_fetch_with (id serial PRIMARY KEY, v text)")
    with pytest.raises(InfraValidationError, match="write access"):
        await node.process(
            ModelPostgresFetchOneRequest(
                sql="INSERT INTO t_fetch_with (v) VALUES ($1) RETURNING id", params=("a",)
            )
        )
    row = await node.process(
        ModelPostgresFetchOneRequest(
            sql="INSERT INTO t_fetch_with (v) VALUES ($1) RETURNING id",
            params=("a",),
            read_only=False,
        )
    )
    assert row.row == {"id": 1}


async def test_driver_types_round_trip(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    await _people(admin, "t_driver_types", count=0)
    tag = uuid.uuid4()
    seen = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    values: tuple[Any, ...] = (1, "n", decimal.Decimal("12.50"), seen, tag, b"\x00\xff")
    await node.process(
        ModelPostgresExecuteRequest(
            sql="INSERT INTO t_driver_types VALUES ($1, $2, $3, $4, $5, $6)",
            params=values,
        )
    )
    row = await node.process(ModelPostgresFetchOneRequest(sql="SELECT * FROM t_driver_types"))
    assert row.row == {
        "id": 1,
        "name": "n",
        "score": decimal.Decimal("12.50"),
        "seen": seen,
        "tag": tag,
        "raw": b"\x00\xff",
    }
    dumped = row.model_dump(mode="json")
    assert dumped["row"]["raw"] == "AP8="  # bytes as base64
    assert dumped["row"]["tag"] == str(tag)


async def test_execute_many_is_atomic(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    await admin.execute("CREATE TABLE t_execute_many (id int PRIMARY KEY)")
    done = await node.process(
        ModelPostgresExecuteManyRequest(
            sql="INSERT INTO t_execute_many VALUES ($1)", args=[(i,) for i in range(100)]
        )
    )
    assert done.batch_size == 100
    assert await admin.fetchval("SELECT count(*) FROM t_execute_many") == 100
    with pytest.raises(InfraConflictError, match="23505") as info:
        await node.process(
            ModelPostgresExecuteManyRequest(
                sql="INSERT INTO t_execute_many VALUES ($1)", args=[(1000,), (1001,), (5,)]
            )
        )
    assert info.value.details["sqlstate"] == "23505"
    assert info.value.details["constraint_name"] == "t_execute_many_pkey"
    assert not info.value.retryable
    assert await admin.fetchval("SELECT count(*) FROM t_execute_many") == 100


async def test_copy_records_bulk_inserts_atomically(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    await admin.execute(
        "CREATE SCHEMA IF NOT EXISTS bulk;"
        "CREATE TABLE bulk.t_copy_records (id int PRIMARY KEY, v text, n int)"
    )
    records = [(i, f"v{i}") for i in range(5000)]
    copied = await node.process(
        ModelPostgresCopyRecordsRequest(
            table="t_copy_records", schema_name="bulk", columns=("id", "v"), records=records
        )
    )
    assert (copied.status, copied.row_count) == ("COPY 5000", 5000)
    assert await admin.fetchval("SELECT sum(id) FROM bulk.t_copy_records") == sum(range(5000))
    with pytest.raises(InfraConflictError):
        await node.process(
            ModelPostgresCopyRecordsRequest(
                table="t_copy_records",
                schema_name="bulk",
                columns=("id", "v"),
                records=[(9000, "a"), (1, "dup")],
            )
        )
    assert await admin.fetchval("SELECT count(*) FROM bulk.t_copy_records") == 5000
    with pytest.raises(InfraValidationError, match="parameter"):
        await node.process(
            ModelPostgresCopyRecordsRequest(
                table="t_copy_records",
                schema_name="bulk",
                columns=("id",),
                records=[("not an int",)],
            )
        )
    with pytest.raises(InfraValidationError, match="bad identifier"):
        await node.process(ModelPostgresCopyRecordsRequest(table="x" * 64, records=[(1,)]))


async def test_transaction_commits_all_or_nothing(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    await admin.execute("CREATE TABLE t_transaction_commits (id int PRIMARY KEY, v text)")
    done = await node.process(
        ModelPostgresTransactionRequest(
            statements=(
                ModelPostgresStatement(
                    sql="INSERT INTO t_transaction_commits VALUES ($1, $2)", params=(1, "a")
                ),
                ModelPostgresStatement(
                    sql="INSERT INTO t_transaction_commits VALUES ($1, $2)", params=(2, "b")
                ),
                ModelPostgresStatement(sql="SET LOCAL statement_timeout = 5000"),
                ModelPostgresStatement(
                    sql="SELECT v FROM t_transaction_commits ORDER BY id", fetch=True
                ),
            ),
            isolation=EnumPostgresIsolation.SERIALIZABLE,
        )
    )
    assert [r.status for r in done.results] == ["INSERT 0 1", "INSERT 0 1", "SET", "SELECT 2"]
    assert done.results[3].rows == [{"v": "a"}, {"v": "b"}]
    assert done.isolation is EnumPostgresIsolation.SERIALIZABLE
    with pytest.raises(InfraConflictError):
        await node.process(
            ModelPostgresTransactionRequest(
                statements=(
                    ModelPostgresStatement(sql="INSERT INTO t_transaction_commits VALUES (3, 'c')"),
                    ModelPostgresStatement(
                        sql="INSERT INTO t_transaction_commits VALUES (1, 'dup')"
                    ),
                )
            )
        )
    assert await admin.fetchval("SELECT count(*) FROM t_transaction_commits") == 2
    with pytest.raises(InfraValidationError, match="more than max_rows=1"):
        await node.process(
            ModelPostgresTransactionRequest(
                statements=(
                    ModelPostgresStatement(sql="SELECT id FROM t_transaction_commits", fetch=True),
                ),
                max_rows=1,
            )
        )


async def test_read_only_transaction_is_enforced_by_the_database_too(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    await admin.execute(
        "CREATE TABLE t_read_only (id int); CREATE SEQUENCE t_read_only_seq;"
        " CREATE FUNCTION t_read_only_next() RETURNS bigint LANGUAGE sql"
        " AS $$ SELECT nextval('t_read_only_seq') $$"
    )
    # Text analysis cannot know what a user's function does; READ ONLY in the server refuses it.
    with pytest.raises(InfraReadOnlyError, match="25006"):
        await node.process(
            ModelPostgresTransactionRequest(
                statements=(ModelPostgresStatement(sql="SELECT t_read_only_next()"),),
                read_only=True,
            )
        )
    # A built-in that writes is refused before anything is sent.
    with pytest.raises(InfraValidationError, match=r"nextval\(\) \(changes a sequence\)"):
        await node.process(
            ModelPostgresTransactionRequest(
                statements=(ModelPostgresStatement(sql="SELECT nextval('t_read_only_seq')"),),
                read_only=True,
            )
        )
    with pytest.raises(InfraValidationError, match="write access"):
        await node.process(
            ModelPostgresTransactionRequest(
                statements=(ModelPostgresStatement(sql="INSERT INTO t_read_only VALUES (1)"),),
                read_only=True,
            )
        )
    snapshot = await node.process(
        ModelPostgresTransactionRequest(
            statements=(
                ModelPostgresStatement(sql="SELECT count(*) AS n FROM t_read_only", fetch=True),
            ),
            read_only=True,
            deferrable=True,
            isolation=EnumPostgresIsolation.SERIALIZABLE,
        )
    )
    assert snapshot.results[0].rows == [{"n": 0}]
    assert snapshot.read_only


async def test_server_errors_map_to_the_taxonomy(node: NodePostgresAdapterEffect) -> None:
    with pytest.raises(InfraValidationError, match="42P01") as undefined:
        await node.process(ModelPostgresFetchRequest(sql="SELECT * FROM no_such_table_here"))
    assert undefined.value.details["sqlstate"] == "42P01"
    assert undefined.value.details["phase"] == "execute"
    # A value the server quotes in its message is not echoed (22P02 quotes the input).
    with pytest.raises(InfraValidationError) as bad_value:
        await node.process(
            ModelPostgresFetchValueRequest(sql="SELECT $1::text::int", params=("s3cret-value",))
        )
    assert "s3cret-value" not in str(bad_value.value)
    assert bad_value.value.details["sqlstate"] == "22P02"
    with pytest.raises(InfraValidationError, match="invalid data value") as unencodable:
        await node.process(ModelPostgresFetchValueRequest(sql="SELECT $1::int", params=("x9x",)))
    assert "x9x" not in str(unencodable.value)
    with pytest.raises(InfraValidationError):
        await node.process(ModelPostgresFetchValueRequest(sql="SELECT $1::int", params=(1, 2)))


async def test_health_reports_version_latency_and_pool(node: NodePostgresAdapterEffect) -> None:
    health = await node.process(ModelPostgresHealthRequest())
    assert health.status is EnumHealthStatus.HEALTHY
    assert health.server_version is not None
    assert health.server_version.startswith("PostgreSQL ")
    assert health.server_version_num is not None
    assert health.server_version_num >= 120000
    assert health.latency_ms is not None
    assert health.latency_ms >= 0
    assert health.pool.open
    assert health.pool.size >= 1
    assert health.circuit_state == "closed"


async def test_health_of_an_unreachable_server_is_unhealthy_not_an_error(
    unused_tcp_port: int,
) -> None:
    config = ModelPostgresPoolConfig(
        dsn=SecretStr(f"postgresql://u:pw@127.0.0.1:{unused_tcp_port}/db")
    )
    async with NodePostgresAdapterEffect(config=config) as node:
        health = await node.process(ModelPostgresHealthRequest(timeout_seconds=5))
    assert health.status is EnumHealthStatus.UNHEALTHY
    assert health.message is not None
    assert "could not connect" in health.message
    assert not health.pool.open


async def test_core_envelope_runs_the_request_in_operation_data(
    node: NodePostgresAdapterEffect,
) -> None:
    correlation = uuid.uuid4()
    output = await node.process(
        ModelEffectInput(
            effect_type=EnumEffectType.DATABASE_OPERATION,
            operation_data={
                "operation": "fetch_value",
                "sql": "SELECT $1::int + 1",
                "params": [41],
            },
            metadata={"x-correlation-id": str(correlation)},
        )
    )
    result = output.result
    assert isinstance(result, dict)
    assert result["value"] == 42
    assert result["correlation_id"] == str(correlation)
    assert output.transaction_state is EnumTransactionState.COMMITTED
    assert output.retry_count == 0
    assert output.metadata["correlation_id"] == str(correlation)
    with pytest.raises(InfraValidationError, match="invalid request") as invalid:
        await node.process(
            ModelEffectInput(
                effect_type=EnumEffectType.DATABASE_OPERATION,
                operation_data={"operation": "fetch", "sql": "", "params": ["secret-param"]},
            )
        )
    assert "secret-param" not in str(invalid.value)
    with pytest.raises(InfraValidationError, match="effect_type"):
        await node.process(ModelEffectInput(effect_type=EnumEffectType.API_CALL, operation_data={}))


async def test_without_a_dsn_operations_fail_with_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DSN_ENV, raising=False)
    node = NodePostgresAdapterEffect()
    with pytest.raises(InfraConfigurationError, match=DSN_ENV):
        await node.process(ModelPostgresFetchRequest(sql="SELECT 1"))
    with pytest.raises(InfraConfigurationError):
        _ = node.pool
    health = await node.process(ModelPostgresHealthRequest())
    assert health.status is EnumHealthStatus.UNHEALTHY
    with pytest.raises(InfraValidationError, match="has no operation for str"):
        await node.process("SELECT 1")  # type: ignore[call-overload]


async def test_dsn_from_the_environment(monkeypatch: pytest.MonkeyPatch, database_dsn: str) -> None:
    monkeypatch.setenv(DSN_ENV, database_dsn)
    async with NodePostgresAdapterEffect() as node:
        value = await node.process(ModelPostgresFetchValueRequest(sql="SELECT current_database()"))
    assert value.value == database_dsn.rsplit("/", 1)[1]


async def test_open_connects_eagerly_and_lifecycle_closes(
    pool_config: ModelPostgresPoolConfig, unused_tcp_port: int
) -> None:
    node = NodePostgresAdapterEffect(config=pool_config)
    await node.initialize()
    await node.open()
    assert node.pool.stats().size >= 1
    assert node.reader_pool.stats().size >= 1
    await node.cleanup()
    assert not node.pool.is_open
    assert not node.reader_pool.is_open
    down = NodePostgresAdapterEffect(
        config=ModelPostgresPoolConfig(dsn=SecretStr(f"postgresql://127.0.0.1:{unused_tcp_port}/x"))
    )
    with pytest.raises(InfraConnectionError, match="could not connect"):
        await down.open()
    await down.close()


async def test_responses_built_without_validation_equal_validated_ones(
    node: NodePostgresAdapterEffect,
) -> None:
    # The node builds its responses from its own values without validation: each must be
    # the model validation would give (every field, the same model_fields_set, the same
    # dump), and stay frozen.
    requests: list[Any] = [
        ModelPostgresFetchOneRequest(sql="SELECT 1 AS one, 'x'::text AS two"),
        ModelPostgresFetchRequest(sql="SELECT g FROM generate_series(1, 3) AS g"),
        ModelPostgresFetchValueRequest(sql="SELECT 42"),
        ModelPostgresExecuteRequest(sql="SELECT 1"),
        ModelPostgresTransactionRequest(
            statements=(ModelPostgresStatement(sql="SELECT 1", fetch=True),), read_only=True
        ),
    ]
    for request in requests:
        response = await node.process(request)
        given = {name: getattr(response, name) for name in response.model_fields_set}
        validated = type(response)(**given, completed_at=response.completed_at)
        assert response == validated, request.operation
        assert response.model_fields_set == validated.model_fields_set - {"completed_at"}
        assert response.model_dump() == validated.model_dump()
        assert list(response.__dict__) == list(type(response).model_fields)
        with pytest.raises(ValidationError):
            response.success = False
