"""The compiled transition table and the compiled guards are core's executor's semantics.

The node runs core's ``execute_transition`` once per step at load (its plan) and checks
its compiled guards against core's executor there; per event it runs nothing of core.
These tests hold it to what core's executor does on the whole contract: on every
transition of the shipped contract and of a contract that uses every guard operator,
exit, transition and entry actions, a wildcard and self-loops, for contexts that pass and
that fail each guard.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st
from omnibase_core.models.errors.model_onex_error import ModelOnexError
from omnibase_core.models.fsm.model_fsm_transition_result import ModelFSMTransitionResult
from omnibase_core.utils.fsm_executor import execute_transition

from omnibase_infra.errors import InfraValidationError
from omnibase_infra.models.fsm import (
    EnumFSMOutcome,
    FsmContextValue,
    ModelFSMEvent,
    ModelFSMResult,
    ModelFSMSnapshot,
)
from omnibase_infra.nodes.infra_reducer.v1_0_0 import (
    FsmDefinition,
    InfraReducer,
    load_definition,
    parse_definition,
)
from omnibase_infra.nodes.infra_reducer.v1_0_0.definition import GuardSpec

V: Final = {"major": 1, "minor": 0, "patch": 0}
RESOURCE: Final = "svc/eq"
ABSENT: Final = object()
_KEPT: Final = ["owner", "label", "level", "tags", "note"]


def _guarded(name: str, trigger: str, expression: str, **extra: Any) -> dict[str, Any]:
    """A self-loop on ``running`` guarded by ``expression``."""
    return {
        "version": V,
        "transition_name": name,
        "from_state": "running",
        "to_state": "running",
        "trigger": trigger,
        "conditions": [
            {"version": V, "condition_name": name, "condition_type": "state", "expression": e}
            for e in expression.split(" & ")
        ],
        **extra,
    }


# Every guard operator core knows, exit and entry actions on a self-loop, transition
# actions with is_critical and timeout_ms, and a wildcard that must not leave 'done'.
EVERY_OPERATOR: Final[dict[str, Any]] = {
    "version": V,
    "state_machine_name": "every_operator",
    "state_machine_version": V,
    "description": "every guard operator",
    "initial_state": "idle",
    "terminal_states": ["done"],
    "persistence_enabled": True,
    "states": [
        {"version": V, "state_name": "idle", "state_type": "operational", "description": "i",
         "optional_data": _KEPT},
        {"version": V, "state_name": "running", "state_type": "operational", "description": "r",
         "entry_actions": ["node_x_effect.start", "node_y_effect.watch"],
         "exit_actions": ["node_x_effect.pause"],
         "required_data": ["owner"], "optional_data": _KEPT[1:]},
        {"version": V, "state_name": "done", "state_type": "terminal", "description": "d",
         "is_terminal": True, "optional_data": _KEPT},
    ],
    "transitions": [
        _guarded("start", "start", "owner min_length 2 & owner max_length 4") | {
            "from_state": "idle"
        },
        _guarded("on_equals", "t_equals", "label equals blue"),
        _guarded("on_not_equals", "t_not_equals", "label not_equals blue"),
        _guarded("on_greater", "t_greater", "level greater_than 2.5"),
        _guarded("on_less", "t_less", "level less_than -1"),
        _guarded("on_min", "t_min", "tags min_length 2"),
        _guarded("on_max", "t_max", "tags max_length 1"),
        _guarded("on_exists", "t_exists", "note exists"),
        _guarded("on_not_exists", "t_not_exists", "note not_exists"),
        _guarded("on_two", "t_two", "level greater_than 0 & label not_equals red"),
        {"version": V, "transition_name": "tick", "from_state": "running",
         "to_state": "running", "trigger": "tick"},
        {"version": V, "transition_name": "abort", "from_state": "*", "to_state": "done",
         "trigger": "abort",
         "actions": [
             {"version": V, "action_name": "node_x_effect.stop", "action_type": "effect",
              "is_critical": True, "timeout_ms": 500},
             {"version": V, "action_name": "node_y_effect.report", "action_type": "effect"},
         ]},
    ],
}  # fmt: skip

DEFINITIONS: Final = {
    "shipped": load_definition(),
    "every_operator": parse_definition(EVERY_OPERATOR, source="every_operator.yaml"),
}
STEPS: Final = [
    (name, state, trigger)
    for name, definition in DEFINITIONS.items()
    for state in definition.states
    for trigger in definition.triggers_for(state)
]
START: Final = datetime(2025, 1, 1, tzinfo=UTC)
NODES: Final = {name: InfraReducer(definition=d) for name, d in DEFINITIONS.items()}


def _passing(guard: GuardSpec) -> object:
    """A value for which core's guard is true (ABSENT: leave the key out)."""
    bound = guard.value or "0"
    if guard.operator in {"greater_than", "less_than"}:
        return float(bound) + (1 if guard.operator == "greater_than" else -1)
    if guard.operator in {"min_length", "max_length"}:
        return "x" * max(int(bound), 1 if guard.operator == "min_length" else 0)
    return {"equals": bound, "not_equals": bound + "_x", "exists": "here"}.get(
        guard.operator, ABSENT
    )


