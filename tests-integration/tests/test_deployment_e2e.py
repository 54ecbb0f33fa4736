"""The deployment workflow end to end: the runtime drives the real nodes (entry points)
against real PostgreSQL, OpenBao, Consul, the OIDC server and a webhook receiver.

- a full deployment leaves a schema owned by a Vault-issued login role that accepts its
  credentials, the migrations applied once, the service passing in Consul with its KV config,
  the service's Keycloak client role granted to its service account (a fresh token of the
  client carries it), a verified token, one correctly signed notification, and the reducer
  in ``healthy``;
- a failure injected before each step in turn is compensated without residue (no role, no
  schema, no service, no KV key, no lease, no Keycloak role or mapping) and the reducer says
  ``failed``;
- a decommission after a deployment returns everything to nothing.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError
from omnibase_infra.models.vault import (
    ModelVaultDatabaseCredentials,
    ModelVaultDatabaseCredentialsRequest,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import services as cli_services
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.registry import CallContext, NodeRegistry
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.runtime import ModelRunResult, WorkflowRuntime
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import (
    EnumRunStatus,
    EnumStepStatus,
    InMemoryWorkflowStore,
    WorkflowStore,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import load_builtin_workflow
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.signing import WebhookVerifier
from omnibase_infra_testing import onex_embedded
from omnibase_infra_testing.embedded import EmbeddedServices, WorkflowSetup, prepare_workflow
from omnibase_infra_testing.onex_embedded import (
    InfraState,
    cli_environment,
    infrastructure_state,
    node_factories,
)
from omnibase_infra_testing.services.consul import ConsulService
from omnibase_infra_testing.services.oidc import OidcService
from omnibase_infra_testing.services.openbao import OpenBaoService
from omnibase_infra_testing.services.postgres import PostgresService
from omnibase_infra_testing.services.receiver import WebhookReceiver

# Schema-qualified: the Postgres node's migrate keeps its table in ``schema_name`` but runs
# the files with the connection's search_path (see the report's requests).
MIGRATIONS = {
    "0001_accounts.sql": "CREATE TABLE {schema}.accounts (id bigint PRIMARY KEY, name text);",
    "0002_invoices.sql": (
        "CREATE TABLE {schema}.invoices"
        " (id bigint PRIMARY KEY, account_id bigint REFERENCES {schema}.accounts(id));"
    ),
    # Migrations run as the Postgres node's user: hand the tables to the schema's owner
    # (the service's Vault-issued role).
    "0003_grants.sql": (
        "DO $$ BEGIN EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA {schema} TO %I', "
        "(SELECT r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner "
        "WHERE n.nspname = '{schema}')); END $$;"
    ),
}
_names = itertools.count(1)


@pytest.fixture
def services(
    postgres_service: PostgresService,
    openbao_service: OpenBaoService,
    consul_service: ConsulService,
    workflow_oidc_service: OidcService,  # its service client may create and grant roles
    webhook_receiver: WebhookReceiver,
) -> EmbeddedServices:
    return EmbeddedServices(
        postgres=postgres_service,
        openbao=openbao_service,
        consul=consul_service,
        oidc=workflow_oidc_service,
        receiver=webhook_receiver,
    )


@pytest.fixture
def setup(services: EmbeddedServices, monkeypatch: pytest.MonkeyPatch) -> WorkflowSetup:
    prepared = prepare_workflow(services)
    for name, value in cli_environment(prepared).items():
        monkeypatch.setenv(name, value)
    return prepared


@pytest.fixture
def service_name() -> str:
    return f"svc-e2e-{next(_names)}"


@pytest.fixture
def migrations(tmp_path: Path, service_name: str) -> Path:
    directory = tmp_path / "migrations"
    directory.mkdir()
    for name, sql in MIGRATIONS.items():
        schema = service_name.replace("-", "_")
        (directory / name).write_text(sql.format(schema=schema), encoding="utf-8")
    return directory


def deploy_inputs(
    setup: WorkflowSetup, service_name: str, migrations: Path | None
) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        **setup.inputs,
        "service_name": service_name,
        "database_name": service_name.replace("-", "_"),
        "service_port": 9090,
    }
    if migrations is not None:
        inputs["migrations_directory"] = str(migrations)
    return inputs


class CapturingVault(NodeVaultAdapterEffect):
    """The real Vault node; keeps the credentials it issued so the test can log in."""

    issued: list[ModelVaultDatabaseCredentials]

    async def database_credentials(
        self, request: ModelVaultDatabaseCredentialsRequest
    ) -> ModelVaultDatabaseCredentials:
        creds = await super().database_credentials(request)
        CapturingVault.issued.append(creds)
        return creds


class FailingSpec:
    """Stands for an operation's call spec and fails before anything is sent."""

    def __init__(self, where: str) -> None:
        self.where = where

    async def call(self, instance: object, inputs: Mapping[str, Any], context: CallContext) -> Any:
        del instance, inputs
        raise InfraValidationError(  # not transient: the step's retry policy gives up
            f"injected failure in {self.where}",
            transport=EnumTransport.INTERNAL,
            operation=self.where,
            correlation_id=context.correlation.correlation_id,
        )


