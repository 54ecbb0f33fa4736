"""The embedded services for ``onex-infra`` and the demo: the CLI hook and node factories.

:func:`start_embedded` is the orchestrator CLI's embedded-services hook
(``services.EMBEDDED_HOOK``): it starts every embedded service (:mod:`.embedded`), configures
Vault for the deployment workflow and returns the ``OMNIBASE_INFRA_*`` environment of the
nodes plus the service-dependent workflow inputs as ``OMNIBASE_INFRA_ORCHESTRATOR_INPUT_*``
variables (``keycloak_client``, ``webhook_url``, ``webhook_secret``; the Vault role is named in the
description since the decommission workflow has no such input), and the node factories
below. :func:`install` sets the hook.

The factories build the nodes whose configuration the environment cannot express yet:
:func:`webhook_node` (the SSRF guard must allow the loopback receiver; a durable outbox from
``OMNIBASE_INFRA_WEBHOOK_OUTBOX_PATH`` so that a resumed run never delivers twice) and
:func:`keycloak_node` (the expected audience from ``OMNIBASE_INFRA_KEYCLOAK_AUDIENCE``).
Use them in a ``NodeRegistry`` or with ``onex-infra --node
node_webhook_effect=omnibase_infra_testing.onex_embedded:webhook_node``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from omnibase_infra_testing.embedded import (
    OIDC_SERVICE_CLIENT,
    VAULT_DATABASE_MOUNT,
    VAULT_DATABASE_ROLE,
    WEBHOOK_PATH,
    EmbeddedServices,
    WorkflowSetup,
    embedded_services,
    prepare_workflow,
)

if TYPE_CHECKING:
    from omnibase_infra.nodes.infra_orchestrator.v1_0_0.services import (
        EmbeddedServices as CliEmbeddedServices,
    )

__all__ = [
    "AUDIENCE_ENV",
    "INPUT_PREFIX",
    "OUTBOX_ENV",
    "InfraState",
    "cli_environment",
    "infrastructure_state",
    "install",
    "keycloak_node",
    "keycloak_role_state",
    "node_factories",
    "start_embedded",
    "webhook_node",
]

INPUT_PREFIX: Final = "OMNIBASE_INFRA_ORCHESTRATOR_INPUT_"
AUDIENCE_ENV: Final = "OMNIBASE_INFRA_KEYCLOAK_AUDIENCE"
OUTBOX_ENV: Final = "OMNIBASE_INFRA_WEBHOOK_OUTBOX_PATH"
ALLOW_NETWORKS_ENV: Final = "OMNIBASE_INFRA_WEBHOOK_ALLOW_NETWORKS"
# The `aud` of the OIDC server's client-credentials tokens.
TOKEN_AUDIENCE: Final = "account"  # noqa: S105 - not a secret
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def cli_environment(setup: WorkflowSetup) -> dict[str, str]:
    """The nodes' environment plus the inputs both workflows share, as CLI input variables."""
    env = dict(setup.env)
    env[AUDIENCE_ENV] = TOKEN_AUDIENCE
    env[INPUT_PREFIX + "KEYCLOAK_CLIENT"] = setup.keycloak_client
    env[INPUT_PREFIX + "WEBHOOK_URL"] = setup.webhook_url
    env[INPUT_PREFIX + "WEBHOOK_SECRET"] = setup.webhook_secret
    return env


def describe(services: EmbeddedServices, setup: WorkflowSetup) -> list[str]:
    """One line per service (no secrets), and the Vault role to deploy with."""
    lines = [f"{name}: {where}" for name, where in services.describe().items()]
    lines.append(
        f"vault database role: {setup.vault_database_role} "
        f"(deploy with --input vault_database_role={setup.vault_database_role})"
    )
    return lines


async def start_embedded() -> CliEmbeddedServices:
    """The CLI hook: start the services, configure Vault, return env, stop and description."""
    from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import services as cli  # noqa: PLC0415

    stack = contextlib.ExitStack()
    try:
        services = await asyncio.to_thread(stack.enter_context, embedded_services())
        setup = await asyncio.to_thread(prepare_workflow, services)
    except BaseException:
        await asyncio.to_thread(stack.close)
        raise

    async def stop() -> None:
        await asyncio.to_thread(stack.close)

    return cli.EmbeddedServices(
        env=cli_environment(setup),
        stop=stop,
        description=describe(services, setup),
        nodes=node_factories(),  # the webhook node must reach the loopback receiver
    )


