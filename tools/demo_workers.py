"""The scale-out demo: ``nox -s demo -- --workers 2`` (``tools/demo.py --workers N``).

Starts the embedded services (PostgreSQL, OpenBao, Consul, the OIDC server, a webhook
receiver) as the main demo does, then ``N`` ``onex-infra worker`` processes sharing the
PostgreSQL store (schema ``onex_demo_workers``, the default 15 s lease, one run at a time
each), and queues ``N + 1`` deployments with ``onex-infra submit``. As soon as the first worker is
mid-run (a step of its run completed, the run not finished) it is SIGKILLed; its lease
expires and another worker takes the run over and resumes it from its last recorded step.
Prints the workers' log lines, ``onex-infra status`` (runs with worker and lease), and what
the servers report for each service.

Exit status 0 when every deployment completed, the killed worker's run was finished by
another worker, and every service is registered, has its schema and its Keycloak role.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import IO, Any

from omnibase_infra.nodes.infra_orchestrator.v1_0_0.cli import main as onex_infra
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.leases import PostgresRunQueue
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import (
    EnumStepStatus,
    PostgresWorkflowStore,
)
from omnibase_infra_testing.embedded import embedded_services, prepare_workflow
from omnibase_infra_testing.onex_embedded import (
    AUDIENCE_ENV,
    INPUT_PREFIX,
    OUTBOX_ENV,
    cli_environment,
    infrastructure_state,
)

SCHEMA = "onex_demo_workers"
LEASE_SECONDS = 15.0
NODE_FACTORIES = [
    "node_webhook_effect=omnibase_infra_testing.onex_embedded:webhook_node",
    "node_keycloak_adapter_effect=omnibase_infra_testing.onex_embedded:keycloak_node",
]


def banner(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 74 - len(text)), flush=True)


def cli(*argv: str) -> int:
    print("$ onex-infra " + " ".join(a for a in argv if not a.startswith("--node=")), flush=True)
    return onex_infra(list(argv))


def _echo(name: str, stream: IO[bytes]) -> None:
    for raw in iter(stream.readline, b""):
        print(f"  {name} | {raw.decode(errors='replace').rstrip()}", flush=True)


async def _queue_state() -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """The queue rows, and per run its completed steps."""
    store = PostgresWorkflowStore(schema=SCHEMA)
    try:
        rows = await PostgresRunQueue(store).list()
        steps = {}
        for row in rows:
            records = await store.get_steps(row.run_id)
            steps[row.run_id] = {
                sid for sid, rec in records.items() if rec.status is EnumStepStatus.COMPLETED
            }
        return rows, steps
    finally:
        await store.close()


async def _claims(run_id: str) -> list[tuple[int, str]]:
    """(generation, worker) of every claim of ``run_id`` (the store's write log)."""
    from omnibase_infra.models.postgres import ModelPostgresFetchRequest  # noqa: PLC0415

    store = PostgresWorkflowStore(schema=SCHEMA)
    try:
        queue = PostgresRunQueue(store)
        node = await queue._node()
        response = await node.process(
            ModelPostgresFetchRequest(
                sql=f"SELECT generation, worker_id FROM {SCHEMA}.workflow_writes "  # noqa: S608
                "WHERE run_id = $1 AND what = 'claim' ORDER BY id",
                params=(run_id,),
            )
        )
        return [(int(r["generation"]), str(r["worker_id"])) for r in response.rows]
    finally:
        await store.close()


def run_workers_demo(work: Path, workers: int) -> int:
    banner("starting the embedded services")
    with embedded_services() as services:
        for name, where in services.describe().items():
            print(f"  {name:<17} {where}")
        setup = prepare_workflow(services)
        env = cli_environment(setup)
        env[OUTBOX_ENV] = str(work / "webhook-outbox.sqlite3")
        node_env = {
            k: v
            for k, v in env.items()
            if k.startswith("OMNIBASE_INFRA_") and not k.startswith(INPUT_PREFIX)
        }
        services_file = work / "services.yaml"
        services_file.write_text(json.dumps({"env": node_env}), encoding="utf-8")
        services_file.chmod(0o600)
        os.environ.update(node_env)  # this process submits and reads the queue
        os.environ["OMNIBASE_INFRA_ORCHESTRATOR_STORE_SCHEMA"] = SCHEMA
        worker_env = {**os.environ}
        for name, value in env.items():
            if name.startswith(INPUT_PREFIX):
                os.environ[name] = value
                worker_env[name] = value  # the webhook secret: workers read it from here
        worker_env[AUDIENCE_ENV] = env[AUDIENCE_ENV]

        banner(f"starting {workers} workers (one run at a time each, lease {LEASE_SECONDS:g} s)")
        procs: list[subprocess.Popen[bytes]] = []
        for i in range(workers):
            argv = [
                sys.executable,
                "-m",
                "omnibase_infra.nodes.infra_orchestrator.v1_0_0",
                "worker",
                "--store=postgres",
                f"--config={services_file}",
                "--concurrency=1",
                f"--lease-seconds={LEASE_SECONDS}",
                "--poll-seconds=0.2",
                *(f"--node={spec}" for spec in NODE_FACTORIES),
            ]
            proc = subprocess.Popen(  # noqa: S603 - our own CLI
                argv, env=worker_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            if proc.stdout is None:  # pragma: no cover - stdout=PIPE
                raise RuntimeError("no worker output")
            threading.Thread(
                target=_echo, args=(f"worker-{i + 1}", proc.stdout), daemon=True
            ).start()
            procs.append(proc)
        try:
            return _drive(services, setup, work, procs, workers)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _drive(
    services: Any, setup: Any, work: Path, procs: list[subprocess.Popen[bytes]], workers: int
) -> int:
    names = [f"shop-{chr(ord('a') + i)}" for i in range(workers + 1)]
    migrations = work / "migrations"
    migrations.mkdir()
    banner(f"queueing {len(names)} deployments")
    run_ids = {}
    for name in names:
        schema = name.replace("-", "_")
        (migrations / name).mkdir()
        (migrations / name / "0001_orders.sql").write_text(
            f"CREATE TABLE {schema}.orders (id bigint PRIMARY KEY);", encoding="utf-8"
        )
        run_id = f"demo-{name}-{uuid.uuid4().hex[:6]}"
        run_ids[name] = run_id
        code = cli(
            "submit",
            "deployment",
            "--store=postgres",
            f"--run-id={run_id}",
            f"--input=service_name={name}",
            f"--input=database_name={schema}",
            f"--input=vault_database_role={setup.vault_database_role}",
            f"--input=migrations_directory={migrations / name}",
        )
        if code != 0:
            return code

    victim = procs[0]
    killed_run = ""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not killed_run:
        rows, done = asyncio.run(_queue_state())
        for row in rows:
            held_by_victim = row.worker_id and row.worker_id.split(":")[1] == str(victim.pid)
            if held_by_victim and row.state == "running" and done.get(row.run_id):
                killed_run = row.run_id
                banner(
                    f"SIGKILL worker-1 (pid {victim.pid}) mid-run: {row.run_id} has "
                    f"{sorted(done[row.run_id])} completed"
                )
                victim.kill()
                victim.wait()
                break
        time.sleep(0.1)
    if not killed_run:
        print("worker-1 never held a run mid-way", flush=True)
        return 1

    banner("waiting for the other workers to finish every run")
    while time.monotonic() < deadline:
        rows, _ = asyncio.run(_queue_state())
        if all(row.state in ("finished", "error") for row in rows):
            break
        time.sleep(0.5)
    cli("status", "--store=postgres")
    rows, _ = asyncio.run(_queue_state())
    by_run = {row.run_id: row for row in rows}
    ok = all(row.state == "finished" and row.run_status == "completed" for row in by_run.values())
    claims = asyncio.run(_claims(killed_run))
    banner(f"claims of the killed worker's run {killed_run}")
    for generation, worker_id in claims:
        mark = " (killed)" if worker_id.split(":")[1] == str(victim.pid) else ""
        print(f"  generation {generation}: worker {worker_id}{mark}")
    taken_over = len(claims) >= 2 and claims[-1][1].split(":")[1] != str(victim.pid)
    ok = ok and taken_over
    for name in names:
        state = asyncio.run(
            infrastructure_state(services, service_name=name, schema=name.replace("-", "_"))
        )
        banner(f"infrastructure of {name}")
        for key, value in state.summary().items():
            print(f"  {key:<22} {value}")
        ok = ok and state.consul_passing == 1 and state.schema_owner is not None
        ok = ok and state.keycloak_granted
    banner("workers demo " + ("succeeded" if ok else "FAILED"))
    return 0 if ok else 1
