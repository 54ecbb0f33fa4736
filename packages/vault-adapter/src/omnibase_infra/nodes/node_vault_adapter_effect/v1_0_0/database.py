"""The database secrets engine: dynamic credentials from a role (their lease is renewed or
revoked through :mod:`.leases`).

Each call creates a new lease and a new database user, and the server takes no handle from
the caller: a call repeated after a crash (or after a lost answer) would leave the first
credentials alive. A request with an ``idempotency_key`` is therefore reconciled:

1. the record of the key (KV v2, ``onex-infra/credentials/<sha256 of the key>`` on the
   node's ``kv_mount``) names the token an earlier call with the key created: that token is
   revoked, which revokes every lease it created (the database engine then drops the
   users);
2. a token of its own is created (a child of the node's token, or through ``token_role``,
   e.g. an orphan role) with a short TTL (``BOOTSTRAP_TTL_SECONDS``), and its accessor is
   recorded under the key **before** any credentials exist;
3. the credentials are issued with that token, and the token is renewed to outlive the
   lease (a lease is revoked with its token).

A crash between 2 and the record leaves a token without any lease that expires after
``BOOTSTRAP_TTL_SECONDS``; at any other point the next call with the key finds and revokes
what the earlier one created. ``credentials_revoke`` revokes the token by its accessor (and
with it the lease) and deletes the record.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from typing import Any, Final, cast

from pydantic import SecretStr

from omnibase_infra.models.vault import (
    ModelVaultCredentialsRevoked,
    ModelVaultCredentialsRevokeRequest,
    ModelVaultDatabaseCredentials,
    ModelVaultDatabaseCredentialsRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.client import VaultCall
from omnibase_infra.redaction import register_secret

__all__ = ["ANCHOR_PREFIX", "BOOTSTRAP_TTL_SECONDS", "DatabaseEngine", "anchor_path"]

ANCHOR_PREFIX: Final = "onex-infra/credentials"
"""Where the record of each idempotency key's token lives on the KV mount."""
BOOTSTRAP_TTL_SECONDS: Final = 120
"""The TTL of a credentials token until its credentials exist (then it is renewed)."""
RENEW_MARGIN_SECONDS: Final = 60
"""The token outlives its lease by this much (the lease is revoked with its token)."""
_DISPLAY_NAME: Final = "onex-credentials"


def anchor_path(idempotency_key: str) -> str:
    """The KV path of the record of ``idempotency_key``'s token (the key itself is not
    in the path)."""
    return f"{ANCHOR_PREFIX}/{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}"


def _gone(exc: Exception) -> bool:
    """True for the server's answer to an accessor that names no live token."""
    from hvac.exceptions import InvalidRequest  # type: ignore[import-untyped]  # noqa: PLC0415

    return isinstance(exc, InvalidRequest) and "invalid accessor" in str(exc).lower()


def _revoke(client: Any, accessor: str | None, lease_id: str | None) -> bool:
    """Revoke ``lease_id`` (synchronously: its database user is dropped when this returns)
    and the token ``accessor`` (which revokes any other lease it created, in the
    background); False when the token was already gone."""
    if lease_id:  # the server answers 204 for a lease it does not have (any more)
        client.sys.revoke_lease(lease_id=lease_id)
    if not accessor:
        return False
    try:
        client.auth.token.revoke_accessor(accessor)
    except Exception as exc:
        if not _gone(exc):
            raise
        return False
    return True


def _lease_gone(exc: Exception) -> bool:
    """True for the server's answer to a lease that no longer exists."""
    from hvac.exceptions import InvalidRequest  # noqa: PLC0415

    return isinstance(exc, InvalidRequest) and "invalid lease" in str(exc).lower()


