"""The SQLite store and the planner node on core's declarative orchestrator."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from omnibase_infra.errors import InfraConfigurationError, InfraNotFoundError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import (
    EnumRunStatus,
    EnumStepStatus,
    InfraOrchestrator,
    InMemoryWorkflowStore,
    ModelRunRecord,
    ModelStepRecord,
    SqliteWorkflowStore,
    WorkflowStore,
    load_builtin_workflow,
    parse_workflow,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import dumps, to_storable


async def test_sqlite_round_trip_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "runs.sqlite3"
    store = SqliteWorkflowStore(path)
    assert isinstance(store, WorkflowStore)
    run = ModelRunRecord(
        run_id="r1", workflow_name="wf", workflow={}, inputs={"a": 1}, correlation_id="c"
    )
    await store.save_run(run)
    await store.save_step(
        ModelStepRecord(run_id="r1", step_id="s", status=EnumStepStatus.COMPLETED, output={"x": 1})
    )
    await store.close()
    reopened = SqliteWorkflowStore(path, synchronous="NORMAL")
    assert (await reopened.get_run("r1")).inputs == {"a": 1}
    assert (await reopened.get_steps("r1"))["s"].output == {"x": 1}
    assert [r.run_id for r in await reopened.list_runs()] == ["r1"]
    with pytest.raises(InfraNotFoundError, match="no workflow run 'r2'"):
        await reopened.get_run("r2")
    await reopened.close()


async def test_the_in_memory_store_keeps_copies() -> None:
    # A record changed after its save, or after a read, leaves the stored one as it was.
    store = InMemoryWorkflowStore()
    step = ModelStepRecord(
        run_id="r1",
        step_id="s",
        status=EnumStepStatus.FAILED,
        output={"items": [{"x": 1}]},
        error={"code": "E", "context": {"n": 1}},
    )
    await store.save_batch([step])
    step.output["items"][0]["x"] = 2
    step.error["context"]["n"] = 2  # type: ignore[index]
    step.status = EnumStepStatus.COMPLETED
    read = (await store.get_steps("r1"))["s"]
    assert read.output == {"items": [{"x": 1}]}
    assert read.error == {"code": "E", "context": {"n": 1}}
    assert read.status is EnumStepStatus.FAILED
    read.output["items"].append("more")
    assert (await store.get_steps("r1"))["s"].output == {"items": [{"x": 1}]}
    await store.save_step(step)
    assert (await store.get_steps("r1"))["s"].output == {"items": [{"x": 2}]}


def test_an_unusable_store_path_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InfraConfigurationError, match="cannot open the workflow store"):
        SqliteWorkflowStore(blocker / "runs.sqlite3")


def test_storable_values_hide_secrets() -> None:
    from datetime import UTC, datetime
    from uuid import UUID

    value = {
        "password": "plain",
        "token": None,
        "nested": [SecretStr("s"), b"abc"],
        "when": datetime(2026, 1, 1, tzinfo=UTC),
        "status": EnumRunStatus.FAILED,
        "id": UUID(int=1),
        "set": {1},
    }
    stored = to_storable(value)
    assert stored["password"] == {"$secret": "**********"}
    assert stored["token"] is None
    assert stored["nested"] == [{"$secret": "**********"}, {"$bytes": 3}]
    assert stored["when"].startswith("2026-01-01")
    assert stored["status"] == "failed"
    assert stored["id"] == "00000000-0000-0000-0000-000000000001"
    assert stored["set"] == [1]
    assert "plain" not in dumps(value)


async def test_the_plan_is_core_ordered_levelled_and_deterministic() -> None:
    workflow = load_builtin_workflow("deployment")
    planner = InfraOrchestrator()
    first = await planner.plan(workflow)
    second = await InfraOrchestrator().plan(workflow)
    assert first == second
    assert first.order[:2] == ["issue_credentials", "obtain_token"]
    assert first.levels[-1] == ("notify",)
    by_id = {s.step_id: s for s in first.steps}
    assert by_id["issue_credentials"].compensable
    assert by_id["run_migrations"].conditional
    assert by_id["issue_credentials"].max_attempts == 3
    # every step comes after its dependencies
    seen: set[str] = set()
    for step in first.steps:
        assert set(step.depends_on) <= seen
        seen.add(step.step_id)
    core = planner.core_steps(workflow)
    assert {s["step_type"] for s in core} == {"effect"}


async def test_the_planner_rejects_an_invalid_graph() -> None:
    workflow = parse_workflow(
        {
            "workflow": {"name": "wf"},
            "steps": [
                {"id": "a", "node": "infra_reducer", "operation": "apply"},
                {"id": "b", "node": "node_x_compute", "operation": "run"},
                {"id": "c", "node": "infra_misc", "operation": "run"},
            ],
        }
    )
    plan = await InfraOrchestrator().plan(workflow)
    assert plan.order == ["a", "b", "c"]
    assert [s["step_type"] for s in InfraOrchestrator().core_steps(workflow)] == [
        "reducer",
        "compute",
        "custom",
    ]
    broken = workflow.model_copy(update={"steps": [*workflow.steps, workflow.steps[0]]})
    with pytest.raises(InfraConfigurationError, match="duplicate step id"):
        await InfraOrchestrator().plan(broken)
