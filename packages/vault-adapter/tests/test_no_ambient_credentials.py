"""The node uses only the credentials its configuration names: never hvac's fallbacks
(``VAULT_TOKEN``, ``~/.vault-token``, ``VAULT_CLIENT_CERT``/``VAULT_CLIENT_KEY``) nor
requests' ``~/.netrc``. Each control line shows that plain hvac/requests would use them."""

from __future__ import annotations

from pathlib import Path

import hvac  # type: ignore[import-untyped]
import pytest
import requests
from pydantic import SecretStr

from omnibase_infra.errors import InfraPermissionError
from omnibase_infra.models.vault import (
    ModelVaultConfig,
    ModelVaultKvReadRequest,
    ModelVaultKvWriteRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect
from omnibase_infra_testing.services.openbao import OpenBaoService

from .conftest import FAST_RETRY, SCANNER

BOGUS = "hvs.bogus-token-from-the-environment"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    monkeypatch.delenv("NETRC", raising=False)
    return tmp_path


@pytest.mark.parametrize("where", ["VAULT_TOKEN", "~/.vault-token"])
@pytest.mark.parametrize("token", ["root", "bogus"])
async def test_no_token_from_the_environment_or_the_token_file(
    openbao_service: OpenBaoService,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    token: str,
) -> None:
    """With the server's root token there, plain hvac would be authenticated; the node,
    configured without a token, is not (and sends no token at all)."""
    value = openbao_service.root_token if token == "root" else BOGUS
    SCANNER.note(value)
    if where == "VAULT_TOKEN":
        monkeypatch.setenv("VAULT_TOKEN", value)
    else:
        (home / ".vault-token").write_text(value + "\n")
    assert hvac.Client(url=openbao_service.addr).token == value  # the fallback is real
    node = NodeVaultAdapterEffect(
        config=ModelVaultConfig(url=openbao_service.addr), policy_overrides=FAST_RETRY
    )
    try:
        assert not node._client.hvac.token
        headers = node._client.hvac.adapter.session.prepare_request(
            requests.Request("GET", f"{openbao_service.addr}/v1/sys/health")
        ).headers
        assert "X-Vault-Token" not in headers
        with pytest.raises(InfraPermissionError):
            await node.kv_read(ModelVaultKvReadRequest(path="anything"))
    finally:
        await node.close()


async def test_the_configured_token_wins_over_the_environment(
    openbao_service: OpenBaoService, home: Path, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    monkeypatch.setenv("VAULT_TOKEN", BOGUS)
    (home / ".vault-token").write_text(BOGUS)
    config = ModelVaultConfig(url=openbao_service.addr, token=SecretStr(openbao_service.root_token))
    node = NodeVaultAdapterEffect(config=config, policy_overrides=FAST_RETRY)
    try:
        assert node._client.hvac.token == openbao_service.root_token
        await _round_trip(node, prefix)
    finally:
        await node.close()


async def _round_trip(node: NodeVaultAdapterEffect, prefix: str) -> None:
    path = f"{prefix}/ambient"
    await node.kv_write(ModelVaultKvWriteRequest(path=path, data={"k": SecretStr("v")}))
    secret = await node.kv_read(ModelVaultKvReadRequest(path=path))
    assert secret.data is not None
    assert secret.data["k"].get_secret_value() == "v"


async def test_no_client_certificate_from_the_environment(
    openbao_service: OpenBaoService, home: Path, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    """hvac reads VAULT_CLIENT_CERT/KEY once, at import: patched where it looks. A file
    that does not exist makes every request of plain hvac fail; the node's succeed."""
    missing = str(home / "no-such-client.pem")
    monkeypatch.setattr("hvac.v1.VAULT_CLIENT_CERT", missing)
    monkeypatch.setattr("hvac.v1.VAULT_CLIENT_KEY", missing)
    plain = hvac.Client(url=openbao_service.addr, token=openbao_service.root_token)
    with pytest.raises(OSError, match="certificate"):
        plain.sys.read_health_status()
    config = ModelVaultConfig(url=openbao_service.addr, token=SecretStr(openbao_service.root_token))
    node = NodeVaultAdapterEffect(config=config, policy_overrides=FAST_RETRY)
    try:
        await _round_trip(node, prefix)
    finally:
        await node.close()


def test_no_netrc_credentials(openbao_service: OpenBaoService, home: Path) -> None:
    host = openbao_service.addr.split("://", 1)[1].split(":", 1)[0]
    netrc = home / ".netrc"
    netrc.write_text(f"machine {host} login ambient password from-netrc\n")
    netrc.chmod(0o600)
    request = requests.Request("GET", f"{openbao_service.addr}/v1/sys/health")
    assert "Authorization" in requests.Session().prepare_request(request).headers  # control
    node = NodeVaultAdapterEffect(
        config=ModelVaultConfig(url=openbao_service.addr), policy_overrides=FAST_RETRY
    )
    try:
        headers = node._client.hvac.adapter.session.prepare_request(request).headers
        assert "Authorization" not in headers
    finally:
        node._client.hvac.adapter.session.close()
