"""Tokens and AppRole: log in, renew and look up the node's own token, and keep it alive
with :class:`~omnibase_infra.lifetime.LifetimeManager`."""

from __future__ import annotations

from typing import Any, cast

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConfigurationError,
    InfraRejectedRequestError,
)
from omnibase_infra.lifetime import LeaseGrant, LifetimeManager
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.models.vault import ModelVaultAppRoleAuth
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.client import VaultCall, VaultClient

__all__ = ["TokenAuth"]


class TokenAuth:
    """The node's token: a static one, or AppRole's (``approle``). Operations
    ``auth_login``, ``auth_renew`` and ``auth_lookup``."""

    def __init__(
        self,
        call: VaultCall,
        client: VaultClient,
        *,
        approle: ModelVaultAppRoleAuth | None,
        target: str,
    ) -> None:
        self._call = call
        self._client = client
        self._approle = approle
        self._target = target
        self._lifetime: LifetimeManager | None = None

    async def login(self) -> LeaseGrant:
        """Log in with AppRole; the node uses the new token from then on."""
        approle = self._approle
        request = ModelInfraRequest(operation="auth_login")
        if approle is None:
            raise InfraConfigurationError(
                "no AppRole credentials configured",
                transport=EnumTransport.VAULT,
                operation=request.operation,
                target=self._target,
                correlation_id=request.correlation_id,
            )

        def run(client: Any) -> dict[str, Any]:
            return cast(
                dict[str, Any],
                client.auth.approle.login(
                    role_id=approle.role_id.get_secret_value(),
                    secret_id=approle.secret_id.get_secret_value(),
                    mount_point=approle.mount_point,
                    use_token=False,
                ),
            )

        try:
            auth = (await self._call(request, run))["auth"]
        except InfraRejectedRequestError as exc:
            # The server answers 400 "invalid role or secret ID" to bad credentials.
            raise InfraAuthenticationError(
                "AppRole login refused",
                transport=EnumTransport.VAULT,
                operation=request.operation,
                target=self._target,
                correlation_id=request.correlation_id,
            ) from exc
        self._client.set_token(auth["client_token"])
        return LeaseGrant(float(auth["lease_duration"]), bool(auth["renewable"]))

    async def renew(self) -> LeaseGrant:
        """Renew the node's own token (its TTL may be capped by the max TTL)."""

        def run(client: Any) -> dict[str, Any]:
            return cast(dict[str, Any], client.auth.token.renew_self())

        auth = (await self._call(ModelInfraRequest(operation="auth_renew"), run))["auth"]
        return LeaseGrant(float(auth["lease_duration"]), bool(auth["renewable"]))

    async def lookup(self) -> LeaseGrant:
        """The node's own token's remaining TTL."""

        def run(client: Any) -> dict[str, Any]:
            return cast(dict[str, Any], client.auth.token.lookup_self())

        data = (await self._call(ModelInfraRequest(operation="auth_lookup"), run))["data"]
        return LeaseGrant(float(data["ttl"]), bool(data["renewable"]))

    async def start_lifetime(self) -> LifetimeManager:
        """Log in first if AppRole is configured and there is no token, then keep the token
        alive in the background: renewed at ~2/3 of its TTL, AppRole login again when it
        can't be renewed any more. Stopped by :meth:`stop`."""
        if self._lifetime is not None:
            return self._lifetime
        grant = await self.lookup() if self._client.token else await self.login()
        self._lifetime = LifetimeManager(
            self.renew,
            self.login if self._approle is not None else None,
            name=f"vault token {self._target}",
        )
        self._lifetime.start(grant)
        return self._lifetime

    async def stop(self) -> None:
        """Stop keeping the token alive (if started)."""
        if self._lifetime is not None:
            await self._lifetime.stop()
