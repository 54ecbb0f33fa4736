"""Read-only operations are kept read-only by the server: a write hidden in a function the
statement calls is refused (SQLSTATE 25006, ``InfraReadOnlyError``), changes nothing, is not
retried nor counted by the breaker, and the connection serves the next read."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pydantic import SecretStr

from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraError,
    InfraReadOnlyError,
    InfraValidationError,
)
from omnibase_infra.models.postgres import (
    EnumPostgresIsolation,
    ModelPostgresFetchOneRequest,
    ModelPostgresFetchRequest,
    ModelPostgresFetchValueRequest,
    ModelPostgresPoolConfig,
    ModelPostgresStatement,
    ModelPostgresTransactionRequest,
)
from omnibase_infra.nodes.node_postgres_adapter_effect import NodePostgresAdapterEffect
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.connection import (
    verify_read_only_session,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.driver import (
    SessionNotReadOnlyError,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.errors import (
    EnumPhase,
    to_infra_error,
)
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra.resilience.breaker import EnumCircuitState

pytestmark = pytest.mark.real_service

RETRY = ModelRetryPolicy(max_attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.05)

# Each function hides one kind of write from the statement validator (user functions are
# opaque to it): only the server can refuse them.
SETUP = """
CREATE TABLE ro_rows (id int PRIMARY KEY, name text);
INSERT INTO ro_rows VALUES (1, 'a'), (2, 'b'), (3, 'c');
CREATE SEQUENCE ro_seq;
SELECT setval('ro_seq', 7);
CREATE FUNCTION ro_delete() RETURNS int LANGUAGE sql AS $$ DELETE FROM ro_rows RETURNING 1 $$;
CREATE FUNCTION ro_update() RETURNS int LANGUAGE plpgsql
  AS $$ BEGIN UPDATE ro_rows SET name = 'x'; RETURN 1; END $$;
CREATE FUNCTION ro_insert() RETURNS int LANGUAGE plpgsql
  AS $$ BEGIN INSERT INTO ro_rows VALUES (9, 'z'); RETURN 1; END $$;
CREATE FUNCTION ro_truncate() RETURNS int LANGUAGE plpgsql
  AS $$ BEGIN TRUNCATE ro_rows; RETURN 1; END $$;
CREATE FUNCTION ro_nextval() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('ro_seq') $$;
CREATE FUNCTION ro_setval() RETURNS bigint LANGUAGE sql AS $$ SELECT setval('ro_seq', 1000) $$;
CREATE FUNCTION ro_lo_create() RETURNS oid LANGUAGE sql AS $$ SELECT lo_create(0) $$;
CREATE FUNCTION ro_lo_from_bytea() RETURNS oid LANGUAGE sql
  AS $$ SELECT lo_from_bytea(0, '\\x01') $$;
CREATE FUNCTION ro_temp_table() RETURNS int LANGUAGE plpgsql
  AS $$ BEGIN CREATE TEMP TABLE ro_tmp (x int); RETURN 1; END $$;
CREATE FUNCTION ro_create_table() RETURNS int LANGUAGE plpgsql
  AS $$ BEGIN CREATE TABLE ro_new (x int); RETURN 1; END $$;
CREATE FUNCTION ro_dynamic() RETURNS int LANGUAGE plpgsql
  AS $$ BEGIN EXECUTE 'DELETE FROM ro_rows'; RETURN 1; END $$;
CREATE FUNCTION ro_lock_rows() RETURNS int LANGUAGE plpgsql
  AS $$ BEGIN PERFORM 1 FROM ro_rows FOR UPDATE; RETURN 1; END $$;
CREATE FUNCTION ro_writable_tx() RETURNS text LANGUAGE plpgsql AS $$
  BEGIN PERFORM set_config('transaction_read_only', 'off', true); DELETE FROM ro_rows;
  RETURN 'x'; END $$;
CREATE FUNCTION ro_switch_session() RETURNS text LANGUAGE sql
  AS $$ SELECT set_config('default_transaction_read_only', 'off', false) $$;
CREATE FUNCTION ro_advisory() RETURNS int LANGUAGE sql
  AS $$ SELECT 1 FROM pg_advisory_lock(424242) $$;
