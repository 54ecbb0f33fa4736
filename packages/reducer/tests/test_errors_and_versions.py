"""Typed errors with the state unchanged, terminal states, stale snapshots, duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from omnibase_core.models.contracts.subcontracts.model_fsm_subcontract import ModelFSMSubcontract
from omnibase_core.models.fsm.model_fsm_transition_result import ModelFSMTransitionResult
from omnibase_core.models.model_intent import ModelIntent
from omnibase_core.utils.fsm_executor import execute_transition

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConflictError, InfraProtocolError, InfraValidationError
from omnibase_infra.models.fsm import EnumFSMOutcome, ModelFSMEvent, ModelFSMSnapshot
from omnibase_infra.nodes.infra_reducer.v1_0_0 import FsmDefinition, InfraReducer, compile_fsm
from omnibase_infra.nodes.infra_reducer.v1_0_0 import definition as definition_module

type EventFactory = Callable[..., ModelFSMEvent]
type SnapshotFactory = Callable[..., ModelFSMSnapshot]


async def test_invalid_trigger_is_a_typed_error_and_changes_nothing(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    snapshot = snapshot_in("healthy")
    before = snapshot.model_dump()
    event = make_event("database_ready")
    with pytest.raises(InfraValidationError) as caught:
        await reducer.apply(snapshot, event)
    error = caught.value
    assert (error.transport, error.operation) == (EnumTransport.INTERNAL, "fsm_transition")
    assert error.target == "infra_service_lifecycle/payments/prod"
    assert error.correlation_id == event.correlation_id
    assert "'database_ready' is not valid in state 'healthy'" in error.message
    assert error.details["allowed_triggers"] == [
        "breaker_opened",
        "decommission",
        "health_check_failed",
    ]
    assert snapshot.model_dump() == before
    # The node did not move either: the same snapshot still takes a valid event.
    result = await reducer.apply(snapshot, make_event("breaker_opened", breaker_target="db"))
    assert result.snapshot.version == snapshot.version + 1


async def test_terminal_state_is_really_terminal(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    gone = snapshot_in("decommissioned")
    # Core alone lets the '*' decommission transition leave the terminal state...
    core = await execute_transition(
        reducer.definition.fsm, "decommissioned", "decommission", {"requested_by": "ops"}
    )
    assert (core.success, core.new_state) == (True, "decommissioning")
    # ...the reducer does not.
    with pytest.raises(InfraValidationError, match="terminal state 'decommissioned'") as caught:
        await reducer.apply(gone, make_event("decommission", requested_by="ops"))
    assert caught.value.details["allowed_triggers"] == []
    assert reducer.is_terminal(gone)


async def test_missing_required_context(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    start = snapshot_in("unprovisioned", version=0)
    with pytest.raises(InfraValidationError, match="needs context keys") as caught:
        await reducer.apply(start, make_event("provision", service_name="payments"))
    assert caught.value.details["missing_keys"] == ["database_name"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"resource_id": "other"}, "applied to a snapshot of 'other'"),
        ({"fsm_name": "another_fsm"}, "belongs to FSM 'another_fsm'"),
        ({"state": "nowhere"}, "'nowhere' is not in the FSM"),
        ({"context": {"favourite_colour": "blue"}}, "undeclared keys ['favourite_colour']"),
    ],
)
async def test_foreign_or_broken_snapshots_are_rejected(
    reducer: InfraReducer,
    snapshot_in: SnapshotFactory,
    make_event: EventFactory,
    change: dict[str, object],
    message: str,
) -> None:
    snapshot = ModelFSMSnapshot.model_validate({**snapshot_in("healthy").model_dump(), **change})
    with pytest.raises(InfraValidationError) as caught:
        await reducer.apply(snapshot, make_event("breaker_opened", breaker_target="db"))
    assert message in caught.value.message


async def test_stale_snapshot_is_rejected(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    v5 = snapshot_in("healthy")
    first = await reducer.apply(v5, make_event("breaker_opened", breaker_target="db"))
    assert first.snapshot.version == 6
    stale_event = make_event("health_check_failed", consecutive_failures=4)
    with pytest.raises(InfraConflictError) as caught:
        await reducer.apply(v5, stale_event)
    error = caught.value
    assert (error.current_version, error.details["snapshot_version"]) == (6, 5)
    assert error.correlation_id == stale_event.correlation_id
    assert not error.retryable
    # The fresh snapshot applies; a newer one (another process moved on) is accepted too.
    assert (await reducer.apply(first.snapshot, make_event("breaker_closed"))).applied
    newer = snapshot_in("healthy", version=40)
    assert (await reducer.apply(newer, make_event("breaker_opened", breaker_target="x"))).applied
    with pytest.raises(InfraConflictError):
        await reducer.apply(first.snapshot, make_event("breaker_closed"))


async def test_retrying_the_same_event_on_the_same_snapshot_plans_the_same_result(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    snapshot = snapshot_in("provisioning")
    event = make_event("credentials_issued")
    first = await reducer.apply(snapshot, event)
    again = await reducer.apply(snapshot, event)  # e.g. the store write failed
    assert again == first
    assert [i.intent_id for i in again.intents] == [i.intent_id for i in first.intents]
    with pytest.raises(InfraConflictError):  # but not another event on the old snapshot
        await reducer.apply(snapshot, make_event("credentials_issued"))


async def test_racing_applies_for_one_resource_conflict(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    snapshot = snapshot_in("healthy")
    outcomes = await asyncio.gather(
        reducer.apply(snapshot, make_event("breaker_opened", breaker_target="a")),
        reducer.apply(snapshot, make_event("health_check_failed", consecutive_failures=3)),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["InfraConflictError", "ModelFSMResult"]


async def test_forget_drops_the_resources_version(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    snapshot = snapshot_in("healthy")
    await reducer.apply(snapshot, make_event("breaker_opened", breaker_target="a"))
    reducer.forget(snapshot.resource_id)
    assert (await reducer.apply(snapshot, make_event("breaker_opened", breaker_target="b"))).applied


async def test_duplicate_delivery_of_the_last_event_is_a_no_op(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    event = make_event("credentials_issued")
    applied = await reducer.apply(snapshot_in("provisioning"), event)
    duplicate = await reducer.apply(applied.snapshot, event)
    assert duplicate.outcome is EnumFSMOutcome.DUPLICATE
    assert (duplicate.snapshot, duplicate.intents) == (applied.snapshot, ())


async def test_undeclared_event_keys_are_dropped_or_rejected(
    snapshot_in: SnapshotFactory, make_event: EventFactory, reducer: InfraReducer
) -> None:
    event = make_event("breaker_opened", breaker_target="db", owner="team-a", zone="eu")
    result = await reducer.apply(snapshot_in("healthy"), event)
    assert result.dropped_keys == ("owner", "zone")
    assert "owner" not in result.snapshot.context
    strict = InfraReducer(definition=reducer.definition, strict_context=True)
    with pytest.raises(InfraValidationError) as caught:
        await strict.apply(snapshot_in("healthy"), event)
    assert caught.value.details["rejected_keys"] == ["owner", "zone"]
    assert "team-a" not in str(caught.value)


def _core_result(new_state: str, *intents: ModelIntent) -> ModelFSMTransitionResult:
    return ModelFSMTransitionResult(
        success=True,
        new_state=new_state,
        old_state="healthy",
        transition_name="breaker_opened",
        intents=list(intents),
    )


@pytest.mark.parametrize(
    ("core_result", "message"),
    [
        (_core_result("failed"), "core moved to 'failed'"),
        (
            _core_result("degraded", ModelIntent(intent_type="launch_rocket", target="x")),
            "unknown type 'launch_rocket'",
        ),
        (
            _core_result(
                "degraded",
                ModelIntent(
                    intent_type="fsm_state_action",
                    target="action_executor",
                    payload={
                        "action_name": "node_x_effect.surprise",
                        "action_type": "entry",
                        "state": "degraded",
                    },
                ),
            ),
            "undeclared action 'node_x_effect.surprise'",
        ),
    ],
)
def test_core_disagreeing_with_the_contract_is_a_protocol_error(
    definition: FsmDefinition,
    monkeypatch: pytest.MonkeyPatch,
    *,
    core_result: ModelFSMTransitionResult,
    message: str,
) -> None:
    """Core's executor plans each step once, when the contract is compiled."""

    async def planned(
        fsm: ModelFSMSubcontract, state: str, trigger: str, context: dict[str, object]
    ) -> ModelFSMTransitionResult:
        if (state, trigger) == ("healthy", "breaker_opened") and not context:
            return core_result
        return await execute_transition(fsm, state, trigger, context)

    monkeypatch.setattr(definition_module, "execute_transition", planned)
    with pytest.raises(InfraProtocolError, match=message):
        compile_fsm(definition.fsm, source="lifecycle.yaml")


async def test_replay_needs_events_or_a_snapshot(reducer: InfraReducer) -> None:
    with pytest.raises(InfraValidationError, match="nothing to replay"):
        await reducer.replay([])
    start = reducer.initial_snapshot("svc-1")
    assert await reducer.replay([], start) == start


async def test_replay_does_not_touch_the_nodes_versions(
    reducer: InfraReducer, make_event: EventFactory
) -> None:
    events = [
        make_event("provision", service_name="payments", database_name="db"),
        make_event("credentials_issued"),
    ]
    rebuilt = await reducer.replay(events)
    assert (rebuilt.state, rebuilt.version) == ("preparing_database", 2)
    # The live path still starts from version 0 for this resource.
    live = await reducer.apply(reducer.initial_snapshot(rebuilt.resource_id), events[0])
    assert live.snapshot.version == 1


def test_default_construction_loads_the_node_contract() -> None:
    node = InfraReducer()
    assert node.node_contract is not None
    assert node.node_contract.result_caching_enabled is False
    assert node.fsm_contract is node.definition.fsm
    assert node.definition.name == "infra_service_lifecycle"
