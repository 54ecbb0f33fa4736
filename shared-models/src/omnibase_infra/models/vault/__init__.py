"""Typed configuration, requests and responses of the Vault node (KV v2, token auth).

Secret values are ``SecretStr`` everywhere: in requests, responses and their ``repr``.
Paths are validated before anything is sent: no empty segment, no ``.``/``..``, no
leading or trailing ``/`` (except a trailing one on list), no control characters.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretBytes,
    SecretStr,
    TypeAdapter,
    field_validator,
)

from omnibase_infra.models.model_infra_envelope import ModelInfraRequest

__all__ = [
    "EnumVaultOperation",
    "ModelVaultAppRoleAuth",
    "ModelVaultConfig",
    "ModelVaultCredentialsRevokeRequest",
    "ModelVaultCredentialsRevoked",
    "ModelVaultDatabaseCredentials",
    "ModelVaultDatabaseCredentialsRequest",
    "ModelVaultKvDeleteRequest",
    "ModelVaultKvDeleteResponse",
    "ModelVaultKvListRequest",
    "ModelVaultKvListResponse",
    "ModelVaultKvMetadata",
    "ModelVaultKvMetadataRequest",
    "ModelVaultKvPatchRequest",
    "ModelVaultKvReadRequest",
    "ModelVaultKvSecret",
    "ModelVaultKvUpdateMetadataRequest",
    "ModelVaultKvVersionInfo",
    "ModelVaultKvWriteRequest",
    "ModelVaultKvWriteResponse",
    "ModelVaultLease",
    "ModelVaultLeaseRequest",
    "ModelVaultTransitCiphertext",
    "ModelVaultTransitDecryptRequest",
    "ModelVaultTransitEncryptRequest",
    "ModelVaultTransitPlaintext",
    "ModelVaultTransitRewrapRequest",
    "VaultRequest",
    "parse_vault_request",
    "validate_vault_path",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MOUNT = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


class EnumVaultOperation(StrEnum):
    """Operations of the Vault node (the contract lists them in this order)."""

    KV_READ = "kv_read"
    KV_WRITE = "kv_write"
    KV_PATCH = "kv_patch"
    KV_DELETE = "kv_delete"
    KV_UNDELETE = "kv_undelete"
    KV_DESTROY = "kv_destroy"
    KV_LIST = "kv_list"
    KV_READ_METADATA = "kv_read_metadata"
    KV_UPDATE_METADATA = "kv_update_metadata"
    TRANSIT_ENCRYPT = "transit_encrypt"
    TRANSIT_DECRYPT = "transit_decrypt"
    TRANSIT_REWRAP = "transit_rewrap"
    DATABASE_CREDENTIALS = "database_credentials"
    LEASE_RENEW = "lease_renew"
    LEASE_REVOKE = "lease_revoke"
    CREDENTIALS_REVOKE = "credentials_revoke"


def validate_vault_path(path: str, *, allow_trailing_slash: bool = False) -> str:
    """Return ``path`` if it is a safe secret path, else raise ``ValueError``."""
    body = path[:-1] if allow_trailing_slash and path.endswith("/") else path
    if not body:
        if allow_trailing_slash:
            return path  # the mount's root, for list
        raise ValueError("path is empty")
    if _CONTROL.search(body):
        raise ValueError("path contains a control character")
    for segment in body.split("/"):
        if segment == "":
            raise ValueError("path has an empty segment (leading, trailing or double '/')")
        if segment in {".", ".."}:
            raise ValueError(f"path segment {segment!r} is not allowed")
    return path


def _mount(value: str) -> str:
    if not _MOUNT.match(value) or any(s in {".", ".."} for s in value.split("/")):
        raise ValueError(f"invalid mount point {value!r}")
    return value


class ModelVaultAppRoleAuth(BaseModel):
    """AppRole credentials: both ids are secrets."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    role_id: SecretStr
    secret_id: SecretStr
    mount_point: str = "approle"

    @field_validator("mount_point")
    @classmethod
    def _mount_point(cls, value: str) -> str:
        return _mount(value)


