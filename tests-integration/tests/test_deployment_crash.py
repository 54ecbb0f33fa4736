"""Crash and resume with the real nodes: a subprocess runs the deployment workflow with the
durable SQLite store and is SIGKILLed at a random point; ``resume`` (in this process, with
new node instances) completes every run, and no effect is applied twice: one notification
per run at the receiver (at-least-once: a re-delivery carries the same webhook-id and body),
one Consul registration, one row per migration. A run killed
after ``obtain_token`` and before ``verify_token`` gets a new token on resume (the step is
``rerun_on_resume``: the token is a secret output, never stored).

Importing omnibase-core takes seconds, so each child process runs five workflows side by side
(each started after its own random delay) and is killed at a random time: 20 runs in four
children. A run the child never recorded is started afresh; the others are resumed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from omnibase_infra.errors import InfraError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.registry import NodeRegistry
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.runtime import ModelRunResult, WorkflowRuntime
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import (
    EnumRunStatus,
    SqliteWorkflowStore,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import load_builtin_workflow
from omnibase_infra_testing.embedded import (
    WEBHOOK_PATH,
    EmbeddedServices,
    WorkflowSetup,
    prepare_workflow,
)
from omnibase_infra_testing.onex_embedded import (
    cli_environment,
    infrastructure_state,
    node_factories,
)
from omnibase_infra_testing.services.consul import ConsulService
from omnibase_infra_testing.services.oidc import OidcService
from omnibase_infra_testing.services.openbao import OpenBaoService
from omnibase_infra_testing.services.postgres import PostgresService
from omnibase_infra_testing.services.receiver import WebhookReceiver

RUNS = 20
PER_CHILD = 5  # runs side by side in one child process (importing core takes seconds)
CHILDREN_AT_ONCE = 2
SECRET_ENV = "DEPLOYMENT_CRASH_WEBHOOK_SECRET"
READY = "ready"

# The child: build the runtime, say "ready", start each run after its own delay and run them
# side by side until the parent kills the process. The webhook secret comes in the
# environment, never on the command line.
CHILD = f"""
import asyncio, json, os, sys
from omnibase_infra.errors import InfraError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.registry import NodeRegistry
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.runtime import WorkflowRuntime
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import SqliteWorkflowStore
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import load_builtin_workflow
from omnibase_infra_testing.onex_embedded import node_factories

async def one(spec):
    await asyncio.sleep(spec["start_after"])
    store = SqliteWorkflowStore(spec["store"])
    registry = NodeRegistry(node_factories(outbox_path=spec["outbox"]))
    runtime = WorkflowRuntime(registry, store)
    inputs = dict(spec["inputs"], webhook_secret=os.environ["{SECRET_ENV}"])
    result = await runtime.run(load_builtin_workflow("deployment"), inputs, run_id=spec["run_id"])
    await registry.close()
    await store.close()
    return result.status.value

async def main():
    specs = json.loads(sys.stdin.read())
    load_builtin_workflow("deployment")
    print("{READY}", flush=True)
    print(json.dumps(await asyncio.gather(*(one(spec) for spec in specs))), flush=True)

