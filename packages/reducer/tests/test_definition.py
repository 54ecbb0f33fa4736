"""Contract checks: what core tolerates and the reducer rejects, and the shipped contracts."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from omnibase_core.models.contracts.model_contract_reducer import ModelContractReducer

from omnibase_infra.contracts import load_fsm_contract, load_node_contract
from omnibase_infra.enums import EnumInfraFSMType
from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.nodes.infra_reducer.v1_0_0 import (
    FsmDefinition,
    parse_definition,
    render_mermaid,
)
from omnibase_infra.nodes.infra_reducer.v1_0_0 import definition as definition_module
from omnibase_infra.nodes.infra_reducer.v1_0_0.definition import (
    CONTRACTS_PACKAGE,
    FSM_RESOURCE,
    GUARD_OPERATORS,
    load_node_definition,
)

V = {"major": 1, "minor": 0, "patch": 0}


def _state(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "version": V,
        "state_name": name,
        "state_type": "operational",
        "description": name,
        **extra,
    }


def _transition(name: str, source: str, target: str, trigger: str, **extra: Any) -> dict[str, Any]:
    return {
        "version": V,
        "transition_name": name,
        "from_state": source,
        "to_state": target,
        "trigger": trigger,
        **extra,
    }


def _guard(expression: str, **extra: Any) -> dict[str, Any]:
    return {
        "version": V,
        "condition_name": "g",
        "condition_type": "validation",
        "expression": expression,
        **extra,
    }


def _fsm() -> dict[str, Any]:
    """A small FSM that passes every check."""
    return {
        "version": V,
        "state_machine_name": "mini",
        "state_machine_version": V,
        "description": "mini lifecycle",
        "initial_state": "idle",
        "terminal_states": ["done"],
        "states": [
            _state("idle", optional_data=["owner"]),
            _state(
                "busy",
                entry_actions=["node_x_effect.start"],
                required_data=["owner"],
                optional_data=["count"],
            ),
            _state("done", is_terminal=True, state_type="terminal"),
        ],
        "transitions": [
            _transition(
                "start", "idle", "busy", "start", conditions=[_guard("owner min_length 1")]
            ),
            _transition(
                "finish",
                "busy",
                "done",
                "finish",
                actions=[
                    {"version": V, "action_name": "node_x_effect.stop", "action_type": "effect"}
                ],
            ),
        ],
    }


def _problems(data: dict[str, Any]) -> str:
    with pytest.raises(InfraConfigurationError) as caught:
        parse_definition(data, source="mini.yaml")
    assert "mini.yaml" in caught.value.message
    return caught.value.message


def test_the_small_fsm_is_valid() -> None:
    definition = parse_definition(_fsm(), source="mini.yaml")
    assert definition.declared_keys == {"owner", "count"}
    assert definition.triggers_for("idle") == ("start",)
    assert definition.states["busy"].kept_keys == ("owner", "count")
    action = definition.action_target("node_x_effect.start")
    assert action is not None
    assert (action.target_node, action.operation) == ("node_x_effect", "start")
    assert definition.action_target("node_x_effect.nope") is None
    assert str(definition.transitions[0].guards[0]) == "owner min_length 1"


type Mutation = Callable[[dict[str, Any]], None]


def _set_guard(expression: str, **extra: Any) -> Mutation:
    def mutate(fsm: dict[str, Any]) -> None:
        fsm["transitions"][0]["conditions"] = [_guard(expression, **extra)]

    return mutate


def _add_transition(**spec: Any) -> Mutation:
    def mutate(fsm: dict[str, Any]) -> None:
        fsm["transitions"].append(_transition(**spec))

    return mutate


def _edit_state(index: int, **changes: Any) -> Mutation:
    def mutate(fsm: dict[str, Any]) -> None:
        fsm["states"][index].update(changes)

    return mutate


def _edit(path: tuple[Any, ...], value: Any) -> Mutation:
    def mutate(fsm: dict[str, Any]) -> None:
        target = fsm
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return mutate


def _rename_busy(fsm: dict[str, Any]) -> None:
    fsm["states"][1]["state_name"] = "Busy"
    fsm["transitions"][0]["to_state"] = fsm["transitions"][1]["from_state"] = "Busy"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set_guard("owner in a,b"), "unknown operator 'in' (core would evaluate it as false)"),
        (_set_guard("owner >= 1"), "unknown operator '>='"),
        (_set_guard("owner min_lenght 1"), "unknown operator 'min_lenght'"),
        (_set_guard("owner"), "is not 'field operator [value]'"),
        (_set_guard("owner exists now"), "'exists' takes 0 value(s), got 1"),
        (_set_guard("owner equals"), "'equals' takes 1 value(s), got 0"),
        (_set_guard("owner equals a b"), "'equals' takes 1 value(s), got 2"),
        (_set_guard("count greater_than lots"), "'greater_than' needs a finite number"),
        (_set_guard("count less_than nan"), "'less_than' needs a finite number"),
        (_set_guard("owner max_length 2.5"), "'max_length' needs a non-negative integer"),
        (_set_guard("ownr min_length 1"), "guard field 'ownr' is not declared"),
        (_set_guard("owner exists", required=False), "required: false guards are never"),
        (
            _add_transition(name="start_again", source="idle", target="done", trigger="start"),
            "same state and trigger as 'start'",
        ),
        (
            lambda fsm: fsm["transitions"].extend(
                [_transition("w1", "*", "done", "abort"), _transition("w2", "*", "idle", "abort")]
            ),
            "same state and trigger as 'w1'",
        ),
        (
            _add_transition(name="start", source="busy", target="idle", trigger="pause"),
            "transition name used twice",
        ),
        (lambda fsm: fsm["states"].append(_state("idle")), "state defined twice"),
        (
            _edit_state(1, entry_actions=["start_timer"]),
            "action 'start_timer' must be '<node>.<operation>'",
        ),
        (_edit_state(1, exit_actions=["node_x_effect.Bad-Op"]), "must be '<node>.<operation>'"),
        (
            _edit(("transitions", 1, "actions", 0, "action_type"), "log"),
            "action_type must be 'effect'",
        ),
        (
            _edit(("transitions", 1, "actions", 0, "action_name"), "notify"),
            "action 'notify' must be '<node>.<operation>'",
        ),
        (_edit_state(1, optional_data=["db_password"]), "names a secret"),
        (_edit_state(1, optional_data=["Owner Name"]), "context key 'Owner Name' must match"),
        (_edit_state(2, is_terminal=False), "is_terminal and terminal_states disagree"),
        (_edit_state(2, exit_actions=["node_x_effect.stop"]), "exit_actions cannot run"),
        (
            _edit(("transitions", 1, "from_state"), "idle"),
            "states['busy']: not terminal but no transition leaves it",
        ),
        (_edit(("transitions", 0, "trigger"), "Start-Now"), "trigger 'Start-Now' must match"),
        (_rename_busy, "state name must match"),
        # The strict loader and core's own findings, as errors:
        (_edit(("transitions", 0, "trigerr"), "x"), "unknown key (did you mean 'trigger'?)"),
        (lambda fsm: fsm["states"].append(_state("orphan")), "Unreachable states: orphan"),
        (
            _add_transition(name="undead", source="done", target="idle", trigger="revive"),
            "Terminal state 'done' has explicit outgoing transition: undead",
        ),
    ],
)
def test_contract_problems_are_errors(mutate: Mutation, message: str) -> None:
    fsm = _fsm()
    mutate(fsm)
    assert message in _problems(fsm)


def test_every_problem_is_reported_at_once() -> None:
    fsm = _fsm()
    _set_guard("owner in x")(fsm)
    _edit_state(1, entry_actions=["bad"])(fsm)
    _edit_state(1, optional_data=["api_token"])(fsm)
    message = _problems(fsm)
    assert "(3 problems)" in message
    assert "'in'" in message
    assert "'bad'" in message
    assert "'api_token'" in message


def test_guard_operators_are_cores() -> None:
    assert set(GUARD_OPERATORS) == {
        "equals",
        "not_equals",
        "greater_than",
        "less_than",
        "min_length",
        "max_length",
        "exists",
        "not_exists",
    }


def test_a_wildcard_never_leaves_a_terminal_state() -> None:
    fsm = _fsm()
    fsm["transitions"].append(_transition("abort", "*", "done", "abort"))
    definition = parse_definition(fsm, source="mini.yaml")
    assert definition.step("busy", "abort") is not None
    assert definition.step("done", "abort") is None
    assert definition.triggers_for("done") == ()


# -- the shipped contracts ---------------------------------------------------------------


def test_shipped_fsm_covers_the_lifecycle(definition: FsmDefinition) -> None:
    assert {
        "unprovisioned",
        "provisioning",
        "healthy",
        "degraded",
        "recovering",
        "failed",
        "decommissioning",
        "decommissioned",
    } <= set(definition.states)
    assert definition.initial_state == "unprovisioned"
    assert [s.name for s in definition.states.values() if s.is_terminal] == ["decommissioned"]
    assert [s.name for s in definition.states.values() if s.is_error] == ["failed"]
    triggers = {spec.trigger for spec in definition.transitions}
    assert {
        "credentials_issued",
        "database_ready",
        "service_registered",
        "token_verified",
        "notified",
        "step_failed",
        "health_check_failed",
        "health_check_passed",
        "breaker_opened",
        "breaker_closed",
        "retry",
        "decommission",
    } <= triggers
    assert definition.fsm.persistence_enabled is False


def test_shipped_fsm_targets_only_the_projects_effect_nodes(definition: FsmDefinition) -> None:
    nodes = {
        action.target_node
        for state in definition.states.values()
        for action in (*state.entry_actions, *state.exit_actions)
    } | {action.target_node for spec in definition.transitions for action in spec.actions}
    assert nodes == {
        "node_vault_adapter_effect",
        "node_postgres_adapter_effect",
        "node_consul_adapter_effect",
        "node_keycloak_adapter_effect",
        "node_webhook_effect",
    }


def test_shipped_fsm_passes_the_strict_loader_as_is() -> None:
    fsm = load_fsm_contract(CONTRACTS_PACKAGE, FSM_RESOURCE)
    assert fsm.state_machine_name == "infra_service_lifecycle"


def test_node_contract_turns_result_caching_off() -> None:
    contract, definition = load_node_definition()
    assert contract.name == "infra_reducer"
    assert contract.result_caching_enabled is False
    assert contract.caching is None
    assert definition.name == "infra_service_lifecycle"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"result_caching_enabled": True}, "result caching must be off"),
        ({"state_transitions": {"$ref": "../elsewhere.yaml"}}, "state_transitions must be"),
        ({"state_transitions": None}, "state_transitions must be"),
    ],
)
def test_node_contract_rules(
    monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], message: str
) -> None:
    def altered(*args: Any) -> ModelContractReducer:
        contract = load_node_contract(*args)
        data = copy.deepcopy(contract.model_dump())
        data.update(change)
        return ModelContractReducer.model_validate(data)

    monkeypatch.setattr(definition_module, "load_node_contract", altered)
    with pytest.raises(InfraConfigurationError, match=message):
        load_node_definition()


def test_render_without_error_states() -> None:
    text = render_mermaid(parse_definition(_fsm(), source="mini.yaml"))
    assert text == (
        "stateDiagram-v2\n"
        "    [*] --> idle\n"
        "    busy : entry / node_x_effect.start\n"
        "    idle --> busy : start [owner min_length 1]\n"
        "    busy --> done : finish / node_x_effect.stop\n"
        "    done --> [*]\n"
    )


def test_fsm_contracts_are_keyed_by_their_fsm_type() -> None:
    # Every FSM type ships a contract, found by its type or by its path.
    assert set(definition_module.FSM_CONTRACTS) == set(EnumInfraFSMType)
    by_type = definition_module.load_definition(EnumInfraFSMType.INFRASTRUCTURE_STATE)
    by_path = definition_module.load_definition(definition_module.FSM_RESOURCE)
    assert (by_type.name, by_type.initial_state) == (by_path.name, by_path.initial_state)
    assert [t.transition_name for t in by_type.fsm.transitions] == [
        t.transition_name for t in by_path.fsm.transitions
    ]
