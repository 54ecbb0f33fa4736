"""Every transition and every guard of the shipped FSM, through the node and core's executor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import pytest
from omnibase_core.models.contracts.subcontracts.model_fsm_subcontract import ModelFSMSubcontract

from omnibase_infra.models.fsm import (
    EnumFSMIntentKind,
    EnumFSMOutcome,
    FsmContextValue,
    ModelFSMEvent,
    ModelFSMSnapshot,
)
from omnibase_infra.nodes.infra_reducer.v1_0_0 import FsmDefinition, InfraReducer, load_definition
from omnibase_infra.nodes.infra_reducer.v1_0_0.definition import GuardSpec, TransitionSpec

type EventFactory = Callable[..., ModelFSMEvent]
type SnapshotFactory = Callable[..., ModelFSMSnapshot]

DEFINITION: Final = load_definition()
STEPS: Final = [
    (state, trigger) for state in DEFINITION.states for trigger in DEFINITION.triggers_for(state)
]
GUARDED: Final = [
    (state, trigger, index)
    for state, trigger in STEPS
    for index in range(len(DEFINITION.step(state, trigger).guards))  # type: ignore[union-attr]
]
ABSENT: Final = object()


def satisfying(guard: GuardSpec) -> object:
    """A value of the guard's field for which core's evaluation is true (ABSENT: omit)."""
    value = guard.value or "0"
    if guard.operator in {"min_length", "max_length"}:
        length = int(value)
        return "x" * (max(length, 1) if guard.operator == "min_length" else length)
    return {
        "equals": value,
        "not_equals": value + "_other",
        "greater_than": float(value) + 1,
        "less_than": float(value) - 1,
        "exists": "present",
        "not_exists": ABSENT,
    }[guard.operator]


def violating(guard: GuardSpec) -> object:
    """A value of the guard's field for which core's evaluation is false (ABSENT: omit)."""
    value = guard.value or "0"
    return {
        "equals": value + "_other",
        "not_equals": value,
        "greater_than": float(value),
        "less_than": float(value),
        "min_length": "x" * (int(value) - 1),
        "max_length": "x" * (int(value) + 1),
        "exists": ABSENT,
        "not_exists": "present",
    }[guard.operator]


REQUIRED_VALUES: Final[dict[str, FsmContextValue]] = {
    "service_name": "payments",
    "database_name": "payments_db",
}


def _data(
    spec: TransitionSpec, snapshot: ModelFSMSnapshot, broken: int | None = None
) -> dict[str, FsmContextValue]:
    """Event data that enters ``spec.to_state`` and passes every guard but ``broken``."""
    required = DEFINITION.states[spec.to_state].required_keys
    data = {k: REQUIRED_VALUES[k] for k in required if k not in snapshot.context}
    for index, guard in enumerate(spec.guards):
        value = satisfying(guard)
        if index != broken and value is not ABSENT:
            data.setdefault(guard.field, value)  # type: ignore[call-overload]
    if broken is not None:
        guard = spec.guards[broken]
        value = violating(guard)
        data.pop(guard.field, None)
        if value is not ABSENT:
            data[guard.field] = value  # type: ignore[assignment]
    return data


def _actions(
    fsm: ModelFSMSubcontract, source: str, target: str, name: str
) -> list[tuple[str, ...]]:
    """What the raw contract says the transition runs, in core's order."""
    states = {s.state_name: s for s in fsm.states}
    transition = next(t for t in fsm.transitions if t.transition_name == name)
    planned = [("exit_action", a, source) for a in states[source].exit_actions]
    planned += [("transition_action", a.action_name, target) for a in transition.actions]
    planned += [("entry_action", a, target) for a in states[target].entry_actions]
    return [(kind, *action.split("."), state) for kind, action, state in planned]


