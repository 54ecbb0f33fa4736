"""The database secrets engine: dynamic credentials from a role (their lease is renewed or
revoked through :mod:`.leases`)."""

from __future__ import annotations

from typing import Any, cast

from pydantic import SecretStr

from omnibase_infra.models.vault import (
    ModelVaultDatabaseCredentials,
    ModelVaultDatabaseCredentialsRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.client import VaultCall
from omnibase_infra.redaction import register_secret

__all__ = ["DatabaseEngine"]


class DatabaseEngine:
    """Database credentials on the request's ``mount_point``."""

    def __init__(self, call: VaultCall) -> None:
        self._call = call

    async def credentials(
        self, request: ModelVaultDatabaseCredentialsRequest
    ) -> ModelVaultDatabaseCredentials:
        """New credentials; the password is registered for redaction before anything else
        sees it."""

        def run(client: Any) -> dict[str, Any]:
            return cast(
                dict[str, Any],
                client.secrets.database.generate_credentials(
                    name=request.role, mount_point=request.mount_point
                ),
            )

        body = await self._call(request, run)
        password = str(body["data"]["password"])
        register_secret(password)
        return ModelVaultDatabaseCredentials(
            lease_id=body["lease_id"],
            lease_duration_seconds=int(body["lease_duration"]),
            renewable=bool(body["renewable"]),
            username=str(body["data"]["username"]),
            password=SecretStr(password),
        )
