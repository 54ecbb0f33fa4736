"""Every embedded service at once, outside pytest: for the demo and the ``onex-infra`` CLI.

:func:`embedded_services` starts PostgreSQL (embedded, or the external server of
``OMNIBASE_INFRA_TEST_POSTGRES_DSN``), an OpenBao dev server, a Consul dev agent (or
``CONSUL_HTTP_ADDR``), the Keycloak-compatible OIDC server and a recording webhook receiver
on 127.0.0.1, side by side in threads, and stops all of them when the block ends (also when
one of them failed to start). The same start functions serve the pytest fixtures. The OIDC
server serves :func:`~omnibase_infra_testing.services.oidc.workflow_realm_config`: its
service client ``omnibase-service`` (the Keycloak node's client) holds the realm-management
roles the deployment workflow's role steps need (pytest: the ``workflow_oidc_service``
fixture).

:func:`prepare_workflow` readies them for the deployment workflow of ``onex-infra``: Vault's
database secrets engine against the PostgreSQL server (a role that creates a login role and
whose revocation drops it again), the OIDC client of the service token (also the
``keycloak_client`` input: the client whose role the workflow creates and grants), a receiver
path and a ``whsec_`` secret; it returns the ``OMNIBASE_INFRA_*`` environment of every node and the
workflow inputs that depend on the services.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import urllib.error
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, cast
from urllib.parse import urlsplit

from omnibase_infra_testing.services.consul import ConsulService, get_consul
from omnibase_infra_testing.services.oidc import (
    WORKFLOW_CLIENT,
    OidcService,
    start_workflow_oidc,
)
from omnibase_infra_testing.services.openbao import OpenBaoService, _api, start_openbao
from omnibase_infra_testing.services.postgres import PostgresService, start_postgres
from omnibase_infra_testing.services.receiver import WebhookReceiver, start_webhook_receiver

__all__ = [
    "OIDC_SERVICE_CLIENT",
    "ROLE_NAMED_USERS",
    "VAULT_DATABASE_MOUNT",
    "VAULT_DATABASE_ROLE",
    "WEBHOOK_PATH",
    "EmbeddedServices",
    "WorkflowSetup",
    "configure_vault_database",
    "embedded_services",
    "new_webhook_secret",
    "node_environment",
    "prepare_workflow",
]

VAULT_DATABASE_MOUNT = "database"
ROLE_NAMED_USERS = '{{ printf "v-%s-%s" .RoleName (random 12) | truncate 63 }}'
"""A username template: ``v-<Vault role>-<12 random characters>`` (users countable per
role when no role name is a prefix of another followed by ``-``)."""
VAULT_DATABASE_ROLE = "service-db"
WEBHOOK_PATH = "/hooks/onex-infra"
OIDC_SERVICE_CLIENT = WORKFLOW_CLIENT  # the Keycloak node's client, and the deployed service's
# The login role Vault creates for a service, and its revocation. Vault splits statements at
# semicolons, so the revocation calls a function the harness installs: it waits (up to 5 s)
# for schemas the role owns to be dropped (a decommission drops the schema side by side with
# the revocation; touching the schema concurrently fails one of them with "tuple
# concurrently updated"), then hands whatever is left to the connection user and drops the
# role, so that revoking a lease never fails on objects that depend on the role.
DROP_ROLE_FUNCTION = "public.onex_infra_drop_login_role"
CREATION_STATEMENTS = (
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
)
REVOCATION_STATEMENTS = (f"SELECT {DROP_ROLE_FUNCTION}('{{{{name}}}}');",)
_DROP_ROLE_SQL = f"""
CREATE OR REPLACE FUNCTION {DROP_ROLE_FUNCTION}(role_name text, wait_seconds float DEFAULT 5)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  deadline timestamptz := clock_timestamp() + make_interval(secs => wait_seconds);
BEGIN
  WHILE clock_timestamp() < deadline AND EXISTS (
    SELECT 1 FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
    WHERE r.rolname = role_name
  ) LOOP
    PERFORM pg_sleep(0.05);
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
    EXECUTE format('REASSIGN OWNED BY %I TO %I', role_name, current_user);
    EXECUTE format('DROP OWNED BY %I', role_name);
    EXECUTE format('DROP ROLE %I', role_name);
  END IF;