@pytest.mark.parametrize(("state", "trigger"), STEPS)
async def test_every_transition_moves_and_plans_its_actions(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, state: str, trigger: str
) -> None:
    spec = DEFINITION.step(state, trigger)
    assert spec is not None
    snapshot = snapshot_in(state)
    event = ModelFSMEvent(
        resource_id=snapshot.resource_id, trigger=trigger, data=_data(spec, snapshot)
    )

    result = await reducer.apply(snapshot, event)

    assert result.outcome is EnumFSMOutcome.APPLIED
    new = result.snapshot
    assert (new.state, new.version, new.last_event_id) == (spec.to_state, 6, event.event_id)
    assert (new.last_transition, new.updated_at) == (spec.name, event.occurred_at)
    assert set(new.context) <= set(DEFINITION.states[spec.to_state].kept_keys)
    assert (result.previous_state, result.trigger, result.transition) == (state, trigger, spec.name)
    got = [(i.kind.value, i.target_node, i.operation, i.state) for i in result.intents]
    assert got == _actions(DEFINITION.fsm, state, spec.to_state, spec.name)
    for intent in result.intents:
        assert intent.payload == new.context
        assert (intent.resource_id, intent.transition) == (snapshot.resource_id, spec.name)
        assert (intent.event_id, intent.correlation_id) == (event.event_id, event.correlation_id)
        assert intent.snapshot_version == 6
    assert len({i.intent_id for i in result.intents}) == len(result.intents)


@pytest.mark.parametrize(("state", "trigger", "index"), GUARDED)
async def test_every_guard_blocks_its_transition(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, state: str, trigger: str, index: int
) -> None:
    spec = DEFINITION.step(state, trigger)
    assert spec is not None
    snapshot = snapshot_in(state)
    blocked = ModelFSMEvent(
        resource_id=snapshot.resource_id, trigger=trigger, data=_data(spec, snapshot, broken=index)
    )

    result = await reducer.apply(snapshot, blocked)

    assert result.outcome is EnumFSMOutcome.GUARD_REJECTED
    assert result.snapshot == snapshot
    assert (result.intents, result.transition) == ((), spec.name)
    # A rejection does not advance the node's version: the same snapshot still applies.
    passing = ModelFSMEvent(
        resource_id=snapshot.resource_id, trigger=trigger, data=_data(spec, snapshot)
    )
    assert (await reducer.apply(snapshot, passing)).snapshot.state == spec.to_state


@pytest.mark.parametrize(
    ("failures", "outcome"),
    [(2, EnumFSMOutcome.GUARD_REJECTED), (3, EnumFSMOutcome.APPLIED)],
)
async def test_health_guard_boundary(
    reducer: InfraReducer,
    snapshot_in: SnapshotFactory,
    make_event: EventFactory,
    failures: int,
    outcome: EnumFSMOutcome,
) -> None:
    event = make_event("health_check_failed", consecutive_failures=failures)
    assert (await reducer.apply(snapshot_in("healthy"), event)).outcome is outcome


