"""The main job: deploy and decommission a sample service against the embedded services.

``nox -s demo`` runs this after installing every package and the test harness. It starts
embedded PostgreSQL, an OpenBao dev server, Consul, the OIDC server and a webhook receiver on
127.0.0.1, configures Vault's database secrets engine, then runs the real ``onex-infra``
CLI in this process (so that one OpenTelemetry SDK sees every node's spans):

1. ``onex-infra deploy`` of the sample service ``billing`` (Vault credentials, schema and
   migrations in Postgres, KV config and registration in Consul, the Keycloak client role
   ``billing`` of ``omnibase-service`` granted to that client's service account, a verified
   OIDC token, a signed webhook notification), printing each step and each reducer
   transition;
   Before it, a deployment of ``billing-broken`` whose second migration is invalid: the run
   fails and the saga compensates every completed step (the Keycloak role mapping and role
   included), and the infrastructure shows nothing of it;
2. the infrastructure as the servers report it;
3. ``onex-infra decommission``, and the infrastructure again (nothing left);
4. a trace summary: per run (one trace each), every step's span and its node's spans.

Exit status 0 when both workflows completed, the deployment left what it should and the
decommission left nothing. ``--keep`` keeps the run store and prints its path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from omnibase_infra.nodes.infra_orchestrator.v1_0_0.cli import main as onex_infra
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import SqliteWorkflowStore
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import load_builtin_workflow
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.signing import WebhookVerifier
from omnibase_infra_testing.embedded import WEBHOOK_PATH, embedded_services, prepare_workflow
from omnibase_infra_testing.onex_embedded import (
    AUDIENCE_ENV,
    INPUT_PREFIX,
    OUTBOX_ENV,
    cli_environment,
    infrastructure_state,
)

SERVICE = "billing"
SCHEMA = "billing"
BROKEN, BROKEN_SCHEMA = "billing-broken", "billing_broken"
MIGRATIONS = {
    "0001_accounts.sql": "CREATE TABLE billing.accounts (id bigint PRIMARY KEY, name text);",
    "0002_invoices.sql": (
        "CREATE TABLE billing.invoices (id bigint PRIMARY KEY,"
        " account_id bigint REFERENCES billing.accounts(id), cents bigint NOT NULL);"
    ),
    "0003_grants.sql": (
        "DO $$ BEGIN EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA billing TO %I', "
        "(SELECT r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner "
        "WHERE n.nspname = 'billing')); END $$;"
    ),
}
NODE_FACTORIES = [
    "node_webhook_effect=omnibase_infra_testing.onex_embedded:webhook_node",
    "node_keycloak_adapter_effect=omnibase_infra_testing.onex_embedded:keycloak_node",
]


def banner(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 74 - len(text)), flush=True)


def install_tracing() -> InMemorySpanExporter:
    """A global OpenTelemetry SDK provider with an in-memory exporter (every node's
    ``OperationTelemetry`` uses the global provider)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


def cli(*argv: str) -> int:
    print("$ onex-infra " + " ".join(a for a in argv if not a.startswith("--node=")), flush=True)
    return onex_infra(list(argv))


def print_state(title: str, state: Any) -> None:
    banner(title)
    for name, value in state.summary().items():
        print(f"  {name:<22} {value}")


def _step_span_names(workflow: str) -> dict[str, str]:
    """The runtime's span name of each step's node call (``workflow.step.<node>.<operation>``)
    and of its compensation -> the step."""
    names: dict[str, str] = {}
    for step in load_builtin_workflow(workflow).steps:
        names.setdefault(f"workflow.step.{step.node}.{step.operation}", step.id)
        if step.compensation is not None:
            comp = step.compensation
            names.setdefault(f"workflow.step.{comp.node}.{comp.operation}", f"{step.id} (undo)")
    return names


def _ms(span: ReadableSpan) -> float:
    return ((span.end_time or 0) - (span.start_time or 0)) / 1e6