CREATE PROCEDURE ro_commit_then_delete() LANGUAGE plpgsql AS $$
  BEGIN PERFORM set_config('default_transaction_read_only', 'off', false); COMMIT;
  DELETE FROM ro_rows; END $$;
"""

# (write class, the function; refused with SQLSTATE 25006 through every read-only operation)
REFUSED = [
    ("DELETE in a SQL function", "ro_delete()"),
    ("UPDATE in a PL/pgSQL function", "ro_update()"),
    ("INSERT in a PL/pgSQL function", "ro_insert()"),
    ("TRUNCATE in a function", "ro_truncate()"),
    ("dynamic SQL in a function", "ro_dynamic()"),
    ("nextval in a function", "ro_nextval()"),
    ("setval in a function", "ro_setval()"),
    ("temporary table", "ro_temp_table()"),
    ("DDL in a function", "ro_create_table()"),
    ("row lock in a function", "ro_lock_rows()"),
]
# Large objects: PostgreSQL 18 refuses them in a read-only transaction; 15 does not.
LARGE_OBJECTS = [
    ("lo_create in a function", "ro_lo_create()"),
    ("lo_from_bytea in a function", "ro_lo_from_bytea()"),
]


async def _state(admin: asyncpg.Connection[asyncpg.Record]) -> tuple[object, ...]:
    """Everything a write could have changed: rows, the sequence, large objects, tables."""
    rows = await admin.fetch("SELECT id, name FROM ro_rows ORDER BY id")
    sequence = await admin.fetchrow("SELECT last_value, is_called FROM ro_seq")
    large_objects = await admin.fetchval("SELECT count(*) FROM pg_largeobject_metadata")
    new_table = await admin.fetchval("SELECT to_regclass('ro_new') IS NOT NULL")
    return ([tuple(r) for r in rows], tuple(sequence or ()), large_objects, new_table)


@pytest.fixture
async def setup(admin: asyncpg.Connection[asyncpg.Record]) -> AsyncIterator[None]:
    await admin.execute(SETUP)
    try:
        yield
    finally:
        await admin.execute(
            "DROP TABLE IF EXISTS ro_rows, ro_new; DROP SEQUENCE IF EXISTS ro_seq;"
            " DROP PROCEDURE IF EXISTS ro_commit_then_delete();"
            " DROP FUNCTION IF EXISTS ro_delete(), ro_update(), ro_insert(), ro_truncate(),"
            " ro_nextval(), ro_setval(), ro_lo_create(), ro_lo_from_bytea(), ro_temp_table(),"
            " ro_create_table(), ro_dynamic(), ro_lock_rows(), ro_writable_tx(),"
            " ro_switch_session(), ro_advisory();"
            " SELECT lo_unlink(oid) FROM pg_largeobject_metadata"
        )


@pytest.fixture
async def ro_node(database_dsn: str, setup: None) -> AsyncIterator[NodePostgresAdapterEffect]:
    """One connection per pool: "the same connection" is the only one."""
    config = ModelPostgresPoolConfig(dsn=SecretStr(database_dsn), min_size=1, max_size=1)
    node = NodePostgresAdapterEffect(config=config, retry_policy=RETRY)
    try:
        yield node
    finally:
        await node.close(grace_seconds=5)


def _reads(call: str) -> list[object]:
    """The same call through each read-only operation."""
    return [
        ModelPostgresFetchRequest(sql=f"SELECT {call} AS v"),
        ModelPostgresFetchOneRequest(sql=f"SELECT {call} AS v"),
        ModelPostgresFetchValueRequest(sql=f"SELECT {call} AS v"),
        ModelPostgresTransactionRequest(
            statements=(ModelPostgresStatement(sql=f"SELECT {call} AS v"),), read_only=True
        ),
    ]


async def _pid(node: NodePostgresAdapterEffect) -> int:
    answer = await node.process(ModelPostgresFetchValueRequest(sql="SELECT pg_backend_pid()"))
    assert isinstance(answer.value, int)
    return answer.value


async def _assert_refused(
    node: NodePostgresAdapterEffect,
    admin: asyncpg.Connection[asyncpg.Record],
    call: str,
) -> None:
    before = await _state(admin)
    pid = await _pid(node)
    for request in _reads(call):
        acquisitions = node.reader_pool.stats().acquisitions
        with pytest.raises(InfraReadOnlyError) as info:
            await node.process(request)  # type: ignore[call-overload]
        error = info.value
        assert "read-only" in error.message
        assert error.details["sqlstate"] == "25006"
        assert error.retryable is False
        assert not isinstance(error, InfraValidationError)  # the server refused it
        # Not retried: one acquisition for one attempt.
        assert node.reader_pool.stats().acquisitions == acquisitions + 1
        assert await _state(admin) == before
        # The same connection, clean, serves the next read.
        assert await _pid(node) == pid
        again = await node.process(
            ModelPostgresFetchValueRequest(sql="SELECT count(*) FROM ro_rows")
        )
        assert again.value == 3


@pytest.mark.parametrize(("kind", "call"), REFUSED, ids=[k for k, _ in REFUSED])
async def test_each_write_class_is_refused_by_the_server(
    ro_node: NodePostgresAdapterEffect,
    admin: asyncpg.Connection[asyncpg.Record],
    kind: str,
    call: str,
) -> None:
    await _assert_refused(ro_node, admin, call)


@pytest.mark.parametrize(("kind", "call"), LARGE_OBJECTS, ids=[k for k, _ in LARGE_OBJECTS])
async def test_large_object_writes_are_refused_by_the_server(
    ro_node: NodePostgresAdapterEffect,
    admin: asyncpg.Connection[asyncpg.Record],
    kind: str,
    call: str,
) -> None:
    if admin.get_server_version().major < 18:
        pytest.skip("PostgreSQL before 18 allows large-object writes in read-only transactions")
    await _assert_refused(ro_node, admin, call)


async def test_refusals_are_not_counted_by_the_breaker(
    ro_node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    for _ in range(30):
        with pytest.raises(InfraReadOnlyError):
            await ro_node.process(ModelPostgresFetchOneRequest(sql="SELECT ro_delete()"))
    assert ro_node.breaker.state is EnumCircuitState.CLOSED
    snapshot = ro_node.breaker.snapshot()
    assert (snapshot.failures, snapshot.ignored) == (0, 30)


async def test_a_function_cannot_make_its_own_transaction_writable(
    ro_node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    before = await _state(admin)
    # transaction_read_only cannot be switched off once the transaction ran a query.
    with pytest.raises(InfraError, match="25001"):
        await ro_node.process(ModelPostgresFetchOneRequest(sql="SELECT ro_writable_tx()"))
    assert await _state(admin) == before


async def test_a_session_switched_to_read_write_is_not_reused(
    ro_node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    pid = await _pid(ro_node)
    # The function changes the session's default for the *next* transactions; the statement
    # itself stays read-only, and the session is terminated on release.
    switched = await ro_node.process(
        ModelPostgresFetchValueRequest(sql="SELECT ro_switch_session()")
    )
    assert switched.value == "off"
    after = await _pid(ro_node)
    assert after != pid
    assert ro_node.reader_pool.stats().connections_replaced == 1
    show = "SELECT current_setting('default_transaction_read_only')"
    setting = await ro_node.process(ModelPostgresFetchValueRequest(sql=show))
    assert setting.value == "on"
    await _assert_refused(ro_node, admin, "ro_delete()")


async def test_statements_that_would_switch_read_only_off_are_refused_before_sending(
    ro_node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    before = await _state(admin)
    pid = await _pid(ro_node)
    for sql in (
        "SET default_transaction_read_only = off",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        "SET TRANSACTION READ WRITE",
        "BEGIN READ WRITE",
        "START TRANSACTION READ WRITE",
        "COMMIT",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SELECT pg_catalog.set_config('transaction_read_only', 'off', true)",
        "RESET default_transaction_read_only",
        "CALL ro_commit_then_delete()",
        "DO $$ BEGIN DELETE FROM ro_rows; END $$",
        "NOTIFY ro_channel",
        "SELECT pg_notify('ro_channel', 'x')",
        "SELECT pg_advisory_lock(1)",
        "SELECT lo_create(0)",
    ):
        with pytest.raises(InfraValidationError) as info:
            await ro_node.process(ModelPostgresFetchOneRequest(sql=sql))
        assert info.value.details["rule"] == "access", sql
    assert ro_node.reader_pool.stats().acquisitions == 1  # nothing was sent
    assert await _state(admin) == before
    assert await _pid(ro_node) == pid


async def test_a_session_advisory_lock_taken_in_a_function_does_not_outlive_the_read(
    ro_node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    # PostgreSQL allows advisory locks in a read-only transaction; the reset on release
    # (pg_advisory_unlock_all) frees a session-level one before the connection is reused.
    taken = await ro_node.process(ModelPostgresFetchValueRequest(sql="SELECT ro_advisory()"))
    assert taken.value == 1
    assert await admin.fetchval("SELECT pg_try_advisory_lock(424242)")
    await admin.execute("SELECT pg_advisory_unlock(424242)")


async def test_server_settings_cannot_turn_the_reader_pool_writable(
    database_dsn: str, admin: asyncpg.Connection[asyncpg.Record], setup: None
) -> None:
    config = ModelPostgresPoolConfig(
        dsn=SecretStr(database_dsn),
        max_size=1,
        server_settings={"default_transaction_read_only": "off"},
    )
    async with NodePostgresAdapterEffect(config=config, retry_policy=RETRY) as node:
        await _assert_refused(node, admin, "ro_delete()")
        # Read-write operations use the read-write pool, where the user's setting applies.
        written = await node.process(
            ModelPostgresFetchValueRequest(sql="SELECT ro_delete()", read_only=False)
        )
        assert written.value == 1
    assert await admin.fetchval("SELECT count(*) FROM ro_rows") == 0


async def test_a_session_that_is_not_read_only_fails_closed(
    database_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a pooler that drops the startup setting would hand the reader pool.
    plain = await asyncpg.connect(database_dsn)
    reader = await asyncpg.connect(
        database_dsn, server_settings={"default_transaction_read_only": "on"}
    )
    try:
        with pytest.raises(SessionNotReadOnlyError, match="'off'"):
            await verify_read_only_session(plain)
        await verify_read_only_session(reader)
        # Without the handshake's report (PostgreSQL < 14, a pooler): one query asks.
        monkeypatch.setattr(asyncpg.Connection, "get_settings", lambda _self: object())
        with pytest.raises(SessionNotReadOnlyError):
            await verify_read_only_session(plain)
        await verify_read_only_session(reader)
    finally:
        await plain.close()
        await reader.close()
    error = to_infra_error(
        SessionNotReadOnlyError("a reader session started with x='off'"),
        operation="fetch",
        target="db:5432",
        correlation_id=uuid.uuid4(),
        phase=EnumPhase.ACQUIRE,
        idempotent=True,
        timeout_seconds=1,
    )
    assert isinstance(error, InfraConfigurationError)
    assert not error.retryable
    assert "connection pooler" in error.message


async def test_a_read_only_transaction_commits_nothing_a_function_sent(
    ro_node: NodePostgresAdapterEffect,
    admin: asyncpg.Connection[asyncpg.Record],
) -> None:
    # PostgreSQL allows NOTIFY in a READ ONLY transaction and sends it at commit: a
    # read-only transaction ends with ROLLBACK, so nothing is sent.
    await admin.execute(
        "CREATE FUNCTION ro_notify() RETURNS int LANGUAGE plpgsql"
        " AS $$ BEGIN PERFORM pg_notify('ro_channel', 'x'); RETURN 1; END $$"
    )
    received: list[str] = []
    await admin.add_listener("ro_channel", lambda *args: received.append(str(args[-1])))
    try:
        read = await ro_node.process(
            ModelPostgresTransactionRequest(
                statements=(ModelPostgresStatement(sql="SELECT ro_notify() AS n", fetch=True),),
                read_only=True,
            )
        )
        assert read.results[0].rows == [{"n": 1}]
        # A serializable, not deferrable read-only transaction commits (its reads are valid
        # only then): what it sends is delivered, as PostgreSQL decides.
        await ro_node.process(
            ModelPostgresTransactionRequest(
                statements=(ModelPostgresStatement(sql="SELECT ro_notify() AS n"),),
                read_only=True,
                isolation=EnumPostgresIsolation.SERIALIZABLE,
            )
        )
        await admin.execute("SELECT 1")  # let the notification arrive
        await asyncio.sleep(0.2)
        assert received == ["x"]
    finally:
        await admin.execute("DROP FUNCTION ro_notify()")
