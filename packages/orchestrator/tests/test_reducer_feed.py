"""The runtime feeds outcomes to the real infra_reducer (loaded through its entry point,
like every node) in plan order, and handles the reducer's intents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.orchestrator_fakes import Journal, ScriptedNode

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import (
    EnumRunStatus,
    InMemoryWorkflowStore,
    ModelWorkflowEvent,
    NodeRegistry,
    WorkflowRuntime,
    parse_workflow,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import (
    SqliteWorkflowStore,
    WorkflowStore,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import ModelWorkflow


def deployment_like(intents: dict[str, Any] | None = None) -> ModelWorkflow:
    def s(
        sid: str, node: str, trigger: str | None, deps: list[str], **extra: Any
    ) -> dict[str, Any]:
        return {
            "id": sid,
            "node": node,
            "operation": "create",
            "depends_on": deps,
            "reducer_trigger": trigger,
            **extra,
        }

    return parse_workflow(
        {
            "workflow": {"name": "deploy_fake"},
            "inputs": {"service": {}},
            "steps": [
                s("credentials", "node_a_effect", "credentials_issued", []),
                s("token", "node_b_effect", None, []),
                s("database", "node_a_effect", "database_ready", ["credentials"]),
                s("register", "node_b_effect", "service_registered", ["database"]),
                s("verify", "node_b_effect", "token_verified", ["token", "register"]),
                s("notify", "node_c_effect", "notified", ["verify"]),
            ],
            "reducer": {
                "resource_id": "${input.service}",
                "start": {
                    "trigger": "provision",
                    "data": {"service_name": "${input.service}", "database_name": "db_x"},
                },
                "failure": {"trigger": "step_failed"},
                "intents": intents
                if intents is not None
                else {
                    "node_vault_adapter_effect.issue_database_credentials": {
                        "satisfied_by": "credentials"
                    },
                    "node_webhook_effect.send_notification@notifying": {"satisfied_by": "notify"},
                    "node_webhook_effect.send_notification": {
                        "call": {
                            "node": "node_c_effect",
                            "operation": "delete",
                            "inputs": {"value": "${intent.state}:${intent.payload.failed_step}"},
                        }
                    },
                },
            },
        },
        source="deploy_fake.yaml",
    )


def make(nodes: dict[str, ScriptedNode], events: list[ModelWorkflowEvent]) -> WorkflowRuntime:
    return WorkflowRuntime(NodeRegistry(nodes), InMemoryWorkflowStore(), listeners=[events.append])


async def test_a_successful_run_leaves_the_resource_healthy(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    nodes["node_b_effect"].script["create"] = [0.05]  # token finishes after credentials
    events: list[ModelWorkflowEvent] = []
    result = await make(nodes, events).run(deployment_like(), {"service": "billing"})
    assert result.status is EnumRunStatus.COMPLETED
    assert result.reducer_state == "healthy"
    states = [e.detail["state"] for e in events if e.kind == "reducer.transition"]
    assert states == [
        "provisioning",
        "preparing_database",
        "registering_service",
        "verifying_identity",
        "notifying",
        "healthy",
    ]
    kinds = {e.detail.get("intent"): e.kind for e in events if e.kind.startswith("intent.")}
    assert kinds["node_vault_adapter_effect.issue_database_credentials"] == "intent.satisfied"
    assert kinds["node_webhook_effect.send_notification"] == "intent.satisfied"
    assert kinds["node_postgres_adapter_effect.prepare_database"] == "intent.unhandled"
    assert "node_c_effect.delete" not in journal.ops()
    assert result.run.reducer_fed == [
        "start",
        "credentials",
        "database",
        "register",
        "verify",
        "notify",
    ]


async def test_a_failed_run_parks_the_resource_in_failed_and_runs_its_intent(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    nodes["node_b_effect"].script["create"] = [
        0.0,
        InfraValidationError("rejected", transport=EnumTransport.HTTP, operation="create"),
    ]
    events: list[ModelWorkflowEvent] = []
    result = await make(nodes, events).run(deployment_like(), {"service": "billing"})
    assert result.status is EnumRunStatus.FAILED
    assert result.run.failed_step == "register"
    assert result.reducer_state == "failed"
    snapshot = result.run.reducer_snapshot or {}
    assert snapshot["context"]["failed_step"] == "register"
    calls = [c for c in journal.calls if c.operation == "delete"]
    assert [c.request.value for c in calls] == ["failed:register"]
    intent_key = calls[0].request.metadata["idempotency-key"]
    assert intent_key in result.run.intents_done


async def test_a_rejected_reducer_event_is_noted_and_does_not_fail_the_run(
    nodes: dict[str, ScriptedNode],
) -> None:
    wf = deployment_like()
    data = wf.model_dump(by_alias=True, exclude_none=True)
    data["reducer"]["start"]["trigger"] = "notified"  # not valid in unprovisioned
    events: list[ModelWorkflowEvent] = []
    result = await make(nodes, events).run(parse_workflow(data), {"service": "billing"})
    assert result.status is EnumRunStatus.COMPLETED
    assert any("reducer rejected 'notified'" in note for note in result.run.notes)
    assert any(e.kind == "reducer.rejected" for e in events)


async def test_a_failing_intent_call_is_noted(
    nodes: dict[str, ScriptedNode], journal: Journal
) -> None:
    nodes["node_a_effect"].script["create"] = [
        InfraValidationError("no", transport=EnumTransport.HTTP, operation="create")
    ]
    nodes["node_c_effect"].script["delete"] = [
        InfraValidationError("webhook down", transport=EnumTransport.HTTP, operation="send")
    ]
    events: list[ModelWorkflowEvent] = []
    result = await make(nodes, events).run(deployment_like(), {"service": "billing"})
    assert result.reducer_state == "failed"
    assert any("intent node_webhook_effect.send_notification failed" in n for n in result.run.notes)
    assert any(e.kind == "intent.failed" for e in events)


def decommission_like() -> ModelWorkflow:
    return parse_workflow(
        {
            "workflow": {"name": "decommission_fake"},
            "inputs": {"service": {}},
            "steps": [
                {
                    "id": "deregister",
                    "node": "node_a_effect",
                    "operation": "create",
                    "reducer_trigger": "service_deregistered",
                },
            ],
            "reducer": {
                "resource_id": "${input.service}",
                "start": {"trigger": "decommission", "data": {"requested_by": "tests"}},
                "intents": {
                    "node_vault_adapter_effect.revoke_credentials": {"satisfied_by": "deregister"},
                    "node_webhook_effect.send_notification": {"satisfied_by": "deregister"},
                },
            },
        },
        source="decommission_fake.yaml",
    )


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_the_reducer_snapshot_of_a_resource_carries_over_to_its_next_run(
    nodes: dict[str, ScriptedNode], tmp_path: Path, kind: str
) -> None:
    store: WorkflowStore = (
        InMemoryWorkflowStore() if kind == "memory" else SqliteWorkflowStore(tmp_path / "s.db")
    )
    events: list[ModelWorkflowEvent] = []
    runtime = WorkflowRuntime(NodeRegistry(nodes), store, listeners=[events.append])
    try:
        deployed = await runtime.run(deployment_like(), {"service": "billing"})
        assert deployed.reducer_state == "healthy"
        events.clear()
        result = await runtime.run(decommission_like(), {"service": "billing"})
        # another resource is unaffected: it starts from the initial snapshot
        other = await runtime.run(deployment_like(), {"service": "other"})
        kept = await store.get_resource_snapshot("billing")
    finally:
        await store.close()
    assert result.status is EnumRunStatus.COMPLETED
    assert not result.run.notes
    transitions = [
        (e.detail["previous_state"], e.detail["state"])
        for e in events
        if e.kind == "reducer.transition" and e.run_id == result.run_id
    ]
    assert transitions == [("healthy", "decommissioning"), ("decommissioning", "decommissioned")]
    assert result.reducer_state == "decommissioned"
    assert other.reducer_state == "healthy"
    assert kept is not None
    assert kept["state"] == "decommissioned"


class _Died(BaseException):
    """The process dies here (nothing after this point runs or is recorded)."""


class DyingStore(InMemoryWorkflowStore):
    """Dies at the first run save for which ``when(record)`` holds, before writing it."""

    def __init__(self) -> None:
        super().__init__()
        self.when: Any = None

    async def save_run(self, run: Any) -> None:
        if self.when is not None and self.when(run):
            self.when = None
            raise _Died
        await super().save_run(run)


@pytest.mark.parametrize("dies", ["before_the_intent_is_recorded", "after_it_is_recorded"])
async def test_a_crash_around_a_reducer_intent_does_not_apply_it_twice(
    nodes: dict[str, ScriptedNode], journal: Journal, dies: str
) -> None:
    nodes["node_b_effect"].script["create"] = [
        0.0,
        InfraValidationError("rejected", transport=EnumTransport.HTTP, operation="create"),
    ]
    store = DyingStore()
    called = lambda: any(c.operation == "delete" for c in journal.calls)  # noqa: E731
    # Before: the intent's call is made, the save recording it is lost. After: that save
    # is durable, the process dies at the next one.
    store.when = _dies_at_save(called, 0 if dies == "before_the_intent_is_recorded" else 1)
    runtime = WorkflowRuntime(NodeRegistry(nodes), store)
    with pytest.raises(_Died):
        await runtime.run(deployment_like(), {"service": "billing"}, run_id="r1")
    intent_calls = [c for c in journal.calls if c.operation == "delete"]
    assert len(intent_calls) == 1

    result = await WorkflowRuntime(NodeRegistry(nodes), store).resume("r1")
    assert result.status is EnumRunStatus.FAILED
    intent_calls = [c for c in journal.calls if c.operation == "delete"]
    keys = {c.request.metadata["idempotency-key"] for c in intent_calls}
    assert len(keys) == 1  # any second call carries the same idempotency key
    assert keys <= set(result.run.intents_done)
    assert result.run.intents_pending == []
    # In flight at the crash: called once more, with the same key. Recorded: never again.
    assert len(intent_calls) == (2 if dies == "before_the_intent_is_recorded" else 1)
    await WorkflowRuntime(NodeRegistry(nodes), store).resume("r1")  # finished: nothing more
    assert len([c for c in journal.calls if c.operation == "delete"]) == len(intent_calls)


def _dies_at_save(called: Any, saves_after: int) -> Any:
    """Dies at the ``saves_after``-th run save after the intent's call was made."""
    left = {"saves": saves_after}

    def when(run: Any) -> bool:
        if not called():
            return False
        if left["saves"] == 0:
            return True
        left["saves"] -= 1
        return False

    return when
