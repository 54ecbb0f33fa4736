"""Worker processes sharing the PostgreSQL store (``onex-infra worker``), on a real
PostgreSQL: three workers run scripted workflows while random faults hit them: SIGKILL
(the worker is started again, as a supervisor would), and SIGSTOP held past the lease then
SIGCONT. Checked at the end:

- every workflow completes;
- each step's effect happens exactly once: the node logs every call first, then applies
  the effect once per idempotency key (``tests/worker_nodes.py``);
- the fence: in the store's write log (``workflow_writes``: every fenced transaction with
  its run, generation, worker, what it wrote and the database clock) a run's generation
  never goes down; a worker continued after its lease expired records nothing more under
  that lease, and calls no step that it had not recorded as ``running`` before it was
  stopped.

The default run is short (``ONEX_WORKER_CHAOS_WORKFLOWS`` 20 workflows, ``_FAULTS`` 4
faults); ``nox -s chaos`` runs the issue's size: 60 workflows, 10 faults.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.worker_nodes import EFFECTS_ENV, EffectNode, chain_workflow

from omnibase_infra.models.postgres import ModelPostgresFetchRequest
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import NodeRegistry, parse_workflow
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.cli import main
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.leases import PostgresRunQueue
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import PostgresWorkflowStore
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.worker import (
    SUBMIT_TOPIC,
    WorkflowWorker,
    submit,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.worker_cli import load_bus
from omnibase_infra_testing.services.nats import NatsService
from omnibase_infra_testing.services.postgres import PostgresService

DSN_ENV = "OMNIBASE_INFRA_POSTGRES_DSN"
WORKFLOWS = int(os.environ.get("ONEX_WORKER_CHAOS_WORKFLOWS", "20"))
FAULTS = int(os.environ.get("ONEX_WORKER_CHAOS_FAULTS", "4"))
LEASE = 2.0
STEP_MS = 250
NODE = "node_chaos_effect=tests.worker_nodes:EffectNode"


@pytest.fixture(scope="module")
def workers_dsn(postgres_service: PostgresService) -> Iterator[str]:
    with postgres_service.scratch_database("orchworkers") as dsn:
        yield dsn


@dataclass
class Cluster:
    """Worker processes on one schema; each one's stderr kept in a file."""

    folder: Path
    env: dict[str, str]
    concurrency: int
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: int = 0

    def spawn(self) -> subprocess.Popen[bytes]:
        self.started += 1
        log = (self.folder / f"worker-{self.started}.log").open("wb")
        proc = subprocess.Popen(  # noqa: S603 - our own CLI
            [
                sys.executable,
                "-m",
                "omnibase_infra.nodes.infra_orchestrator.v1_0_0",
                "worker",
                "--store",
                "postgres",
                "--concurrency",
                str(self.concurrency),
                "--lease-seconds",
                str(LEASE),
                "--poll-seconds",
                "0.1",
                "--node",
                NODE,
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        return "".join(p.read_text() for p in sorted(self.folder.glob("worker-*.log")))


@pytest.fixture
async def cluster(
    workers_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Cluster, PostgresRunQueue]]:
    schema = f"workers_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(DSN_ENV, workers_dsn)
    (tmp_path / "effects").mkdir()
    package = str(Path(__file__).parent.parent)
    env = {
        **os.environ,
        DSN_ENV: workers_dsn,
        "OMNIBASE_INFRA_ORCHESTRATOR_STORE_SCHEMA": schema,
        EFFECTS_ENV: str(tmp_path),
        "PYTHONPATH": os.pathsep.join([package, *sys.path]),
    }
    store = PostgresWorkflowStore(schema=schema)
    queue = PostgresRunQueue(store)
    group = Cluster(tmp_path, env, concurrency=2)
    try:
        yield group, queue
    finally:
        group.stop()
        await store.close()


async def _rows(queue: PostgresRunQueue, sql: str) -> list[dict[str, object]]:
    node = await queue._node()
    response = await node.process(
        ModelPostgresFetchRequest(sql=sql.format(schema=queue.store.schema), max_rows=1_000_000)
    )
    return [dict(row) for row in response.rows]


@dataclass
class Stop:
    pid: int
    stopped_at: float
    continued_at: float = 0.0


async def _wait_finished(queue: PostgresRunQueue, total: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (await queue.counts()).get("finished", 0) == total:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"not every run finished: {await queue.counts()}")


async def test_three_workers_under_sigkill_and_sigstop_faults(  # noqa: PLR0912
    cluster: tuple[Cluster, PostgresRunQueue],
) -> None:
    group, queue = cluster
    rng = random.Random(  # noqa: S311 - fault timing, not secrets
        int(os.environ.get("ONEX_WORKER_CHAOS_SEED", "0")) or None
    )
    workflow = parse_workflow(chain_workflow("chaos", STEP_MS), source="test")
    run_ids = [f"w{i:03d}" for i in range(WORKFLOWS)]
    for rid in run_ids:
        await submit(queue, workflow, {"tag": rid}, run_id=rid)
    for _ in range(3):
        group.spawn()

    kills = 0
    stops: list[Stop] = []
    paused: dict[int, Stop] = {}

    async def cont_later(stop: Stop, proc: subprocess.Popen[bytes]) -> None:
        await asyncio.sleep(LEASE + 1.5)
        stop.continued_at = time.time()
        proc.send_signal(signal.SIGCONT)
        paused.pop(proc.pid, None)

    pending: list[asyncio.Task[None]] = []
    await asyncio.sleep(2.0)  # the workers start and claim
    while kills + len(stops) < FAULTS:
        if (await queue.counts()).get("finished", 0) == WORKFLOWS:
            break
        await asyncio.sleep(rng.uniform(0.2, 0.6))
        busy = {str(r.worker_id).split(":")[1] for r in await queue.list(limit=1000) if r.worker_id}
        recent = {s.pid for s in stops if s.continued_at and time.time() - s.continued_at < 2}
        candidates = [
            p
            for p in group.alive()
            if p.pid not in paused and p.pid not in recent and str(p.pid) in busy
        ]
        if len(group.alive()) - len(paused) < 2 or not candidates:
            continue  # keep one worker running; fault only workers holding runs
        victim = rng.choice(candidates)
        if rng.random() < 0.5:
            victim.kill()
            victim.wait()
            kills += 1
            group.spawn()  # the supervisor starts a new worker
        else:
            stop = Stop(victim.pid, time.time())
            victim.send_signal(signal.SIGSTOP)
            stops.append(stop)
            paused[victim.pid] = stop
            pending.append(asyncio.create_task(cont_later(stop, victim)))
    await asyncio.gather(*pending)
    await _wait_finished(queue, WORKFLOWS, 240)
    group.stop()
    logs = group.logs()

    # Every workflow completed.
    runs = await _rows(queue, "SELECT run_id, status FROM {schema}.workflow_runs")
    assert sorted(r["run_id"] for r in runs) == run_ids  # type: ignore[type-var]
    assert {r["status"] for r in runs} == {"completed"}, runs

    # Each step's effect exactly once, calls only with the step's own key.
    folder = group.folder
    calls = [line.split() for line in (folder / "calls.txt").read_text().splitlines()]
    effects = Counter(line.split()[1] for line in (folder / "effects.txt").read_text().splitlines())
    keys = {f"{rid}:{sid}" for rid in run_ids for sid in "abcd"}
    assert set(effects) == keys
    assert set(effects.values()) == {1}
    per_key = Counter(c[1] for c in calls)
    assert set(per_key) == keys
    repeated = sum(n - 1 for n in per_key.values())

    # The fence: generations never go down in a run's write log.
    writes = await _rows(
        queue,
        "SELECT run_id, generation, worker_id, what, "
        "extract(epoch FROM written_at)::float8 AS at FROM {schema}.workflow_writes ORDER BY id",
    )
    by_run: dict[str, list[dict[str, object]]] = defaultdict(list)
    for w in writes:
        by_run[str(w["run_id"])].append(w)
    for rid, log in by_run.items():
        gens = [int(str(w["generation"])) for w in sorted(log, key=lambda w: float(str(w["at"])))]
        assert gens == sorted(gens), (rid, gens)

    # A worker continued after its lease expired records nothing under that lease and
    # starts no step it had not recorded as running before the stop.
    checked = 0
    for stop in stops:
        mine = [w for w in writes if str(w["worker_id"]).split(":")[1] == str(stop.pid)]
        held: dict[tuple[str, int], set[str]] = {}
        for w in mine:
            key = (str(w["run_id"]), int(str(w["generation"])))
            at = float(str(w["at"]))
            what = str(w["what"])
            if at < stop.stopped_at:
                if what == "claim":
                    held[key] = set()
                elif what in ("finish", "release"):
                    held.pop(key, None)
                elif key in held and what.startswith("batch"):
                    held[key] |= {
                        part.split(":")[0] for part in what.split()[1:] if part.endswith(":running")
                    }
        for (rid, gen), started in held.items():
            checked += 1
            late = [
                w
                for w in mine
                if (w["run_id"], int(str(w["generation"]))) == (rid, gen)
                and float(str(w["at"])) >= stop.continued_at
            ]
            assert late == [], late
            reclaimed = min(
                (
                    float(str(w["at"]))
                    for w in mine
                    if w["run_id"] == rid
                    and w["what"] == "claim"
                    and int(str(w["generation"])) > gen
                ),
                default=float("inf"),
            )
            new_steps = {
                c[1].split(":")[1]
                for c in calls
                if c[1].startswith(f"{rid}:")
                and c[2] == str(stop.pid)
                and stop.continued_at <= float(c[3]) < reclaimed
            } - started
            assert new_steps == set(), (rid, gen, new_steps)

    lost = logs.count("lease lost:")
    print(  # noqa: T201 - the chaos table
        f"\nworkers chaos: {WORKFLOWS} workflows, {kills} SIGKILL, {len(stops)} SIGSTOP "
        f"(held {LEASE + 1.5:.1f}s > lease {LEASE:.1f}s), worker processes {group.started}, "
        f"leases held at a SIGSTOP {checked}, leases lost (worker logs) {lost}, "
        f"calls {len(calls)} (repeated with the same key {repeated}), "
        f"effects {sum(effects.values())}"
    )
    assert kills + len(stops) >= FAULTS
    if stops:
        # A stopped worker held at least one run (the checks above ran). Whether it logs
        # "lease lost" depends on what it was doing when stopped: not asserted.
        assert checked >= 1


def test_submit_worker_and_status_from_the_command_line(
    workers_dsn: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    schema = f"cli_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(DSN_ENV, workers_dsn)
    monkeypatch.setenv("OMNIBASE_INFRA_ORCHESTRATOR_STORE_SCHEMA", schema)
    spec = tmp_path / "chain.yaml"
    spec.write_text(json.dumps(chain_workflow("cli_chain", 10)))
    submit_c1 = ["submit", str(spec), "--store", "postgres", "--input", "tag=t1", "--run-id", "c1"]
    assert main(submit_c1) == 0
    assert "queued run c1" in capsys.readouterr().out
    assert main(submit_c1) == 0
    assert "already queued" in capsys.readouterr().out
    assert main(["status", "--store", "postgres", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [
        {
            "run_id": "c1",
            "workflow": "cli_chain",
            "status": "queued",
            "created_at": listed[0]["created_at"],
            "queue_state": "queued",
            "worker_id": None,
            "lease_generation": 0,
            "lease_seconds_left": None,
            "attempts": 0,
        }
    ]
    # A secret on the command line, an unknown input, a SQLite store: refused.
    assert main(["submit", str(spec), "--store", "postgres", "--input", "tag=password=x"]) == 2
    assert main(["submit", str(spec), "--store", "postgres", "--input", "nope=1"]) == 2
    assert main(["submit", str(spec), "--store", str(tmp_path / "s.db"), "--input", "tag=x"]) == 2
    assert main(["worker", "--store", "postgres", "--concurrency", "0"]) == 2
    assert main(["submit", "deployment", "--store", "postgres", "--bus", "no-such-bus"]) == 2
    capsys.readouterr()

    # A worker in this process, until nothing is left.
    monkeypatch.setenv(EFFECTS_ENV, str(tmp_path))
    (tmp_path / "effects").mkdir()
    worker = ["worker", "--store", "postgres", "--node", NODE, "--until-idle", "--json"]
    assert main(worker) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["claimed"], stats["finished"], stats["lost"]) == (1, 1, 0)
    assert main(["status", "--store", "postgres"]) == 0
    out = capsys.readouterr().out
    assert "queued runs (workers)" in out
    assert "finished" in out
    assert "completed" in out
    assert main(["status", "--store", "postgres", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["status"], row["queue_state"], row["lease_generation"]) == (
        "completed",
        "finished",
        1,
    )


async def test_events_and_submit_commands_on_nats(
    workers_dsn: str, nats_service: NatsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker with the NATS bus (loaded from its entry point): submit commands from the
    bus are queued once per run id (an invalid one dropped), and the workflow, step and
    worker events arrive on their subjects."""
    monkeypatch.setenv(DSN_ENV, workers_dsn)
    monkeypatch.setenv("OMNIBASE_INFRA_EVENT_BUS_SERVERS", nats_service.url)
    monkeypatch.setenv("OMNIBASE_INFRA_EVENT_BUS_ENVIRONMENT", f"t{uuid.uuid4().hex[:8]}")
    bus = load_bus("nats")
    store = PostgresWorkflowStore(schema=f"bus_{uuid.uuid4().hex[:8]}")
    queue = PostgresRunQueue(store)
    seen: list[dict[str, object]] = []

    async def observe(message: Any) -> None:
        seen.append(json.loads(message.value))

    unsubscribes = [
        await bus.subscribe(topic, "observer", observe)
        for topic in (
            "onex.infra.workflow.workflow.completed",
            "onex.infra.workflow.step.completed",
            "onex.infra.worker.claimed",
            "onex.infra.worker.finished",
        )
    ]
    worker = WorkflowWorker(
        queue,
        NodeRegistry({"node_chaos_effect": EffectNode()}),
        concurrency=2,
        poll_seconds=0.05,
        event_bus=bus,
        log=print,
    )
    unsubscribes.append(await worker.serve_commands(bus))
    command = {"workflow": chain_workflow("bus_chain", 5), "inputs": {"tag": "b"}, "run_id": "bus1"}
    await bus.publish(SUBMIT_TOPIC, b"bus1", json.dumps(command).encode())
    await bus.publish(SUBMIT_TOPIC, b"bus1", json.dumps(command).encode())  # a redelivery
    await bus.publish(SUBMIT_TOPIC, None, b"not json")
    await bus.publish(SUBMIT_TOPIC, None, json.dumps({"workflow": 3}).encode())
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        deadline = time.monotonic() + 60
        while not any(e.get("kind") == "worker.finished" for e in seen):
            assert time.monotonic() < deadline, seen
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await running
        for unsubscribe in unsubscribes:
            await unsubscribe()
        await bus.close()
    assert await queue.counts() == {"finished": 1}
    await store.close()
    kinds = Counter(str(e["kind"]) for e in seen)
    assert kinds["workflow.completed"] == 1
    assert kinds["step.completed"] == 4
    assert kinds["worker.claimed"] == 1
    assert {e["run_id"] for e in seen} == {"bus1"}
    assert worker.stats.finished == 1
