"""Leases (``sys/leases``): renew or revoke the lease of a dynamic secret."""

from __future__ import annotations

from typing import Any, cast

from omnibase_infra.models.vault import ModelVaultLease, ModelVaultLeaseRequest
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.client import VaultCall

__all__ = ["Leases"]


class Leases:
    """``lease_renew`` (optional ``increment_seconds``) and ``lease_revoke``."""

    def __init__(self, call: VaultCall) -> None:
        self._call = call

    async def run(self, request: ModelVaultLeaseRequest) -> ModelVaultLease:
        revoke = request.operation == "lease_revoke"

        def run(client: Any) -> object:
            if revoke:
                return client.sys.revoke_lease(lease_id=request.lease_id)
            return client.sys.renew_lease(
                lease_id=request.lease_id, increment=request.increment_seconds
            )

        body = await self._call(request, run)
        if revoke:
            return ModelVaultLease(
                lease_id=request.lease_id, lease_duration_seconds=0, renewable=False
            )
        renewed = cast(dict[str, Any], body)
        return ModelVaultLease(
            lease_id=renewed["lease_id"],
            lease_duration_seconds=int(renewed["lease_duration"]),
            renewable=bool(renewed["renewable"]),
        )