class ModelVaultConfig(BaseModel):
    """Where the server is and how to talk to it. The token never appears in ``repr``."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    url: str = Field(pattern=r"^https?://[^/@\s]+(:\d+)?/?$")
    token: SecretStr | None = None
    approle: ModelVaultAppRoleAuth | None = None
    namespace: str | None = Field(default=None, min_length=1, max_length=200)
    kv_mount: str = "secret"
    verify_tls: bool = True
    ca_cert_path: str | None = None
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=600, allow_inf_nan=False)
    max_workers: int = Field(default=4, ge=1, le=64)
    cache_ttl_seconds: float = Field(default=0.0, ge=0, le=86400, allow_inf_nan=False)
    cache_max_entries: int = Field(
        default=1024, ge=1, le=1_000_000, description="secrets the read cache holds at most"
    )

    @field_validator("kv_mount")
    @classmethod
    def _kv_mount(cls, value: str) -> str:
        return _mount(value)

    @property
    def target(self) -> str:
        """``host:port`` of the server (never credentials)."""
        return self.url.split("://", 1)[1].rstrip("/")


class _KvRequest(ModelInfraRequest):
    model_config = ConfigDict(defer_build=True)

    path: str = Field(min_length=1, max_length=1024)
    mount_point: str | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return validate_vault_path(value)

    @field_validator("mount_point")
    @classmethod
    def _mount_point(cls, value: str | None) -> str | None:
        return None if value is None else _mount(value)


class ModelVaultKvReadRequest(_KvRequest):
    """Read the latest version, or ``version``; ``use_cache`` allows a cached answer."""

    operation: Literal["kv_read"] = "kv_read"
    version: int | None = Field(default=None, ge=1)
    use_cache: bool = True


class ModelVaultKvWriteRequest(_KvRequest):
    """Write a new version; ``cas=0`` only creates, ``cas=n`` only if the current is ``n``."""

    operation: Literal["kv_write"] = "kv_write"
    data: dict[str, SecretStr]
    cas: int | None = Field(default=None, ge=0)


class ModelVaultKvPatchRequest(_KvRequest):
    """Merge ``data`` into the latest version (keys set to None are removed)."""

    operation: Literal["kv_patch"] = "kv_patch"
    data: dict[str, SecretStr | None] = Field(min_length=1)


class ModelVaultKvDeleteRequest(_KvRequest):
    """Soft-delete (``kv_delete``: the latest version when ``versions`` is empty),
    undelete, or destroy (``versions`` required) versions."""

    operation: Literal["kv_delete", "kv_undelete", "kv_destroy"] = "kv_delete"
    versions: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)

    @field_validator("versions")
    @classmethod
    def _sorted(cls, value: list[int]) -> list[int]:
        return sorted(set(value))


class ModelVaultKvListRequest(ModelInfraRequest):
    """List the keys under ``path`` (``""`` is the mount's root; sub-folders end in '/')."""

    model_config = ConfigDict(defer_build=True)

    operation: Literal["kv_list"] = "kv_list"
    path: str = Field(default="", max_length=1024)
    mount_point: str | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return validate_vault_path(value, allow_trailing_slash=True)

    @field_validator("mount_point")
    @classmethod
    def _mount_point(cls, value: str | None) -> str | None:
        return None if value is None else _mount(value)


class ModelVaultKvMetadataRequest(_KvRequest):
    """Read a secret's metadata (versions, max_versions, cas_required, custom metadata)."""

    operation: Literal["kv_read_metadata"] = "kv_read_metadata"


class ModelVaultKvUpdateMetadataRequest(_KvRequest):
    """Change a secret's settings; fields left None are not changed."""

    operation: Literal["kv_update_metadata"] = "kv_update_metadata"
    max_versions: int | None = Field(default=None, ge=0)
    cas_required: bool | None = None
    custom_metadata: dict[str, str] | None = None


_KEY_NAME = r"^[A-Za-z0-9_.\-]+$"


class _TransitRequest(ModelInfraRequest):
    model_config = ConfigDict(defer_build=True)

    key_name: str = Field(min_length=1, max_length=256, pattern=_KEY_NAME)
    mount_point: str = "transit"
    context: SecretBytes | None = None  # derived keys only

    @field_validator("mount_point")
    @classmethod
    def _mount_point(cls, value: str) -> str:
        return _mount(value)


class ModelVaultTransitEncryptRequest(_TransitRequest):
    """Encrypt bytes with a transit key (base64 is the node's business, not the caller's)."""

    operation: Literal["transit_encrypt"] = "transit_encrypt"
    plaintext: SecretBytes


class ModelVaultTransitDecryptRequest(_TransitRequest):
    """Decrypt a ``vault:vN:...`` ciphertext."""

    operation: Literal["transit_decrypt"] = "transit_decrypt"
    ciphertext: str = Field(min_length=1, pattern=r"^vault:v\d+:")


class ModelVaultTransitRewrapRequest(_TransitRequest):
    """Re-encrypt a ciphertext with the key's latest version, without revealing it."""

    operation: Literal["transit_rewrap"] = "transit_rewrap"
    ciphertext: str = Field(min_length=1, pattern=r"^vault:v\d+:")


class ModelVaultDatabaseCredentialsRequest(ModelInfraRequest):
    """New credentials from a database secrets engine role (a lease to renew or revoke)."""

    model_config = ConfigDict(defer_build=True)

    operation: Literal["database_credentials"] = "database_credentials"
    role: str = Field(min_length=1, max_length=256, pattern=_KEY_NAME)
    mount_point: str = "database"
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=512)
    """When set, the credentials are issued through a token of their own, recorded under
    this key before they are issued; a call with the same key first revokes that token
    (and so the lease and database user an earlier, interrupted call created). The
    orchestrator sets it to ``<run_id>:<step_id>``."""
    token_role: str | None = Field(default=None, min_length=1, max_length=256, pattern=_KEY_NAME)
    """Create that token through this token role (``auth/token/create/<role>``, e.g. one
    with ``orphan=true`` so that the credentials outlive the node's own token); None: a
    child token of the node's token. Only with ``idempotency_key``."""
    anchor_mount: str | None = None
    """The KV v2 mount of the record of the key's token; None: the node's ``kv_mount``."""

    @field_validator("mount_point", "anchor_mount")
    @classmethod
    def _mount_point(cls, value: str | None) -> str | None:
        return None if value is None else _mount(value)