asyncio.run(main())
"""

MIGRATIONS = {
    "0001_accounts.sql": "CREATE TABLE {schema}.accounts (id bigint PRIMARY KEY);",
    "0002_events.sql": "CREATE TABLE {schema}.events (id bigint PRIMARY KEY);",
}


@dataclass
class CrashRun:
    index: int
    service_name: str
    run_id: str
    store: Path
    outbox: Path
    start_after: float
    interrupted: bool = False
    """The run was in the store, unfinished, when its process died."""
    never_started: bool = False
    """The process died before the run was recorded: it is started afresh."""

    @property
    def schema(self) -> str:
        return self.service_name.replace("-", "_")


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


def _inputs(setup: WorkflowSetup, run: CrashRun, migrations: Path) -> dict[str, Any]:
    directory = migrations / run.service_name
    directory.mkdir(parents=True)
    for name, sql in MIGRATIONS.items():
        (directory / name).write_text(sql.format(schema=run.schema), encoding="utf-8")
    return {
        "service_name": run.service_name,
        "database_name": run.schema,
        "vault_database_role": setup.vault_database_role,
        "keycloak_client": setup.keycloak_client,
        "webhook_url": setup.webhook_url,
        "migrations_directory": str(directory),
    }


async def _crash_child(
    runs: list[CrashRun],
    inputs: Mapping[int, Mapping[str, Any]],
    env: Mapping[str, str],
    kill_after: float,
) -> bool:
    """Run ``runs`` in one child process; SIGKILL it ``kill_after`` seconds after it is
    ready. True when it was killed (False: every run finished first)."""
    specs = [
        {
            "store": str(run.store),
            "outbox": str(run.outbox),
            "run_id": run.run_id,
            "start_after": run.start_after,
            "inputs": dict(inputs[run.index]),
        }
        for run in runs
    ]
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=dict(env),
    )
    assert child.stdin is not None
    assert child.stdout is not None
    child.stdin.write(json.dumps(specs).encode())
    child.stdin.close()
    try:
        line = await asyncio.wait_for(child.stdout.readline(), timeout=120)
        if line.decode().strip() != READY:
            pytest.fail(f"crash child did not start (exit {await child.wait()})")
        await asyncio.wait_for(child.wait(), timeout=kill_after)
    except TimeoutError:
        child.send_signal(signal.SIGKILL)
        await child.communicate()
        return True
    await child.communicate()
    return False


async def _stored_status(run: CrashRun) -> EnumRunStatus | None:
    store = SqliteWorkflowStore(run.store)
    try:
        return (await store.get_run(run.run_id)).status
    except InfraError:
        return None
    finally:
        await store.close()


async def _resume(run: CrashRun, secret: str, inputs: Mapping[str, Any]) -> ModelRunResult:
    store = SqliteWorkflowStore(run.store)
    registry = NodeRegistry(node_factories(outbox_path=str(run.outbox)))
    runtime = WorkflowRuntime(registry, store)
    try:
        if run.never_started:
            return await runtime.run(
                load_builtin_workflow("deployment"),
                {**inputs, "webhook_secret": secret},
                run_id=run.run_id,
            )
        return await runtime.resume(run.run_id, secret_inputs={"webhook_secret": secret})
    finally:
        await registry.close()
        await store.close()


async def test_killed_runs_resume_to_completion_without_applying_an_effect_twice(
    services: EmbeddedServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = prepare_workflow(services)
    env = {**os.environ, **cli_environment(setup), SECRET_ENV: setup.webhook_secret}
    for name, value in cli_environment(setup).items():
        monkeypatch.setenv(name, value)
    seed = random.randrange(2**32)  # noqa: S311 - test randomness
    rng = random.Random(seed)  # noqa: S311
    runs = [
        CrashRun(
            index=i,
            service_name=f"svc-crash-{i}-{seed % 10_000}",
            run_id=f"crash-{seed}-{i}",
            store=tmp_path / f"run{i}.sqlite3",
            outbox=tmp_path / f"outbox{i}.sqlite3",
            start_after=rng.uniform(0.0, 2.0),
        )
        for i in range(RUNS)
    ]
    inputs = {run.index: _inputs(setup, run, tmp_path / "migrations") for run in runs}
    groups = [runs[i : i + PER_CHILD] for i in range(0, RUNS, PER_CHILD)]
    kills = [rng.uniform(1.0, 6.0) for _ in groups]
    killed_children = 0
    for first in range(0, len(groups), CHILDREN_AT_ONCE):
        wave = list(range(first, min(first + CHILDREN_AT_ONCE, len(groups))))
        outcomes = await asyncio.gather(
            *(_crash_child(groups[g], inputs, env, kills[g]) for g in wave)
        )
        killed_children += sum(outcomes)
    for run in runs:
        status = await _stored_status(run)
        run.never_started = status is None
        run.interrupted = status is not None and not status.finished
    resumed = await asyncio.gather(
        *(_resume(run, setup.webhook_secret, inputs[run.index]) for run in runs)
    )
    results = {run.index: result for run, result in zip(runs, resumed, strict=True)}

    interrupted = [run.index for run in runs if run.interrupted]
    context = (
        f"seed={seed}, kills after {[round(k, 2) for k in kills]}s, "
        f"{killed_children} children killed, interrupted runs {interrupted}, "
        f"never started {[run.index for run in runs if run.never_started]}"
    )
    print(context)  # noqa: T201 - shown with -s: where the kills landed
    assert interrupted, f"no run was interrupted ({context})"
    problems: list[str] = []
    for run in runs:
        result = results[run.index]
        where = f"run {run.index} (interrupted: {run.interrupted})"
        if result.status is not EnumRunStatus.COMPLETED or result.reducer_state != "healthy":
            problems.append(
                f"{where}: {result.status.value}/{result.reducer_state}: "
                f"{result.run.error} {result.run.notes}"
            )
            continue
        state = await infrastructure_state(
            services, service_name=run.service_name, schema=run.schema
        )
        # The outbox is at-least-once with a stable webhook-id: a kill after the receiver
        # got the notification and before the outbox recorded it re-delivers it. So: one
        # distinct id per run, and every copy the same id and body.
        copies = {
            request.body
            for request in services.receiver.requests_to(WEBHOOK_PATH)
            if request.header("webhook-id") == f"deployed-{run.run_id}"
        }
        counts = (len(copies), len(state.consul_instances), state.migrations)
        if counts != (1, 1, len(MIGRATIONS)):
            problems.append(
                f"{where}: distinct notification bodies, registrations, migrations = {counts}"
            )
        if state.kv_keys != (f"config/{run.service_name}/database",):
            problems.append(f"{where}: KV keys {state.kv_keys}")
    assert not problems, f"{context}:\n" + "\n".join(problems)
