"""The command line (against the real server), the contract, the entry point, configuration."""

from __future__ import annotations

import importlib.metadata
import io
import json
import os

import hvac  # type: ignore[import-untyped]
import pytest
from omnibase_core.models.contracts.model_contract_effect import ModelContractEffect

from omnibase_infra.contracts import load_node_contract, node_kind
from omnibase_infra.effect import CONTRACT_EXTENSION_PATHS
from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.models.vault import EnumVaultOperation
from omnibase_infra.nodes.node_vault_adapter_effect import (
    ADDR_ENV,
    CONTRACT_PACKAGE,
    CONTRACT_RESOURCE,
    TOKEN_ENV,
    URL_ENV,
    NodeVaultAdapterEffect,
)
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.__main__ import main
from omnibase_infra_testing.services.openbao import OpenBaoService


def test_contract_lists_every_operation() -> None:
    contract = load_node_contract(
        CONTRACT_PACKAGE,
        CONTRACT_RESOURCE,
        ModelContractEffect,
        extra_allowed_paths=CONTRACT_EXTENSION_PATHS,
    )
    assert contract.name == "node_vault_adapter_effect"
    assert str(node_kind(contract.node_type)).lower() == "effect"
    # The request operations, then the node's own token operations (auth.py).
    assert [op.operation_type for op in contract.io_operations] == [
        *(op.value for op in EnumVaultOperation),
        "auth_login",
        "auth_renew",
        "auth_lookup",
    ]
    assert set(NodeVaultAdapterEffect.operations) == {op.value for op in EnumVaultOperation}


def test_entry_point_loads_the_node() -> None:
    (entry,) = [
        ep
        for ep in importlib.metadata.entry_points(group="omnibase_infra.nodes")
        if ep.name == "node_vault_adapter_effect"
    ]
    assert entry.load() is NodeVaultAdapterEffect


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("OMNIBASE_INFRA_VAULT_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_configuration_is_required(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(InfraConfigurationError, match=URL_ENV):
        NodeVaultAdapterEffect()


async def test_configuration_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    """Every field under OMNIBASE_INFRA_VAULT_<FIELD>, nested ones with __."""
    clean_env.setenv(URL_ENV, "https://vault.internal:8200")
    clean_env.setenv("OMNIBASE_INFRA_VAULT_KV_MOUNT", "kv")
    clean_env.setenv("OMNIBASE_INFRA_VAULT_CACHE_TTL_SECONDS", "5")
    clean_env.setenv("OMNIBASE_INFRA_VAULT_APPROLE__ROLE_ID", "role-id-from-env")
    clean_env.setenv("OMNIBASE_INFRA_VAULT_APPROLE__SECRET_ID", "secret-id-from-env")
    node = NodeVaultAdapterEffect()
    assert node.target == "vault.internal:8200"
    assert repr(node) == "NodeVaultAdapterEffect(target='vault.internal:8200', kv_mount='kv')"
    assert node._config.cache_ttl_seconds == 5.0
    assert node._config.approle is not None
    assert node._config.approle.secret_id.get_secret_value() == "secret-id-from-env"
    assert node._config.token is None
    await node.close()


async def test_the_old_address_variable_still_works_with_a_warning(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv(ADDR_ENV, "https://old.internal:8200")
    with pytest.warns(DeprecationWarning, match=URL_ENV):
        node = NodeVaultAdapterEffect()
    assert node.target == "old.internal:8200"
    await node.close()
    clean_env.setenv(URL_ENV, "https://new.internal:8200")  # the new name wins, no warning
    node = NodeVaultAdapterEffect()
    assert node.target == "new.internal:8200"
    await node.close()


def test_a_bad_environment_value_names_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(URL_ENV, "https://vault.internal:8200")
    clean_env.setenv("OMNIBASE_INFRA_VAULT_MAX_WORKERS", "lots")
    with pytest.raises(InfraConfigurationError, match="OMNIBASE_INFRA_VAULT_MAX_WORKERS"):
        NodeVaultAdapterEffect()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, openbao_service: OpenBaoService) -> str:
    monkeypatch.setenv(URL_ENV, openbao_service.addr)
    monkeypatch.setenv(TOKEN_ENV, openbao_service.root_token)
    return openbao_service.root_token


def test_cli_write_read_list(
    cli_env: str, prefix: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"password": "cli-s3cret"}'))
    assert main(["write", f"{prefix}/cli", "--cas", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 1
    assert main(["read", f"{prefix}/cli"]) == 0
    hidden = capsys.readouterr().out
    assert json.loads(hidden)["data"] == {"password": "***"}
    assert "cli-s3cret" not in hidden
    assert main(["read", f"{prefix}/cli", "--reveal"]) == 0
    assert json.loads(capsys.readouterr().out)["data"] == {"password": "cli-s3cret"}
    assert main(["list", prefix]) == 0
    assert json.loads(capsys.readouterr().out)["keys"] == ["cli"]
    monkeypatch.setattr("sys.stdin", io.StringIO('{"password": "again"}'))
    assert main(["write", f"{prefix}/cli", "--cas", "0"]) == 1
    err = capsys.readouterr()
    assert json.loads(err.err)["error"]["error_type"] == "InfraConflictError"
    assert cli_env not in err.err + err.out


def test_cli_reads_deleted_and_rejects_bad_input(
    cli_env: str,
    root: hvac.Client,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('["not", "an", "object"]'))
    assert main(["write", f"{prefix}/bad"]) == 1
    assert "JSON object" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO('{"a": 1}'))
    assert main(["write", f"{prefix}/gone"]) == 0
    capsys.readouterr()
    root.secrets.kv.v2.delete_latest_version_of_secret(path=f"{prefix}/gone")
    assert main(["read", f"{prefix}/gone"]) == 0
    assert json.loads(capsys.readouterr().out)["data"] is None