class FaultyRegistry(NodeRegistry):
    """Real nodes, except that ``node.operation`` fails (only its forward call: its
    compensation may share the operation, e.g. Postgres ``execute``)."""

    def __init__(self, nodes: Mapping[str, object], node: str, operation: str) -> None:
        super().__init__(nodes)
        self.fault = (node, operation)
        self.failed = 0

    async def operation(self, name: str, operation: str) -> tuple[object, Any]:
        instance, spec = await super().operation(name, operation)
        if (name, operation) != self.fault or self.failed:
            return instance, spec
        self.failed += 1
        return instance, FailingSpec(f"{name}.{operation}")


async def run_deployment(
    registry: NodeRegistry, inputs: Mapping[str, Any], store: WorkflowStore | None = None
) -> tuple[ModelRunResult, list[str]]:
    runtime = WorkflowRuntime(registry, store)
    transitions: list[str] = []
    runtime.subscribe(
        lambda e: (
            transitions.append(str(e.detail.get("state")))
            if e.kind == "reducer.transition"
            else None
        )
    )
    try:
        result = await runtime.run(load_builtin_workflow("deployment"), inputs)
    finally:
        await registry.close()
    return result, transitions


def _client_roles_in_fresh_token(services: EmbeddedServices, client_id: str) -> set[str]:
    """``resource_access[client_id].roles`` of a new client-credentials token of the client
    (the claims are read unverified: the workflow's verify step checks signatures)."""
    token = services.oidc.token(services.oidc.client(client_id), grant_type="client_credentials")
    payload = token["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return set(claims.get("resource_access", {}).get(client_id, {}).get("roles", ()))


async def state_of(services: EmbeddedServices, service_name: str) -> InfraState:
    return await infrastructure_state(
        services, service_name=service_name, schema=service_name.replace("-", "_")
    )


async def test_full_deployment_provisions_everything_once(
    services: EmbeddedServices, setup: WorkflowSetup, migrations: Path, service_name: str
) -> None:
    CapturingVault.issued = []
    before = await state_of(services, service_name)
    registry = NodeRegistry({**node_factories(), "node_vault_adapter_effect": CapturingVault})
    result, transitions = await run_deployment(
        registry, deploy_inputs(setup, service_name, migrations)
    )

    assert result.status is EnumRunStatus.COMPLETED, (result.run.failed_step, result.run.error)
    assert result.reducer_state == "healthy"
    assert transitions[-1] == "healthy"
    assert {rec.status for rec in result.steps.values()} == {EnumStepStatus.COMPLETED}
    after = await state_of(services, service_name)

    # Postgres: a schema owned by the Vault-issued role, which logs in with its password.
    (creds,) = CapturingVault.issued
    assert set(after.login_roles) - set(before.login_roles) == {creds.username}
    assert after.schema_owner == creds.username
    assert after.migrations == len(MIGRATIONS)
    schema = service_name.replace("-", "_")
    conn = await asyncpg.connect(
        host=services.postgres.host,
        port=services.postgres.port,
        user=creds.username,
        password=creds.password.get_secret_value(),
        database=services.postgres.database,
    )
    try:
        await conn.execute(f'CREATE TABLE "{schema}".probe (id int)')
        table = f'"{schema}".accounts'
        await conn.execute(f"INSERT INTO {table} VALUES (1, 'a')")  # noqa: S608 - our names
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 1  # noqa: S608
    finally:
        await conn.close()

    # Consul: one instance, passing, with its KV config.
    assert after.consul_instances == (f"{service_name}-dev",)
    assert after.consul_passing == 1
    assert after.kv_keys == (f"config/{service_name}/database",)

    # Vault: the credentials' lease is outstanding.
    lease = result.steps["issue_credentials"].output
    assert isinstance(lease, dict)
    assert lease["lease_id"].rsplit("/", 1)[-1] in after.leases

    # OIDC: the token verified against the issuer's keys.
    claims = result.steps["verify_token"].output
    assert isinstance(claims, dict)
    assert claims["issuer"] == services.oidc.issuer
    assert claims["authorized_party"] == services.oidc.client("omnibase-service").client_id

    # Keycloak: the client role named after the service exists and is mapped to the client's
    # service account, so a fresh client-credentials token of the client carries it.
    assert (after.keycloak_role, after.keycloak_granted) == (True, True)
    assert (before.keycloak_role, before.keycloak_granted) == (False, False)
    assert service_name in _client_roles_in_fresh_token(services, setup.keycloak_client)

    # Webhook: exactly one notification, correctly signed, about this deployment.
    (request,) = services.receiver.requests_to("/hooks/onex-infra")
    verified = WebhookVerifier([setup.webhook_secret]).verify(dict(request.headers), request.body)
    assert verified == f"deployed-{result.run_id}"
    assert json.loads(request.body) == {
        "service": service_name,
        "environment": "dev",
        "schema": schema,
        "run_id": result.run_id,
    }
    assert setup.webhook_secret not in json.dumps(result.to_json_dict(), default=str)


# Each forward step, by the node operation that fails (before anything is sent).
STEP_FAULTS = {
    "issue_credentials": ("node_vault_adapter_effect", "database_credentials"),
    "obtain_token": ("node_keycloak_adapter_effect", "token"),
    "create_role": ("node_keycloak_adapter_effect", "role_ensure"),
    "grant_role": ("node_keycloak_adapter_effect", "role_mapping_ensure"),
    "create_schema": ("node_postgres_adapter_effect", "execute"),
    "write_config": ("node_consul_adapter_effect", "kv_put"),
    "run_migrations": ("node_postgres_adapter_effect", "migrate"),
    "register_service": ("node_consul_adapter_effect", "register_service"),
    "verify_token": ("node_keycloak_adapter_effect", "verify"),
    "notify": ("node_webhook_effect", "send"),
}


@pytest.mark.parametrize("step", list(STEP_FAULTS))
async def test_a_failed_step_is_compensated_without_residue(
    services: EmbeddedServices,
    setup: WorkflowSetup,
    migrations: Path,
    service_name: str,
    step: str,
) -> None:
    before = await state_of(services, service_name)
    registry = FaultyRegistry(node_factories(), *STEP_FAULTS[step])
    result, transitions = await run_deployment(
        registry, deploy_inputs(setup, service_name, migrations)
    )

    assert registry.failed == 1
    assert result.status is EnumRunStatus.FAILED, (result.run.failed_step, result.run.error)
    assert result.run.failed_step == step
    assert result.steps[step].status is EnumStepStatus.FAILED
    assert result.reducer_state == "failed"
    assert transitions[-1] == "failed"
    assert not [
        sid
        for sid, rec in result.steps.items()
        if rec.status in {EnumStepStatus.COMPLETED, EnumStepStatus.COMPENSATION_FAILED}
        and load_builtin_workflow("deployment").step(sid).compensation is not None
    ]
    after = await state_of(services, service_name)
    assert after.login_roles == before.login_roles
    assert after.leases == before.leases
    assert (after.schema_owner, after.consul_instances, after.kv_keys) == (None, (), ())
    assert (after.keycloak_role, after.keycloak_granted) == (False, False)
    assert service_name not in _client_roles_in_fresh_token(services, setup.keycloak_client)
    assert not [n for n in after.notifications if n.startswith("deployed-")]


async def test_decommission_returns_everything_to_nothing(
    services: EmbeddedServices, setup: WorkflowSetup, migrations: Path, service_name: str
) -> None:
    before = await state_of(services, service_name)
    store = InMemoryWorkflowStore()  # one store: the reducer's snapshot carries over
    deployed, _ = await run_deployment(
        NodeRegistry(node_factories()), deploy_inputs(setup, service_name, migrations), store
    )
    assert deployed.status is EnumRunStatus.COMPLETED, (
        deployed.run.failed_step,
        deployed.run.error,
    )
    assert not (await state_of(services, service_name)).empty
    lease = deployed.steps["issue_credentials"].output
    assert isinstance(lease, dict)

    registry = NodeRegistry(node_factories())
    transitions: list[tuple[str, str]] = []
    runtime = WorkflowRuntime(registry, store)
    runtime.subscribe(
        lambda e: (
            transitions.append((str(e.detail["previous_state"]), str(e.detail["state"])))
            if e.kind == "reducer.transition"
            else None
        )
    )
    try:
        result = await runtime.run(
            load_builtin_workflow("decommission"),
            {
                "service_name": service_name,
                "database_name": service_name.replace("-", "_"),
                "lease_id": lease["lease_id"],
                "vault_accessor": lease["accessor"],
                "keycloak_client": setup.keycloak_client,
                "webhook_url": setup.webhook_url,
                "webhook_secret": setup.webhook_secret,
            },
        )
    finally:
        await registry.close()

    assert result.status is EnumRunStatus.COMPLETED, (result.run.failed_step, result.run.error)
    assert result.reducer_state == "decommissioned"
    assert transitions == [("healthy", "decommissioning"), ("decommissioning", "decommissioned")]
    assert not result.run.notes, result.run.notes
    after = await state_of(services, service_name)
    assert after.login_roles == before.login_roles
    assert after.leases == before.leases
    assert (after.schema_owner, after.migrations) == (None, 0)
    assert (after.consul_instances, after.consul_passing, after.kv_keys) == ((), 0, ())
    assert (after.keycloak_role, after.keycloak_granted) == (False, False)
    assert service_name not in _client_roles_in_fresh_token(services, setup.keycloak_client)
    assert after.notifications == (
        f"deployed-{deployed.run_id}",
        f"decommissioned-{result.run_id}",
    )


async def test_the_cli_hook_starts_configured_services_and_stops_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli_services, "EMBEDDED_HOOK", None)
    onex_embedded.install()
    assert cli_services.EMBEDDED_HOOK is onex_embedded.start_embedded
    embedded = await cli_services.start_embedded_services()
    try:
        env = embedded.env
        assert {
            "OMNIBASE_INFRA_POSTGRES_DSN",
            "OMNIBASE_INFRA_VAULT_URL",
            "OMNIBASE_INFRA_VAULT_TOKEN",
            "OMNIBASE_INFRA_CONSUL_HOST",
            "OMNIBASE_INFRA_CONSUL_PORT",
            "OMNIBASE_INFRA_KEYCLOAK_ISSUER",
            "OMNIBASE_INFRA_KEYCLOAK_CLIENT_ID",
            "OMNIBASE_INFRA_KEYCLOAK_CLIENT_SECRET",
            "OMNIBASE_INFRA_ORCHESTRATOR_INPUT_KEYCLOAK_CLIENT",
            "OMNIBASE_INFRA_ORCHESTRATOR_INPUT_WEBHOOK_URL",
            "OMNIBASE_INFRA_ORCHESTRATOR_INPUT_WEBHOOK_SECRET",
        } <= set(env)
        assert env["OMNIBASE_INFRA_ORCHESTRATOR_INPUT_WEBHOOK_SECRET"].startswith("whsec_")
        described = "\n".join(embedded.description)
        for secret in ("OMNIBASE_INFRA_VAULT_TOKEN", "OMNIBASE_INFRA_KEYCLOAK_CLIENT_SECRET"):
            assert env[secret] not in described
        assert "vault_database_role=service-db" in described
        # Vault issues database credentials right away (the engine is configured).
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        vault = NodeVaultAdapterEffect()
        try:
            creds = await vault.database_credentials(
                ModelVaultDatabaseCredentialsRequest(role="service-db")
            )
            assert creds.username.startswith("v-")
        finally:
            await vault.close()
    finally:
        await embedded.stop()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(
            env["OMNIBASE_INFRA_CONSUL_HOST"], int(env["OMNIBASE_INFRA_CONSUL_PORT"])
        )