def trace_summary(exporter: InMemorySpanExporter, runs: dict[str, str]) -> None:
    """Per workflow run (one trace each): each step's span and its node's spans below it."""
    banner("trace summary (spans per step)")
    spans = exporter.get_finished_spans()
    by_trace: dict[str, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        by_trace[format(span.context.trace_id, "032x")].append(span)
    for workflow, trace_id in runs.items():
        members = by_trace.pop(trace_id, [])
        names = _step_span_names(workflow)
        children: dict[int, list[ReadableSpan]] = defaultdict(list)
        for span in members:
            if span.parent is not None:
                children[span.parent.span_id].append(span)
        steps = [s for s in members if s.name in names]
        steps.sort(key=lambda s: s.start_time or 0)
        print(f"  {workflow}: trace {trace_id or '?'}, {len(members)} spans")
        shown = {id(s) for s in steps}
        for step in steps:
            below = children.get(step.context.span_id, [])
            shown.update(id(s) for s in below)
            inner = ", ".join(f"{s.name} {_ms(s):.1f} ms" for s in below) or "no node span"
            status = "" if step.status.is_ok else "  [error]"
            print(f"    {names[step.name]:<20} {_ms(step):8.1f} ms  <- {inner}{status}")
        rest = [s for s in members if id(s) not in shown]
        if rest:
            print(f"    other spans: {', '.join(sorted({s.name for s in rest}))}")
    others = sum(len(v) for v in by_trace.values())
    print(f"  {len(spans)} spans in all; {others} outside the two workflow traces")


def trace_of(store_path: Path, run_id: str) -> str:
    """The trace id of a run (its root ``traceparent``: ``00-<trace id>-<span id>-<flags>``)."""
    try:
        record = asyncio.run(_run_record(store_path, run_id))
    except Exception:  # no such run
        return ""
    return str(record.traceparent).split("-")[1] if record.traceparent else ""


async def _run_record(store_path: Path, run_id: str) -> Any:
    store = SqliteWorkflowStore(store_path)
    try:
        return await store.get_run(run_id)
    finally:
        await store.close()


async def _step_output(store_path: Path, run_id: str, step: str) -> dict[str, Any]:
    store = SqliteWorkflowStore(store_path)
    try:
        found = (await store.get_steps(run_id)).get(step)
    except Exception:  # no such run: the deploy failed before it began
        return {}
    finally:
        await store.close()
    output = found.output if found is not None else None
    return output if isinstance(output, dict) else {}


def verify_notifications(services: Any, secret: str) -> list[str]:
    verifier = WebhookVerifier([secret])
    verified = []
    for request in services.receiver.requests_to(WEBHOOK_PATH):
        message_id = verifier.verify(dict(request.headers), request.body)
        verified.append(f"{message_id}: {request.body.decode()}")
    return verified


def run_demo(work: Path) -> int:
    exporter = install_tracing()
    migrations = work / "migrations"
    migrations.mkdir()
    for name, sql in MIGRATIONS.items():
        (migrations / name).write_text(sql, encoding="utf-8")
    store = work / "workflows.sqlite3"
    banner("starting the embedded services")
    with embedded_services() as services:
        for name, where in services.describe().items():
            print(f"  {name:<17} {where}")
        setup = prepare_workflow(services)
        env = cli_environment(setup)
        env[OUTBOX_ENV] = str(work / "webhook-outbox.sqlite3")
        services_file = work / "services.yaml"
        node_env = {
            k: v
            for k, v in env.items()
            if k.startswith("OMNIBASE_INFRA_") and not k.startswith(INPUT_PREFIX)
        }
        services_file.write_text(json.dumps({"env": node_env}), encoding="utf-8")
        services_file.chmod(0o600)
        # Inputs both workflows share (the secret never goes on a command line).
        for name, value in env.items():
            if name.startswith(INPUT_PREFIX):
                os.environ[name] = value
        os.environ[AUDIENCE_ENV] = env[AUDIENCE_ENV]
        print(f"  vault database role {setup.vault_database_role} (database secrets engine)")
        print(f"  keycloak client {setup.keycloak_client} (gets the client role {SERVICE})")
        common = [f"--store={store}", f"--config={services_file}"]
        common += [f"--node={spec}" for spec in NODE_FACTORIES]

        broken = work / "broken-migrations"
        broken.mkdir()
        (broken / "0001_ok.sql").write_text(f"CREATE TABLE {BROKEN_SCHEMA}.t (id int);")
        (broken / "0002_broken.sql").write_text("CREATE TABLE broken (;")
        banner(f"deploy {BROKEN} (a broken migration: the saga compensates)")
        code = cli(
            "deploy",
            *common,
            f"--run-id=demo-broken-{uuid.uuid4().hex[:8]}",
            f"--input=service_name={BROKEN}",
            f"--input=database_name={BROKEN_SCHEMA}",
            f"--input=vault_database_role={setup.vault_database_role}",
            f"--input=migrations_directory={broken}",
        )
        undone = asyncio.run(
            infrastructure_state(services, service_name=BROKEN, schema=BROKEN_SCHEMA)
        )
        print_state(f"infrastructure after the failed deploy (exit {code})", undone)
        ok = code != 0 and undone.empty

        deploy_id = f"demo-deploy-{uuid.uuid4().hex[:8]}"
        banner(f"deploy {SERVICE}")
        code = cli(
            "deploy",
            *common,
            f"--run-id={deploy_id}",
            f"--input=service_name={SERVICE}",
            f"--input=database_name={SCHEMA}",
            f"--input=vault_database_role={setup.vault_database_role}",
            f"--input=migrations_directory={migrations}",
        )
        deployed = asyncio.run(infrastructure_state(services, service_name=SERVICE, schema=SCHEMA))
        print_state(f"infrastructure after deploy (exit {code})", deployed)
        ok = (
            ok
            and code == 0
            and deployed.consul_passing == 1
            and deployed.schema_owner is not None
            and deployed.keycloak_granted
        )

        credentials = asyncio.run(_step_output(store, deploy_id, "issue_credentials"))
        decommission_id = f"demo-decommission-{uuid.uuid4().hex[:8]}"
        banner(f"decommission {SERVICE}")
        extra = [
            f"--input={name}={credentials[field]}"
            for name, field in (("lease_id", "lease_id"), ("vault_accessor", "accessor"))
            if credentials.get(field)
        ]
        code = cli(
            "decommission",
            *common,
            f"--run-id={decommission_id}",
            f"--input=service_name={SERVICE}",
            f"--input=database_name={SCHEMA}",
            *extra,
        )
        left = asyncio.run(infrastructure_state(services, service_name=SERVICE, schema=SCHEMA))
        print_state(f"infrastructure after decommission (exit {code})", left)
        ok = ok and code == 0 and left.empty

        banner("notifications at the receiver (signatures verified)")
        for line in verify_notifications(services, setup.webhook_secret):
            print(f"  {line}")
        trace_summary(
            exporter,
            {
                "deployment": trace_of(store, deploy_id),
                "decommission": trace_of(store, decommission_id),
            },
        )
    banner("demo " + ("succeeded" if ok else "FAILED"))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the run store")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="the scale-out demo instead (tools/demo_workers.py): N workers share the "
        "deployments in PostgreSQL, one is killed mid-run, another finishes its run",
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="onex-infra-demo-"))
    try:
        if args.workers:
            from demo_workers import run_workers_demo  # noqa: PLC0415 - beside this script

            return run_workers_demo(work, max(args.workers, 2))
        return run_demo(work)
    finally:
        if args.keep:
            print(f"run store kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