def install() -> None:
    """Make :func:`start_embedded` the orchestrator CLI's embedded-services hook."""
    from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import services  # noqa: PLC0415 - optional

    services.EMBEDDED_HOOK = start_embedded


def webhook_node(outbox_path: str | None = None) -> Any:
    """A webhook node that may reach loopback receivers, with its outbox at ``outbox_path``
    (default ``OMNIBASE_INFRA_WEBHOOK_OUTBOX_PATH``; in memory when neither is set)."""
    from omnibase_infra.models.webhook import ModelWebhookConfig  # noqa: PLC0415 - optional
    from omnibase_infra.nodes.node_webhook_effect import NodeWebhookEffect  # noqa: PLC0415

    networks = os.environ.get(ALLOW_NETWORKS_ENV, "127.0.0.0/8")
    config = ModelWebhookConfig(
        allow_networks=tuple(n.strip() for n in networks.split(",") if n.strip()),
        outbox_path=outbox_path or os.environ.get(OUTBOX_ENV) or None,
    )
    return NodeWebhookEffect(config=config)


def keycloak_node() -> Any:
    """The Keycloak node configured from the environment plus an expected audience."""
    from pydantic import SecretStr  # noqa: PLC0415 - with the node below

    from omnibase_infra.models.keycloak import ModelKeycloakConfig  # noqa: PLC0415 - optional
    from omnibase_infra.nodes.node_keycloak_adapter_effect import (  # noqa: PLC0415
        NodeKeycloakAdapterEffect,
    )

    secret = os.environ.get("OMNIBASE_INFRA_KEYCLOAK_CLIENT_SECRET", "")
    config = ModelKeycloakConfig(
        issuer=os.environ["OMNIBASE_INFRA_KEYCLOAK_ISSUER"],
        client_id=os.environ.get("OMNIBASE_INFRA_KEYCLOAK_CLIENT_ID", "omnibase"),
        client_secret=SecretStr(secret) if secret else None,
        audience=(os.environ.get(AUDIENCE_ENV) or TOKEN_AUDIENCE,),
    )
    return NodeKeycloakAdapterEffect(config=config)


def node_factories(*, outbox_path: str | None = None) -> dict[str, Any]:
    """The factories above by node name (for ``NodeRegistry(nodes=...)``)."""
    return {
        "node_webhook_effect": lambda: webhook_node(outbox_path),
        "node_keycloak_adapter_effect": keycloak_node,
    }


# --- what the workflows left behind ------------------------------------------------------


@dataclass(frozen=True)
class InfraState:
    """What exists of one service's infrastructure, read from the servers themselves."""

    login_roles: tuple[str, ...]
    """Vault-created login roles (``v-...``) in PostgreSQL."""
    schema_owner: str | None
    """The owner of the service's schema; None when there is no schema."""
    migrations: int
    """Rows in the schema's migrations table (0 without a schema or table)."""
    consul_instances: tuple[str, ...]
    """Consul service ids of the service."""
    consul_passing: int
    """Instances of the service whose checks all pass."""
    kv_keys: tuple[str, ...]
    """Consul KV keys under ``config/<service>/``."""
    leases: tuple[str, ...]
    """Vault leases of the database role still outstanding."""
    notifications: tuple[str, ...]
    """``webhook-id`` of every request the receiver got on the workflow's path."""
    keycloak_role: bool = False
    """The Keycloak client role named after the service exists (of the service's client)."""
    keycloak_granted: bool = False
    """That role is mapped directly to the service client's service account."""

    @property
    def empty(self) -> bool:
        """True when nothing of the service is left (notifications aside)."""
        return not (
            self.login_roles
            or self.schema_owner
            or self.consul_instances
            or self.kv_keys
            or self.leases
            or self.keycloak_role
            or self.keycloak_granted
        )

    def summary(self) -> dict[str, object]:
        """A JSON-friendly view (no secrets: role names and lease ids are not secret)."""
        return {
            "postgres login roles": list(self.login_roles),
            "schema owner": self.schema_owner,
            "migrations applied": self.migrations,
            "consul instances": list(self.consul_instances),
            "consul passing": self.consul_passing,
            "consul kv keys": list(self.kv_keys),
            "vault leases": len(self.leases),
            "keycloak client role": self.keycloak_role,
            "keycloak role granted": self.keycloak_granted,
            "notifications": len(self.notifications),
        }


