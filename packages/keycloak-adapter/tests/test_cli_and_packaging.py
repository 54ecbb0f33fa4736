"""The command line (against the real server), the contract, the entry point, the core
envelope, configuration from the environment."""

from __future__ import annotations

import importlib.metadata
import io
import json

import pytest
from omnibase_core.enums.enum_effect_types import EnumEffectType
from omnibase_core.models.contracts.model_contract_effect import ModelContractEffect
from omnibase_core.nodes import ModelEffectInput

from omnibase_infra.contracts import load_node_contract, node_kind
from omnibase_infra.effect import CONTRACT_EXTENSION_PATHS
from omnibase_infra.errors import InfraConfigurationError, InfraValidationError
from omnibase_infra.models.keycloak import EnumKeycloakOperation, ModelKeycloakTokenRequest
from omnibase_infra.models.keycloak.admin import EnumKeycloakAdminOperation
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.nodes.node_keycloak_adapter_effect import NodeKeycloakAdapterEffect
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0 import (
    AUDIENCE_ENV,
    CLIENT_ID_ENV,
    CLIENT_SECRET_ENV,
    CONTRACT_PACKAGE,
    CONTRACT_RESOURCE,
    ISSUER_ENV,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.__main__ import main
from omnibase_infra_testing.services.oidc import OidcService

from .conftest import NodeFactory, note


def test_contract_lists_every_operation() -> None:
    contract = load_node_contract(
        CONTRACT_PACKAGE,
        CONTRACT_RESOURCE,
        ModelContractEffect,
        extra_allowed_paths=CONTRACT_EXTENSION_PATHS,  # the platform's policy keys
    )
    assert contract.name == "node_keycloak_adapter_effect"
    assert str(node_kind(contract.node_type)).lower() == "effect"
    listed = [op.operation_type for op in contract.io_operations]
    internal = ["discovery", "jwks"]  # the node runs them for the others
    admin = [op.value for op in EnumKeycloakAdminOperation]
    assert listed == [op.value for op in EnumKeycloakOperation] + admin + internal
    assert set(NodeKeycloakAdapterEffect.operations) == set(listed) - set(internal)


def test_entry_point_loads_the_node() -> None:
    (entry,) = [
        ep
        for ep in importlib.metadata.entry_points(group="omnibase_infra.nodes")
        if ep.name == "node_keycloak_adapter_effect"
    ]
    assert entry.load() is NodeKeycloakAdapterEffect


def test_configuration_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ISSUER_ENV, raising=False)
    with pytest.raises(InfraConfigurationError, match=ISSUER_ENV):
        NodeKeycloakAdapterEffect()


async def test_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ISSUER_ENV, "https://kc.internal:8443/realms/ops/")
    monkeypatch.setenv(CLIENT_ID_ENV, "svc")
    monkeypatch.setenv(CLIENT_SECRET_ENV, "env-secret-value")
    monkeypatch.setenv(AUDIENCE_ENV, "account, billing,")
    node = NodeKeycloakAdapterEffect()
    assert node.config.issuer == "https://kc.internal:8443/realms/ops"
    assert node.config.audience == ("account", "billing")
    assert node.config.target == "kc.internal:8443"
    assert repr(node) == (
        "NodeKeycloakAdapterEffect(issuer='https://kc.internal:8443/realms/ops', client_id='svc')"
    )
    assert "env-secret-value" not in repr(node.config)
    await node.close()
    await node.close()  # idempotent
    with pytest.raises(InfraConfigurationError, match="closed"):
        await node.token(ModelKeycloakTokenRequest())


async def test_core_envelope_and_bad_requests(
    oidc_service: OidcService, make_node: NodeFactory
) -> None:
    node = make_node(oidc_service, "omnibase-service")
    out = await node.process(
        ModelEffectInput(
            effect_type=EnumEffectType.API_CALL,
            operation_data={"operation": "token", "grant_type": "client_credentials"},
            metadata={"x-correlation-id": "0b6f7c1e-7f0a-4d53-9a59-0c2f1f0c9a11"},
        )
    )
    assert out.metadata["operation"] == "token"
    assert isinstance(out.result, dict)
    assert out.result["access_token"] == "**********"
    token = (await node.token(ModelKeycloakTokenRequest())).access_token
    note(token)
    verified = await node.process(
        ModelEffectInput(
            effect_type=EnumEffectType.API_CALL,
            operation_data={"operation": "verify", "token": token.get_secret_value()},
        )
    )
    assert isinstance(verified.result, dict)
    assert verified.result["authorized_party"] == "omnibase-service"
    with pytest.raises(InfraValidationError, match="invalid request"):
        await node.process(
            ModelEffectInput(
                effect_type=EnumEffectType.API_CALL,
                operation_data={"operation": "token", "grant_type": "password"},
            )
        )
    with pytest.raises(InfraValidationError, match="has no operation for ModelInfraRequest"):
        await node.process(ModelInfraRequest(operation="nope"))


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, oidc_service: OidcService) -> OidcService:
    client = oidc_service.client("omnibase-app")
    assert client.secret is not None
    note(client.secret)
    monkeypatch.setenv(ISSUER_ENV, oidc_service.issuer)
    monkeypatch.setenv(CLIENT_ID_ENV, client.client_id)
    monkeypatch.setenv(CLIENT_SECRET_ENV, client.secret)
    return oidc_service


def test_cli_token_verify_introspect(
    cli_env: OidcService, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = cli_env.client("omnibase-app").secret or ""
    password = cli_env.user("alice").password
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    assert main(["token", "--username", "alice"]) == 0
    hidden = capsys.readouterr().out
    assert json.loads(hidden)["access_token"] == "***"
    assert json.loads(hidden)["refresh_token"] == "***"
    assert password not in hidden
    assert secret not in hidden

    assert main(["token", "--reveal"]) == 0
    token = json.loads(capsys.readouterr().out)["access_token"]
    note(token)
    assert token.count(".") == 2

    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    assert main(["verify", "--audience", "account"]) == 0
    assert json.loads(capsys.readouterr().out)["authorized_party"] == "omnibase-app"

    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    assert main(["introspect"]) == 0
    assert json.loads(capsys.readouterr().out)["active"] is True

    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    assert main(["verify", "--audience", "somebody-else"]) == 1
    err = capsys.readouterr()
    assert json.loads(err.err)["error"]["error_type"] == "TokenAudienceError"
    assert token not in err.err + err.out

    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["introspect"]) == 1
    assert "standard input" in capsys.readouterr().err
