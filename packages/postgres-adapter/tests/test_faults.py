"""The server stops in the middle of a write load and comes back: callers get typed errors,
the breaker opens, half-opens after the restart and closes; no committed row is lost and
no statement is applied twice. Uses a private embedded server (it is stopped)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Iterator

import asyncpg
import pytest
from pydantic import SecretStr

from omnibase_infra.errors import (
    InfraConnectionError,
    InfraError,
    InfraTimeoutError,
    InfraUnavailableError,
)
from omnibase_infra.events import InMemoryEventBus
from omnibase_infra.models.postgres import (
    ModelPostgresExecuteRequest,
    ModelPostgresFetchValueRequest,
    ModelPostgresPoolConfig,
)
from omnibase_infra.nodes.node_postgres_adapter_effect import (
    NodePostgresAdapterEffect,
    postgres_breaker_config,
)
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra.resilience.breaker import BreakerRegistry, EnumCircuitState
from omnibase_infra_testing.services.postgres import (
    INSTALL_HINT,
    PostgresService,
    embedded_bin_dir,
    start_embedded_postgres,
)

pytestmark = pytest.mark.real_service

WRITERS = 6


@pytest.fixture
def private_server() -> Iterator[PostgresService]:
    if embedded_bin_dir() is None:
        pytest.fail(f"the fault tests need the embedded PostgreSQL: {INSTALL_HINT}")
    service = start_embedded_postgres()
    try:
        yield service
    finally:
        service.stop()


async def _until(predicate: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_server_stopped_mid_load_then_restarted(private_server: PostgresService) -> None:
    setup = await asyncpg.connect(private_server.dsn)
    await setup.execute("CREATE TABLE ledger (id int NOT NULL, writer int NOT NULL)")  # no key:
    await setup.close()  # a duplicate would show
    bus = InMemoryEventBus()
    breakers = BreakerRegistry(
        event_bus=bus,
        config=postgres_breaker_config(
            sliding_window_size=10,
            minimum_calls=5,
            wait_in_open_seconds=0.5,
            half_open_max_probes=1,
            half_open_successes_to_close=2,
        ),
    )
    node = NodePostgresAdapterEffect(
        config=ModelPostgresPoolConfig(
            dsn=SecretStr(private_server.dsn),
            min_size=2,
            max_size=WRITERS,
            connect_timeout_seconds=2,
            # The harness runs throw-away clusters with synchronous_commit=off, which may
            # lose the last commits when the server is killed: durability is what we check.
            server_settings={"synchronous_commit": "on"},
        ),
        breakers=breakers,
        retry_policy=ModelRetryPolicy(
            max_attempts=2, base_delay_seconds=0.02, max_delay_seconds=0.05
        ),
    )
    ids = itertools.count(1)
    committed: list[int] = []
    errors: list[InfraError] = []
    stop = asyncio.Event()

    async def writer(number: int) -> None:
        while not stop.is_set():
            row = next(ids)
            try:
                await node.process(
                    ModelPostgresExecuteRequest(
                        sql="INSERT INTO ledger (id, writer) VALUES ($1, $2)",
                        params=(row, number),
                        timeout_seconds=2,
                    )
                )
                committed.append(row)
            except InfraError as exc:
                errors.append(exc)
                await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
    try:
        assert await _until(lambda: len(committed) >= 50, 10)
        await asyncio.to_thread(private_server.stop_server)
        stopped_at = len(committed)
        assert await _until(lambda: node.breaker.state is EnumCircuitState.OPEN, 10)
        assert await _until(
            lambda: any(getattr(e, "reason", None) == "circuit_open" for e in errors), 5
        )
        await asyncio.to_thread(private_server.start_server)
        assert await _until(
            lambda: (
                node.breaker.state is EnumCircuitState.CLOSED and len(committed) > stopped_at + 50
            ),
            20,
        )
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    await breakers.drain()
    events = [json.loads(m.value) for m in await bus.get_event_history()]
    path = [e["to_state"] for e in events]
    assert path[:3] == ["open", "half_open", "closed"] or (
        "half_open" in path and path[-1] == "closed"
    ), path
    # Callers saw typed errors only: the connection failures, then the breaker's rejections.
    assert any(isinstance(e, InfraConnectionError) for e in errors)
    assert any(isinstance(e, InfraUnavailableError) and e.reason == "circuit_open" for e in errors)
    assert all(
        isinstance(e, InfraConnectionError | InfraTimeoutError | InfraUnavailableError)
        for e in errors
    )
    health = await node.process(ModelPostgresFetchValueRequest(sql="SELECT count(*) FROM ledger"))
    await node.close()
    check = await asyncpg.connect(private_server.dsn)
    try:
        rows = await check.fetch("SELECT id, count(*) AS n FROM ledger GROUP BY id")
    finally:
        await check.close()
    counts = {r["id"]: r["n"] for r in rows}
    assert max(counts.values()) == 1, "a statement was applied twice"
    lost = [row for row in committed if row not in counts]
    assert lost == [], "a committed row is missing"
    assert health.value == len(counts)