class ModelVaultCredentialsRevokeRequest(ModelInfraRequest):
    """Revoke the token that issued database credentials (``accessor`` of
    :class:`ModelVaultDatabaseCredentials`): its lease goes with it (and with it the
    database user; at once when the record of its idempotency key names the lease, else
    in the server's background), and so does that record. Safe to repeat."""

    model_config = ConfigDict(defer_build=True)

    operation: Literal["credentials_revoke"] = "credentials_revoke"
    accessor: str = Field(min_length=1, max_length=256, pattern=_KEY_NAME)
    anchor_mount: str | None = None

    @field_validator("anchor_mount")
    @classmethod
    def _anchor_mount(cls, value: str | None) -> str | None:
        return None if value is None else _mount(value)


class ModelVaultLeaseRequest(ModelInfraRequest):
    """Renew (by ``increment_seconds``, the server's default when None) or revoke a lease."""

    model_config = ConfigDict(defer_build=True)

    operation: Literal["lease_renew", "lease_revoke"] = "lease_renew"
    lease_id: str = Field(min_length=1, max_length=1024)
    increment_seconds: int | None = Field(default=None, ge=1)

    @field_validator("lease_id")
    @classmethod
    def _lease_id(cls, value: str) -> str:
        return validate_vault_path(value)


