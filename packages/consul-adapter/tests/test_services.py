"""Services and health against the real agent: checks, TTL states, catalog, deregistration."""

from __future__ import annotations

import asyncio
import time

import pytest

from omnibase_infra.errors import InfraNotFoundError, InfraRejectedRequestError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.consul import (
    EnumConsulCheckKind,
    EnumConsulCheckStatus,
    ModelConsulCatalogNodes,
    ModelConsulCatalogRequest,
    ModelConsulCheck,
    ModelConsulServiceRegistration,
    ModelConsulTTLUpdateRequest,
)
from omnibase_infra.nodes.node_consul_adapter_effect import NodeConsulAdapterEffect

from .conftest import deregister, healthy, register, services, set_ttl


def _ttl(check_id: str, seconds: float = 30) -> ModelConsulCheck:
    return ModelConsulCheck(kind=EnumConsulCheckKind.TTL, check_id=check_id, ttl_seconds=seconds)


async def _wait_until_critical(node: NodeConsulAdapterEffect, name: str, deadline: float) -> None:
    while await healthy(node, name):
        assert time.monotonic() < deadline, "the TTL check never went critical"
        await asyncio.sleep(0.1)


async def test_register_ttl_states_and_deregister(
    node: NodeConsulAdapterEffect, prefix: str
) -> None:
    name, sid, check = f"{prefix}-api", f"{prefix}-api-1", f"{prefix}-ttl"
    await register(
        node,
        ModelConsulServiceRegistration(
            name=name,
            service_id=sid,
            address="10.1.2.3",
            port=8080,
            tags=("v1", "blue"),
            meta={"version": "1.2.3"},
            checks=(
                _ttl(check),
                ModelConsulCheck(
                    kind=EnumConsulCheckKind.TCP,
                    name="tcp",
                    tcp=f"{node.config.host}:{node.config.port}",
                    interval_seconds=10,
                    timeout_seconds=1,
                    initial_status=EnumConsulCheckStatus.PASSING,
                    deregister_critical_after_seconds=60,
                ),
            ),
        ),
    )
    try:
        assert await healthy(node, name) == []  # a TTL check starts critical
        await set_ttl(node, check, EnumConsulCheckStatus.PASSING, note="ready")
        (instance,) = await healthy(node, name)
        assert (instance.service_id, instance.address, instance.port) == (sid, "10.1.2.3", 8080)
        assert instance.tags == ("v1", "blue")
        assert instance.meta == {"version": "1.2.3"}
        assert await healthy(node, name, tag="blue") == [instance]
        assert await healthy(node, name, tag="green") == []
        await set_ttl(node, check, EnumConsulCheckStatus.WARNING)
        assert await healthy(node, name) == []  # passing only
        await set_ttl(node, check, EnumConsulCheckStatus.CRITICAL)
        assert await healthy(node, name) == []
        assert sorted((await services(node))[name]) == ["blue", "v1"]
        nodes = await node.catalog(ModelConsulCatalogRequest(operation="catalog_nodes"))
        assert isinstance(nodes, ModelConsulCatalogNodes)
        assert instance.node in nodes.nodes
    finally:
        await deregister(node, sid)
    assert name not in await services(node)


async def test_ttl_check_goes_critical_when_not_renewed(
    node: NodeConsulAdapterEffect, prefix: str
) -> None:
    name, check = f"{prefix}-ttl", f"{prefix}-short"
    await register(
        node, ModelConsulServiceRegistration(name=name, service_id=name, checks=(_ttl(check, 1),))
    )
    try:
        await set_ttl(node, check, EnumConsulCheckStatus.PASSING)
        assert len(await healthy(node, name)) == 1
        await _wait_until_critical(node, name, time.monotonic() + 5)
    finally:
        await deregister(node, name)


async def test_http_check_is_accepted(node: NodeConsulAdapterEffect, prefix: str) -> None:
    name = f"{prefix}-http"
    url = f"http://{node.config.host}:{node.config.port}/v1/status/leader"
    check = ModelConsulCheck(kind=EnumConsulCheckKind.HTTP, http=url, interval_seconds=10)
    await register(
        node, ModelConsulServiceRegistration(name=name, service_id=name, checks=(check,))
    )
    try:
        assert name in await services(node)
    finally:
        await deregister(node, name)


async def test_unknown_check_is_not_found(node: NodeConsulAdapterEffect) -> None:
    correlation = ModelCorrelationContext.fresh()
    with pytest.raises(InfraNotFoundError) as caught:
        await node.update_ttl(
            ModelConsulTTLUpdateRequest(
                check_id="no-such-check",
                status=EnumConsulCheckStatus.PASSING,
                correlation=correlation,
            )
        )
    assert caught.value.correlation_id == correlation.correlation_id
    assert caught.value.operation == "update_ttl"


async def test_invalid_registration_is_rejected(node: NodeConsulAdapterEffect, prefix: str) -> None:
    # A check that is both TTL and HTTP: the agent refuses the definition.
    bad = ModelConsulCheck(
        kind=EnumConsulCheckKind.TTL, ttl_seconds=5, http="http://127.0.0.1:1/", interval_seconds=1
    )
    with pytest.raises(InfraRejectedRequestError) as caught:
        await register(node, ModelConsulServiceRegistration(name=prefix, checks=(bad,)))
    assert caught.value.status_code == 400
    assert not caught.value.retryable
