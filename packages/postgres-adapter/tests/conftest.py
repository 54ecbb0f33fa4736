"""Fixtures: a private database on the harness's PostgreSQL (embedded 18 or the external
server of ``OMNIBASE_INFRA_TEST_POSTGRES_DSN``), nodes on it, and an independent asyncpg
connection to look at what the node did."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from pydantic import SecretStr

from omnibase_infra.models.postgres import ModelPostgresPoolConfig
from omnibase_infra.nodes.node_postgres_adapter_effect import NodePostgresAdapterEffect
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra_testing.services.postgres import PostgresService

FAST_RETRY = ModelRetryPolicy(max_attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.05)


@pytest.fixture(scope="session")
def database_dsn(postgres_service: PostgresService) -> Iterator[str]:
    """A database of its own for this test session (dropped at the end)."""
    with postgres_service.scratch_database("pgadapter") as dsn:
        yield dsn


@pytest.fixture
def pool_config(database_dsn: str) -> ModelPostgresPoolConfig:
    return ModelPostgresPoolConfig(dsn=SecretStr(database_dsn), min_size=1, max_size=4)


@pytest.fixture
async def node(pool_config: ModelPostgresPoolConfig) -> AsyncIterator[NodePostgresAdapterEffect]:
    node = NodePostgresAdapterEffect(config=pool_config, retry_policy=FAST_RETRY)
    try:
        yield node
    finally:
        await node.close(grace_seconds=5)


@pytest.fixture
async def admin(database_dsn: str) -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
    """A plain asyncpg connection, independent of the node, to set up and inspect."""
    conn = await asyncpg.connect(database_dsn)
    try:
        yield conn
    finally:
        await conn.close()
