"""Transit encrypt/decrypt/rewrap against the real server; base64 is the node's business."""

from __future__ import annotations

import hvac  # type: ignore[import-untyped]
import pytest
from pydantic import SecretBytes

from omnibase_infra.errors import InfraNotFoundError, InfraRejectedRequestError
from omnibase_infra.models.vault import (
    ModelVaultTransitDecryptRequest,
    ModelVaultTransitEncryptRequest,
    ModelVaultTransitRewrapRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect


@pytest.fixture
def transit(root: hvac.Client, prefix: str) -> str:
    mount = f"transit-{prefix}"
    root.sys.enable_secrets_engine("transit", path=mount)
    root.secrets.transit.create_key(name="k", mount_point=mount)
    root.secrets.transit.create_key(name="derived", derived=True, mount_point=mount)
    return mount


async def test_encrypt_decrypt_rewrap(
    node: NodeVaultAdapterEffect, root: hvac.Client, transit: str
) -> None:
    secret = b"\x00binary \xff secret"
    encrypted = await node.transit_encrypt(
        ModelVaultTransitEncryptRequest(
            key_name="k", plaintext=SecretBytes(secret), mount_point=transit
        )
    )
    assert encrypted.ciphertext.startswith("vault:v1:")
    assert encrypted.key_version == 1
    decrypted = await node.transit_decrypt(
        ModelVaultTransitDecryptRequest(
            key_name="k", ciphertext=encrypted.ciphertext, mount_point=transit
        )
    )
    assert decrypted.plaintext.get_secret_value() == secret
    assert "binary" not in repr(decrypted)
    root.secrets.transit.rotate_key(name="k", mount_point=transit)
    rewrapped = await node.transit_rewrap(
        ModelVaultTransitRewrapRequest(
            key_name="k", ciphertext=encrypted.ciphertext, mount_point=transit
        )
    )
    assert rewrapped.ciphertext.startswith("vault:v2:")
    again = await node.process(
        ModelVaultTransitDecryptRequest(
            key_name="k", ciphertext=rewrapped.ciphertext, mount_point=transit
        )
    )
    assert again.plaintext.get_secret_value() == secret


async def test_derived_keys_need_their_context(node: NodeVaultAdapterEffect, transit: str) -> None:
    request = ModelVaultTransitEncryptRequest(
        key_name="derived",
        plaintext=SecretBytes(b"x"),
        context=SecretBytes(b"tenant-1"),
        mount_point=transit,
    )
    encrypted = await node.transit_encrypt(request)
    decrypted = await node.transit_decrypt(
        ModelVaultTransitDecryptRequest(
            key_name="derived",
            ciphertext=encrypted.ciphertext,
            context=SecretBytes(b"tenant-1"),
            mount_point=transit,
        )
    )
    assert decrypted.plaintext.get_secret_value() == b"x"
    with pytest.raises(InfraRejectedRequestError):
        await node.transit_decrypt(
            ModelVaultTransitDecryptRequest(
                key_name="derived", ciphertext=encrypted.ciphertext, mount_point=transit
            )
        )


async def test_unknown_mount_is_not_found_or_rejected(
    node: NodeVaultAdapterEffect, prefix: str
) -> None:
    with pytest.raises((InfraNotFoundError, InfraRejectedRequestError)):
        await node.transit_decrypt(
            ModelVaultTransitDecryptRequest(
                key_name="k", ciphertext="vault:v1:abc", mount_point=f"nowhere-{prefix}"
            )
        )
