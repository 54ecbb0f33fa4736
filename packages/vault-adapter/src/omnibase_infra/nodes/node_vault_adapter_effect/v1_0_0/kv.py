"""The KV v2 secrets engine: read, write (check-and-set), patch, delete / undelete /
destroy, list, metadata; the node's read cache sits here, invalidated by its own writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal, cast

from pydantic import SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError, InfraConflictError
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.models.vault import (
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
)
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.cache import SecretCache
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.client import VaultCall

__all__ = ["KvEngine", "PatchMode"]

type PatchMode = Literal["auto", "server", "client"]

_MERGE_PATCH: Final = {"Content-Type": "application/merge-patch+json"}


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _has_version_metadata(body: object) -> bool:
    if not isinstance(body, dict):
        return False
    data = body.get("data")
    return isinstance(data, dict) and isinstance(data.get("metadata"), dict)


def follow_up(request: ModelInfraRequest) -> dict[str, Any]:
    """What a request made on behalf of ``request`` inherits: its correlation, and the
    deadline and retry policy the caller set (else the follow-up's own policy applies)."""
    inherited: dict[str, Any] = {"correlation": request.correlation}
    if "timeout_seconds" in request.model_fields_set:
        inherited["timeout_seconds"] = request.timeout_seconds
    if request.retry_policy is not None:
        inherited["retry_policy"] = request.retry_policy
    return inherited


def _read(kv: Any, path: str, version: int | None, mount: str) -> dict[str, Any]:
    from hvac.exceptions import InvalidPath  # type: ignore[import-untyped]  # noqa: PLC0415

    try:
        return cast(
            dict[str, Any],
            kv.read_secret_version(
                path=path, version=version, mount_point=mount, raise_on_deleted_version=True
            ),
        )
    except InvalidPath as exc:
        # A deleted or destroyed version is a 404 carrying its metadata.
        if _has_version_metadata(exc.json):
            return cast(dict[str, Any], exc.json)
        raise


def _server_patch(client: Any, mount: str, path: str, changes: dict[str, str | None]) -> int | None:
    """The new version, or None when the server has no PATCH (before Vault 1.9: 405)."""
    from hvac.exceptions import UnexpectedError  # noqa: PLC0415

    try:
        body = client.adapter.request(
            "PATCH", f"/v1/{mount}/data/{path}", headers=_MERGE_PATCH, json={"data": changes}
        )
    except UnexpectedError as exc:
        if "405" in str(exc) or "unsupported" in str(exc).lower():
            return None
        raise
    return int(cast(dict[str, Any], body)["data"]["version"])


class KvEngine:
    """KV v2 on ``default_mount`` (a request's ``mount_point`` wins). ``patch_mode``:
    ``auto`` uses the server's PATCH and falls back to read + check-and-set write when the
    server has none; ``server`` only the former; ``client`` always the latter, at most
    ``cas_attempts`` times when other writers keep winning the race."""

    def __init__(
        self,
        call: VaultCall,
        *,
        target: str,
        default_mount: str,
        cache: SecretCache,
        patch_mode: PatchMode,
        cas_attempts: int,
    ) -> None:
        self._call = call
        self._target = target
        self._default_mount = default_mount
        self._cache = cache
        self._patch_mode: PatchMode = patch_mode
        self._cas_attempts = cas_attempts

    def _mount(self, mount_point: str | None) -> str:
        return mount_point or self._default_mount

    def _configuration_error(
        self, message: str, request: ModelInfraRequest
    ) -> InfraConfigurationError:
        return InfraConfigurationError(
            message,
            transport=EnumTransport.VAULT,
            operation=request.operation,
            target=self._target,
            correlation_id=request.correlation_id,
        )

    async def read(self, request: ModelVaultKvReadRequest) -> ModelVaultKvSecret:
        mount = self._mount(request.mount_point)
        key = (mount, request.path, request.version)
        if request.use_cache and (cached := self._cache.get(key)) is not None:
            return cached
        path, version = request.path, request.version
        body = (await self._call(request, lambda c: _read(c.secrets.kv.v2, path, version, mount)))[
            "data"
        ]
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

    async def write(self, request: ModelVaultKvWriteRequest) -> ModelVaultKvWriteResponse:
        mount = self._mount(request.mount_point)
        values = {k: v.get_secret_value() for k, v in request.data.items()}

        def write(client: Any) -> dict[str, Any]:
            return cast(
                dict[str, Any],
                client.secrets.kv.v2.create_or_update_secret(
                    path=request.path, secret=values, cas=request.cas, mount_point=mount
                ),
            )

        try:
            body = await self._call(request, write)
        finally:
            self._cache.invalidate(mount, request.path)
        return ModelVaultKvWriteResponse(path=request.path, version=int(body["data"]["version"]))

    async def patch(self, request: ModelVaultKvPatchRequest) -> ModelVaultKvWriteResponse:
        mount = self._mount(request.mount_point)
        changes = {k: None if v is None else v.get_secret_value() for k, v in request.data.items()}
        try:
            if self._patch_mode != "client":
                version = await self._call(
                    request, lambda c: _server_patch(c, mount, request.path, changes)
                )
                if version is not None:
                    return ModelVaultKvWriteResponse(path=request.path, version=version)
                if self._patch_mode == "server":
                    raise self._configuration_error(
                        "the server does not support PATCH on KV v2", request
                    )
            return await self._client_patch(mount, request, changes)
        finally:
            self._cache.invalidate(mount, request.path)

    async def _client_patch(
        self, mount: str, request: ModelVaultKvPatchRequest, changes: dict[str, str | None]
    ) -> ModelVaultKvWriteResponse:
        """Read + check-and-set write, again on a CAS conflict (at most ``cas_attempts``)."""
        inherited = follow_up(request)
        for _ in range(self._cas_attempts):
            current = await self.read(
                ModelVaultKvReadRequest(
                    path=request.path, mount_point=mount, use_cache=False, **inherited
                )
            )
            merged = {k: v.get_secret_value() for k, v in (current.data or {}).items()}
            for key, value in changes.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            try:
                return await self.write(
                    ModelVaultKvWriteRequest(
                        path=request.path,
                        mount_point=mount,
                        data={k: SecretStr(v) for k, v in merged.items()},
                        cas=current.version,
                        **inherited,
                    )
                )
            except InfraConflictError:
                continue
        raise InfraConflictError(
            "patch kept losing check-and-set races",
            transport=EnumTransport.VAULT,
            operation=request.operation,
            target=self._target,
            correlation_id=request.correlation_id,
        )

    async def delete(self, request: ModelVaultKvDeleteRequest) -> ModelVaultKvDeleteResponse:
        mount = self._mount(request.mount_point)
        versions = list(request.versions)
        operation, path = request.operation, request.path
        if operation != "kv_delete" and not versions:
            raise self._configuration_error(f"{operation} needs versions", request)

        def run(client: Any) -> object:
            kv = client.secrets.kv.v2
            if operation == "kv_undelete":
                return kv.undelete_secret_versions(path, versions, mount_point=mount)
            if operation == "kv_destroy":
                return kv.destroy_secret_versions(path, versions, mount_point=mount)
            if versions:
                return kv.delete_secret_versions(path, versions, mount_point=mount)
            return kv.delete_latest_version_of_secret(path, mount_point=mount)

        try:
            await self._call(request, run)
        finally:
            self._cache.invalidate(mount, path)
        return ModelVaultKvDeleteResponse(path=path, operation=operation, versions=versions)

    async def list(self, request: ModelVaultKvListRequest) -> ModelVaultKvListResponse:
        mount = self._mount(request.mount_point)

        def run(client: Any) -> dict[str, Any]:
            return cast(
                dict[str, Any], client.secrets.kv.v2.list_secrets(request.path, mount_point=mount)
            )

        body = await self._call(request, run)
        return ModelVaultKvListResponse(path=request.path, keys=list(body["data"]["keys"]))

    async def read_metadata(self, request: ModelVaultKvMetadataRequest) -> ModelVaultKvMetadata:
        mount = self._mount(request.mount_point)

        def run(client: Any) -> dict[str, Any]:
            return cast(
                dict[str, Any],
                client.secrets.kv.v2.read_secret_metadata(request.path, mount_point=mount),
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

    async def update_metadata(
        self, request: ModelVaultKvUpdateMetadataRequest
    ) -> ModelVaultKvMetadata:
        mount = self._mount(request.mount_point)

        def run(client: Any) -> object:
            return client.secrets.kv.v2.update_metadata(
                request.path,
                max_versions=request.max_versions,
                cas_required=request.cas_required,
                custom_metadata=request.custom_metadata,
                mount_point=mount,
            )

        await self._call(request, run)
        return await self.read_metadata(
            ModelVaultKvMetadataRequest(path=request.path, mount_point=mount, **follow_up(request))
        )
