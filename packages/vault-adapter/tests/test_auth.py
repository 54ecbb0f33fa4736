"""AppRole login and the token's lifetime, with real short TTLs on OpenBao."""

from __future__ import annotations

import asyncio
import time

import hvac  # type: ignore[import-untyped]
import pytest
from pydantic import SecretStr

from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConfigurationError,
    InfraPermissionError,
)
from omnibase_infra.lifetime import EnumLeaseState
from omnibase_infra.models.vault import (
    ModelVaultAppRoleAuth,
    ModelVaultConfig,
    ModelVaultKvReadRequest,
    ModelVaultKvWriteRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect
from omnibase_infra_testing.services.openbao import OpenBaoService

from .conftest import FAST_RETRY

POLICY = 'path "secret/data/{prefix}/*" {{ capabilities = ["create", "update", "read"] }}'


def _approle(root: hvac.Client, prefix: str, **role: object) -> ModelVaultAppRoleAuth:
    mount = f"approle-{prefix}"
    root.sys.enable_auth_method("approle", path=mount)
    root.sys.create_or_update_policy(name=prefix, policy=POLICY.format(prefix=prefix))
    root.auth.approle.create_or_update_approle(
        prefix, token_policies=[prefix], mount_point=mount, **role
    )
    role_id = root.auth.approle.read_role_id(prefix, mount_point=mount)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id(prefix, mount_point=mount)["data"]["secret_id"]
    return ModelVaultAppRoleAuth(
        role_id=SecretStr(role_id), secret_id=SecretStr(secret_id), mount_point=mount
    )


async def test_approle_login_and_policy(
    openbao_service: OpenBaoService, root: hvac.Client, prefix: str
) -> None:
    approle = _approle(root, prefix, token_ttl="5m")
    node = NodeVaultAdapterEffect(
        config=ModelVaultConfig(url=openbao_service.addr, approle=approle),
        policy_overrides=FAST_RETRY,
    )
    try:
        grant = await node.login()
        assert 0 < grant.ttl_seconds <= 300
        assert grant.renewable
        await node.kv_write(
            ModelVaultKvWriteRequest(path=f"{prefix}/a", data={"k": SecretStr("v")})
        )
        with pytest.raises(InfraPermissionError):
            await node.kv_read(ModelVaultKvReadRequest(path=f"other-{prefix}/a"))
    finally:
        await node.close()
    wrong = approle.model_copy(update={"secret_id": SecretStr("not-the-secret-id")})
    node = NodeVaultAdapterEffect(
        config=ModelVaultConfig(url=openbao_service.addr, approle=wrong),
        policy_overrides=FAST_RETRY,
    )
    try:
        with pytest.raises(InfraAuthenticationError) as denied:
            await node.login()
        assert "not-the-secret-id" not in str(denied.value)
    finally:
        await node.close()


async def test_token_is_renewed_then_replaced_by_a_new_login(
    openbao_service: OpenBaoService, root: hvac.Client, prefix: str
) -> None:
    approle = _approle(root, prefix, token_ttl="2s", token_max_ttl="3s")
    node = NodeVaultAdapterEffect(
        config=ModelVaultConfig(url=openbao_service.addr, approle=approle),
        policy_overrides=FAST_RETRY,
    )
    try:
        manager = await node.start_token_lifetime()
        assert await node.start_token_lifetime() is manager
        deadline = time.monotonic() + 8
        # Polls the real server's timeline (seconds), no event to wait on.
        while manager.logins < 1 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        assert manager.renewals >= 1
        assert manager.logins >= 1
        assert manager.state is EnumLeaseState.ACTIVE
        # The token of the new login works.
        written = await node.kv_write(
            ModelVaultKvWriteRequest(path=f"{prefix}/after", data={"k": SecretStr("v")})
        )
        assert written.version == 1
    finally:
        await node.close()
    assert not manager.running


async def test_a_static_token_is_watched_without_login(
    config: ModelVaultConfig, root: hvac.Client
) -> None:
    token = root.auth.token.create(ttl="1h", renewable=True)["auth"]["client_token"]
    node = NodeVaultAdapterEffect(
        config=config.model_copy(update={"token": SecretStr(token)}), policy_overrides=FAST_RETRY
    )
    try:
        manager = await node.start_token_lifetime()
        assert manager.running
        assert manager.expires_at is not None
        with pytest.raises(InfraConfigurationError, match="AppRole"):
            await node.login()
    finally:
        await node.close()
    assert manager.state is EnumLeaseState.STOPPED
