"""Fixtures: a Redis store on the harness's real Redis, with keys private to each test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0 import RedisBreakerStore
from omnibase_infra_testing.services.redis import RedisService


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test only: tests may share an external server."""
    return f"omnibase_infra_test:{uuid.uuid4().hex}"


@pytest.fixture
async def redis_client(redis_service: RedisService, prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_service.url, socket_timeout=5)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def store(redis_client: aioredis.Redis, prefix: str) -> RedisBreakerStore:
    return RedisBreakerStore(redis_client, prefix=prefix, timeout_seconds=2.0)
