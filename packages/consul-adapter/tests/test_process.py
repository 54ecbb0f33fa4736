"""Typed dispatch through ``process()``: every request model against the real agent, and
core's ``ModelEffectInput`` (API_CALL) envelope."""

from __future__ import annotations

import base64
import uuid

import pytest
from omnibase_core.enums.enum_effect_types import EnumEffectType
from omnibase_core.nodes import ModelEffectInput
from pydantic import BaseModel

from omnibase_infra.errors import InfraConflictError, InfraNotFoundError, InfraValidationError
from omnibase_infra.models.consul import (
    EnumConsulCheckKind,
    EnumConsulCheckStatus,
    ModelConsulCatalogNodes,
    ModelConsulCatalogRequest,
    ModelConsulCatalogServices,
    ModelConsulCheck,
    ModelConsulDeregisterRequest,
    ModelConsulDone,
    ModelConsulHealthyInstancesRequest,
    ModelConsulKVDeleteRequest,
    ModelConsulKVPutRequest,
    ModelConsulKVReadRequest,
    ModelConsulRegisterRequest,
    ModelConsulServiceRegistration,
    ModelConsulSessionCreateRequest,
    ModelConsulSessionRequest,
    ModelConsulTTLUpdateRequest,
)
from omnibase_infra.nodes.node_consul_adapter_effect import NodeConsulAdapterEffect

from .conftest import kv_put


async def test_every_request_type_runs(node: NodeConsulAdapterEffect, prefix: str) -> None:
    name, check = f"{prefix}-svc", f"{prefix}-ttl"
    registration = ModelConsulServiceRegistration(
        name=name,
        service_id=f"{name}-1",
        port=80,
        checks=(ModelConsulCheck(kind=EnumConsulCheckKind.TTL, check_id=check, ttl_seconds=30),),
    )
    done = await node.process(ModelConsulRegisterRequest(registration=registration))
    assert done == ModelConsulDone(operation="register_service")
    healthy = ModelConsulHealthyInstancesRequest(service=name)
    assert (await node.process(healthy)).instances == ()  # critical until the TTL is set
    await node.process(
        ModelConsulTTLUpdateRequest(check_id=check, status=EnumConsulCheckStatus.PASSING)
    )
    instances = (await node.process(healthy)).instances
    assert [i.service_id for i in instances] == [f"{name}-1"]
    services = await node.process(ModelConsulCatalogRequest())
    assert isinstance(services, ModelConsulCatalogServices)
    assert name in services.services
    nodes = await node.process(ModelConsulCatalogRequest(operation="catalog_nodes"))
    assert isinstance(nodes, ModelConsulCatalogNodes)
    assert nodes.nodes
    await node.process(ModelConsulDeregisterRequest(service_id=f"{name}-1"))
    assert (await node.process(healthy)).instances == ()

    key = f"{prefix}/cfg"
    await node.process(ModelConsulKVPutRequest(key=key, value={"a": 1}, cas=0))
    with pytest.raises(InfraConflictError):
        await node.process(ModelConsulKVPutRequest(key=key, value={"a": 2}, cas=0))
    got = await node.process(ModelConsulKVReadRequest(key=key))
    assert got.entry is not None
    assert got.entry.json_value() == {"a": 1}
    await node.process(ModelConsulKVPutRequest(key=f"{prefix}/x/y", value=b"raw", flags=7))
    tree = await node.process(ModelConsulKVReadRequest(operation="kv_get_tree", key=prefix))
    assert [(e.key, e.flags) for e in tree.entries] == [(key, 0), (f"{prefix}/x/y", 7)]
    keys = await node.process(
        ModelConsulKVReadRequest(operation="kv_keys", key=f"{prefix}/", separator="/")
    )
    assert keys.keys == (key, f"{prefix}/x/")
    await node.process(ModelConsulKVDeleteRequest(key=key, cas=got.entry.modify_index))
    assert (await node.process(ModelConsulKVReadRequest(key=key))).entry is None
    await node.process(ModelConsulKVDeleteRequest(key=prefix, recurse=True))
    listing = await node.process(ModelConsulKVReadRequest(operation="kv_keys", key=prefix))
    assert listing.keys == ()

    session = await node.process(ModelConsulSessionCreateRequest(ttl_seconds=10))
    renew = ModelConsulSessionRequest(session_id=session.session_id)
    assert await node.process(renew) == ModelConsulDone(operation="session_renew")
    await node.process(
        ModelConsulSessionRequest(operation="session_destroy", session_id=session.session_id)
    )
    with pytest.raises(InfraNotFoundError) as gone:
        await node.process(renew)
    assert gone.value.correlation_id == renew.correlation_id


async def test_effect_input_envelope(node: NodeConsulAdapterEffect, prefix: str) -> None:
    key = f"{prefix}/bin"
    await kv_put(node, key, b"\xff\x00")
    cid = uuid.uuid4()
    out = await node.process(
        ModelEffectInput(
            effect_type=EnumEffectType.API_CALL,
            operation_data={"operation": "kv_get", "key": key},
            metadata={"x-correlation-id": str(cid)},
        )
    )
    assert isinstance(out.result, dict)
    assert base64.urlsafe_b64decode(out.result["entry"]["value"]) == b"\xff\x00"
    assert out.metadata["operation"] == "kv_get"
    with pytest.raises(InfraNotFoundError) as missing:
        await node.process(
            ModelEffectInput(
                effect_type=EnumEffectType.API_CALL,
                operation_data={"operation": "session_renew", "session_id": str(uuid.uuid4())},
                metadata={"x-correlation-id": str(cid)},
            )
        )
    assert missing.value.correlation_id == cid
    with pytest.raises(InfraValidationError, match="invalid request") as invalid:
        await node.process(
            ModelEffectInput(
                effect_type=EnumEffectType.API_CALL,
                operation_data={"operation": "kv_put", "key": "a/../b", "value": "v"},
            )
        )
    assert invalid.value.operation == "kv_put"
    assert "'..' segment" in str(invalid.value)


async def test_an_unknown_request_type_is_refused(node: NodeConsulAdapterEffect) -> None:
    class Other(BaseModel):
        operation: str = "other"

    with pytest.raises(InfraValidationError, match="has no operation for Other"):
        await node.process(Other())  # type: ignore[call-overload]
