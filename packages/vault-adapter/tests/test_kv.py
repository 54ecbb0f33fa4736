"""KV v2 operations against the real OpenBao server."""

from __future__ import annotations

import uuid
from typing import Any

import hvac  # type: ignore[import-untyped]
import pytest
from omnibase_core.enums.enum_effect_types import EnumEffectType
from omnibase_core.nodes import ModelEffectInput
from pydantic import SecretStr

from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraConflictError,
    InfraNotFoundError,
    InfraRejectedRequestError,
    InfraValidationError,
)
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.vault import (
    ModelVaultConfig,
    ModelVaultKvDeleteRequest,
    ModelVaultKvListRequest,
    ModelVaultKvMetadataRequest,
    ModelVaultKvPatchRequest,
    ModelVaultKvReadRequest,
    ModelVaultKvUpdateMetadataRequest,
    ModelVaultKvWriteRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect

from .conftest import FAST_RETRY


def _secret(**values: str) -> dict[str, SecretStr]:
    return {k: SecretStr(v) for k, v in values.items()}


def _plain(data: dict[str, SecretStr] | None) -> dict[str, str] | None:
    return None if data is None else {k: v.get_secret_value() for k, v in data.items()}


async def test_write_then_read_versions(
    node: NodeVaultAdapterEffect, root: hvac.Client, prefix: str
) -> None:
    path = f"{prefix}/app"
    one = await node.kv_write(ModelVaultKvWriteRequest(path=path, data=_secret(pw="v1")))
    two = await node.kv_write(ModelVaultKvWriteRequest(path=path, data=_secret(pw="v2")))
    assert (one.version, two.version) == (1, 2)
    stored = root.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)
    assert stored["data"]["data"] == {"pw": "v2"}
    latest = await node.kv_read(ModelVaultKvReadRequest(path=path))
    assert (latest.version, _plain(latest.data), latest.deleted) == (2, {"pw": "v2"}, False)
    assert latest.created_time is not None
    first = await node.kv_read(ModelVaultKvReadRequest(path=path, version=1))
    assert (first.version, _plain(first.data)) == (1, {"pw": "v1"})
    assert "v2" not in repr(latest)
    assert "v2" not in str(latest.model_dump())


async def test_check_and_set(node: NodeVaultAdapterEffect, prefix: str) -> None:
    path = f"{prefix}/cas"
    cid = uuid.uuid4()
    correlation = ModelCorrelationContext(correlation_id=cid)
    await node.kv_write(ModelVaultKvWriteRequest(path=path, data=_secret(a="1"), cas=0))
    with pytest.raises(InfraConflictError) as create_again:
        await node.kv_write(
            ModelVaultKvWriteRequest(path=path, data=_secret(a="2"), cas=0, correlation=correlation)
        )
    assert create_again.value.correlation_id == cid
    assert create_again.value.retryable is False
    with pytest.raises(InfraConflictError):
        await node.kv_write(ModelVaultKvWriteRequest(path=path, data=_secret(a="2"), cas=5))
    ok = await node.kv_write(ModelVaultKvWriteRequest(path=path, data=_secret(a="2"), cas=1))
    assert ok.version == 2


async def test_delete_undelete_destroy(node: NodeVaultAdapterEffect, prefix: str) -> None:
    path = f"{prefix}/life"
    for value in ("a", "b", "c"):
        await node.kv_write(ModelVaultKvWriteRequest(path=path, data=_secret(k=value)))
    deleted = await node.kv_delete(ModelVaultKvDeleteRequest(path=path))
    assert deleted.versions == []
    latest = await node.kv_read(ModelVaultKvReadRequest(path=path))
    assert (latest.version, latest.deleted, latest.data) == (3, True, None)
    await node.kv_delete(ModelVaultKvDeleteRequest(path=path, versions=[1]))
    await node.kv_delete(
        ModelVaultKvDeleteRequest(path=path, operation="kv_undelete", versions=[3, 3])
    )
    back = await node.kv_read(ModelVaultKvReadRequest(path=path))
    assert (back.deleted, _plain(back.data)) == (False, {"k": "c"})
    await node.kv_delete(ModelVaultKvDeleteRequest(path=path, operation="kv_destroy", versions=[2]))
    gone = await node.kv_read(ModelVaultKvReadRequest(path=path, version=2))
    assert (gone.destroyed, gone.data) == (True, None)
    meta = await node.kv_read_metadata(ModelVaultKvMetadataRequest(path=path))
    states = {v.version: (v.deleted, v.destroyed) for v in meta.versions}
    assert states == {1: (True, False), 2: (False, True), 3: (False, False)}
    with pytest.raises(InfraConfigurationError, match="needs versions"):
        await node.kv_delete(ModelVaultKvDeleteRequest(path=path, operation="kv_destroy"))


