"""The transit secrets engine: encrypt, decrypt and rewrap bytes (base64 handled here)."""

from __future__ import annotations

import base64
from typing import Any, cast

from pydantic import SecretBytes

from omnibase_infra.models.vault import (
    ModelVaultTransitCiphertext,
    ModelVaultTransitDecryptRequest,
    ModelVaultTransitEncryptRequest,
    ModelVaultTransitPlaintext,
    ModelVaultTransitRewrapRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.client import VaultCall

__all__ = ["TransitEngine"]

type _TransitRequest = (
    ModelVaultTransitEncryptRequest
    | ModelVaultTransitDecryptRequest
    | ModelVaultTransitRewrapRequest
)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _context(request: _TransitRequest) -> str | None:
    return None if request.context is None else _b64(request.context.get_secret_value())


class TransitEngine:
    """Transit on the request's ``mount_point``."""

    def __init__(self, call: VaultCall) -> None:
        self._call = call

    async def encrypt(
        self, request: ModelVaultTransitEncryptRequest
    ) -> ModelVaultTransitCiphertext:
        plaintext = _b64(request.plaintext.get_secret_value())

        def run(client: Any) -> dict[str, Any]:
            return cast(
                dict[str, Any],
                client.secrets.transit.encrypt_data(
                    name=request.key_name,
                    plaintext=plaintext,
                    context=_context(request),
                    mount_point=request.mount_point,
                ),
            )

        return self._ciphertext(request, (await self._call(request, run))["data"])

    async def decrypt(self, request: ModelVaultTransitDecryptRequest) -> ModelVaultTransitPlaintext:
        def run(client: Any) -> dict[str, Any]:
            return cast(
                dict[str, Any],
                client.secrets.transit.decrypt_data(
                    name=request.key_name,
                    ciphertext=request.ciphertext,
                    context=_context(request),
                    mount_point=request.mount_point,
                ),
            )

        data = (await self._call(request, run))["data"]
        return ModelVaultTransitPlaintext(
            key_name=request.key_name, plaintext=SecretBytes(base64.b64decode(data["plaintext"]))
        )

    async def rewrap(self, request: ModelVaultTransitRewrapRequest) -> ModelVaultTransitCiphertext:
        def run(client: Any) -> dict[str, Any]:
            return cast(
                dict[str, Any],
                client.secrets.transit.rewrap_data(
                    name=request.key_name,
                    ciphertext=request.ciphertext,
                    context=_context(request),
                    mount_point=request.mount_point,
                ),
            )

        return self._ciphertext(request, (await self._call(request, run))["data"])

    @staticmethod
    def _ciphertext(request: _TransitRequest, data: dict[str, Any]) -> ModelVaultTransitCiphertext:
        return ModelVaultTransitCiphertext(
            key_name=request.key_name,
            ciphertext=data["ciphertext"],
            key_version=data.get("key_version"),
        )