type VaultRequest = (
    ModelVaultKvReadRequest
    | ModelVaultKvWriteRequest
    | ModelVaultKvPatchRequest
    | ModelVaultKvDeleteRequest
    | ModelVaultKvListRequest
    | ModelVaultKvMetadataRequest
    | ModelVaultKvUpdateMetadataRequest
    | ModelVaultTransitEncryptRequest
    | ModelVaultTransitDecryptRequest
    | ModelVaultTransitRewrapRequest
    | ModelVaultDatabaseCredentialsRequest
    | ModelVaultLeaseRequest
    | ModelVaultCredentialsRevokeRequest
)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class ModelVaultKvSecret(_Response):
    """One version of a secret. A deleted or destroyed version has ``data`` None."""

    path: str
    version: int
    data: dict[str, SecretStr] | None
    created_time: datetime | None = None
    deleted: bool = False
    destroyed: bool = False
    custom_metadata: dict[str, str] = Field(default_factory=dict)


class ModelVaultKvWriteResponse(_Response):
    """The version a write or patch created."""

    path: str
    version: int


class ModelVaultKvListResponse(_Response):
    """Keys under a path; sub-folders end in '/'."""

    path: str
    keys: list[str]


class ModelVaultKvVersionInfo(_Response):
    """One version in a secret's metadata."""

    version: int
    created_time: datetime | None = None
    deleted: bool = False
    destroyed: bool = False


class ModelVaultKvMetadata(_Response):
    """A secret's metadata."""

    path: str
    current_version: int
    oldest_version: int
    max_versions: int
    cas_required: bool
    custom_metadata: dict[str, str] = Field(default_factory=dict)
    versions: list[ModelVaultKvVersionInfo] = Field(default_factory=list)


class ModelVaultKvDeleteResponse(_Response):
    """What a delete, undelete or destroy acted on (``versions`` empty: the latest)."""

    path: str
    operation: Literal["kv_delete", "kv_undelete", "kv_destroy"]
    versions: list[int] = Field(default_factory=list)


class ModelVaultTransitCiphertext(_Response):
    """A transit ciphertext (not secret) and the key version that made it."""

    key_name: str
    ciphertext: str
    key_version: int | None = None


class ModelVaultTransitPlaintext(_Response):
    """Decrypted bytes."""

    key_name: str
    plaintext: SecretBytes


class ModelVaultLease(_Response):
    """A lease after renewal (or revocation: duration 0, not renewable)."""

    lease_id: str
    lease_duration_seconds: int
    renewable: bool


class ModelVaultDatabaseCredentials(ModelVaultLease):
    """Dynamic database credentials and their lease."""

    username: str
    password: SecretStr
    accessor: str | None = None
    """The accessor of the token that issued them (requests with an ``idempotency_key``):
    revoking it (``credentials_revoke``) revokes the lease too."""


class ModelVaultCredentialsRevoked(_Response):
    """A ``credentials_revoke``: ``revoked`` False when the token was already gone."""

    accessor: str
    revoked: bool


@functools.cache
def _request_adapter() -> TypeAdapter[VaultRequest]:
    # Built on first use: its schema (every request model) costs import time.
    return TypeAdapter(
        Annotated[
            ModelVaultKvReadRequest
            | ModelVaultKvWriteRequest
            | ModelVaultKvPatchRequest
            | ModelVaultKvDeleteRequest
            | ModelVaultKvListRequest
            | ModelVaultKvMetadataRequest
            | ModelVaultKvUpdateMetadataRequest
            | ModelVaultTransitEncryptRequest
            | ModelVaultTransitDecryptRequest
            | ModelVaultTransitRewrapRequest
            | ModelVaultDatabaseCredentialsRequest
            | ModelVaultLeaseRequest
            | ModelVaultCredentialsRevokeRequest,
            Field(discriminator="operation"),
        ]
    )


def parse_vault_request(data: object) -> VaultRequest:
    """The typed request for a dict whose ``operation`` names it (pydantic errors otherwise)."""
    return _request_adapter().validate_python(data)
