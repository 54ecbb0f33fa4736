"""``NodeVaultAdapterEffect``: Vault (tested on OpenBao) through hvac, on the effect platform.

The node is the operation table: each ``@operation`` method hands its request to one
secrets engine (:mod:`.kv`, :mod:`.transit`, :mod:`.database`, :mod:`.leases`,
:mod:`.auth`), and every call an engine makes to the server goes through the platform's
runner (``self.run``): one deadline per operation (the contract's ``timeout_seconds`` or
the request's), retries of transient errors of idempotent operations only, the target's
breaker per attempt, a span current while it runs, metrics and the operation record.
The transport (:mod:`.client`) runs hvac on a bounded thread pool; hvac is imported when
the first call needs it. A call already sent when its deadline passes keeps its worker
until hvac's own ``request_timeout_seconds``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, overload

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.nodes import ModelEffectInput, ModelEffectOutput
from opentelemetry import metrics, trace
from pydantic import BaseModel

from omnibase_infra.effect import (
    Attempt,
    InfraEffectNode,
    ModelEffectPolicies,
    env_name,
    operation,
    settings_from_env,
)
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError, InfraError
from omnibase_infra.lifetime import LeaseGrant, LifetimeManager
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.models.vault import (
    ModelVaultConfig,
    ModelVaultCredentialsRevoked,
    ModelVaultCredentialsRevokeRequest,
    ModelVaultDatabaseCredentials,
    ModelVaultDatabaseCredentialsRequest,
    ModelVaultKvDeleteRequest,
    ModelVaultKvDeleteResponse,
    ModelVaultKvListRequest,
    ModelVaultKvListResponse,
    ModelVaultKvMetadata,
    ModelVaultKvMetadataRequest,
    ModelVaultKvPatchRequest,
    ModelVaultKvReadRequest,
    ModelVaultKvSecret,
    ModelVaultKvUpdateMetadataRequest,
    ModelVaultKvWriteRequest,
    ModelVaultKvWriteResponse,
    ModelVaultLease,
    ModelVaultLeaseRequest,
    ModelVaultTransitCiphertext,
    ModelVaultTransitDecryptRequest,
    ModelVaultTransitEncryptRequest,
    ModelVaultTransitPlaintext,
    ModelVaultTransitRewrapRequest,
    VaultRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.auth import TokenAuth
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.cache import SecretCache
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.client import VaultClient
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.database import DatabaseEngine
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.errors import to_infra_error
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.kv import KvEngine, PatchMode
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.leases import Leases
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.transit import TransitEngine
from omnibase_infra.observability import semconv
from omnibase_infra.observability.telemetry import OperationTelemetry, RecordSink
from omnibase_infra.resilience.breaker import BreakerRegistry

__all__ = ["ADDR_ENV", "ENV_NAME", "TOKEN_ENV", "URL_ENV", "NodeVaultAdapterEffect"]

ENV_NAME: Final = "VAULT"
URL_ENV: Final = env_name(ENV_NAME, "url")
TOKEN_ENV: Final = env_name(ENV_NAME, "token")
ADDR_ENV: Final = "OMNIBASE_INFRA_VAULT_ADDR"
"""The server's address before ``OMNIBASE_INFRA_VAULT_URL``: still read, deprecated."""
_DEPRECATED_ENV: Final = {ADDR_ENV: "url"}

logger = logging.getLogger("omnibase_infra.nodes.node_vault_adapter_effect")


