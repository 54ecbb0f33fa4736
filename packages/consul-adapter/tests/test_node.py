"""The contract, the entry point, configuration from the environment and the CLI."""

from __future__ import annotations

import asyncio
import importlib.metadata
import io
import json

import pytest
from omnibase_core.models.contracts.model_contract_effect import ModelContractEffect

from omnibase_infra.contracts import load_node_contract, node_kind
from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.models.consul import ModelConsulConfig
from omnibase_infra.nodes.node_consul_adapter_effect import ConsulClient, NodeConsulAdapterEffect
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0 import (
    ADDR_ENV,
    CONTRACT_PACKAGE,
    CONTRACT_RESOURCE,
    TOKEN_ENV,
    config_from_env,
)
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.__main__ import main
from omnibase_infra_testing.services.consul import ConsulService


def test_contract_lists_every_client_operation() -> None:
    contract = load_node_contract(CONTRACT_PACKAGE, CONTRACT_RESOURCE, ModelContractEffect)
    assert contract.name == "node_consul_adapter_effect"
    assert str(node_kind(contract.node_type)).lower() == "effect"
    public = {
        name
        for name in vars(ConsulClient)
        if not name.startswith("_") and callable(getattr(ConsulClient, name))
    }
    assert {op.operation_type for op in contract.io_operations} == public - {"close"}


def test_entry_point_loads_the_node() -> None:
    (entry,) = [
        ep
        for ep in importlib.metadata.entry_points(group="omnibase_infra.nodes")
        if ep.name == "node_consul_adapter_effect"
    ]
    assert entry.load() is NodeConsulAdapterEffect


def test_config_from_env() -> None:
    default = config_from_env({})
    assert (default.scheme, default.host, default.port, default.token) == (
        "http",
        "127.0.0.1",
        8500,
        None,
    )
    config = config_from_env({ADDR_ENV: "https://consul.internal:8501", TOKEN_ENV: "tok-123"})
    assert (config.scheme, config.target) == ("https", "consul.internal:8501")
    assert config.token is not None
    assert config.token.get_secret_value() == "tok-123"
    assert "tok-123" not in repr(config)
    with pytest.raises(InfraConfigurationError, match=ADDR_ENV):
        config_from_env({ADDR_ENV: "consul.internal:port"})


def _cli(*argv: str) -> tuple[int, object]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, json.loads(out.getvalue())


def test_cli_runs_operations(
    consul_service: ConsulService, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    monkeypatch.setenv(ADDR_ENV, consul_service.addr)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    key = f"{prefix}/cli"
    assert _cli("kv-put", key, "hello", "--cas", "0") == (0, {"written": key})
    status, entry = _cli("kv-get", key)
    assert status == 0
    assert isinstance(entry, dict)
    assert entry["value"] == "hello"
    status, error = _cli("kv-put", key, "again", "--cas", "0")
    assert status == 1
    assert isinstance(error, dict)
    assert error["error"]["code"] == "ONEX_INFRA_007_CONFLICT"
    assert _cli("kv-delete", key) == (0, {"deleted": key})
    assert _cli("kv-get", key) == (0, None)
    assert _cli("healthy", f"{prefix}-none") == (0, [])
    status, services = _cli("services")
    assert status == 0
    assert isinstance(services, dict)
    assert "consul" in services


async def test_node_owns_a_client(consul_service: ConsulService, prefix: str) -> None:
    node = NodeConsulAdapterEffect(
        config=ModelConsulConfig(host=consul_service.host, port=consul_service.port)
    )
    await node.client.kv_put(f"{prefix}/n", b"x")
    assert (await node.client.kv_get(f"{prefix}/n")) is not None
    await node.close()


def test_cli_shows_binary_values_as_base64(
    consul_service: ConsulService, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    async def put() -> None:
        client = ConsulClient(ModelConsulConfig(host=consul_service.host, port=consul_service.port))
        await client.kv_put(f"{prefix}/bin", b"\xff\xfe")
        await client.close()

    asyncio.run(put())
    monkeypatch.setenv(ADDR_ENV, consul_service.addr)
    status, entry = _cli("kv-get", f"{prefix}/bin")
    assert status == 0
    assert isinstance(entry, dict)
    assert entry["value_base64"] == "//4="
    assert "value" not in entry
