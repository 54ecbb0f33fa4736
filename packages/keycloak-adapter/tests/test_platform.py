"""The node on the effect platform: import cost, policies from the contract (changing the YAML
or the overrides changes what the node does), configuration from the environment."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from omnibase_infra.contracts import load_yaml_resource
from omnibase_infra.effect import parse_effect_policies
from omnibase_infra.errors import InfraConfigurationError, InfraConnectionError, InfraTimeoutError
from omnibase_infra.models.keycloak import ModelKeycloakConfig, ModelKeycloakTokenRequest
from omnibase_infra.nodes.node_keycloak_adapter_effect import (
    CONTRACT_PACKAGE,
    CONTRACT_RESOURCE,
    NodeKeycloakAdapterEffect,
    config_from_env,
)
from omnibase_infra_testing.imports import measure_import

NODE_MODULE = "omnibase_infra.nodes.node_keycloak_adapter_effect"


def test_importing_the_node_loads_no_client_library() -> None:
    # The time budget is checked for every node in tests-integration/tests/test_node_imports.py.
    cost = measure_import(NODE_MODULE, runs=1)
    # aiohttp loads with the first request, PyJWT and cryptography with the verifier.
    assert not cost.loaded("aiohttp", "jwt", "cryptography"), cost.describe()


def _config(issuer: str, **fields: Any) -> ModelKeycloakConfig:
    return ModelKeycloakConfig(
        issuer=issuer,
        client_id="svc",
        client_secret=SecretStr("policy-test-secret"),
        use_discovery=False,
        **fields,
    )


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A server that accepts connections and never answers: its issuer URL."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/realms/silent"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


def _contract() -> dict[str, Any]:
    data = load_yaml_resource(CONTRACT_PACKAGE, CONTRACT_RESOURCE)
    assert isinstance(data, dict)
    return dict(data)


async def test_the_contract_yaml_sets_the_deadline(silent_server: str) -> None:
    raw = _contract()
    for entry in raw["io_operations"]:
        if entry["operation_type"] == "token":
            entry["timeout_seconds"] = 1
    policies = parse_effect_policies(raw, source="edited contract")
    node = NodeKeycloakAdapterEffect(config=_config(silent_server), policies=policies)
    async with node:
        assert node.policy("token").timeout_seconds == 1
        started = time.perf_counter()
        with pytest.raises(InfraTimeoutError) as caught:
            await node.token(ModelKeycloakTokenRequest())
        assert 0.9 < time.perf_counter() - started < 3
        assert caught.value.timeout_seconds == 1
        assert node.network_requests["token"] == 1  # the deadline took the whole budget
    # The packaged contract: 30 s for a token, 20 s for discovery and the JWKS.
    default = NodeKeycloakAdapterEffect(config=_config(silent_server))
    assert default.policy("token").timeout_seconds == 30
    assert default.policy("jwks").timeout_seconds == 20
    assert default.policy("token").idempotent
    assert not default.policy("logout").idempotent
    assert not default.policy("verify").guarded
    await default.aclose()


async def test_retries_follow_the_contract_and_the_overrides() -> None:
    dead = "http://127.0.0.1:9/realms/dead"  # nothing listens: refused, never sent
    fast = {"base_delay_seconds": 0.001, "max_delay_seconds": 0.01}
    node = NodeKeycloakAdapterEffect(
        config=_config(dead), policy_overrides={"token": {"retry": fast}}
    )
    one = NodeKeycloakAdapterEffect(
        config=_config(dead), policy_overrides={"token": {"retry": {**fast, "max_attempts": 1}}}
    )
    async with node, one:
        with pytest.raises(InfraConnectionError):
            await node.token(ModelKeycloakTokenRequest())
        assert node.network_requests["token"] == 3  # the contract's max_attempts
        with pytest.raises(InfraConnectionError):
            await one.token(ModelKeycloakTokenRequest())
        assert one.network_requests["token"] == 1
    with pytest.raises(InfraConfigurationError, match="no operation 'nope'"):
        NodeKeycloakAdapterEffect(config=_config(dead), policy_overrides={"nope": {}})


def test_configuration_from_the_environment_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    environ = {
        "OMNIBASE_INFRA_KEYCLOAK_ISSUER": "https://kc.example/realms/ops",
        "OMNIBASE_INFRA_KEYCLOAK_CLIENT_ID": "svc",
        "OMNIBASE_INFRA_KEYCLOAK_AUDIENCE": '["account", "billing"]',
        "OMNIBASE_INFRA_KEYCLOAK_LEEWAY_SECONDS": "3",
        "OMNIBASE_INFRA_KEYCLOAK_USE_DISCOVERY": "false",
        "OMNIBASE_INFRA_KEYCLOAK_ALGORITHMS": '["RS256", "ES256"]',
    }
    config = config_from_env(environ)
    assert config is not None
    assert config.audience == ("account", "billing")
    assert config.leeway_seconds == 3
    assert not config.use_discovery
    assert config.algorithms == ("RS256", "ES256")
    assert config_from_env({}) is None
    defaulted = config_from_env({"OMNIBASE_INFRA_KEYCLOAK_ISSUER": "https://kc.example/realms/a"})
    assert defaulted is not None
    assert defaulted.client_id == "omnibase"
    with pytest.raises(InfraConfigurationError, match="OMNIBASE_INFRA_KEYCLOAK_LEEWAY_SECONDS"):
        config_from_env({**environ, "OMNIBASE_INFRA_KEYCLOAK_LEEWAY_SECONDS": "-1"})
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert NodeKeycloakAdapterEffect().config == config