def vault_telemetry(
    target: str,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> OperationTelemetry:
    """Spans ``vault.<operation>`` and metrics ``omnibase.vault.*`` of one server (Vault as
    an RPC system: ``rpc.system.name``, ``rpc.method``). Never a path, a key or a value."""
    return OperationTelemetry.for_client(
        semconv.rpc_client("vault", target=target),
        scope=logger.name,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )


class NodeVaultAdapterEffect(InfraEffectNode):
    """Vault EFFECT node: KV v2, transit, database credentials, leases, token auth.

    ``config`` defaults to the environment (``OMNIBASE_INFRA_VAULT_<FIELD>``: ``_URL``,
    ``_TOKEN``, ``_APPROLE__ROLE_ID``, ...; ``OMNIBASE_INFRA_VAULT_ADDR`` deprecated).
    ``process(request)`` takes any request of ``omnibase_infra.models.vault`` (or core's
    envelope) and returns its response; the typed methods are the same operations.
    ``patch_mode``: ``auto`` uses the server's PATCH and falls back to read + check-and-set
    write when the server has none; ``client`` always does the latter. ``policies``,
    ``policy_overrides``, ``breakers``, ``breaker_defaults`` and ``record_sink`` are the
    platform's (``omnibase_infra.effect.InfraEffectNode``).
    """

    node_name = "node_vault_adapter_effect"
    env_name = ENV_NAME
    transport = EnumTransport.VAULT
    contract_package = "omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0"

    def __init__(
        self,
        container: ModelONEXContainer | None = None,
        *,
        config: ModelVaultConfig | None = None,
        patch_mode: PatchMode = "auto",
        clock: Callable[[], float] = time.monotonic,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        policies: ModelEffectPolicies | None = None,
        policy_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        breakers: BreakerRegistry | None = None,
        breaker_defaults: Mapping[str, Any] | None = None,
        record_sink: RecordSink | None = None,
    ) -> None:
        resolved = (
            config
            if config is not None
            else settings_from_env(ModelVaultConfig, ENV_NAME, deprecated=_DEPRECATED_ENV)
        )
        if resolved is None:
            raise InfraConfigurationError(
                f"no Vault configuration: pass config= or set {URL_ENV}",
                transport=EnumTransport.VAULT,
                operation="configure",
            )
        self._config = resolved
        self._client = VaultClient(resolved)
        self._cache = SecretCache(
            resolved.cache_ttl_seconds, max_entries=resolved.cache_max_entries, clock=clock
        )
        super().__init__(
            container,
            target=resolved.target,
            telemetry=vault_telemetry(
                resolved.target, tracer_provider=tracer_provider, meter_provider=meter_provider
            ),
            logger=logger,
            map_error=self._map_error,
            policies=policies,
            policy_overrides=policy_overrides,
            breakers=breakers,
            breaker_defaults=breaker_defaults,
            record_sink=record_sink,
        )
        self._kv = KvEngine(
            self._call,
            target=self.target,
            default_mount=resolved.kv_mount,
            cache=self._cache,
            patch_mode=patch_mode,
            cas_attempts=self.policy("kv_patch").retry.max_attempts,
        )
        self._transit = TransitEngine(self._call)
        self._database = DatabaseEngine(
            self._call, client_for=self._client.client_for, kv_mount=resolved.kv_mount
        )
        self._leases = Leases(self._call)
        self._auth = TokenAuth(
            self._call, self._client, approle=resolved.approle, target=self.target
        )

    def __repr__(self) -> str:
        return f"NodeVaultAdapterEffect(target={self.target!r}, kv_mount={self._config.kv_mount!r})"

    @property
    def cache(self) -> SecretCache:
        """The in-memory read cache (``cache_ttl_seconds`` 0 turns it off)."""
        return self._cache

    # -- what every engine's call goes through ----------------------------------------

    async def _call[T](self, request: ModelInfraRequest, fn: Callable[[Any], T]) -> T:
        """``fn(hvac_client)`` on the pool as ``request``'s operation, through the runner."""
        if self.closed:
            raise InfraConfigurationError(
                f"{request.operation}: the node is closed",
                transport=EnumTransport.VAULT,
                operation=request.operation,
                target=self.target,
                correlation_id=request.correlation_id,
            )
        client = self._client
        return (await self.run(request, lambda _attempt: client.call(fn))).value

    def _map_error(self, exc: Exception, attempt: Attempt) -> InfraError:
        return to_infra_error(
            exc,
            operation=attempt.operation,
            target=attempt.target,
            correlation_id=attempt.correlation_id,
            timeout_seconds=self._config.request_timeout_seconds,
        )

    async def _close_resources(self) -> None:
        await self._auth.stop()
        self._cache.clear()
        self._client.close()

    # -- tokens and AppRole (auth.py) ---------------------------------------------------

    async def login(self) -> LeaseGrant:
        """Log in with AppRole; the node uses the new token from then on."""
        return await self._auth.login()

    async def renew_token(self) -> LeaseGrant:
        """Renew the node's own token (its TTL may be capped by the max TTL)."""
        return await self._auth.renew()

    async def start_token_lifetime(self) -> LifetimeManager:
        """Log in first if AppRole is configured and there is no token, then keep the token
        alive in the background: renewed at ~2/3 of its TTL, AppRole login again when it
        can't be renewed any more. Stopped by :meth:`aclose`."""
        return await self._auth.start_lifetime()

    # -- KV v2 (kv.py) ------------------------------------------------------------------

    @operation(ModelVaultKvReadRequest)
    async def kv_read(self, request: ModelVaultKvReadRequest) -> ModelVaultKvSecret:
        """A version of a secret; a deleted or destroyed version comes back with ``data`` None."""
        return await self._kv.read(request)

    @operation(ModelVaultKvWriteRequest)
    async def kv_write(self, request: ModelVaultKvWriteRequest) -> ModelVaultKvWriteResponse:
        """Write a new version (check-and-set with ``cas``); a CAS mismatch is a conflict."""
        return await self._kv.write(request)

    @operation(ModelVaultKvPatchRequest)
    async def kv_patch(self, request: ModelVaultKvPatchRequest) -> ModelVaultKvWriteResponse:
        """Merge keys into the latest version (a None value removes the key)."""
        return await self._kv.patch(request)

    @operation(ModelVaultKvDeleteRequest, "kv_delete", "kv_undelete", "kv_destroy")
    async def kv_delete(self, request: ModelVaultKvDeleteRequest) -> ModelVaultKvDeleteResponse:
        """``kv_delete`` (latest or ``versions``), ``kv_undelete`` or ``kv_destroy`` versions."""
        return await self._kv.delete(request)

    @operation(ModelVaultKvListRequest)
    async def kv_list(self, request: ModelVaultKvListRequest) -> ModelVaultKvListResponse:
        """Keys under a path (sub-folders end in '/'); an empty or missing folder is not found."""
        return await self._kv.list(request)

    @operation(ModelVaultKvMetadataRequest)
    async def kv_read_metadata(self, request: ModelVaultKvMetadataRequest) -> ModelVaultKvMetadata:
        """A secret's metadata and the state of each of its versions."""
        return await self._kv.read_metadata(request)

    @operation(ModelVaultKvUpdateMetadataRequest)
    async def kv_update_metadata(
        self, request: ModelVaultKvUpdateMetadataRequest
    ) -> ModelVaultKvMetadata:
        """Change max_versions, cas_required or custom metadata; returns the new metadata."""
        return await self._kv.update_metadata(request)

    # -- transit (transit.py) -------------------------------------------------------------

    @operation(ModelVaultTransitEncryptRequest)
    async def transit_encrypt(
        self, request: ModelVaultTransitEncryptRequest
    ) -> ModelVaultTransitCiphertext:
        """Encrypt bytes with a transit key."""
        return await self._transit.encrypt(request)

    @operation(ModelVaultTransitDecryptRequest)
    async def transit_decrypt(
        self, request: ModelVaultTransitDecryptRequest
    ) -> ModelVaultTransitPlaintext:
        """Decrypt a ciphertext to bytes."""
        return await self._transit.decrypt(request)

    @operation(ModelVaultTransitRewrapRequest)
    async def transit_rewrap(
        self, request: ModelVaultTransitRewrapRequest
    ) -> ModelVaultTransitCiphertext:
        """Re-encrypt with the key's latest version."""
        return await self._transit.rewrap(request)

    # -- database credentials (database.py) and leases (leases.py) ---------------------

    @operation(ModelVaultDatabaseCredentialsRequest)
    async def database_credentials(
        self, request: ModelVaultDatabaseCredentialsRequest
    ) -> ModelVaultDatabaseCredentials:
        """New credentials from a database role; the password is registered for redaction.
        With ``idempotency_key``: issued through a token of their own, and a repeated call
        with the key revokes what the earlier one issued first (see :mod:`.database`)."""
        return await self._database.credentials(request)

    @operation(ModelVaultCredentialsRevokeRequest)
    async def credentials_revoke(
        self, request: ModelVaultCredentialsRevokeRequest
    ) -> ModelVaultCredentialsRevoked:
        """Revoke the token that issued credentials (by its accessor): their lease and
        database user go with it. Safe to repeat (``revoked`` False the second time)."""
        return await self._database.revoke(request)

    @operation(ModelVaultLeaseRequest, "lease_renew", "lease_revoke")
    async def lease(self, request: ModelVaultLeaseRequest) -> ModelVaultLease:
        """Renew or revoke a lease (``operation`` ``lease_renew`` or ``lease_revoke``)."""
        return await self._leases.run(request)

    # -- typed process() ------------------------------------------------------------------

    # The base's two overloads, refined per request type (each returns a subtype of what
    # the base promises); mypy cannot check a refined overload set against the base's.
    @overload  # type: ignore[override]
    async def process(self, input_data: ModelEffectInput) -> ModelEffectOutput: ...
    @overload
    async def process(self, input_data: ModelVaultKvReadRequest) -> ModelVaultKvSecret: ...
    @overload
    async def process(self, input_data: ModelVaultKvListRequest) -> ModelVaultKvListResponse: ...
    @overload
    async def process(self, input_data: ModelVaultKvWriteRequest) -> ModelVaultKvWriteResponse: ...
    @overload
    async def process(self, input_data: ModelVaultKvPatchRequest) -> ModelVaultKvWriteResponse: ...
    @overload
    async def process(
        self, input_data: ModelVaultKvDeleteRequest
    ) -> ModelVaultKvDeleteResponse: ...
    @overload
    async def process(self, input_data: ModelVaultKvMetadataRequest) -> ModelVaultKvMetadata: ...
    @overload
    async def process(
        self, input_data: ModelVaultKvUpdateMetadataRequest
    ) -> ModelVaultKvMetadata: ...
    @overload
    async def process(
        self, input_data: ModelVaultTransitEncryptRequest
    ) -> ModelVaultTransitCiphertext: ...
    @overload
    async def process(
        self, input_data: ModelVaultTransitDecryptRequest
    ) -> ModelVaultTransitPlaintext: ...
    @overload
    async def process(
        self, input_data: ModelVaultTransitRewrapRequest
    ) -> ModelVaultTransitCiphertext: ...
    @overload
    async def process(
        self, input_data: ModelVaultDatabaseCredentialsRequest
    ) -> ModelVaultDatabaseCredentials: ...
    @overload
    async def process(self, input_data: ModelVaultLeaseRequest) -> ModelVaultLease: ...
    @overload
    async def process(
        self, input_data: ModelVaultCredentialsRevokeRequest
    ) -> ModelVaultCredentialsRevoked: ...
    @overload
    async def process(self, input_data: VaultRequest | ModelInfraRequest) -> BaseModel: ...
    async def process(
        self, input_data: ModelEffectInput | VaultRequest | ModelInfraRequest
    ) -> ModelEffectOutput | BaseModel:
        """Run a typed request (its operation found by its type), or core's envelope
        (``API_CALL``; the request as ``operation_data``; the result is the response as
        JSON, secret values masked)."""
        return await super().process(input_data)