async def test_service_name_must_fit_a_dns_label(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    start = snapshot_in("unprovisioned", version=0)
    long_name = make_event("provision", service_name="s" * 64, database_name="db")
    assert (await reducer.apply(start, long_name)).outcome is EnumFSMOutcome.GUARD_REJECTED
    fits = make_event("provision", service_name="s" * 63, database_name="db")
    assert (await reducer.apply(start, fits)).snapshot.state == "provisioning"


def _plan(result_intents: tuple[object, ...]) -> list[tuple[object, ...]]:
    return [
        (i.kind, i.target_node, i.operation, i.is_critical, i.timeout_ms)  # type: ignore[attr-defined]
        for i in result_intents
    ]


ENTRY = EnumFSMIntentKind.ENTRY_ACTION
EXIT = EnumFSMIntentKind.EXIT_ACTION
ON_TRANSITION = EnumFSMIntentKind.TRANSITION_ACTION


@pytest.mark.parametrize(
    ("state", "trigger", "data", "to_state", "plan"),
    [
        (
            "unprovisioned",
            "provision",
            {"service_name": "payments", "database_name": "payments_db"},
            "provisioning",
            [(ENTRY, "node_vault_adapter_effect", "issue_database_credentials", False, None)],
        ),
        (
            "preparing_database",
            "database_ready",
            {},
            "registering_service",
            [(ENTRY, "node_consul_adapter_effect", "register_service", False, None)],
        ),
        (
            "degraded",
            "retry",
            {"requested_by": "alice"},
            "recovering",
            [
                (ENTRY, "node_consul_adapter_effect", "enable_maintenance", False, None),
                (ENTRY, "node_vault_adapter_effect", "issue_database_credentials", False, None),
            ],
        ),
        (
            "recovering",
            "credentials_issued",
            {},
            "healthy",
            [
                (EXIT, "node_consul_adapter_effect", "disable_maintenance", False, None),
                (ON_TRANSITION, "node_webhook_effect", "send_notification", False, 10000),
            ],
        ),
        (
            "decommissioning",
            "service_deregistered",
            {},
            "decommissioned",
            [
                (ON_TRANSITION, "node_vault_adapter_effect", "revoke_credentials", True, 30000),
                (ON_TRANSITION, "node_webhook_effect", "send_notification", False, 10000),
            ],
        ),
        ("notifying", "notified", {}, "healthy", []),
        (
            "healthy",
            "breaker_opened",
            {"breaker_target": "db.internal:5432"},
            "degraded",
            [(ENTRY, "node_webhook_effect", "send_notification", False, None)],
        ),
        ("degraded", "breaker_closed", {}, "healthy", []),
    ],
)
async def test_intents_name_the_effect_node_and_operation(
    reducer: InfraReducer,
    snapshot_in: SnapshotFactory,
    make_event: EventFactory,
    *,
    state: str,
    trigger: str,
    data: dict[str, FsmContextValue],
    to_state: str,
    plan: list[tuple[object, ...]],
) -> None:
    snapshot = snapshot_in(state, version=0) if state == "unprovisioned" else snapshot_in(state)
    result = await reducer.apply(snapshot, make_event(trigger, **data))
    assert result.snapshot.state == to_state
    assert _plan(result.intents) == plan


async def test_wildcard_decommission_leaves_every_non_terminal_state(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    for state, spec in DEFINITION.states.items():
        if spec.is_terminal or state == "unprovisioned":
            continue
        result = await reducer.apply(
            snapshot_in(state), make_event("decommission", requested_by="ops")
        )
        assert result.snapshot.state == "decommissioning"
        assert result.snapshot.context["requested_by"] == "ops"
        reducer.forget(result.snapshot.resource_id)


async def test_context_is_scoped_to_the_state(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    failed = await reducer.apply(
        snapshot_in("preparing_database"),
        make_event("step_failed", failed_step="prepare_database", error_code="42P07"),
    )
    assert failed.snapshot.context["failed_step"] == "prepare_database"
    assert failed.snapshot.context["error_code"] == "42P07"
    retried = await reducer.apply(failed.snapshot, make_event("retry", requested_by="alice"))
    assert retried.snapshot.state == "provisioning"
    assert "failed_step" not in retried.snapshot.context
    assert "requested_by" not in retried.snapshot.context  # provisioning does not keep it
    assert retried.intents[0].payload == retried.snapshot.context


async def test_a_whole_lifecycle(reducer: InfraReducer, make_event: EventFactory) -> None:
    snapshot = reducer.initial_snapshot("payments/prod")
    assert (snapshot.state, snapshot.version, snapshot.context) == ("unprovisioned", 0, {})
    steps: list[tuple[str, dict[str, FsmContextValue], str]] = [
        ("provision", {"service_name": "payments", "database_name": "pay"}, "provisioning"),
        ("credentials_issued", {}, "preparing_database"),
        ("database_ready", {}, "registering_service"),
        ("service_registered", {}, "verifying_identity"),
        ("token_verified", {}, "notifying"),
        ("notified", {}, "healthy"),
        ("health_check_failed", {"consecutive_failures": 5}, "degraded"),
        ("health_check_failed", {"consecutive_failures": 10}, "recovering"),
        ("credentials_issued", {}, "healthy"),
        ("decommission", {"requested_by": "ops"}, "decommissioning"),
        ("service_deregistered", {}, "decommissioned"),
    ]
    for version, (trigger, data, state) in enumerate(steps, start=1):
        snapshot = (await reducer.apply(snapshot, make_event(trigger, **data))).snapshot
        assert (snapshot.state, snapshot.version) == (state, version)
    assert reducer.is_terminal(snapshot)
    assert reducer.allowed_triggers("decommissioned") == ()


def test_allowed_triggers(reducer: InfraReducer, definition: FsmDefinition) -> None:
    assert reducer.allowed_triggers("healthy") == (
        "breaker_opened",
        "decommission",
        "health_check_failed",
    )
    assert definition.step("healthy", "notified") is None
