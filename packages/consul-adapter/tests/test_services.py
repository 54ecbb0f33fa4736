"""Services and health against the real agent: checks, TTL states, catalog, deregistration."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from omnibase_infra.errors import InfraNotFoundError, InfraRejectedRequestError
from omnibase_infra.models.consul import (
    EnumConsulCheckKind,
    EnumConsulCheckStatus,
    ModelConsulCheck,
    ModelConsulServiceRegistration,
)
from omnibase_infra.nodes.node_consul_adapter_effect import ConsulClient


def _ttl(check_id: str, seconds: float = 30) -> ModelConsulCheck:
    return ModelConsulCheck(kind=EnumConsulCheckKind.TTL, check_id=check_id, ttl_seconds=seconds)


async def _wait_until_critical(client: ConsulClient, name: str, deadline: float) -> None:
    while await client.healthy_instances(name):
        assert time.monotonic() < deadline, "the TTL check never went critical"
        await asyncio.sleep(0.1)


async def test_register_ttl_states_and_deregister(client: ConsulClient, prefix: str) -> None:
    name, sid, check = f"{prefix}-api", f"{prefix}-api-1", f"{prefix}-ttl"
    await client.register_service(
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
                    tcp=f"{client.config.host}:{client.config.port}",
                    interval_seconds=10,
                    timeout_seconds=1,
                    initial_status=EnumConsulCheckStatus.PASSING,
                    deregister_critical_after_seconds=60,
                ),
            ),
        )
    )
    try:
        assert await client.healthy_instances(name) == []  # a TTL check starts critical
        await client.update_ttl(check, EnumConsulCheckStatus.PASSING, note="ready")
        (instance,) = await client.healthy_instances(name)
        assert (instance.service_id, instance.address, instance.port) == (sid, "10.1.2.3", 8080)
        assert instance.tags == ("v1", "blue")
        assert instance.meta == {"version": "1.2.3"}
        assert await client.healthy_instances(name, tag="blue") == [instance]
        assert await client.healthy_instances(name, tag="green") == []
        await client.update_ttl(check, EnumConsulCheckStatus.WARNING)
        assert await client.healthy_instances(name) == []  # passing only
        await client.update_ttl(check, EnumConsulCheckStatus.CRITICAL)
        assert await client.healthy_instances(name) == []
        services = await client.catalog_services()
        assert sorted(services[name]) == ["blue", "v1"]
        nodes = await client.catalog_nodes()
        assert instance.node in nodes
    finally:
        await client.deregister_service(sid)
    assert name not in await client.catalog_services()


async def test_ttl_check_goes_critical_when_not_renewed(client: ConsulClient, prefix: str) -> None:
    name, check = f"{prefix}-ttl", f"{prefix}-short"
    await client.register_service(
        ModelConsulServiceRegistration(name=name, service_id=name, checks=(_ttl(check, 1),))
    )
    try:
        await client.update_ttl(check, EnumConsulCheckStatus.PASSING)
        assert len(await client.healthy_instances(name)) == 1
        await _wait_until_critical(client, name, time.monotonic() + 5)
    finally:
        await client.deregister_service(name)


async def test_http_check_is_accepted(client: ConsulClient, prefix: str) -> None:
    name = f"{prefix}-http"
    url = f"http://{client.config.host}:{client.config.port}/v1/status/leader"
    check = ModelConsulCheck(kind=EnumConsulCheckKind.HTTP, http=url, interval_seconds=10)
    await client.register_service(
        ModelConsulServiceRegistration(name=name, service_id=name, checks=(check,))
    )
    try:
        assert name in await client.catalog_services()
    finally:
        await client.deregister_service(name)


async def test_unknown_check_is_not_found(client: ConsulClient) -> None:
    cid = uuid.uuid4()
    with pytest.raises(InfraNotFoundError) as caught:
        await client.update_ttl("no-such-check", EnumConsulCheckStatus.PASSING, correlation_id=cid)
    assert caught.value.correlation_id == cid
    assert caught.value.operation == "update_ttl"


async def test_invalid_registration_is_rejected(client: ConsulClient, prefix: str) -> None:
    # A check that is both TTL and HTTP: the agent refuses the definition.
    bad = ModelConsulCheck(
        kind=EnumConsulCheckKind.TTL, ttl_seconds=5, http="http://127.0.0.1:1/", interval_seconds=1
    )
    with pytest.raises(InfraRejectedRequestError) as caught:
        await client.register_service(ModelConsulServiceRegistration(name=prefix, checks=(bad,)))
    assert caught.value.status_code == 400
    assert not caught.value.retryable