class DatabaseEngine:
    """Database credentials on the request's ``mount_point``. ``client_for(token)``: an
    hvac client of the node's server that sends ``token`` (closed by the caller);
    ``kv_mount``: the default mount of the idempotency records."""

    def __init__(self, call: VaultCall, *, client_for: Callable[[str], Any], kv_mount: str) -> None:
        self._call = call
        self._client_for = client_for
        self._kv_mount = kv_mount

    async def credentials(
        self, request: ModelVaultDatabaseCredentialsRequest
    ) -> ModelVaultDatabaseCredentials:
        """New credentials; the password is registered for redaction before anything else
        sees it. With an ``idempotency_key``: reconciled first (module docstring)."""
        key = request.idempotency_key

        def run(client: Any) -> dict[str, Any]:
            if key is None:
                return cast(
                    dict[str, Any],
                    client.secrets.database.generate_credentials(
                        name=request.role, mount_point=request.mount_point
                    ),
                )
            return self._reconciled(client, request, key)

        body = await self._call(request, run)
        password = str(body["data"]["password"])
        register_secret(password)
        return ModelVaultDatabaseCredentials(
            lease_id=body["lease_id"],
            lease_duration_seconds=int(body["lease_duration"]),
            renewable=bool(body["renewable"]),
            username=str(body["data"]["username"]),
            password=SecretStr(password),
            accessor=body.get("accessor"),
        )

    def _reconciled(
        self, client: Any, request: ModelVaultDatabaseCredentialsRequest, key: str
    ) -> dict[str, Any]:
        """Steps 1-3 of the module docstring, on the pool (one operation of the runner)."""
        from hvac.exceptions import InvalidPath  # noqa: PLC0415 - import cost (client.py)

        mount = request.anchor_mount or self._kv_mount
        path = anchor_path(key)
        kv = client.secrets.kv.v2
        try:
            earlier = kv.read_secret_version(
                path=path, mount_point=mount, raise_on_deleted_version=True
            )["data"]["data"]
        except InvalidPath:
            earlier = {}
        _revoke(client, earlier.get("accessor"), earlier.get("lease_id"))
        created = client.auth.token.create(
            role_name=request.token_role,
            ttl=f"{BOOTSTRAP_TTL_SECONDS}s",
            renewable=True,
            display_name=_DISPLAY_NAME,
            meta={"idempotency_key": key, "anchor": path.rsplit("/", 1)[1], "anchor_mount": mount},
        )["auth"]
        token, accessor = str(created["client_token"]), str(created["accessor"])
        register_secret(token)
        issuer = self._client_for(token)
        try:
            kv.create_or_update_secret(path=path, secret={"accessor": accessor}, mount_point=mount)
            body = cast(
                dict[str, Any],
                issuer.secrets.database.generate_credentials(
                    name=request.role, mount_point=request.mount_point
                ),
            )
            kv.create_or_update_secret(
                path=path,
                secret={"accessor": accessor, "lease_id": body["lease_id"]},
                mount_point=mount,
            )
            issuer.auth.token.renew_self(
                increment=int(body["lease_duration"]) + RENEW_MARGIN_SECONDS
            )
        except Exception:
            # Nothing of this call may outlive its failure (the original error is the one
            # to report).
            with contextlib.suppress(Exception):
                client.auth.token.revoke_accessor(accessor)
            raise
        finally:
            issuer.adapter.close()
        return {**body, "accessor": accessor}

    async def revoke(
        self, request: ModelVaultCredentialsRevokeRequest
    ) -> ModelVaultCredentialsRevoked:
        """Revoke the credentials' token (and so their lease) and delete the record of its
        idempotency key; ``revoked`` False when the token was already gone."""

        def run(client: Any) -> bool:
            from hvac.exceptions import InvalidPath  # noqa: PLC0415 - import cost

            try:
                token = client.auth.token.lookup_accessor(request.accessor)["data"]
            except Exception as exc:
                if _gone(exc):
                    return False
                raise
            meta = token.get("meta") or {}
            anchor = meta.get("anchor")
            recorded: dict[str, Any] = {}
            if anchor:
                mount = request.anchor_mount or meta.get("anchor_mount") or self._kv_mount
                try:
                    recorded = client.secrets.kv.v2.read_secret_version(
                        path=f"{ANCHOR_PREFIX}/{anchor}",
                        mount_point=mount,
                        raise_on_deleted_version=True,
                    )["data"]["data"]
                except InvalidPath:
                    recorded = {}
            if recorded.get("accessor") != request.accessor:
                recorded = {}  # the record names a later token of the key: not this one's
            revoked = _revoke(client, request.accessor, recorded.get("lease_id"))
            if recorded:
                client.secrets.kv.v2.delete_metadata_and_all_versions(
                    path=f"{ANCHOR_PREFIX}/{anchor}", mount_point=mount
                )
            return revoked

        revoked = await self._call(request, run)
        return ModelVaultCredentialsRevoked(accessor=request.accessor, revoked=revoked)
