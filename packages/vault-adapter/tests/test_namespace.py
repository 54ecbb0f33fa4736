"""``namespace``: every request of the node goes to that namespace (OpenBao 2.3+ has them)."""

from __future__ import annotations

import uuid

import hvac  # type: ignore[import-untyped]
import pytest
from pydantic import SecretStr

from omnibase_infra.errors import InfraNotFoundError
from omnibase_infra.models.vault import (
    ModelVaultConfig,
    ModelVaultKvReadRequest,
    ModelVaultKvWriteRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect

from .conftest import FAST_RETRY


async def test_reads_and_writes_stay_inside_the_namespace(
    config: ModelVaultConfig, root: hvac.Client, prefix: str
) -> None:
    namespace = f"ns-{uuid.uuid4().hex[:8]}"
    root.sys.create_namespace(path=namespace)
    inside = hvac.Client(url=config.url, token=root.token, namespace=namespace)
    inside.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})

    node = NodeVaultAdapterEffect(
        config=config.model_copy(update={"namespace": namespace}), policy_overrides=FAST_RETRY
    )
    outside = NodeVaultAdapterEffect(config=config, policy_overrides=FAST_RETRY)
    try:
        await node.kv_write(
            ModelVaultKvWriteRequest(path=f"{prefix}/app", data={"k": SecretStr("in-namespace")})
        )
        read = await node.kv_read(ModelVaultKvReadRequest(path=f"{prefix}/app"))
        assert read.data is not None
        assert read.data["k"].get_secret_value() == "in-namespace"
        # Behind the node's back: the secret is in the namespace's mount...
        stored = inside.secrets.kv.v2.read_secret_version(
            path=f"{prefix}/app", mount_point="secret", raise_on_deleted_version=True
        )
        assert stored["data"]["data"] == {"k": "in-namespace"}
        # ...and not in the root namespace's mount of the same name.
        with pytest.raises(InfraNotFoundError):
            await outside.kv_read(ModelVaultKvReadRequest(path=f"{prefix}/app"))
    finally:
        await node.close()
        await outside.close()
