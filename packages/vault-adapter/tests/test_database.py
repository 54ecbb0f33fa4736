"""Dynamic database credentials end to end: OpenBao creates a real PostgreSQL role, the
credentials log in, renewal extends the lease, revocation drops the role."""

from __future__ import annotations

from urllib.parse import urlsplit

import asyncpg
import hvac  # type: ignore[import-untyped]
import pytest

from omnibase_infra.errors import InfraError, InfraNotFoundError, InfraRejectedRequestError
from omnibase_infra.models.vault import (
    ModelVaultDatabaseCredentialsRequest,
    ModelVaultLeaseRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect
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
