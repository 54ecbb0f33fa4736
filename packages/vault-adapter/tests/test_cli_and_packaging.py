"""The command line (against the real server), the contract, the entry point, configuration."""

from __future__ import annotations

import importlib.metadata
import io
import json

import hvac  # type: ignore[import-untyped]
import pytest
from omnibase_core.models.contracts.model_contract_effect import ModelContractEffect

from omnibase_infra.contracts import load_node_contract, node_kind
from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.models.vault import EnumVaultOperation
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0 import (
    ADDR_ENV,
    CONTRACT_PACKAGE,
    CONTRACT_RESOURCE,
    TOKEN_ENV,
)
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.__main__ import main
from omnibase_infra_testing.services.openbao import OpenBaoService


def test_contract_lists_every_operation() -> None:
    contract = load_node_contract(CONTRACT_PACKAGE, CONTRACT_RESOURCE, ModelContractEffect)
    assert contract.name == "node_vault_adapter_effect"
    assert str(node_kind(contract.node_type)).lower() == "effect"
    assert [op.operation_type for op in contract.io_operations] == [
        op.value for op in EnumVaultOperation
    ]


def test_entry_point_loads_the_node() -> None:
    (entry,) = [
        ep
        for ep in importlib.metadata.entry_points(group="omnibase_infra.nodes")
        if ep.name == "node_vault_adapter_effect"
    ]
    assert entry.load() is NodeVaultAdapterEffect


def test_configuration_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADDR_ENV, raising=False)
    with pytest.raises(InfraConfigurationError, match=ADDR_ENV):
        NodeVaultAdapterEffect()


async def test_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ADDR_ENV, "https://vault.internal:8200")
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    node = NodeVaultAdapterEffect()
    assert node.target == "vault.internal:8200"
    assert repr(node) == "NodeVaultAdapterEffect(target='vault.internal:8200', kv_mount='secret')"
    await node.close()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, openbao_service: OpenBaoService) -> str:
    monkeypatch.setenv(ADDR_ENV, openbao_service.addr)
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