@pytest.mark.parametrize("mode", ["auto", "server", "client"])
async def test_patch_merges_and_removes_keys(
    config: ModelVaultConfig, prefix: str, mode: Any
) -> None:
    node = NodeVaultAdapterEffect(config=config, policy_overrides=FAST_RETRY, patch_mode=mode)
    try:
        path = f"{prefix}/patch"
        await node.kv_write(ModelVaultKvWriteRequest(path=path, data=_secret(a="1", b="2")))
        patched = await node.kv_patch(
            ModelVaultKvPatchRequest(
                path=path, data={"a": SecretStr("9"), "b": None, "c": SecretStr("3")}
            )
        )
        assert patched.version == 2
        now = await node.kv_read(ModelVaultKvReadRequest(path=path))
        assert _plain(now.data) == {"a": "9", "c": "3"}
        with pytest.raises(InfraNotFoundError):
            await node.kv_patch(
                ModelVaultKvPatchRequest(path=f"{prefix}/missing", data={"a": SecretStr("1")})
            )
    finally:
        await node.close()


async def test_list_and_metadata(node: NodeVaultAdapterEffect, prefix: str) -> None:
    await node.kv_write(ModelVaultKvWriteRequest(path=f"{prefix}/one", data=_secret(x="1")))
    await node.kv_write(ModelVaultKvWriteRequest(path=f"{prefix}/dir/two", data=_secret(x="2")))
    listed = await node.kv_list(ModelVaultKvListRequest(path=prefix))
    assert sorted(listed.keys) == ["dir/", "one"]
    with pytest.raises(InfraNotFoundError):
        await node.kv_list(ModelVaultKvListRequest(path=f"{prefix}/nothing/"))
    updated = await node.kv_update_metadata(
        ModelVaultKvUpdateMetadataRequest(
            path=f"{prefix}/one",
            max_versions=2,
            cas_required=True,
            custom_metadata={"team": "infra"},
        )
    )
    assert (updated.max_versions, updated.cas_required, updated.custom_metadata) == (
        2,
        True,
        {"team": "infra"},
    )
    assert (updated.current_version, updated.oldest_version) == (1, 0)
    # cas_required: a write without cas is refused (a bad request, not a conflict).
    with pytest.raises(InfraRejectedRequestError) as refused:
        await node.kv_write(ModelVaultKvWriteRequest(path=f"{prefix}/one", data=_secret(x="3")))
    assert refused.value.status_code == 400
    read = await node.kv_read(ModelVaultKvReadRequest(path=f"{prefix}/one"))
    assert read.custom_metadata == {"team": "infra"}


async def test_missing_secret_is_not_found(node: NodeVaultAdapterEffect, prefix: str) -> None:
    with pytest.raises(InfraNotFoundError) as missing:
        await node.kv_read(ModelVaultKvReadRequest(path=f"{prefix}/absent"))
    assert missing.value.retryable is False
    with pytest.raises(InfraNotFoundError):
        await node.kv_read_metadata(ModelVaultKvMetadataRequest(path=f"{prefix}/absent"))


async def test_process_dispatches_typed_requests_and_core_envelopes(
    node: NodeVaultAdapterEffect, prefix: str
) -> None:
    path = f"{prefix}/p"
    written = await node.process(ModelVaultKvWriteRequest(path=path, data=_secret(a="1")))
    assert written.version == 1
    secret = await node.process(ModelVaultKvReadRequest(path=path))
    assert _plain(secret.data) == {"a": "1"}
    cid = uuid.uuid4()
    out = await node.process(
        ModelEffectInput(
            effect_type=EnumEffectType.API_CALL,
            operation_data={"operation": "kv_read", "path": path},
            metadata={"x-correlation-id": str(cid)},
        )
    )
    assert isinstance(out.result, dict)
    assert out.result["version"] == 1
    assert out.result["data"] == {"a": "**********"}  # secret values never leave as JSON
    assert out.metadata["operation"] == "kv_read"
    with pytest.raises(InfraNotFoundError) as missing:
        await node.process(
            ModelEffectInput(
                effect_type=EnumEffectType.API_CALL,
                operation_data={"operation": "kv_read", "path": f"{prefix}/none"},
                metadata={"x-correlation-id": str(cid)},
            )
        )
    assert missing.value.correlation_id == cid
    with pytest.raises(InfraValidationError, match="invalid request") as invalid:
        await node.process(
            ModelEffectInput(
                effect_type=EnumEffectType.API_CALL,
                operation_data={"operation": "kv_write", "path": "../x", "data": {"k": "hush-1"}},
            )
        )
    assert "hush-1" not in str(invalid.value)
    with pytest.raises(InfraValidationError, match="has no operation for"):
        await node.process(ModelCorrelationContext.new())  # type: ignore[call-overload]
