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
import base64
import logging
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Final, Literal, cast, overload

import hvac  # type: ignore[import-untyped]
import requests
from hvac import exceptions as hv
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.nodes import ModelEffectInput, ModelEffectOutput, NodeEffect
from opentelemetry import metrics, trace
from pydantic import BaseModel, SecretBytes, SecretStr
from requests import PreparedRequest

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConfigurationError,
    InfraConflictError,
    InfraError,
    InfraRejectedRequestError,
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
    ModelVaultKvVersionInfo,
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
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.cache import SecretCache
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.errors import to_infra_error
from omnibase_infra.observability.telemetry import (
    AttributeValue,
    OperationRecordEmitter,
    OperationTelemetry,
    RecordSink,
    split_target,
)
from omnibase_infra.redaction import register_secret
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
_MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}

logger = logging.getLogger("omnibase_infra.nodes.node_vault_adapter_effect")

type PatchMode = Literal["auto", "server", "client"]


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


class _NoAmbientAuth(requests.auth.AuthBase):
    """Session auth that adds nothing: with it set, requests skips ``~/.netrc``."""

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        return request


_NO_AMBIENT_AUTH = _NoAmbientAuth()


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _has_version_metadata(body: object) -> bool:
    if not isinstance(body, dict):
        return False
    data = body.get("data")
    return isinstance(data, dict) and isinstance(data.get("metadata"), dict)


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
        if resolved.token is not None:
            register_secret(resolved.token.get_secret_value())
        verify: bool | str = resolved.ca_cert_path or resolved.verify_tls
        # Only credentials the configuration names. hvac reads VAULT_TOKEN, then
        # ~/.vault-token, when token is None, and VAULT_CLIENT_CERT/VAULT_CLIENT_KEY when
        # cert is None: "" and False mean "none" to it. requests adds ~/.netrc credentials
        # to a request when the session has no auth: _NO_AMBIENT_AUTH is that auth.
        self._client = hvac.Client(
            url=resolved.url,
            token=resolved.token.get_secret_value() if resolved.token else "",
            cert=False,
            namespace=resolved.namespace,
            verify=verify,
            timeout=resolved.request_timeout_seconds,
        )
        self._client.adapter.session.auth = _NO_AMBIENT_AUTH
        self._executor = ThreadPoolExecutor(
            max_workers=resolved.max_workers, thread_name_prefix="vault-adapter"
        )
        self._retry_policy = retry_policy if retry_policy is not None else ModelRetryPolicy()
        self._breakers = (
            breakers if breakers is not None else BreakerRegistry(ModelCircuitBreakerConfig())
        )
        self._breaker: CircuitBreaker = self._breakers.get(_TRANSPORT, self._target)
        self._patch_mode: PatchMode = patch_mode
        self._cache = SecretCache(
            resolved.cache_ttl_seconds, max_entries=resolved.cache_max_entries, clock=clock
        )
        self._closed = False
        self._lifetime: LifetimeManager | None = None
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
        if self._lifetime is not None:
            await self._lifetime.stop()
        self._cache.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._client.adapter.close()

    # -- the machinery every operation goes through ------------------------------------

    async def _call[T](self, request: ModelInfraRequest, fn: Callable[[], T]) -> T:
        operation = request.operation
        cid = request.correlation_id
        loop = asyncio.get_running_loop()
        attempts = 0

        async def attempt() -> T:
            nonlocal attempts
            attempts += 1
            async with self._breaker.guard(operation=operation, correlation_id=cid):
                try:
                    return await loop.run_in_executor(self._executor, fn)
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

    def _mount(self, mount_point: str | None) -> str:
        return mount_point or self._config.kv_mount

    @property
    def _kv(self) -> Any:
        return self._client.secrets.kv.v2

    # -- authentication -----------------------------------------------------------------

    def _auth_request(self, operation: str) -> ModelInfraRequest:
        return ModelInfraRequest(
            operation=operation, timeout_seconds=self._config.request_timeout_seconds * 2
        )

    async def login(self) -> LeaseGrant:
        """Log in with AppRole; the node uses the new token from then on."""
        approle = self._config.approle
        request = self._auth_request("auth_login")
        if approle is None:
            raise InfraConfigurationError(
                "no AppRole credentials configured",
                transport=_TRANSPORT,
                operation=request.operation,
                target=self._target,
                correlation_id=request.correlation_id,
            )

        def run() -> dict[str, Any]:
            return cast(
                dict[str, Any],
                self._client.auth.approle.login(
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
                transport=_TRANSPORT,
                operation=request.operation,
                target=self._target,
                correlation_id=request.correlation_id,
            ) from exc
        register_secret(auth["client_token"])
        self._client.token = auth["client_token"]
        return LeaseGrant(float(auth["lease_duration"]), bool(auth["renewable"]))

    async def renew_token(self) -> LeaseGrant:
        """Renew the node's own token (its TTL may be capped by the max TTL)."""

        def run() -> dict[str, Any]:
            return cast(dict[str, Any], self._client.auth.token.renew_self())

        auth = (await self._call(self._auth_request("auth_renew"), run))["auth"]
        return LeaseGrant(float(auth["lease_duration"]), bool(auth["renewable"]))

    async def start_token_lifetime(self) -> LifetimeManager:
        """Log in first if AppRole is configured and there is no token, then keep the token
        alive in the background: renewed at ~2/3 of its TTL, AppRole login again when it
        can't be renewed any more. Stopped by :meth:`close`."""
        if self._lifetime is not None:
            return self._lifetime
        if self._client.token:

            def lookup() -> dict[str, Any]:
                return cast(dict[str, Any], self._client.auth.token.lookup_self())

            data = (await self._call(self._auth_request("auth_lookup"), lookup))["data"]
            grant = LeaseGrant(float(data["ttl"]), bool(data["renewable"]))
        else:
            grant = await self.login()
        self._lifetime = LifetimeManager(
            self.renew_token,
            self.login if self._config.approle is not None else None,
            name=f"vault token {self._target}",
        )
        self._lifetime.start(grant)
        return self._lifetime

    # -- KV v2 ------------------------------------------------------------------------

    async def kv_read(self, request: ModelVaultKvReadRequest) -> ModelVaultKvSecret:
        """A version of a secret; a deleted or destroyed version comes back with ``data`` None."""
        mount = self._mount(request.mount_point)
        key = (mount, request.path, request.version)
        if request.use_cache and (cached := self._cache.get(key)) is not None:
            return cached

        def read() -> dict[str, Any]:
            try:
                return cast(
                    dict[str, Any],
                    self._kv.read_secret_version(
                        path=request.path,
                        version=request.version,
                        mount_point=mount,
                        raise_on_deleted_version=True,
                    ),
                )
            except hv.InvalidPath as exc:
                # A deleted or destroyed version is a 404 carrying its metadata.
                if _has_version_metadata(exc.json):
                    return cast(dict[str, Any], exc.json)
                raise

        body = (await self._call(request, read))["data"]
        meta = body.get("metadata") or {}
        data = body.get("data")
        secret = ModelVaultKvSecret(
            path=request.path,
            version=int(meta.get("version", 0)),
            data=None if data is None else {k: SecretStr(str(v)) for k, v in data.items()},
            created_time=_time(meta.get("created_time")),
            deleted=bool(meta.get("deletion_time")),
            destroyed=bool(meta.get("destroyed")),
            custom_metadata=meta.get("custom_metadata") or {},
        )
        self._cache.put(key, secret)
        return secret

    async def kv_write(self, request: ModelVaultKvWriteRequest) -> ModelVaultKvWriteResponse:
        """Write a new version (check-and-set with ``cas``); a CAS mismatch is a conflict."""
        mount = self._mount(request.mount_point)
        values = {k: v.get_secret_value() for k, v in request.data.items()}

        def write() -> dict[str, Any]:
            return cast(
                dict[str, Any],
                self._kv.create_or_update_secret(
                    path=request.path, secret=values, cas=request.cas, mount_point=mount
                ),
            )

        try:
            body = await self._call(request, write)
        finally:
            self._cache.invalidate(mount, request.path)
        return ModelVaultKvWriteResponse(path=request.path, version=int(body["data"]["version"]))

    async def kv_patch(self, request: ModelVaultKvPatchRequest) -> ModelVaultKvWriteResponse:
        """Merge keys into the latest version (a None value removes the key)."""
        mount = self._mount(request.mount_point)
        changes = {k: None if v is None else v.get_secret_value() for k, v in request.data.items()}
        try:
            if self._patch_mode != "client":
                server = await self._call(
                    request, lambda: self._server_patch(mount, request.path, changes)
                )
                if server is not None:
                    return ModelVaultKvWriteResponse(path=request.path, version=server)
                if self._patch_mode == "server":
                    raise InfraConfigurationError(
                        "the server does not support PATCH on KV v2",
                        transport=_TRANSPORT,
                        operation=request.operation,
                        target=self._target,
                        correlation_id=request.correlation_id,
                    )
            return await self._client_patch(mount, request, changes)
        finally:
            self._cache.invalidate(mount, request.path)

    def _server_patch(self, mount: str, path: str, changes: dict[str, str | None]) -> int | None:
        url = f"/v1/{mount}/data/{path}"
        try:
            body = self._client.adapter.request(
                "PATCH", url, headers=_MERGE_PATCH, json={"data": changes}
            )
        except hv.UnexpectedError as exc:
            if "405" in str(exc) or "unsupported" in str(exc).lower():
                return None
            raise
        return int(cast(dict[str, Any], body)["data"]["version"])

    async def _client_patch(
        self, mount: str, request: ModelVaultKvPatchRequest, changes: dict[str, str | None]
    ) -> ModelVaultKvWriteResponse:
        """Read + check-and-set write, again on a CAS conflict (bounded by the retry policy)."""
        for _ in range(self._retry_policy.max_attempts):
            current = await self.kv_read(
                ModelVaultKvReadRequest(
                    path=request.path,
                    mount_point=mount,
                    use_cache=False,
                    correlation=request.correlation,
                    timeout_seconds=request.timeout_seconds,
                )
            )
            merged = {k: v.get_secret_value() for k, v in (current.data or {}).items()}
            for key, value in changes.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            try:
                return await self.kv_write(
                    ModelVaultKvWriteRequest(
                        path=request.path,
                        mount_point=mount,
                        data={k: SecretStr(v) for k, v in merged.items()},
                        cas=current.version,
                        correlation=request.correlation,
                        timeout_seconds=request.timeout_seconds,
                    )
                )
            except InfraConflictError:
                continue
        raise InfraConflictError(
            "patch kept losing check-and-set races",
            transport=_TRANSPORT,
            operation=request.operation,
            target=self._target,
            correlation_id=request.correlation_id,
        )

    async def kv_delete(self, request: ModelVaultKvDeleteRequest) -> ModelVaultKvDeleteResponse:
        """``kv_delete`` (latest or ``versions``), ``kv_undelete`` or ``kv_destroy`` versions."""
        mount = self._mount(request.mount_point)
        versions = list(request.versions)
        if request.operation != "kv_delete" and not versions:
            raise InfraConfigurationError(
                f"{request.operation} needs versions",
                transport=_TRANSPORT,
                operation=request.operation,
                target=self._target,
                correlation_id=request.correlation_id,
            )

        def run() -> object:
            if request.operation == "kv_undelete":
                return self._kv.undelete_secret_versions(request.path, versions, mount_point=mount)
            if request.operation == "kv_destroy":
                return self._kv.destroy_secret_versions(request.path, versions, mount_point=mount)
            if versions:
                return self._kv.delete_secret_versions(request.path, versions, mount_point=mount)
            return self._kv.delete_latest_version_of_secret(request.path, mount_point=mount)

        try:
            await self._call(request, run)
        finally:
            self._cache.invalidate(mount, request.path)
        return ModelVaultKvDeleteResponse(
            path=request.path, operation=request.operation, versions=versions
        )

    async def kv_list(self, request: ModelVaultKvListRequest) -> ModelVaultKvListResponse:
        """Keys under a path (sub-folders end in '/'); an empty or missing folder is not found."""
        mount = self._mount(request.mount_point)

        def run() -> dict[str, Any]:
            return cast(dict[str, Any], self._kv.list_secrets(request.path, mount_point=mount))

        body = await self._call(request, run)
        return ModelVaultKvListResponse(path=request.path, keys=list(body["data"]["keys"]))

    async def kv_read_metadata(self, request: ModelVaultKvMetadataRequest) -> ModelVaultKvMetadata:
        """A secret's metadata and the state of each of its versions."""
        mount = self._mount(request.mount_point)

        def run() -> dict[str, Any]:
            return cast(
                dict[str, Any], self._kv.read_secret_metadata(request.path, mount_point=mount)
            )

        data = (await self._call(request, run))["data"]
        versions = [
            ModelVaultKvVersionInfo(
                version=int(number),
                created_time=_time(info.get("created_time")),
                deleted=bool(info.get("deletion_time")),
                destroyed=bool(info.get("destroyed")),
            )
            for number, info in sorted(data.get("versions", {}).items(), key=lambda i: int(i[0]))
        ]
        return ModelVaultKvMetadata(
            path=request.path,
            current_version=int(data["current_version"]),
            oldest_version=int(data["oldest_version"]),
            max_versions=int(data["max_versions"]),
            cas_required=bool(data["cas_required"]),
            custom_metadata=data.get("custom_metadata") or {},
            versions=versions,
        )

    async def kv_update_metadata(
        self, request: ModelVaultKvUpdateMetadataRequest
    ) -> ModelVaultKvMetadata:
        """Change max_versions, cas_required or custom metadata; returns the new metadata."""
        mount = self._mount(request.mount_point)

        def run() -> object:
            return self._kv.update_metadata(
                request.path,
                max_versions=request.max_versions,
                cas_required=request.cas_required,
                custom_metadata=request.custom_metadata,
                mount_point=mount,
            )

        await self._call(request, run)
        return await self.kv_read_metadata(
            ModelVaultKvMetadataRequest(
                path=request.path,
                mount_point=mount,
                correlation=request.correlation,
                timeout_seconds=request.timeout_seconds,
            )
        )

    # -- transit ----------------------------------------------------------------------

    @staticmethod
    def _context(
        request: ModelVaultTransitEncryptRequest
        | ModelVaultTransitDecryptRequest
        | ModelVaultTransitRewrapRequest,
    ) -> str | None:
        return None if request.context is None else _b64(request.context.get_secret_value())

    async def transit_encrypt(
        self, request: ModelVaultTransitEncryptRequest
    ) -> ModelVaultTransitCiphertext:
        """Encrypt bytes with a transit key."""
        plaintext = _b64(request.plaintext.get_secret_value())

        def run() -> dict[str, Any]:
            return cast(
                dict[str, Any],
                self._client.secrets.transit.encrypt_data(
                    name=request.key_name,
                    plaintext=plaintext,
                    context=self._context(request),
                    mount_point=request.mount_point,
                ),
            )

        data = (await self._call(request, run))["data"]
        return ModelVaultTransitCiphertext(
            key_name=request.key_name,
            ciphertext=data["ciphertext"],
            key_version=data.get("key_version"),
        )

    async def transit_decrypt(
        self, request: ModelVaultTransitDecryptRequest
    ) -> ModelVaultTransitPlaintext:
        """Decrypt a ciphertext to bytes."""

        def run() -> dict[str, Any]:
            return cast(
                dict[str, Any],
                self._client.secrets.transit.decrypt_data(
                    name=request.key_name,
                    ciphertext=request.ciphertext,
                    context=self._context(request),
                    mount_point=request.mount_point,
                ),
            )

        data = (await self._call(request, run))["data"]
        return ModelVaultTransitPlaintext(
            key_name=request.key_name, plaintext=SecretBytes(base64.b64decode(data["plaintext"]))
        )

    async def transit_rewrap(
        self, request: ModelVaultTransitRewrapRequest
    ) -> ModelVaultTransitCiphertext:
        """Re-encrypt with the key's latest version."""

        def run() -> dict[str, Any]:
            return cast(
                dict[str, Any],
                self._client.secrets.transit.rewrap_data(
                    name=request.key_name,
                    ciphertext=request.ciphertext,
                    context=self._context(request),
                    mount_point=request.mount_point,
                ),
            )

        data = (await self._call(request, run))["data"]
        return ModelVaultTransitCiphertext(
            key_name=request.key_name,
            ciphertext=data["ciphertext"],
            key_version=data.get("key_version"),
        )

    # -- dynamic database credentials and leases ---------------------------------------

    async def database_credentials(
        self, request: ModelVaultDatabaseCredentialsRequest
    ) -> ModelVaultDatabaseCredentials:
        """New credentials from a database role; the password is registered for redaction."""

        def run() -> dict[str, Any]:
            return cast(
                dict[str, Any],
                self._client.secrets.database.generate_credentials(
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

    async def lease(self, request: ModelVaultLeaseRequest) -> ModelVaultLease:
        """Renew or revoke a lease (``operation`` ``lease_renew`` or ``lease_revoke``)."""

        def run() -> object:
            if request.operation == "lease_revoke":
                return self._client.sys.revoke_lease(lease_id=request.lease_id)
            return self._client.sys.renew_lease(
                lease_id=request.lease_id, increment=request.increment_seconds
            )

        body = await self._call(request, run)
        if request.operation == "lease_revoke":
            return ModelVaultLease(
                lease_id=request.lease_id, lease_duration_seconds=0, renewable=False
            )
        renewed = cast(dict[str, Any], body)
        return ModelVaultLease(
            lease_id=renewed["lease_id"],
            lease_duration_seconds=int(renewed["lease_duration"]),
            renewable=bool(renewed["renewable"]),
        )

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
