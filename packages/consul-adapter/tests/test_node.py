"""The contract, the entry point, the public surface, its import cost, configuration from
the environment and the CLI."""

from __future__ import annotations

import asyncio
import importlib.metadata
import io
import json

import pytest
from omnibase_core.models.contracts.model_contract_effect import ModelContractEffect
from pydantic import SecretStr

import omnibase_infra.nodes.node_consul_adapter_effect as public
from omnibase_infra.contracts import load_node_contract, node_kind
from omnibase_infra.effect import CONTRACT_EXTENSION_PATHS
from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.models.consul import ModelConsulConfig
from omnibase_infra.nodes.node_consul_adapter_effect import (
    ADDR_ENV,
    CONTRACT_PACKAGE,
    CONTRACT_RESOURCE,
    TOKEN_ENV,
    NodeConsulAdapterEffect,
    config_from_env,
)
from omnibase_infra.nodes.node_consul_adapter_effect import v1_0_0 as versioned
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.__main__ import main
from omnibase_infra_testing.imports import measure_import
from omnibase_infra_testing.services.consul import ConsulService

from .conftest import kv_get, kv_put

HOST_ENV, PORT_ENV, SCHEME_ENV = (
    f"OMNIBASE_INFRA_CONSUL_{field}" for field in ("HOST", "PORT", "SCHEME")
)


def test_contract_lists_every_operation_of_the_node() -> None:
    contract = load_node_contract(
        CONTRACT_PACKAGE,
        CONTRACT_RESOURCE,
        ModelContractEffect,
        extra_allowed_paths=CONTRACT_EXTENSION_PATHS,
    )
    assert contract.name == "node_consul_adapter_effect"
    assert str(node_kind(contract.node_type)).lower() == "effect"
    assert {op.operation_type for op in contract.io_operations} == set(
        NodeConsulAdapterEffect.operations
    )
    node = NodeConsulAdapterEffect(config=ModelConsulConfig())
    assert not node.policy("session_create").idempotent  # a lost answer would leak it
    assert node.policy("kv_put").idempotent  # unless a check-and-set (never retried)


def test_the_unversioned_package_exports_the_whole_surface() -> None:
    assert set(public.__all__) == set(versioned.__all__)
    for name in public.__all__:
        assert getattr(public, name) is getattr(versioned, name)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = public.nothing
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = versioned.nothing


def test_importing_the_node_loads_no_client_library() -> None:
    cost = measure_import("omnibase_infra.nodes.node_consul_adapter_effect", runs=1)
    assert not cost.loaded("aiohttp", "consul", "requests"), cost.describe()


def test_entry_point_loads_the_node() -> None:
    (entry,) = [
        ep
        for ep in importlib.metadata.entry_points(group="omnibase_infra.nodes")
        if ep.name == "node_consul_adapter_effect"
    ]
    assert entry.load() is NodeConsulAdapterEffect


def test_config_from_env() -> None:
    default = config_from_env({})
    assert default == ModelConsulConfig()
    assert (default.scheme, default.host, default.port, default.token) == (
        "http",
        "127.0.0.1",
        8500,
        None,
    )
    config = config_from_env(
        {
            HOST_ENV: "consul.internal",
            PORT_ENV: "8501",
            SCHEME_ENV: "https",
            TOKEN_ENV: "tok-123",
            "OMNIBASE_INFRA_CONSUL_DATACENTER": "dc2",
            "OMNIBASE_INFRA_CONSUL_VERIFY_TLS": "false",
            "OMNIBASE_INFRA_CONSUL_TIMEOUT_SECONDS": "2.5",
        }
    )
    assert (config.scheme, config.target, config.datacenter) == (
        "https",
        "consul.internal:8501",
        "dc2",
    )
    assert (config.verify_tls, config.timeout_seconds) == (False, 2.5)
    assert config.token == SecretStr("tok-123")
    assert "tok-123" not in repr(config)
    with pytest.raises(InfraConfigurationError, match=PORT_ENV) as bad:
        config_from_env({PORT_ENV: "eighty", TOKEN_ENV: "tok-123"})
    assert "tok-123" not in str(bad.value)


def test_the_old_address_variable_is_read_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match=f"{ADDR_ENV} is deprecated; set {HOST_ENV}"):
        config = config_from_env({ADDR_ENV: "https://consul.internal:8501", TOKEN_ENV: "t"})
    assert (config.scheme, config.target) == ("https", "consul.internal:8501")
    with pytest.warns(DeprecationWarning, match=ADDR_ENV):
        assert config_from_env({ADDR_ENV: "consul.internal:8502"}).base_url == (
            "http://consul.internal:8502"
        )
    # The new names win, without a warning.
    assert config_from_env({ADDR_ENV: "old:1", HOST_ENV: "new"}).target == "new:8500"
    with (
        pytest.raises(InfraConfigurationError, match=ADDR_ENV),
        pytest.warns(DeprecationWarning, match=ADDR_ENV),
    ):
        config_from_env({ADDR_ENV: "consul.internal:port"})


def test_the_node_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOST_ENV, "consul.example")
    monkeypatch.setenv("OMNIBASE_INFRA_CONSUL_TIMEOUT_SECONDS", "3")
    node = NodeConsulAdapterEffect()
    assert node.target == "consul.example:8500"
    # A timeout set in the configuration is every operation's deadline.
    assert {node.policy(name).timeout_seconds for name in node.operations} == {3.0}


def _cli(*argv: str) -> tuple[int, object]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, json.loads(out.getvalue())


def test_cli_runs_operations(
    consul_service: ConsulService, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    monkeypatch.setenv(HOST_ENV, consul_service.host)
    monkeypatch.setenv(PORT_ENV, str(consul_service.port))
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
    status, refused = _cli("kv-get", "a/../b")
    assert status == 2
    assert isinstance(refused, dict)
    assert "'..' segment" in refused["error"]["message"]


async def test_lifecycle_closes_the_connections_once(
    consul_service: ConsulService, prefix: str
) -> None:
    node = NodeConsulAdapterEffect(
        config=ModelConsulConfig(host=consul_service.host, port=consul_service.port)
    )
    await kv_put(node, f"{prefix}/n", b"x")
    assert await kv_get(node, f"{prefix}/n") is not None
    session = node.api.http._session
    assert session is not None
    await node._cleanup_node_resources()  # core's lifecycle closes them too
    assert session.closed
    assert node.closed
    await node.aclose()  # idempotent


def test_cli_shows_binary_values_as_base64(
    consul_service: ConsulService, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    async def put() -> None:
        config = ModelConsulConfig(host=consul_service.host, port=consul_service.port)
        async with NodeConsulAdapterEffect(config=config) as node:
            await kv_put(node, f"{prefix}/bin", b"\xff\xfe")

    asyncio.run(put())
    monkeypatch.setenv(HOST_ENV, consul_service.host)
    monkeypatch.setenv(PORT_ENV, str(consul_service.port))
    status, entry = _cli("kv-get", f"{prefix}/bin")
    assert status == 0
    assert isinstance(entry, dict)
    assert entry["value_base64"] == "//4="
    assert "value" not in entry
