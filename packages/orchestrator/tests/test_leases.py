"""Leases and fencing of the scale-out mode on a real PostgreSQL (through the Postgres
node): claims skip what another worker holds, an expired lease is taken over with a new
generation, and every write of the worker that lost it is refused and leaves nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from tests.orchestrator_fakes import Journal, ScriptedNode, until

from omnibase_infra.errors import InfraConflictError, InfraValidationError
from omnibase_infra.models.postgres import ModelPostgresFetchRequest
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import (
    EnumRunStatus,
    EnumStepStatus,
    ModelRunRecord,
    ModelStepRecord,
    NodeRegistry,
    WorkflowRuntime,
    WorkflowStore,
    parse_workflow,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.leases import (
    FencedWorkflowStore,
    PostgresRunQueue,
    is_lease_lost,
    new_worker_id,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import PostgresWorkflowStore
from omnibase_infra_testing.services.postgres import PostgresService

DSN_ENV = "OMNIBASE_INFRA_POSTGRES_DSN"

WORKFLOW = {
    "workflow": {"name": "chain", "version": "1.0.0"},
    "inputs": {"name": {}},
    "steps": [
        {"id": "a", "node": "node_a_effect", "operation": "create", "inputs": {"value": 1}},
        {
            "id": "b",
            "node": "node_a_effect",
            "operation": "create",
            "depends_on": ["a"],
            "inputs": {"value": 2},
        },
        {
            "id": "c",
            "node": "node_a_effect",
            "operation": "create",
            "depends_on": ["b"],
            "inputs": {"value": 3},
        },
    ],
}


@pytest.fixture(scope="module")
def lease_dsn(postgres_service: PostgresService) -> Iterator[str]:
    with postgres_service.scratch_database("orchlease") as dsn:
        yield dsn


@pytest.fixture
async def queue(lease_dsn: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[PostgresRunQueue]:
    monkeypatch.setenv(DSN_ENV, lease_dsn)
    store = PostgresWorkflowStore(schema=f"q_{uuid.uuid4().hex[:8]}")
    yield PostgresRunQueue(store)
    await store.close()


def _dumped() -> dict[str, object]:
    workflow = parse_workflow(WORKFLOW, source="test")
    return workflow.model_dump(mode="json", by_alias=True, exclude_none=True)


async def _writes(queue: PostgresRunQueue, run_id: str) -> list[tuple[int, str, str]]:
    node = await queue._node()
    response = await node.process(
        ModelPostgresFetchRequest(
            sql=f'SELECT generation, worker_id, what FROM "{queue.store.schema}".workflow_writes '  # noqa: S608
            "WHERE run_id = $1 ORDER BY id",
            params=(run_id,),
        )
    )
    return [(int(r["generation"]), r["worker_id"], r["what"]) for r in response.rows]


async def test_submit_claim_renew_and_finish(queue: PostgresRunQueue) -> None:
    run_id, new = await queue.submit(_dumped(), {"name": "x"}, run_id="r1")
    assert (run_id, new) == ("r1", True)
    assert await queue.submit(_dumped(), {"name": "x"}, run_id="r1") == ("r1", False)
    await queue.submit(_dumped(), {"name": "y"}, run_id="r2")
    assert await queue.counts() == {"queued": 2}

    a, b = new_worker_id(), new_worker_id()
    assert a != b
    assert await queue.claim(a, 0, 5) == []
    first = await queue.claim(a, 1, 5)
    assert [(lease.run_id, lease.generation) for lease in first] == [("r1", 1)]
    assert first[0].inputs == {"name": "x"}
    assert first[0].workflow["workflow"]["name"] == "chain"
    second = await queue.claim(b, 5, 5)
    assert [lease.run_id for lease in second] == ["r2"]  # r1 is held by a
    assert await queue.claim(b, 5, 5) == []
    assert await queue.renew(a, first, 5) == {"r1"}
    assert await queue.renew(b, first, 5) == set()  # not b's
    assert await queue.renew(a, [], 5) == set()

    listed = {row.run_id: row for row in await queue.list()}
    assert listed["r1"].worker_id == a
    assert listed["r1"].state == "running"
    assert listed["r1"].lease_seconds_left is not None
    assert listed["r1"].lease_seconds_left > 0
    assert listed["r1"].run_status is None  # claimed, not started

    await queue.finish(first[0])
    await queue.finish(second[0], error="no such node")
    listed = {row.run_id: row for row in await queue.list(limit=10)}
    assert listed["r1"].state == "finished"
    assert listed["r1"].worker_id is None
    assert listed["r2"].state == "error"
    assert listed["r2"].last_error == "no such node"
    assert await queue.counts() == {"finished": 1, "error": 1}
    assert await _writes(queue, "r1") == [(1, a, "claim"), (1, a, "finish")]


async def test_an_expired_lease_is_taken_over_and_the_old_holder_records_nothing(
    queue: PostgresRunQueue,
) -> None:
    await queue.submit(_dumped(), {"name": "x"}, run_id="t1")
    a, b = new_worker_id(), new_worker_id()
    (old,) = await queue.claim(a, 1, 0.5)
    fenced = queue.fenced(old)
    assert isinstance(fenced, WorkflowStore)
    assert isinstance(fenced, FencedWorkflowStore)
    run = ModelRunRecord(
        run_id="t1", workflow_name="chain", workflow=_dumped(), inputs={}, correlation_id="c"
    )
    step = ModelStepRecord(run_id="t1", step_id="a", status=EnumStepStatus.RUNNING)
    await fenced.save_batch([step], run=run)
    assert await fenced.has_run("t1")
    assert not await fenced.has_run("ghost")

    await asyncio.sleep(0.7)  # the lease expires (a paused worker)
    assert await queue.renew(a, [old], 5) == set()
    with pytest.raises(InfraConflictError, match="no longer holds the lease") as caught:
        await fenced.save_step(step.model_copy(update={"status": EnumStepStatus.COMPLETED}))
    assert is_lease_lost(caught.value)
    assert fenced.lost

    (new,) = await queue.claim(b, 1, 5)
    assert (new.run_id, new.generation) == ("t1", 2)
    taken = queue.fenced(new)
    await taken.save_step(step.model_copy(update={"status": EnumStepStatus.COMPLETED}))

    # The old holder: nothing it writes lands, the later writes refused without a trip.
    stale = queue.fenced(old)
    for write in (
        stale.save_run(run.model_copy(update={"status": EnumRunStatus.FAILED})),
        stale.save_step(step),
        stale.save_batch([step]),
        stale.save_resource_snapshot("res", {"state": "x"}),
    ):
        with pytest.raises(InfraConflictError):
            await write
    with pytest.raises(InfraConflictError):
        await queue.finish(old)
    with pytest.raises(InfraConflictError):
        await queue.release(old, "x")
    with pytest.raises(InfraConflictError):
        await fenced.save_batch([step])
    assert (await taken.get_run("t1")).status is EnumRunStatus.RUNNING
    assert (await taken.get_steps("t1"))["a"].status is EnumStepStatus.COMPLETED
    assert await taken.get_resource_snapshot("res") is None
    assert [r.run_id for r in await taken.list_runs()] == ["t1"]
    await taken.save_resource_snapshot("res", {"state": "y"})
    assert await taken.get_resource_snapshot("res") == {"state": "y"}
    await taken.save_batch([])
    await taken.close()
    gens = [g for g, _, _ in await _writes(queue, "t1")]
    assert gens == sorted(gens)
    assert gens[0] == 1
    assert gens[-1] == 2

    with pytest.raises(InfraValidationError, match="cannot write run other"):
        await taken.save_step(ModelStepRecord(run_id="other", step_id="a"))
    # Released runs go back to the queue.
    await queue.release(new, "worker stopping")
    (again,) = await queue.claim(a, 1, 5)
    assert (again.run_id, again.generation) == ("t1", 3)
    assert (await queue.list())[0].last_error == "worker stopping"


async def test_a_takeover_resumes_and_the_paused_holder_starts_no_further_step(
    queue: PostgresRunQueue,
) -> None:
    """A runtime whose lease expires while its step runs: the step's outcome is refused,
    the next step never starts; the new holder resumes from the last recorded step and
    calls the step in flight again with the same idempotency key."""
    await queue.submit(_dumped(), {"name": "x"}, run_id="p1")
    journal = Journal()
    slow = ScriptedNode("node_a_effect", journal, {"create": [0.0, 1.2]})  # b outlives the lease
    a, b = new_worker_id(), new_worker_id()
    (old,) = await queue.claim(a, 1, 0.6)
    runtime = WorkflowRuntime(NodeRegistry({"node_a_effect": slow}), queue.fenced(old))
    workflow = parse_workflow(old.workflow, source="queue")
    with pytest.raises(InfraConflictError) as caught:
        await runtime.run(workflow, old.inputs, run_id="p1")
    assert is_lease_lost(caught.value)
    assert [c.request.value for c in journal.calls] == [1, 2]  # c never started

    (new,) = await queue.claim(b, 1, 5)
    steps = await queue.fenced(new).get_steps("p1")
    assert steps["a"].status is EnumStepStatus.COMPLETED
    assert steps["b"].status is EnumStepStatus.RUNNING
    fresh = ScriptedNode("node_a_effect", journal)
    resumed = WorkflowRuntime(NodeRegistry({"node_a_effect": fresh}), queue.fenced(new))
    result = await resumed.resume("p1")
    assert result.status is EnumRunStatus.COMPLETED
    await queue.finish(new)
    keys = [c.request.metadata["idempotency-key"] for c in journal.calls]
    assert keys == ["p1:a", "p1:b", "p1:b", "p1:c"]
    await until(lambda: True)