def _snapshot(definition: FsmDefinition, state: str) -> ModelFSMSnapshot:
    """A snapshot in ``state`` holding its required keys."""
    return ModelFSMSnapshot(
        resource_id=RESOURCE,
        fsm_name=definition.name,
        fsm_version=definition.version,
        state=state,
        version=3,
        context=dict.fromkeys(definition.states[state].required_keys, "ab"),
        last_event_id=uuid4(),
        updated_at=START,
    )


def _required_data(definition: FsmDefinition, state: str, trigger: str) -> dict[str, str]:
    """Values for the keys the target state needs (guards may override them)."""
    step = definition.step(state, trigger)
    target = step.to_state if step is not None else state
    return dict.fromkeys(definition.states[target].required_keys, "ab")


async def _both(
    name: str, state: str, trigger: str, data: dict[str, FsmContextValue]
) -> tuple[ModelFSMSnapshot, ModelFSMResult | InfraValidationError, Any]:
    """(snapshot, the node's result or error, core's result or error) for one event."""
    definition = DEFINITIONS[name]
    snapshot = _snapshot(definition, state)
    event = ModelFSMEvent(resource_id=RESOURCE, trigger=trigger, data=data, occurred_at=START)
    node = NODES[name]
    node.forget(RESOURCE)
    ours: ModelFSMResult | InfraValidationError
    try:
        ours = await node.apply(snapshot, event)
    except InfraValidationError as error:
        ours = error
    context = {**snapshot.context, **data}
    core: ModelFSMTransitionResult | ModelOnexError
    try:
        core = await execute_transition(definition.fsm, state, trigger, context)
    except ModelOnexError as error:
        core = error
    return snapshot, ours, core


def _cores_actions(core: ModelFSMTransitionResult) -> list[tuple[object, ...]]:
    """Core's action intents as (kind, node, operation, state, is_critical, timeout_ms)."""
    actions = []
    for intent in core.intents:
        payload = intent.payload
        if intent.intent_type == "fsm_state_action":
            kind = f"{payload['action_type']}_action"
            extra: tuple[object, ...] = (payload["state"], False, None)
        elif intent.intent_type == "fsm_transition_action":
            kind = "transition_action"
            extra = (core.new_state, payload["is_critical"], payload["timeout_ms"])
        else:
            assert intent.intent_type in {"persist_state", "record_metric", "log_event"}
            continue
        actions.append((kind, *payload["action_name"].split("."), *extra))
    return actions


