"""Crash and resume with the real nodes, on both workflow stores (SQLite and PostgreSQL):
child processes run the deployment workflow and are SIGKILLed at random times, round after
round (a round's children resume what the earlier kills left unfinished, and start new
runs); in the end this process resumes everything still unfinished. Every step call is
logged by the child before the call is made (the runtime's ``step.started`` event), so
calls are counted, not effects:

- a step the store held as ``completed`` at a kill is never called again; a step it held as
  ``running`` (in flight) may be called once more per kill that caught it (with the same
  idempotency key, ``<run_id>:<step_id>``); every other step is called once;
- every run completes, and each service has exactly one of everything: one Vault lease and
  one PostgreSQL login role (counted per service: each service has a Vault database role of
  its own, and the users are named after it), one Consul registration, its KV key, one row
  per migration, one distinct notification (at-least-once: a re-delivery carries the same
  webhook-id and body);
- decommissioning every service then leaves no lease and no login role.

A run killed with ``issue_credentials`` in flight is where a lease would leak: the Vault
node reconciles that step by its idempotency key (see its README). A run killed after
``obtain_token`` and before ``verify_token`` gets a new token on resume (``rerun_on_resume``).

Importing omnibase-core takes seconds, so each child runs five workflows side by side.
``ONEX_CHAOS_KILLS`` (``nox -s chaos``: 20) sets the number of kills per store; the default
run makes a few. The table (kills, resumes, calls per step kind, duplicates, leaked,
lost) is printed with ``-s``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from omnibase_infra.errors import InfraError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.registry import NodeRegistry
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.runtime import (
    ModelRunResult,
    ModelWorkflowEvent,
    WorkflowRuntime,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import (
    EnumRunStatus,
    EnumStepStatus,
    PostgresWorkflowStore,
    SqliteWorkflowStore,
    WorkflowStore,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import load_builtin_workflow
from omnibase_infra_testing.embedded import (
    ROLE_NAMED_USERS,
    WEBHOOK_PATH,
    EmbeddedServices,
    WorkflowSetup,
    configure_vault_database,
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

KILLS_ENV = "ONEX_CHAOS_KILLS"
DEFAULT_KILLS = 2
"""Kills per store in the default run (``nox -s chaos``: 20)."""
PER_CHILD = 5  # runs side by side in one child process (importing core takes seconds)
CHILDREN_AT_ONCE = 2
MAX_ROUNDS_PER_KILL = 3
KILL_WAIT_SECONDS = 120
REVOCATION_POLLS = 10
SECRET_ENV = "DEPLOYMENT_CRASH_WEBHOOK_SECRET"
READY = "ready"
STEPS = [step.id for step in load_builtin_workflow("deployment").steps]
LOGGED = {"step.started": "call", "step.rerun": "rerun", "step.compensating": "compensate"}

# The child: build a runtime per run, say "ready", start or resume each run after its own
# delay, side by side, until the parent kills the process. Every step call is appended to
# the calls file (one write per line, O_APPEND) before the call is made. The webhook secret
# comes in the environment, never on the command line.
CHILD = f"""
import asyncio, json, os, sys
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.registry import NodeRegistry
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.runtime import WorkflowRuntime
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import (
    PostgresWorkflowStore, SqliteWorkflowStore)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import load_builtin_workflow
from omnibase_infra_testing.onex_embedded import node_factories

LOGGED = {LOGGED!r}

def logger(fd):
    def log(event):
        kind = LOGGED.get(event.kind)
        if kind is not None:
            os.write(fd, f"{{event.run_id}} {{event.step_id}} {{kind}}\\n".encode())
    return log

async def one(spec, fd):
    await asyncio.sleep(spec["start_after"])
    kind, where = spec["store"]
    store = SqliteWorkflowStore(where) if kind == "sqlite" else PostgresWorkflowStore(schema=where)
    registry = NodeRegistry(node_factories(outbox_path=spec["outbox"]))
    runtime = WorkflowRuntime(registry, store, listeners=[logger(fd)])
    secret = os.environ["{SECRET_ENV}"]
    if spec["fresh"]:
        inputs = dict(spec["inputs"], webhook_secret=secret)
        result = await runtime.run(
            load_builtin_workflow("deployment"), inputs, run_id=spec["run_id"])
    else:
        result = await runtime.resume(spec["run_id"], secret_inputs={{"webhook_secret": secret}})
    await registry.close()
    await store.close()
    return result.status.value

