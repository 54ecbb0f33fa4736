"""``NodeVaultAdapterEffect``: Vault (tested on OpenBao) KV v2 through hvac, as an EFFECT node.

hvac is synchronous: every call runs on this node's bounded thread pool
(``max_workers``), never on the event loop. Each operation runs under an enforced deadline
(``timeout_seconds``, retries included; a call already sent keeps its worker until hvac's
own ``request_timeout_seconds``), through this target's circuit breaker, is retried only
when the error is transient, and raises the taxonomy's error with the caller's correlation
id. Secret values stay ``SecretStr``; the token is registered with the redaction registry.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, overload

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.nodes import ModelEffectInput, ModelEffectOutput, NodeEffect
from opentelemetry import metrics, trace
from pydantic import BaseModel, SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraError,
    InfraTimeoutError,
    InfraValidationError,
)
from omnibase_infra.lifetime import LeaseGrant, LifetimeManager
from omnibase_infra.models.effect_input import process_effect_input
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.models.vault import (
    ModelVaultConfig,
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
    parse_vault_request,
)
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.auth import TokenAuth
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.cache import SecretCache
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.client import VaultClient
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.database import DatabaseEngine
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.errors import to_infra_error
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.kv import KvEngine, PatchMode
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.leases import Leases
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.transit import TransitEngine
from omnibase_infra.observability.telemetry import (
    AttributeValue,
    OperationRecordEmitter,
    OperationTelemetry,
    RecordSink,
    split_target,
)
from omnibase_infra.resilience import ModelRetryPolicy, run_with_retry
from omnibase_infra.resilience.breaker import (
    BreakerRegistry,
    CircuitBreaker,
    ModelCircuitBreakerConfig,
)

__all__ = ["ADDR_ENV", "TOKEN_ENV", "NodeVaultAdapterEffect"]

ADDR_ENV: Final = "OMNIBASE_INFRA_VAULT_ADDR"
TOKEN_ENV: Final = "OMNIBASE_INFRA_VAULT_TOKEN"  # noqa: S105 - a variable name, not a secret
_TRANSPORT = EnumTransport.VAULT

logger = logging.getLogger("omnibase_infra.nodes.node_vault_adapter_effect")


def vault_telemetry(
    target: str,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> OperationTelemetry:
    """Spans ``vault.<operation>`` and metrics ``omnibase.vault.*`` of one server.

    Attributes name the operation and the server, never a path's value or a secret.
    """
    address, port = split_target(target)
    base: dict[str, AttributeValue] = {"rpc.system": "vault", "server.address": address}
    if port is not None:
        base["server.port"] = port
    return OperationTelemetry(
        scope=logger.name,
        span_prefix="vault",
        duration_metric="omnibase.vault.operation.duration",
        counter_prefix="omnibase.vault",
        operation_attributes=("vault.operation",),
        span_attributes=base,
        metric_attributes={"rpc.system": "vault"},
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )


def _env_config() -> ModelVaultConfig | None:
    addr = os.environ.get(ADDR_ENV, "").strip()
    if not addr:
        return None
    token = os.environ.get(TOKEN_ENV, "")
    return ModelVaultConfig(url=addr, token=SecretStr(token) if token else None)


class NodeVaultAdapterEffect(NodeEffect):
    """Vault EFFECT node: KV v2 read/write (CAS)/patch/delete/undelete/destroy/list/metadata.

    ``config`` defaults to ``OMNIBASE_INFRA_VAULT_ADDR``/``OMNIBASE_INFRA_VAULT_TOKEN``.
    ``process(request)`` takes any request of ``omnibase_infra.models.vault`` and returns
    its response; the ``kv_*`` methods are the same operations, typed. ``patch_mode``:
    ``auto`` uses the server's PATCH and falls back to read + check-and-set write when the
    server has none; ``client`` always does the latter.
    """

    def __init__(
        self,
        container: ModelONEXContainer | None = None,
        *,
        config: ModelVaultConfig | None = None,
        retry_policy: ModelRetryPolicy | None = None,
        breakers: BreakerRegistry | None = None,
        patch_mode: PatchMode = "auto",
        clock: Callable[[], float] = time.monotonic,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        record_sink: RecordSink | None = None,
    ) -> None:
        super().__init__(container if container is not None else ModelONEXContainer())
        resolved = config if config is not None else _env_config()
        if resolved is None:
            raise InfraConfigurationError(
                f"no Vault configuration: pass config= or set {ADDR_ENV}",
                transport=_TRANSPORT,
                operation="configure",
            )
        self._config = resolved
        self._target = resolved.target
        self._client = VaultClient(resolved)
        self._retry_policy = retry_policy if retry_policy is not None else ModelRetryPolicy()
        self._breakers = (
            breakers if breakers is not None else BreakerRegistry(ModelCircuitBreakerConfig())
        )
        self._breaker: CircuitBreaker = self._breakers.get(_TRANSPORT, self._target)
        self._cache = SecretCache(
            resolved.cache_ttl_seconds, max_entries=resolved.cache_max_entries, clock=clock
        )
        self._closed = False
        self._kv = KvEngine(
            self._call,
            target=self._target,
            default_mount=resolved.kv_mount,
            cache=self._cache,
            patch_mode=patch_mode,
            cas_attempts=self._retry_policy.max_attempts,
        )
        self._transit = TransitEngine(self._call)
        self._database = DatabaseEngine(self._call)
        self._leases = Leases(self._call)
        self._auth = TokenAuth(
            self._call, self._client, approle=resolved.approle, target=self._target
        )
        self._telemetry = vault_telemetry(
            self._target, tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        self._records = (
            OperationRecordEmitter(record_sink, transport=_TRANSPORT, logger=logger)
            if record_sink is not None
            else None
        )

    def __repr__(self) -> str:
        return (
            f"NodeVaultAdapterEffect(target={self._target!r}, kv_mount={self._config.kv_mount!r})"
        )

    @property
    def target(self) -> str:
        """``host:port`` of the server."""
        return self._target

    @property
    def breaker(self) -> CircuitBreaker:
        """This target's circuit breaker."""
        return self._breaker

    @property
    def cache(self) -> SecretCache:
        """The in-memory read cache (``cache_ttl_seconds`` 0 turns it off)."""
        return self._cache

    async def close(self) -> None:
        """Release the thread pool and the HTTP session; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._auth.stop()
        self._cache.clear()
        self._client.close()

    # -- the machinery every operation goes through ------------------------------------

    async def _call[T](self, request: ModelInfraRequest, fn: Callable[[Any], T]) -> T:
        operation = request.operation
        cid = request.correlation_id
        attempts = 0

        async def attempt() -> T:
            nonlocal attempts
            attempts += 1
            async with self._breaker.guard(operation=operation, correlation_id=cid):
                try:
                    return await self._client.call(fn)
                except Exception as exc:
                    raise to_infra_error(
                        exc,
                        operation=operation,
                        target=self._target,
                        correlation_id=cid,
                        timeout_seconds=self._config.request_timeout_seconds,
                    ) from exc

        started = time.perf_counter()
        span = self._telemetry.start(operation, request.correlation)
        error: InfraError | None = None
        try:
            async with asyncio.timeout(request.timeout_seconds):
                return await run_with_retry(self._retry_policy, attempt, operation=operation)
        except TimeoutError as exc:
            error = InfraTimeoutError(
                f"{operation} did not finish within {request.timeout_seconds}s",
                transport=_TRANSPORT,
                operation=operation,
                target=self._target,
                correlation_id=cid,
                timeout_seconds=request.timeout_seconds,
            )
            raise error from exc
        except InfraError as exc:
            error = exc
            raise
        finally:
            self._finish(request, span, started, max(attempts, 1), error)

    def _finish(
        self,
        request: ModelInfraRequest,
        span: trace.Span,
        started: float,
        attempts: int,
        error: InfraError | None,
    ) -> None:
        """Span, metrics, log record and operation record of one finished operation."""
        operation = request.operation
        duration = time.perf_counter() - started
        self._telemetry.finish(span, operation, duration, attempts=attempts, error=error)
        extra = {"correlation_id": str(request.correlation_id), "vault_operation": operation}
        if error is not None:
            logger.warning("vault %s failed: %s", operation, type(error).__name__, extra=extra)
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("vault %s done in %.3f ms", operation, duration * 1000, extra=extra)
        if self._records is not None:
            self._records.emit(
                operation=operation,
                correlation=request.correlation,
                duration_seconds=duration,
                error=error,
                target=self._target,
                attributes={"vault.operation": operation},
            )

    # -- operations: one module per secrets engine ---------------------------------------

    async def login(self) -> LeaseGrant:
        """Log in with AppRole; the node uses the new token from then on."""
        return await self._auth.login()

    async def renew_token(self) -> LeaseGrant:
        """Renew the node's own token (its TTL may be capped by the max TTL)."""
        return await self._auth.renew()

    async def start_token_lifetime(self) -> LifetimeManager:
        """Log in first if AppRole is configured and there is no token, then keep the token
        alive in the background: renewed at ~2/3 of its TTL, AppRole login again when it
        can't be renewed any more. Stopped by :meth:`close`."""
        return await self._auth.start_lifetime()

    async def kv_read(self, request: ModelVaultKvReadRequest) -> ModelVaultKvSecret:
        """A version of a secret; a deleted or destroyed version comes back with ``data`` None."""
        return await self._kv.read(request)

    async def kv_write(self, request: ModelVaultKvWriteRequest) -> ModelVaultKvWriteResponse:
        """Write a new version (check-and-set with ``cas``); a CAS mismatch is a conflict."""
        return await self._kv.write(request)

    async def kv_patch(self, request: ModelVaultKvPatchRequest) -> ModelVaultKvWriteResponse:
        """Merge keys into the latest version (a None value removes the key)."""
        return await self._kv.patch(request)

    async def kv_delete(self, request: ModelVaultKvDeleteRequest) -> ModelVaultKvDeleteResponse:
        """``kv_delete`` (latest or ``versions``), ``kv_undelete`` or ``kv_destroy`` versions."""
        return await self._kv.delete(request)

    async def kv_list(self, request: ModelVaultKvListRequest) -> ModelVaultKvListResponse:
        """Keys under a path (sub-folders end in '/'); an empty or missing folder is not found."""
        return await self._kv.list(request)

    async def kv_read_metadata(self, request: ModelVaultKvMetadataRequest) -> ModelVaultKvMetadata:
        """A secret's metadata and the state of each of its versions."""
        return await self._kv.read_metadata(request)

    async def kv_update_metadata(
        self, request: ModelVaultKvUpdateMetadataRequest
    ) -> ModelVaultKvMetadata:
        """Change max_versions, cas_required or custom metadata; returns the new metadata."""
        return await self._kv.update_metadata(request)

    async def transit_encrypt(
        self, request: ModelVaultTransitEncryptRequest
    ) -> ModelVaultTransitCiphertext:
        """Encrypt bytes with a transit key."""
        return await self._transit.encrypt(request)

    async def transit_decrypt(
        self, request: ModelVaultTransitDecryptRequest
    ) -> ModelVaultTransitPlaintext:
        """Decrypt a ciphertext to bytes."""
        return await self._transit.decrypt(request)

    async def transit_rewrap(
        self, request: ModelVaultTransitRewrapRequest
    ) -> ModelVaultTransitCiphertext:
        """Re-encrypt with the key's latest version."""
        return await self._transit.rewrap(request)

    async def database_credentials(
        self, request: ModelVaultDatabaseCredentialsRequest
    ) -> ModelVaultDatabaseCredentials:
        """New credentials from a database role; the password is registered for redaction."""
        return await self._database.credentials(request)

    async def lease(self, request: ModelVaultLeaseRequest) -> ModelVaultLease:
        """Renew or revoke a lease (``operation`` ``lease_renew`` or ``lease_revoke``)."""
        return await self._leases.run(request)

    # -- one entry point for every request -------------------------------------------

    @overload
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
    async def process(self, input_data: VaultRequest) -> BaseModel: ...
    async def process(self, input_data: ModelEffectInput | VaultRequest) -> BaseModel:
        """Run a typed request, or core's envelope (``API_CALL``, the request as
        ``operation_data``; the result is the response as JSON, secret values masked)."""
        if isinstance(input_data, ModelEffectInput):
            return await self._process_effect_input(input_data)
        handlers: dict[type[ModelInfraRequest], Callable[[Any], Awaitable[BaseModel]]] = {
            ModelVaultKvReadRequest: self.kv_read,
            ModelVaultKvWriteRequest: self.kv_write,
            ModelVaultKvPatchRequest: self.kv_patch,
            ModelVaultKvDeleteRequest: self.kv_delete,
            ModelVaultKvListRequest: self.kv_list,
            ModelVaultKvMetadataRequest: self.kv_read_metadata,
            ModelVaultKvUpdateMetadataRequest: self.kv_update_metadata,
            ModelVaultTransitEncryptRequest: self.transit_encrypt,
            ModelVaultTransitDecryptRequest: self.transit_decrypt,
            ModelVaultTransitRewrapRequest: self.transit_rewrap,
            ModelVaultDatabaseCredentialsRequest: self.database_credentials,
            ModelVaultLeaseRequest: self.lease,
        }
        handler = handlers.get(type(input_data))
        if handler is None:
            raise InfraValidationError(
                f"unsupported request type {type(input_data).__name__}",
                transport=_TRANSPORT,
                operation="process",
                target=self._target,
            )
        return await handler(input_data)

    async def _process_effect_input(self, input_data: ModelEffectInput) -> ModelEffectOutput:
        return await process_effect_input(
            input_data,
            parse=parse_vault_request,
            process=self.process,
            transport=_TRANSPORT,
            target=self._target,
        )
