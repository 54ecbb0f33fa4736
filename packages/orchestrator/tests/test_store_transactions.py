"""One store transaction per step transition, group commit in the SQLite store, and the
crash-safety order they must keep: a step's outcome is durable before a step after it
starts, and a step's ``running`` record before its call."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from tests.orchestrator_fakes import Journal, ScriptedNode, until

from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import (
    EnumRunStatus,
    EnumStepStatus,
    InMemoryWorkflowStore,
    ModelRunRecord,
    ModelStepRecord,
    NodeRegistry,
    SqliteWorkflowStore,
    WorkflowRuntime,
    WorkflowStore,
    parse_workflow,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import ModelWorkflow


def _chain(length: int, node: str = "node_probe_effect") -> ModelWorkflow:
    steps: list[dict[str, Any]] = [{"id": "s0", "node": node, "operation": "probe"}]
    steps += [
        {"id": f"s{i}", "node": node, "operation": "probe", "depends_on": [f"s{i - 1}"]}
        for i in range(1, length)
    ]
    return parse_workflow({"workflow": {"name": "chain"}, "steps": steps})


class ModelProbeRequest(ModelInfraRequest):
    operation: str = "probe"


class ModelProbeResponse(BaseModel):
    seen: dict[str, str]


class StoreProbe:
    """A node that reads the durable store at each call: what would a crash now leave?"""

    def __init__(self, store: WorkflowStore) -> None:
        self.store = store
        self.seen: list[dict[str, str]] = []

    async def probe(self, request: ModelProbeRequest) -> ModelProbeResponse:
        run_id = request.metadata["idempotency-key"].rsplit(":", 1)[0]
        steps = await self.store.get_steps(run_id)
        seen = {sid: rec.status.value for sid, rec in steps.items()}
        self.seen.append(seen)
        return ModelProbeResponse(seen=seen)


class CountingStore(InMemoryWorkflowStore):
    """The in-memory store, counting its writes (one entry per transaction)."""

    def __init__(self) -> None:
        super().__init__()
        self.transactions: list[list[str]] = []

    async def save_run(self, run: ModelRunRecord) -> None:
        self.transactions.append([f"run:{run.status.value}"])
        await super().save_run(run)

    async def save_step(self, step: ModelStepRecord) -> None:
        self.transactions.append([f"{step.step_id}:{step.status.value}"])
        await super().save_step(step)

    async def save_batch(
        self, steps: Sequence[ModelStepRecord], run: ModelRunRecord | None = None
    ) -> None:
        written = [f"{s.step_id}:{s.status.value}" for s in steps]
        self.transactions.append(written + ([f"run:{run.status.value}"] if run else []))
        await super().save_batch(steps, run)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_each_call_finds_its_predecessors_outcome_and_its_own_start_durable(
    kind: str, tmp_path: Path
) -> None:
    store: WorkflowStore = (
        InMemoryWorkflowStore() if kind == "memory" else SqliteWorkflowStore(tmp_path / "r.db")
    )
    probe = StoreProbe(store)
    runtime = WorkflowRuntime(NodeRegistry({"node_probe_effect": probe}, entry_points=False), store)
    result = await runtime.run(_chain(4))
    assert result.status is EnumRunStatus.COMPLETED
    for index, seen in enumerate(probe.seen):
        assert seen[f"s{index}"] == "running"
        assert all(seen[f"s{i}"] == "completed" for i in range(index))
        assert all(seen[f"s{i}"] == "pending" for i in range(index + 1, 4))
    await store.close()


async def test_one_transaction_per_step_transition() -> None:
    store = CountingStore()
    probe = StoreProbe(store)
    runtime = WorkflowRuntime(NodeRegistry({"node_probe_effect": probe}, entry_points=False), store)
    await runtime.run(_chain(3))
    assert store.transactions == [
        ["s0:running", "s1:pending", "s2:pending", "run:running"],  # the run and its start
        ["s0:completed", "s1:running"],  # an outcome and the start it releases, together
        ["s1:completed", "s2:running"],
        ["s2:completed", "run:completed"],  # the last outcome and the run's end
    ]


async def test_skipped_steps_release_their_dependents_in_the_same_transition() -> None:
    store = CountingStore()
    probe = StoreProbe(store)
    workflow = parse_workflow(
        {
            "workflow": {"name": "skips"},
            "inputs": {"flag": {"required": False}},
            "steps": [
                {"id": "a", "node": "node_probe_effect", "operation": "probe"},
                {
                    "id": "b",
                    "node": "node_probe_effect",
                    "operation": "probe",
                    "depends_on": ["a"],
                    "condition": {"exists": "${input.flag}"},
                },
                {"id": "c", "node": "node_probe_effect", "operation": "probe", "depends_on": ["b"]},
            ],
        }
    )
    runtime = WorkflowRuntime(NodeRegistry({"node_probe_effect": probe}, entry_points=False), store)
    result = await runtime.run(workflow)
    assert result.steps["b"].status is EnumStepStatus.SKIPPED
    assert ["a:completed", "b:skipped", "c:running"] in store.transactions


async def test_a_cancelled_run_leaves_no_call_behind(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    nodes["node_a_effect"].script["create"] = [5.0, 5.0]
    workflow = parse_workflow(
        {
            "workflow": {"name": "cancel"},
            "steps": [
                {"id": "x", "node": "node_a_effect", "operation": "create"},
                {"id": "y", "node": "node_a_effect", "operation": "create"},
            ],
        }
    )
    runtime = WorkflowRuntime(NodeRegistry(nodes, entry_points=False))
    task = asyncio.create_task(runtime.run(workflow))
    await until(lambda: journal.active == 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: journal.active == 0, seconds=1.0)


def _fail_step(path: Path, step_id: str) -> None:
    """A real SQLite failure for one step id: a trigger that aborts its insert."""
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON workflow_steps "
        f"WHEN NEW.step_id = '{step_id}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    db.commit()
    db.close()


async def test_sqlite_group_commit_batches_concurrent_saves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteWorkflowStore(tmp_path / "runs.sqlite3")
    commits: list[int] = []
    commit = store._commit

    def counted(groups: list[Any]) -> None:
        commits.append(len(groups))
        commit(groups)

    monkeypatch.setattr(store, "_commit", counted)
    await asyncio.gather(
        *(store.save_step(ModelStepRecord(run_id="r", step_id=f"s{i}")) for i in range(50))
    )
    assert len(await store.get_steps("r")) == 50
    assert sum(commits) == 50
    assert len(commits) < 50  # saves that waited for a commit share the next one
    await store.close()


async def test_sqlite_a_failing_batch_fails_alone_and_whole(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    store = SqliteWorkflowStore(path)
    _fail_step(path, "bad")
    good = store.save_step(ModelStepRecord(run_id="r", step_id="good"))
    bad = store.save_batch(
        [ModelStepRecord(run_id="r", step_id="first"), ModelStepRecord(run_id="r", step_id="bad")]
    )
    alone = store.save_step(ModelStepRecord(run_id="r", step_id="bad"))
    outcomes = await asyncio.gather(good, bad, alone, return_exceptions=True)
    assert outcomes[0] is None
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert isinstance(outcomes[2], sqlite3.IntegrityError)
    assert set(await store.get_steps("r")) == {"good"}  # "first" went with its batch
    with pytest.raises(sqlite3.IntegrityError):
        await store.save_step(ModelStepRecord(run_id="r", step_id="bad"))
    await store.close()


async def test_sqlite_a_cancelled_save_is_committed_and_does_not_stop_others(
    tmp_path: Path,
) -> None:
    store = SqliteWorkflowStore(tmp_path / "runs.sqlite3")
    first = asyncio.create_task(store.save_step(ModelStepRecord(run_id="r", step_id="a")))
    second = asyncio.create_task(store.save_step(ModelStepRecord(run_id="r", step_id="b")))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
    await store.close()  # waits for the commit in flight
    reopened = SqliteWorkflowStore(tmp_path / "runs.sqlite3")
    assert set(await reopened.get_steps("r")) == {"a", "b"}
    await reopened.close()


def test_sqlite_store_serves_one_event_loop_after_another(tmp_path: Path) -> None:
    store = SqliteWorkflowStore(tmp_path / "runs.sqlite3")
    asyncio.run(store.save_step(ModelStepRecord(run_id="r", step_id="a")))
    asyncio.run(store.save_step(ModelStepRecord(run_id="r", step_id="b")))
    assert set(asyncio.run(store.get_steps("r"))) == {"a", "b"}
    asyncio.run(store.close())


async def test_in_memory_batch_round_trip() -> None:
    store = InMemoryWorkflowStore()
    run = ModelRunRecord(run_id="r", workflow_name="w", workflow={}, inputs={}, correlation_id="c")
    await store.save_batch([ModelStepRecord(run_id="r", step_id="a")], run=run)
    assert (await store.get_run("r")).run_id == "r"
    assert set(await store.get_steps("r")) == {"a"}


async def test_sqlite_a_save_after_close_is_refused(tmp_path: Path) -> None:
    store = SqliteWorkflowStore(tmp_path / "runs.sqlite3")
    await store.save_step(ModelStepRecord(run_id="r", step_id="a"))
    await store.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        await store.save_step(ModelStepRecord(run_id="r", step_id="b"))
    unused = SqliteWorkflowStore(tmp_path / "other.sqlite3")
    await unused.close()  # no writer was started
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        await unused.save_step(ModelStepRecord(run_id="r", step_id="b"))


async def test_sqlite_a_store_dropped_without_close_ends_its_writer(tmp_path: Path) -> None:
    store = SqliteWorkflowStore(tmp_path / "runs.sqlite3")
    await store.save_step(ModelStepRecord(run_id="r", step_id="a"))
    writer = store._writer
    assert writer is not None
    assert writer.is_alive()
    del store
    gc.collect()
    writer.join(timeout=5)
    assert not writer.is_alive()
