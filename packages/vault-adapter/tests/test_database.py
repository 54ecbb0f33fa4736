"""Dynamic database credentials end to end: OpenBao creates a real PostgreSQL role, the
credentials log in, renewal extends the lease, revocation drops the role."""

from __future__ import annotations

from urllib.parse import urlsplit

import asyncpg
import hvac  # type: ignore[import-untyped]
import pytest

from omnibase_infra.errors import InfraError, InfraNotFoundError, InfraRejectedRequestError
from omnibase_infra.models.vault import (
    ModelVaultCredentialsRevokeRequest,
    ModelVaultDatabaseCredentialsRequest,
    ModelVaultLeaseRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.database import anchor_path
from omnibase_infra_testing.services.postgres import PostgresService

CREATE = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
]


@pytest.fixture
def database_mount(root: hvac.Client, postgres_service: PostgresService, prefix: str) -> str:
    mount = f"db-{prefix}"
    parts = urlsplit(postgres_service.dsn)
    root.sys.enable_secrets_engine("database", path=mount)
    root.secrets.database.configure(
        name="pg",
        plugin_name="postgresql-database-plugin",
        allowed_roles=["app"],
        connection_url=(
            "postgresql://{{username}}:{{password}}@"
            f"{parts.hostname}:{parts.port}{parts.path}?sslmode=disable"
        ),
        username=postgres_service.user,
        password="unused-with-trust-auth",
        mount_point=mount,
    )
    root.secrets.database.create_role(
        name="app",
        db_name="pg",
        creation_statements=CREATE,
        default_ttl="10m",
        max_ttl="1h",
        mount_point=mount,
    )
    return mount


async def _login(postgres_service: PostgresService, user: str, password: str) -> int:
    conn = await asyncpg.connect(
        host=postgres_service.host,
        port=postgres_service.port,
        user=user,
        password=password,
        database=postgres_service.database,
    )
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


async def test_credentials_log_in_renew_and_stop_working_when_revoked(
    node: NodeVaultAdapterEffect, postgres_service: PostgresService, database_mount: str
) -> None:
    creds = await node.database_credentials(
        ModelVaultDatabaseCredentialsRequest(role="app", mount_point=database_mount)
    )
    password = creds.password.get_secret_value()
    assert creds.username.startswith("v-")
    assert (creds.lease_duration_seconds, creds.renewable) == (600, True)
    assert password not in repr(creds)
    assert await _login(postgres_service, creds.username, password) == 1
    renewed = await node.lease(
        ModelVaultLeaseRequest(lease_id=creds.lease_id, increment_seconds=1200)
    )
    assert renewed.lease_id == creds.lease_id
    assert 600 < renewed.lease_duration_seconds <= 1200
    revoked = await node.process(
        ModelVaultLeaseRequest(operation="lease_revoke", lease_id=creds.lease_id)
    )
    assert (revoked.lease_duration_seconds, revoked.renewable) == (0, False)
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await _login(postgres_service, creds.username, password)
    with pytest.raises(InfraError) as gone:
        await node.lease(ModelVaultLeaseRequest(lease_id=creds.lease_id))
    assert isinstance(gone.value, (InfraRejectedRequestError, InfraNotFoundError))
    assert password not in str(gone.value)


async def test_unknown_role_is_an_error(node: NodeVaultAdapterEffect, database_mount: str) -> None:
    with pytest.raises((InfraRejectedRequestError, InfraNotFoundError)):
        await node.database_credentials(
            ModelVaultDatabaseCredentialsRequest(role="nobody", mount_point=database_mount)
        )


async def _roles(postgres_service: PostgresService, names: set[str]) -> set[str]:
    conn = await asyncpg.connect(postgres_service.dsn)
    try:
        rows = await conn.fetch("SELECT rolname FROM pg_roles WHERE rolname = ANY($1)", list(names))
        return {str(row[0]) for row in rows}
    finally:
        await conn.close()


def _leases(root: hvac.Client, mount: str) -> set[str]:
    listed = root.list(f"sys/leases/lookup/{mount}/creds/app/")
    return set((listed or {}).get("data", {}).get("keys", ()))


async def test_a_repeated_key_revokes_what_the_earlier_call_issued(
    node: NodeVaultAdapterEffect,
    root: hvac.Client,
    postgres_service: PostgresService,
    database_mount: str,
    prefix: str,
) -> None:
    """A call repeated with its idempotency key (a step re-run after a crash) leaves one
    lease and one login role, not two; credentials_revoke leaves none."""
    request = ModelVaultDatabaseCredentialsRequest(
        role="app", mount_point=database_mount, idempotency_key=f"run-{prefix}:issue"
    )
    first = await node.database_credentials(request)
    second = await node.database_credentials(request)
    assert first.accessor
    assert second.accessor
    assert first.accessor != second.accessor
    users = {first.username, second.username}
    assert await _roles(postgres_service, users) == {second.username}
    assert _leases(root, database_mount) == {second.lease_id.rsplit("/", 1)[1]}
    token = root.auth.token.lookup_accessor(second.accessor)["data"]
    assert token["ttl"] > second.lease_duration_seconds  # the token outlives its lease
    assert token["meta"]["idempotency_key"] == f"run-{prefix}:issue"
    # Another key is another service: untouched.
    other = await node.database_credentials(
        request.model_copy(update={"idempotency_key": f"run-{prefix}:other"})
    )
    assert await _roles(postgres_service, {*users, other.username}) == {
        second.username,
        other.username,
    }
    revoked = await node.process(ModelVaultCredentialsRevokeRequest(accessor=second.accessor))
    assert revoked.revoked
    assert await _roles(postgres_service, users) == set()
    assert _leases(root, database_mount) == {other.lease_id.rsplit("/", 1)[1]}
    assert root.secrets.kv.v2.list_secrets(path="onex-infra/credentials", mount_point="secret")
    again = await node.credentials_revoke(
        ModelVaultCredentialsRevokeRequest(accessor=second.accessor)
    )
    assert not again.revoked
    # The key's record went with the token: the next call with it has nothing to revoke.
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.secrets.kv.v2.read_secret_version(
            path=anchor_path(f"run-{prefix}:issue"),
            mount_point="secret",
            raise_on_deleted_version=True,
        )
    await node.credentials_revoke(ModelVaultCredentialsRevokeRequest(accessor=str(other.accessor)))
    assert _leases(root, database_mount) == set()


async def test_a_failed_reconciled_call_leaves_no_token(
    node: NodeVaultAdapterEffect, root: hvac.Client, database_mount: str, prefix: str
) -> None:
    key = f"run-{prefix}:fails"
    with pytest.raises((InfraRejectedRequestError, InfraNotFoundError)):
        await node.database_credentials(
            ModelVaultDatabaseCredentialsRequest(
                role="nobody", mount_point=database_mount, idempotency_key=key
            )
        )
    accessor = root.secrets.kv.v2.read_secret_version(
        path=anchor_path(key), mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]["accessor"]
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.auth.token.lookup_accessor(accessor)