def _assert_equivalent(
    definition: FsmDefinition,
    snapshot: ModelFSMSnapshot,
    ours: ModelFSMResult | InfraValidationError,
    core: ModelFSMTransitionResult | ModelOnexError,
) -> None:
    if isinstance(core, ModelOnexError):  # core knows no such transition: neither do we
        assert isinstance(ours, InfraValidationError)
        assert "is not valid in state" in ours.message or "terminal state" in ours.message
        return
    if definition.states[snapshot.state].is_terminal:  # core's '*' leaves it; we do not
        assert isinstance(ours, InfraValidationError)
        assert "terminal state" in ours.message
        return
    if isinstance(ours, InfraValidationError):  # required context checked before guards
        assert ours.details["missing_keys"]
        return
    assert ours.transition == core.transition_name
    assert ours.previous_state == core.old_state
    if not core.success:
        assert ours.outcome is EnumFSMOutcome.GUARD_REJECTED
        assert (ours.snapshot, ours.intents) == (snapshot, ())
        return
    assert ours.outcome is EnumFSMOutcome.APPLIED
    assert ours.snapshot.state == core.new_state
    got = [
        (i.kind.value, i.target_node, i.operation, i.state, i.is_critical, i.timeout_ms)
        for i in ours.intents
    ]
    assert got == _cores_actions(core)


@pytest.mark.parametrize(("name", "state", "trigger"), STEPS)
async def test_every_transition_plans_what_core_plans(name: str, state: str, trigger: str) -> None:
    definition = DEFINITIONS[name]
    step = definition.compiled(state, trigger)
    assert step is not None
    data: dict[str, Any] = _required_data(definition, state, trigger)
    for guard in step.transition.guards:
        value = _passing(guard)
        if value is not ABSENT:
            data[guard.field] = value
    snapshot, ours, core = await _both(name, state, trigger, data)
    assert isinstance(core, ModelFSMTransitionResult)
    assert core.success, "the context passes every guard in core's executor"
    assert isinstance(ours, ModelFSMResult)
    _assert_equivalent(definition, snapshot, ours, core)
    assert (step.guards_pass is None) == (not step.transition.guards)


@pytest.mark.parametrize("name", DEFINITIONS)
async def test_every_state_and_trigger_pair_fails_as_core_fails(name: str) -> None:
    """Pairs with no transition (and the terminal wildcard) are errors in both."""
    definition = DEFINITIONS[name]
    triggers = sorted({spec.trigger for spec in definition.transitions})
    compared = 0
    for state in definition.states:
        for trigger in triggers:
            if definition.step(state, trigger) is not None:
                continue
            snapshot, ours, core = await _both(name, state, trigger, {})
            _assert_equivalent(definition, snapshot, ours, core)
            compared += 1
    assert compared


_text = st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=6)
_value = st.one_of(
    st.just(ABSENT),
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.floats(-3, 12, allow_nan=False),
    st.sampled_from(["blue", "red", "", "2.5", "3", "-2", "True", "None", "ab"]),
    _text,
    st.lists(_text, max_size=3),
)
GUARDED: Final = [
    (name, state, trigger)
    for name, state, trigger in STEPS
    if DEFINITIONS[name].step(state, trigger).guards  # type: ignore[union-attr]
]


@pytest.mark.slow
@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(step=st.sampled_from(GUARDED), values=st.data())
async def test_guards_decide_as_core_decides_on_the_whole_contract(
    step: tuple[str, str, str], values: st.DataObject
) -> None:
    """Any value of any type for each guard field: the node's verdict is core's."""
    name, state, trigger = step
    definition = DEFINITIONS[name]
    spec = definition.step(state, trigger)
    assert spec is not None
    data: dict[str, Any] = _required_data(definition, state, trigger)
    for guard in spec.guards:
        value = values.draw(_value, label=guard.field)
        if value is ABSENT:
            data.pop(guard.field, None)
        else:
            data[guard.field] = value
    snapshot, ours, core = await _both(name, state, trigger, data)
    _assert_equivalent(definition, snapshot, ours, core)
    note(ours.outcome.value if isinstance(ours, ModelFSMResult) else "missing context")
