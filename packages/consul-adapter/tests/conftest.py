"""Fixtures: clients on the harness's real Consul 1.8.7 agent, and a unique key prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from omnibase_infra.models.consul import ModelConsulConfig
from omnibase_infra.nodes.node_consul_adapter_effect import ConsulClient
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra_testing.services.consul import ConsulService

FAST_RETRY = ModelRetryPolicy(max_attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.05)


@pytest.fixture
def consul_config(consul_service: ConsulService) -> ModelConsulConfig:
    return ModelConsulConfig(
        host=consul_service.host, port=consul_service.port, scheme=consul_service.scheme
    )


@pytest.fixture
async def client(consul_config: ModelConsulConfig) -> AsyncIterator[ConsulClient]:
    client = ConsulClient(consul_config, retry_policy=FAST_RETRY)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"