END
$fn$
"""  # noqa: S608 - a constant function name


class _Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass(frozen=True)
class EmbeddedServices:
    """The running services; ``describe()`` says where each one listens (no secrets)."""

    postgres: PostgresService
    openbao: OpenBaoService
    consul: ConsulService
    oidc: OidcService
    receiver: WebhookReceiver

    def describe(self) -> dict[str, str]:
        pg = self.postgres
        return {
            "postgres": f"{pg.host}:{pg.port} ({'external' if pg.external else 'embedded'})",
            "vault": f"{self.openbao.addr} (OpenBao dev server)",
            "consul": f"{self.consul.addr} ({'external' if self.consul.external else 'dev agent'})",
            "oidc": f"{self.oidc.issuer} (oidc-provider with Keycloak paths)",
            "webhook receiver": self.receiver.url,
        }


@contextlib.contextmanager
def embedded_services() -> Iterator[EmbeddedServices]:
    """Start every service (in parallel), yield them, stop them all at the end."""
    starters: dict[str, Callable[[], _Stoppable]] = {
        "postgres": start_postgres,
        "openbao": start_openbao,
        "consul": get_consul,
        "oidc": start_workflow_oidc,
        "receiver": start_webhook_receiver,
    }
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(len(starters)) as pool:
        futures = {name: pool.submit(start) for name, start in starters.items()}
        started: dict[str, _Stoppable] = {}
        errors: list[BaseException] = []
        for name, future in futures.items():
            try:
                started[name] = future.result()
            except Exception as exc:
                errors.append(exc)
            else:
                stack.callback(started[name].stop)
        if errors:
            raise errors[0]
        yield EmbeddedServices(
            postgres=cast(PostgresService, started["postgres"]),
            openbao=cast(OpenBaoService, started["openbao"]),
            consul=cast(ConsulService, started["consul"]),
            oidc=cast(OidcService, started["oidc"]),
            receiver=cast(WebhookReceiver, started["receiver"]),
        )


@dataclass(frozen=True)
class WorkflowSetup:
    """What a workflow run against the embedded services needs (secrets kept out of repr).

    ``env``: the ``OMNIBASE_INFRA_*`` variables every node reads; ``inputs``: the deployment
    workflow's inputs that depend on the services (``vault_database_role``,
    ``keycloak_client``, ``webhook_url``, ``webhook_secret``); ``webhook_secret``: the
    ``whsec_`` secret the receiver verifies with.
    """

    env: dict[str, str] = field(repr=False)
    inputs: dict[str, str] = field(repr=False)
    webhook_secret: str = field(repr=False)
    webhook_url: str = ""
    vault_database_role: str = VAULT_DATABASE_ROLE
    keycloak_client: str = OIDC_SERVICE_CLIENT


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` and base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def node_environment(services: EmbeddedServices) -> dict[str, str]:
    """The ``OMNIBASE_INFRA_*`` configuration of each node for the running services."""
    client = services.oidc.client(OIDC_SERVICE_CLIENT)
    env = {
        "OMNIBASE_INFRA_POSTGRES_DSN": services.postgres.dsn,
        "OMNIBASE_INFRA_VAULT_URL": services.openbao.addr,
        "OMNIBASE_INFRA_VAULT_TOKEN": services.openbao.root_token,
        "OMNIBASE_INFRA_CONSUL_HOST": services.consul.host,
        "OMNIBASE_INFRA_CONSUL_PORT": str(services.consul.port),
        "OMNIBASE_INFRA_CONSUL_SCHEME": services.consul.scheme,
        "OMNIBASE_INFRA_KEYCLOAK_ISSUER": services.oidc.issuer,
        "OMNIBASE_INFRA_KEYCLOAK_CLIENT_ID": client.client_id,
        # The webhook node must reach the loopback receiver (its SSRF guard refuses
        # private addresses unless allowed).
        "OMNIBASE_INFRA_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    }
    if client.secret is not None:
        env["OMNIBASE_INFRA_KEYCLOAK_CLIENT_SECRET"] = client.secret
    if services.consul.token:
        env["OMNIBASE_INFRA_CONSUL_TOKEN"] = services.consul.token
    return env


def configure_vault_database(
    services: EmbeddedServices,
    *,
    mount: str = VAULT_DATABASE_MOUNT,
    role: str = VAULT_DATABASE_ROLE,
    default_ttl: str = "1h",
    extra_roles: Sequence[str] = (),
    username_template: str | None = None,
) -> None:
    """Vault's database secrets engine at ``mount`` against the PostgreSQL server, with
    ``role`` (and each of ``extra_roles``) creating a login role (idempotent: an existing
    mount is reconfigured). ``username_template``: the connection's (Vault's default
    when None); :data:`ROLE_NAMED_USERS` puts the whole Vault role name in each user's
    name, so that users can be counted per role."""
    services.postgres._psql(_DROP_ROLE_SQL)  # the harness's own helper
    bao, token = services.openbao.addr, services.openbao.root_token
    mounts = _api(bao, "GET", "sys/mounts", token=token)
    if f"{mount}/" not in mounts.get("data", mounts):  # type: ignore[operator]
        _api(bao, "POST", f"sys/mounts/{mount}", {"type": "database"}, token=token)
    pg = services.postgres
    parts = urlsplit(pg.dsn)
    password = parts.password or "unused-with-trust-auth"
    _api(
        bao,
        "POST",
        f"{mount}/config/pg",
        {
            "plugin_name": "postgresql-database-plugin",
            "allowed_roles": [role, *extra_roles],
            "connection_url": (
                "postgresql://{{username}}:{{password}}@"
                f"{pg.host}:{pg.port}/{pg.database}?sslmode=disable"
            ),
            "username": pg.user,
            "password": password,
            "verify_connection": True,
            **({"username_template": username_template} if username_template else {}),
        },
        token=token,
    )
    for name in (role, *extra_roles):
        _api(
            bao,
            "POST",
            f"{mount}/roles/{name}",
            {
                "db_name": "pg",
                "creation_statements": list(CREATION_STATEMENTS),
                "revocation_statements": list(REVOCATION_STATEMENTS),
                "default_ttl": default_ttl,
                "max_ttl": "24h",
            },
            token=token,
        )


def prepare_workflow(
    services: EmbeddedServices, *, webhook_secret: str | None = None
) -> WorkflowSetup:
    """Configure Vault for the deployment workflow and return its environment and inputs."""
    try:
        configure_vault_database(services)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        msg = f"configuring Vault's database secrets engine failed: {exc.code} {detail}"
        raise RuntimeError(msg) from None
    secret = webhook_secret or new_webhook_secret()
    url = services.receiver.url_for(WEBHOOK_PATH)
    return WorkflowSetup(
        env=node_environment(services),
        inputs={
            "vault_database_role": VAULT_DATABASE_ROLE,
            "keycloak_client": OIDC_SERVICE_CLIENT,
            "webhook_url": url,
            "webhook_secret": secret,
        },
        webhook_secret=secret,
        webhook_url=url,
    )