async def main():
    job = json.loads(sys.stdin.read())
    fd = os.open(job["calls"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    load_builtin_workflow("deployment")
    print("{READY}", flush=True)
    print(json.dumps(await asyncio.gather(*(one(spec, fd) for spec in job["runs"]))), flush=True)

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
    outbox: Path
    store: tuple[str, str]
    """``("sqlite", path)`` or ``("postgres", schema)``."""
    inputs: dict[str, Any] = field(default_factory=dict)
    resumes: int = 0

    @property
    def schema(self) -> str:
        return self.service_name.replace("-", "_")

    @property
    def vault_role(self) -> str:
        """The service's own Vault database role (its users are ``v-<role>-...``)."""
        return self.service_name


@dataclass
class Tally:
    """What one store's crash rounds did and found (one row of the chaos table)."""

    store: str
    kills: int = 0
    runs: int = 0
    resumes: int = 0
    resumed_runs: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    reruns: int = 0
    duplicates: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


def table(tallies: list[Tally]) -> str:
    """The chaos table of the real deployment workflow: one row per store, then the calls
    per step kind."""
    head = (
        f"{'store':<9} {'kills':>5} {'runs':>4} {'resumes':>7} {'resumed runs':>12} "
        f"{'duplicates':>10} {'leaked leases/roles':>19} {'lost':>4}"
    )
    rows = [head, "-" * len(head)]
    for t in tallies:
        rows.append(
            f"{t.store:<9} {t.kills:>5} {t.runs:>4} {t.resumes:>7} {t.resumed_runs:>12} "
            f"{len(t.duplicates):>10} {len(t.leaked):>19} {len(t.lost):>4}"
        )
    for t in tallies:
        calls = " ".join(f"{sid}={t.calls[sid]}" for sid in STEPS)
        rows.append(f"calls per step ({t.store}): {calls} (reruns for a lost token: {t.reruns})")
    return "\n".join(rows)


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


def _open(run: CrashRun) -> WorkflowStore:
    kind, where = run.store
    return SqliteWorkflowStore(where) if kind == "sqlite" else PostgresWorkflowStore(schema=where)


def _inputs(setup: WorkflowSetup, run: CrashRun, migrations: Path) -> dict[str, Any]:
    directory = migrations / run.service_name
    directory.mkdir(parents=True)
    for name, sql in MIGRATIONS.items():
        (directory / name).write_text(sql.format(schema=run.schema), encoding="utf-8")
    return {
        "service_name": run.service_name,
        "database_name": run.schema,
        "vault_database_role": run.vault_role,
        "keycloak_client": setup.keycloak_client,
        "webhook_url": setup.webhook_url,
        "migrations_directory": str(directory),
    }


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


async def _statuses(runs: list[CrashRun]) -> dict[str, EnumStepStatus | EnumRunStatus | None]:
    """``<run>`` -> the run's stored status (None: not recorded) and ``<run>/<step>`` ->
    the step's (what a resume starts from)."""
    found: dict[str, EnumStepStatus | EnumRunStatus | None] = {}
    for run in runs:
        store = _open(run)
        try:
            found[run.run_id] = (await store.get_run(run.run_id)).status
            for sid, rec in (await store.get_steps(run.run_id)).items():
                found[f"{run.run_id}/{sid}"] = rec.status
        except InfraError:
            found[run.run_id] = None
        finally:
            await store.close()
    return found


def _unfinished(run: CrashRun, statuses: Mapping[str, object]) -> bool:
    status = statuses.get(run.run_id)
    return not isinstance(status, EnumRunStatus) or not status.finished


async def _crash_child(
    runs: list[CrashRun],
    statuses: Mapping[str, object],
    calls: Path,
    env: Mapping[str, str],
    rng: random.Random,
) -> bool:
    """Start or resume ``runs`` in one child process; SIGKILL it after a random number of
    its step calls. True when it was killed (False: every run finished first)."""
    job = {
        "calls": str(calls),
        "runs": [
            {
                "store": list(run.store),
                "outbox": str(run.outbox),
                "run_id": run.run_id,
                "start_after": rng.uniform(0.0, 1.5),
                "fresh": statuses.get(run.run_id) is None,
                "inputs": run.inputs,
            }
            for run in runs
        ],
    }
    for run in runs:
        run.resumes += statuses.get(run.run_id) is not None
    ids = {run.run_id for run in runs}

    def progress() -> int:
        return sum(line.split(" ", 1)[0] in ids for line in _lines(calls))

    # Killed after a random number of its step calls (then a random moment more, to land
    # in flight or between steps): a fixed time would land before anything happens on a
    # loaded machine.
    target = progress() + rng.randint(1, PER_CHILD * len(STEPS) - 2)
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
    child.stdin.write(json.dumps(job).encode())
    child.stdin.close()
    try:
        line = await asyncio.wait_for(child.stdout.readline(), timeout=120)
        if line.decode().strip() != READY:
            pytest.fail(f"crash child did not start (exit {await child.wait()})")
        async with asyncio.timeout(KILL_WAIT_SECONDS):
            while progress() < target and child.returncode is None:  # noqa: ASYNC110 - a file
                await asyncio.sleep(0.02)
        await asyncio.wait_for(child.wait(), timeout=rng.uniform(0.0, 0.3))
    except TimeoutError:
        child.send_signal(signal.SIGKILL)
        await child.communicate()
        return True
    await child.communicate()
    return False


async def _finish(run: CrashRun, secret: str, calls: Path, status: object) -> ModelRunResult:
    """Start (never recorded: ``status`` None) or resume ``run`` in this process, logging
    its calls (a finished run is returned as it is)."""
    store = _open(run)
    registry = NodeRegistry(node_factories(outbox_path=str(run.outbox)))
    fd = os.open(calls, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def log(event: ModelWorkflowEvent) -> None:
        kind = LOGGED.get(event.kind)
        if kind is not None:
            os.write(fd, f"{event.run_id} {event.step_id} {kind}\n".encode())

    runtime = WorkflowRuntime(registry, store, listeners=[log])
    try:
        if status is None:
            return await runtime.run(
                load_builtin_workflow("deployment"),
                {**run.inputs, "webhook_secret": secret},
                run_id=run.run_id,
            )
        run.resumes += not (isinstance(status, EnumRunStatus) and status.finished)
        return await runtime.resume(run.run_id, secret_inputs={"webhook_secret": secret})
    finally:
        os.close(fd)
        await registry.close()
        await store.close()


async def _decommission(run: CrashRun, setup: WorkflowSetup, credentials: Any) -> ModelRunResult:
    store = _open(run)
    registry = NodeRegistry(node_factories(outbox_path=str(run.outbox)))
    try:
        return await WorkflowRuntime(registry, store).run(
            load_builtin_workflow("decommission"),
            {
                "service_name": run.service_name,
                "database_name": run.schema,
                "lease_id": credentials["lease_id"],
                "vault_accessor": credentials["accessor"],
                "keycloak_client": setup.keycloak_client,
                "webhook_url": setup.webhook_url,
                "webhook_secret": setup.webhook_secret,
            },
            run_id=f"decommission-{run.run_id}",
        )
    finally:
        await registry.close()
        await store.close()


async def _credentials(services: EmbeddedServices, run: CrashRun) -> tuple[int, int]:
    """Live Vault leases of the service's role, and PostgreSQL login roles of its users."""
    state = await infrastructure_state(
        services,
        service_name=run.service_name,
        schema=run.schema,
        role_prefix=f"v-{run.vault_role}-",
        vault_role=run.vault_role,
    )
    return len(state.leases), len(state.login_roles)


def _count_calls(tally: Tally, runs: list[CrashRun], logged: list[list[str]]) -> None:
    known = {run.run_id for run in runs}
    for run_id, sid, kind in logged:
        if run_id not in known:
            continue
        if kind == "call":
            tally.calls[sid] += 1
        elif kind == "rerun":
            tally.reruns += 1


def _check_calls(
    tally: Tally,
    runs: list[CrashRun],
    logged: list[list[str]],
    snapshots: list[tuple[Mapping[str, object], int]],
) -> None:
    """Each step is called once, plus once per kill that caught it in flight; never after
    a kill at which the store held it completed."""
    per_step = Counter(f"{run_id}/{sid}" for run_id, sid, kind in logged if kind == "call")
    for run in runs:
        for sid in STEPS:
            step = f"{run.run_id}/{sid}"
            in_flight = sum(status.get(step) is EnumStepStatus.RUNNING for status, _ in snapshots)
            if per_step[step] > 1 + in_flight:
                tally.duplicates.append(
                    f"{step}: {per_step[step]} calls, in flight at {in_flight} kills"
                )
            for status, offset in snapshots:
                later = sum(f"{r}/{s}" == step and kind == "call" for r, s, kind in logged[offset:])
                if status.get(step) is EnumStepStatus.COMPLETED and later:
                    tally.duplicates.append(f"{step}: completed at a kill, called {later}x after")


async def _check_services(
    tally: Tally, services: EmbeddedServices, runs: list[CrashRun], results: Mapping[str, Any]
) -> None:
    """One of everything per service: lease, login role, registration, KV key, migrations
    and one distinct notification (duplicates, leaks and losses go to ``tally``)."""
    for run in runs:
        result = results[run.run_id]
        where = f"run {run.run_id} ({run.service_name})"
        if result.status is not EnumRunStatus.COMPLETED or result.reducer_state != "healthy":
            tally.lost.append(
                f"{where}: {result.status.value}/{result.reducer_state}: "
                f"{result.run.error} {result.run.notes}"
            )
            continue
        state = await infrastructure_state(
            services,
            service_name=run.service_name,
            schema=run.schema,
            role_prefix=f"v-{run.vault_role}-",
            vault_role=run.vault_role,
        )
        leases, roles = len(state.leases), len(state.login_roles)
        for _ in range(REVOCATION_POLLS):
            if (leases, roles) == (1, 1):
                break
            # Revoking a token revokes its leases in the server's background: an earlier
            # attempt's lease the record did not name yet goes a moment later.
            await asyncio.sleep(0.5)
            leases, roles = await _credentials(services, run)
        if leases != 1 or roles != 1:
            (tally.leaked if max(leases, roles) > 1 else tally.lost).append(
                f"{where}: {leases} Vault leases, {roles} login roles after resume"
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
            (tally.duplicates if max(counts[:2]) > 1 else tally.lost).append(
                f"{where}: distinct notification bodies, registrations, migrations = {counts}"
            )
        if state.kv_keys != (f"config/{run.service_name}/database",):
            tally.lost.append(f"{where}: KV keys {state.kv_keys}")


async def crash_rounds(
    store: str,
    services: EmbeddedServices,
    setup: WorkflowSetup,
    tmp_path: Path,
    *,
    kills: int,
    seed: int,
) -> Tally:
    """Kill rounds until ``kills`` children were killed (each round: up to two children of
    five runs, resuming the unfinished ones, new runs when none is left), then finish
    everything here, check every service, decommission them all and check again."""
    rng = random.Random(seed)  # noqa: S311 - test randomness
    tally = Tally(store=store)
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        **cli_environment(setup),
        SECRET_ENV: setup.webhook_secret,
        # Children share a bytecode cache: compiling omnibase-core again in each of them
        # would dominate the test's time.
        "PYTHONPYCACHEPREFIX": str(tmp_path / "pycache"),
    }
    calls = tmp_path / "calls.txt"
    runs: list[CrashRun] = []
    tag = f"{store[:2]}{seed % 10_000}"

    def new_runs(count: int) -> list[CrashRun]:
        made = []
        for _ in range(count):
            index = len(runs)
            run = CrashRun(
                index=index,
                service_name=f"svc-crash-{tag}-{index}",
                run_id=f"crash-{store}-{seed}-{index}",
                outbox=tmp_path / f"outbox{index}.sqlite3",
                store=(
                    ("sqlite", str(tmp_path / f"run{index}.sqlite3"))
                    if store == "sqlite"
                    else ("postgres", f"crash_{seed % 100_000}")
                ),
            )
            runs.append(run)
            made.append(run)
        # Each service's own Vault role, so that its leases and users can be counted.
        configure_vault_database(
            services,
            extra_roles=[run.vault_role for run in runs],
            username_template=ROLE_NAMED_USERS,
        )
        for run in made:
            run.inputs = _inputs(setup, run, tmp_path / "migrations")
        return made

    snapshots: list[tuple[Mapping[str, object], int]] = []
    statuses: Mapping[str, object] = {}
    for _ in range(kills * MAX_ROUNDS_PER_KILL):
        if tally.kills >= kills:
            break
        batch = [run for run in runs if _unfinished(run, statuses)]
        batch = batch[: PER_CHILD * CHILDREN_AT_ONCE]
        if len(batch) < PER_CHILD * CHILDREN_AT_ONCE:
            batch += new_runs(PER_CHILD * CHILDREN_AT_ONCE - len(batch))
        groups = [batch[i : i + PER_CHILD] for i in range(0, len(batch), PER_CHILD)]
        outcomes = await asyncio.gather(
            *(_crash_child(group, statuses, calls, env, rng) for group in groups)
        )
        statuses = await _statuses(runs)
        if any(outcomes):
            tally.kills += sum(outcomes)
            snapshots.append((statuses, len(_lines(calls))))
    tally.runs = len(runs)
    finished = await asyncio.gather(
        *(_finish(run, setup.webhook_secret, calls, statuses.get(run.run_id)) for run in runs)
    )
    results = {run.run_id: result for run, result in zip(runs, finished, strict=True)}
    tally.resumes = sum(run.resumes for run in runs)
    tally.resumed_runs = sum(run.resumes > 0 for run in runs)
    logged = [line.split() for line in _lines(calls)]
    _count_calls(tally, runs, logged)
    _check_calls(tally, runs, logged, snapshots)
    await _check_services(tally, services, runs, results)

    # Decommission (a few at a time): no lease and no login role may be left.
    gate = asyncio.Semaphore(4)

    async def decommission(run: CrashRun) -> None:
        credentials = results[run.run_id].steps["issue_credentials"].output
        if not isinstance(credentials, dict):
            return
        async with gate:
            result = await _decommission(run, setup, credentials)
        if result.status is not EnumRunStatus.COMPLETED:
            tally.lost.append(f"decommission of {run.service_name}: {result.run.error}")
        leases, roles = await _credentials(services, run)
        if leases or roles:
            tally.leaked.append(
                f"{run.service_name}: {leases} Vault leases, {roles} login roles after decommission"
            )

    await asyncio.gather(*(decommission(run) for run in runs))
    return tally


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_killed_runs_resume_to_one_of_everything_per_service(
    store: str, services: EmbeddedServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = prepare_workflow(services)
    for name, value in cli_environment(setup).items():
        monkeypatch.setenv(name, value)
    kills = int(os.environ.get(KILLS_ENV, DEFAULT_KILLS))
    seed = random.randrange(2**32)  # noqa: S311 - printed, so a failure can be replayed
    tally = await crash_rounds(store, services, setup, tmp_path, kills=kills, seed=seed)
    print(f"\nseed {seed}\n{table([tally])}")  # noqa: T201 - shown with -s: the figures
    context = f"seed {seed}, {store}"
    assert tally.kills >= kills, f"{context}: only {tally.kills} of {kills} kills landed"
    assert tally.resumed_runs >= 1, f"{context}: no run was left half-way"
    assert tally.duplicates == [], f"{context}: " + "\n".join(tally.duplicates)
    assert tally.leaked == [], f"{context}: " + "\n".join(tally.leaked)
    assert tally.lost == [], f"{context}: " + "\n".join(tally.lost)
