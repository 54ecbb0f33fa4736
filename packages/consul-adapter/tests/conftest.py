"""Fixtures: nodes on the harness's real Consul 1.8.7 agent, a unique key prefix per test,
and shorthands for the calls many tests make."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from omnibase_infra.models.consul import (
    EnumConsulCheckStatus,
    KVValue,
    ModelConsulCatalogRequest,
    ModelConsulCatalogServices,
    ModelConsulConfig,
    ModelConsulDeregisterRequest,
    ModelConsulHealthyInstancesRequest,
    ModelConsulKVEntry,
    ModelConsulKVPutRequest,
    ModelConsulKVReadRequest,
    ModelConsulRegisterRequest,
    ModelConsulServiceInstance,
    ModelConsulServiceRegistration,
    ModelConsulTTLUpdateRequest,
)
from omnibase_infra.nodes.node_consul_adapter_effect import NodeConsulAdapterEffect
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra_testing.services.consul import ConsulService

FAST_RETRY = ModelRetryPolicy(max_attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.05)


@pytest.fixture
def consul_config(consul_service: ConsulService) -> ModelConsulConfig:
    return ModelConsulConfig(
        host=consul_service.host, port=consul_service.port, scheme=consul_service.scheme
    )


@pytest.fixture
async def node(consul_config: ModelConsulConfig) -> AsyncIterator[NodeConsulAdapterEffect]:
    async with NodeConsulAdapterEffect(config=consul_config, retry_policy=FAST_RETRY) as node:
        yield node


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


async def kv_get(node: NodeConsulAdapterEffect, key: str) -> ModelConsulKVEntry | None:
    return (await node.kv_read(ModelConsulKVReadRequest(key=key))).entry


async def kv_put(node: NodeConsulAdapterEffect, key: str, value: KVValue, **fields: Any) -> None:
    await node.kv_put(ModelConsulKVPutRequest(key=key, value=value, **fields))


async def healthy(
    node: NodeConsulAdapterEffect, name: str, tag: str | None = None
) -> list[ModelConsulServiceInstance]:
    request = ModelConsulHealthyInstancesRequest(service=name, tag=tag)
    return list((await node.healthy_instances(request)).instances)


async def register(
    node: NodeConsulAdapterEffect, registration: ModelConsulServiceRegistration
) -> None:
    await node.register_service(ModelConsulRegisterRequest(registration=registration))


async def deregister(node: NodeConsulAdapterEffect, service_id: str) -> None:
    await node.deregister_service(ModelConsulDeregisterRequest(service_id=service_id))


async def set_ttl(
    node: NodeConsulAdapterEffect,
    check: str,
    status: EnumConsulCheckStatus,
    note: str | None = None,
) -> None:
    await node.update_ttl(ModelConsulTTLUpdateRequest(check_id=check, status=status, note=note))


async def services(node: NodeConsulAdapterEffect) -> dict[str, list[str]]:
    catalog = await node.catalog(ModelConsulCatalogRequest())
    assert isinstance(catalog, ModelConsulCatalogServices)
    return catalog.services