def _http_json(url: str, *, method: str = "GET", token: str | None = None) -> Any:
    headers = {"X-Vault-Token": token} if token else {}
    request = urllib.request.Request(url, headers=headers, method=method)  # noqa: S310 - loopback
    try:
        with _DIRECT.open(request, timeout=10) as answer:
            raw = answer.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    return json.loads(raw) if raw else None


def keycloak_role_state(services: EmbeddedServices, client_id: str, role: str) -> tuple[bool, bool]:
    """Whether ``client_id`` has the client role ``role``, and whether that role is mapped
    directly to the client's service account (asked through the realm's admin client)."""
    oidc = services.oidc
    token = oidc.admin_token()
    found = oidc.admin("GET", f"/clients?clientId={quote(client_id, safe='')}", token=token)
    if found.status != 200 or not found.body:
        return False, False
    client = found.body[0]["id"]
    exists = oidc.admin("GET", f"/clients/{client}/roles/{quote(role, safe='')}", token=token)
    user = oidc.admin("GET", f"/clients/{client}/service-account-user", token=token)
    if user.status != 200:
        return exists.status == 200, False
    held = oidc.admin(
        "GET", f"/users/{user.body['id']}/role-mappings/clients/{client}", token=token
    )
    granted = held.status == 200 and role in {r["name"] for r in held.body or ()}
    return exists.status == 200, granted


async def infrastructure_state(
    services: EmbeddedServices,
    *,
    service_name: str,
    schema: str,
    role_prefix: str = "v-",
    migrations_table: str = "omnibase_schema_migrations",
    keycloak_client: str = OIDC_SERVICE_CLIENT,
    vault_role: str = VAULT_DATABASE_ROLE,
) -> InfraState:
    """Read what exists of ``service_name`` from PostgreSQL (login roles named
    ``role_prefix...``), Consul, Vault (the leases of ``vault_role``), Keycloak (the client
    role named after the service, and its grant) and the receiver."""
    import asyncpg  # noqa: PLC0415 - the Postgres node's driver, installed with it

    conn = await asyncpg.connect(services.postgres.dsn, timeout=10)
    try:
        roles = await conn.fetch(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY rolname",
            role_prefix.replace("%", r"\%") + "%",
        )
        owner = await conn.fetchval(
            "SELECT r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner"
            " WHERE n.nspname = $1",
            schema,
        )
        table = await conn.fetchval("SELECT to_regclass($1)::text", f"{schema}.{migrations_table}")
        migrations = (
            int(await conn.fetchval(f'SELECT count(*) FROM "{schema}"."{migrations_table}"'))  # noqa: S608
            if table
            else 0
        )
    finally:
        await conn.close()
    consul = services.consul.addr
    agent = await asyncio.to_thread(_http_json, f"{consul}/v1/agent/services") or {}
    instances = sorted(sid for sid, s in agent.items() if s.get("Service") == service_name)
    health = await asyncio.to_thread(
        _http_json, f"{consul}/v1/health/service/{service_name}?passing=true"
    )
    keys = await asyncio.to_thread(_http_json, f"{consul}/v1/kv/config/{service_name}/?keys=true")
    bao = services.openbao
    listed = await asyncio.to_thread(
        _http_json,
        f"{bao.addr}/v1/sys/leases/lookup/{VAULT_DATABASE_MOUNT}/creds/{vault_role}/",
        method="LIST",
        token=bao.root_token,
    )
    leases = tuple((listed or {}).get("data", {}).get("keys", ()))
    notifications = tuple(
        r.header("webhook-id") or "" for r in services.receiver.requests_to(WEBHOOK_PATH)
    )
    role, granted = await asyncio.to_thread(
        keycloak_role_state, services, keycloak_client, service_name
    )
    return InfraState(
        login_roles=tuple(str(r["rolname"]) for r in roles),
        schema_owner=owner,
        migrations=migrations,
        consul_instances=tuple(instances),
        consul_passing=len(health or ()),
        kv_keys=tuple(keys or ()),
        leases=leases,
        notifications=notifications,
        keycloak_role=role,
        keycloak_granted=granted,
    )
