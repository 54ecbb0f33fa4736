"""Real crash tests: subprocesses run workflows on the SQLite or the PostgreSQL store and
are SIGKILLed, each at a random point: after a random number of node calls, or while a
store transaction is open (the child pauses inside each one and says so). The next process
resumes what was interrupted. Calls are counted, not effects:

- every node call is logged before anything else (``crash_child.py``);
- after each kill the store is read: a step it holds as ``completed`` is never called
  again; a step it holds as ``running`` (in flight) may be called once more per kill that
  caught it, and always with its idempotency key ``<run_id>:<step_id>``; a step it holds as
  ``pending`` was not called (its ``running`` record comes first), so it is called once;
- in the end every run is completed and every effect is in the journal (none lost).

``nox -s chaos`` runs the same suite with many more kills (``ONEX_CHAOS_KILLS``, default
20 per store) and prints the table.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import (
    EnumRunStatus,
    EnumStepStatus,
    SqliteWorkflowStore,
    WorkflowStore,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import PostgresWorkflowStore
from omnibase_infra_testing.services.postgres import PostgresService

CHILD = Path(__file__).with_name("crash_child.py")
STEPS = [f"s{i}" for i in range(1, 9)]
PER_CHILD = 4
DSN_ENV = "OMNIBASE_INFRA_POSTGRES_DSN"
KILLS_ENV = "ONEX_CHAOS_KILLS"


@dataclass
class Tally:
    """What one crash suite did and found (one row of the chaos table)."""

    store: str
    kills: int = 0
    kills_in_store_write: int = 0
    runs: int = 0
    resumed: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    duplicates: list[str] = field(default_factory=list)
    wrong_keys: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


@dataclass
class Suite:
    store: str
    spec: str
    folder: Path
    env: dict[str, str]

    def child(self, run_ids: str, mode: str) -> subprocess.Popen[str]:
        return subprocess.Popen(  # noqa: S603 - our own script
            [sys.executable, str(CHILD), self.spec, str(self.folder), run_ids, mode],
            stdout=subprocess.PIPE,
            text=True,
            env=self.env,
        )

    def open(self) -> WorkflowStore:
        kind, _, where = self.spec.partition(":")
        return (
            SqliteWorkflowStore(where) if kind == "sqlite" else PostgresWorkflowStore(schema=where)
        )


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


async def _statuses(suite: Suite) -> dict[str, EnumStepStatus]:
    """``<run>/<step>`` -> the status the store holds (what a resume starts from)."""
    store = suite.open()
    try:
        runs = await store.list_runs(limit=10_000)
        found: dict[str, EnumStepStatus] = {}
        for run in runs:
            for sid, rec in (await store.get_steps(run.run_id)).items():
                found[f"{run.run_id}/{sid}"] = rec.status
        return found
    finally:
        await store.close()


async def _kill_one(suite: Suite, run_ids: str, rng: random.Random, in_write: bool) -> bool:
    """One child, SIGKILLed at a random point; True when the kill landed (False: the child
    finished first)."""
    calls, writes = suite.folder / "calls.txt", suite.folder / "writes.txt"
    child = suite.child(run_ids, "pause-writes" if in_write else "-")
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        watched = writes if in_write else calls
        target = len(_lines(watched)) + rng.randint(1, PER_CHILD * len(STEPS) - 2)
        for _ in range(6000):
            if len(_lines(watched)) >= target or child.poll() is not None:
                break
            await asyncio.sleep(0.005)
        if not in_write:
            await asyncio.sleep(rng.uniform(0.0, 0.03))
        if child.poll() is not None:
            return False
        child.send_signal(signal.SIGKILL)
        return True
    finally:
        child.kill()
        child.wait(timeout=30)
        child.stdout.close()


async def run_suite(suite: Suite, *, kills: int, seed: int) -> Tally:
    """``kills`` children, each starting ``PER_CHILD`` new runs (and resuming the
    unfinished ones) and each SIGKILLed, every other one while a store write is open;
    then a last child finishes everything. Checks every call against the store's state at
    each kill."""
    rng = random.Random(seed)  # noqa: S311 - test randomness
    tally = Tally(store=suite.store, runs=kills * PER_CHILD)
    run_ids = [f"run-{index:03d}" for index in range(tally.runs)]
    calls = suite.folder / "calls.txt"
    # For each kill: the store's statuses and how many calls had been made.
    snapshots: list[tuple[dict[str, EnumStepStatus], int]] = []
    for index in range(kills):
        batch = ",".join(run_ids[index * PER_CHILD : (index + 1) * PER_CHILD])
        in_write = index % 2 == 1
        if await _kill_one(suite, batch, rng, in_write):
            tally.kills += 1
            tally.kills_in_store_write += in_write
            snapshots.append((await _statuses(suite), len(_lines(calls))))
    final = suite.child(",".join(run_ids), "-")
    out, _ = final.communicate(timeout=600)
    assert final.returncode == 0, out

    store = suite.open()
    try:
        runs = await store.list_runs(limit=10_000)
    finally:
        await store.close()
    tally.resumed = len(set(_lines(suite.folder / "resumed.txt")))
    done = {run.run_id for run in runs if run.status is EnumRunStatus.COMPLETED}
    tally.lost += [f"run {run_id} not completed" for run_id in run_ids if run_id not in done]
    logged = [line.split() for line in _lines(calls)]
    for step, key in logged:
        tally.calls[step.rsplit("/", 1)[1]] += 1
        run_id, sid = step.rsplit("/", 1)
        if key != f"{run_id}:{sid}":
            tally.wrong_keys.append(f"{step} called with key {key}")
    per_step = Counter(step for step, _ in logged)
    for run_id in run_ids:
        for sid in STEPS:
            step = f"{run_id}/{sid}"
            in_flight = sum(status.get(step) is EnumStepStatus.RUNNING for status, _ in snapshots)
            if per_step[step] > 1 + in_flight:
                tally.duplicates.append(
                    f"{step}: {per_step[step]} calls, in flight at {in_flight} kills"
                )
            for status, offset in snapshots:
                later = sum(s == step for s, _ in logged[offset:])
                if status.get(step) is EnumStepStatus.COMPLETED and later:
                    tally.duplicates.append(f"{step}: completed at a kill, called {later}x after")
    journal = set(_lines(suite.folder / "journal.txt"))
    tally.lost += [
        f"effect {run_id}:{sid}"
        for run_id in run_ids
        for sid in STEPS
        if f"{run_id}:{sid}" not in journal
    ]
    return tally


def table(tallies: list[Tally]) -> str:
    """The chaos table: one row per store."""
    head = (
        f"{'store':<9} {'kills':>5} {'in write':>8} {'runs':>4} {'resumed':>7} "
        f"{'calls per step kind':<47} {'duplicates':>10} {'leaked':>6} {'lost':>4}"
    )
    rows = [head, "-" * len(head)]
    for t in tallies:
        calls = " ".join(f"{sid}={t.calls[sid]}" for sid in STEPS)
        rows.append(
            f"{t.store:<9} {t.kills:>5} {t.kills_in_store_write:>8} {t.runs:>4} "
            f"{t.resumed:>7} {calls:<47} {len(t.duplicates) + len(t.wrong_keys):>10} "
            f"{'n/a':>6} {len(t.lost):>4}"
        )
    rows.append("leaked: these fake nodes create nothing per call (see tests-integration)")
    return "\n".join(rows)


@pytest.fixture(scope="module")
def postgres_dsn(postgres_service: PostgresService) -> Iterator[str]:
    with postgres_service.scratch_database("orchcrash") as dsn:
        yield dsn


def _suite(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> Suite:
    # Children share a bytecode cache: compiling omnibase-core again in each of them
    # would dominate the test's time.
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "PYTHONPATH": os.pathsep.join(sys.path),
        "PYTHONPYCACHEPREFIX": str(tmp_path / "pycache"),
    }
    if store == "sqlite":
        return Suite(store, f"sqlite:{tmp_path / 'runs.sqlite3'}", tmp_path, env)
    env[DSN_ENV] = request.getfixturevalue("postgres_dsn")
    request.getfixturevalue("monkeypatch").setenv(DSN_ENV, env[DSN_ENV])  # this process too
    return Suite(store, f"postgres:crash_{uuid.uuid4().hex[:8]}", tmp_path, env)


def _check(tally: Tally) -> None:
    print(f"\n{table([tally])}")  # noqa: T201 - shown with -s: the suite's figures
    assert tally.duplicates == []
    assert tally.wrong_keys == []
    assert tally.lost == []
    assert tally.resumed >= 1, "the kills should leave runs half-way"


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_sigkill_then_resume_calls_no_completed_step_again_and_loses_nothing(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    tally = await run_suite(_suite(store, tmp_path, request), kills=4, seed=20261208)
    _check(tally)
    assert tally.kills >= 2
    assert tally.kills_in_store_write >= 1


@pytest.mark.chaos
@pytest.mark.skipif(KILLS_ENV not in os.environ, reason=f"nox -s chaos sets {KILLS_ENV}")
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_chaos(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    kills = int(os.environ.get(KILLS_ENV, "20"))
    seed = random.randrange(2**32)  # noqa: S311 - printed, so a failure can be replayed
    print(f"\nseed {seed}")  # noqa: T201
    tally = await run_suite(_suite(store, tmp_path, request), kills=kills, seed=seed)
    _check(tally)
    assert tally.kills >= kills * 3 // 4
