"""The FSM contract, checked beyond what core checks and compiled for fast lookups.

Core's FSM executor silently tolerates things that make a contract wrong at run time:
a guard with an unknown operator (or a misspelt field) is simply false, a second
transition for the same state and trigger is never taken, a ``required: false`` guard is
never evaluated. :func:`compile_fsm` rejects all of these, and checks the conventions of
this reducer: actions named ``<node>.<operation>``, context keys declared per state and
never secret-looking.

It also compiles the transition table: for every state and trigger, the transition, the
state it enters and the intents core's executor plans for it when its guards pass, asked
of core once at load rather than on every event.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from omnibase_core.models.contracts.model_contract_reducer import ModelContractReducer
from omnibase_core.models.contracts.subcontracts.model_fsm_state_transition import (
    ModelFSMStateTransition,
)
from omnibase_core.models.contracts.subcontracts.model_fsm_subcontract import ModelFSMSubcontract
from omnibase_core.models.contracts.subcontracts.model_fsm_transition_condition import (
    ModelFSMTransitionCondition,
)
from omnibase_core.models.errors.model_onex_error import ModelOnexError
from omnibase_core.models.fsm.model_fsm_transition_result import ModelFSMTransitionResult
from omnibase_core.utils.fsm_executor import execute_transition

from omnibase_infra.contracts import (
    load_fsm_contract,
    load_node_contract,
    parse_fsm_contract,
    resource_label,
)
from omnibase_infra.enums import EnumInfraFSMType, EnumTransport
from omnibase_infra.errors import InfraConfigurationError, InfraProtocolError
from omnibase_infra.models.fsm import CONTEXT_KEY_PATTERN, NAME_PATTERN, EnumFSMIntentKind
from omnibase_infra.redaction import is_sensitive_key

__all__ = [
    "CONTRACTS_PACKAGE",
    "FSM_CONTRACTS",
    "FSM_RESOURCE",
    "GUARD_OPERATORS",
    "NODE_CONTRACT_RESOURCE",
    "WILDCARD",
    "ActionSpec",
    "CompiledStep",
    "FsmDefinition",
    "GuardSpec",
    "PlannedIntent",
    "StateSpec",
    "TransitionSpec",
    "compile_fsm",
    "load_definition",
    "load_node_definition",
    "parse_definition",
]

CONTRACTS_PACKAGE: Final = "omnibase_infra.nodes.infra_reducer.v1_0_0"
NODE_CONTRACT_RESOURCE: Final = "contracts/reducer_contract.yaml"
FSM_CONTRACTS: Final[Mapping[EnumInfraFSMType, str]] = MappingProxyType(
    {EnumInfraFSMType.INFRASTRUCTURE_STATE: "contracts/fsm_infrastructure_state.yaml"}
)
"""The FSM contract this package ships for each FSM type."""
FSM_RESOURCE: Final = FSM_CONTRACTS[EnumInfraFSMType.INFRASTRUCTURE_STATE]
WILDCARD: Final = "*"

# Core's guard operators and how many operands each takes after the field name
# (omnibase_core.utils.fsm_executor._evaluate_single_condition).
GUARD_OPERATORS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "equals": 1,
        "not_equals": 1,
        "greater_than": 1,
        "less_than": 1,
        "min_length": 1,
        "max_length": 1,
        "exists": 0,
        "not_exists": 0,
    }
)
_NUMERIC_OPERATORS: Final = frozenset({"greater_than", "less_than"})
_LENGTH_OPERATORS: Final = frozenset({"min_length", "max_length"})
_ACTION_RE: Final = re.compile(
    r"^(?P<node>(?:node|infra)_[a-z0-9_]+)\.(?P<operation>[a-z][a-z0-9_]{0,99})$"
)
_NAME_RE: Final = re.compile(NAME_PATTERN)
_KEY_RE: Final = re.compile(CONTEXT_KEY_PATTERN)
_EFFECT_ACTION_TYPE: Final = "effect"
_LOAD: Final = "load_contract"

# How core's executor reports the actions it plans (omnibase_core.utils.fsm_executor).
_STATE_ACTION: Final = "fsm_state_action"
_TRANSITION_ACTION: Final = "fsm_transition_action"
_STATE_ACTION_KINDS: Final = {
    "entry": EnumFSMIntentKind.ENTRY_ACTION,
    "exit": EnumFSMIntentKind.EXIT_ACTION,
}
# Core intents the reducer does not pass on: the snapshot replaces persist_state (which
# embeds the whole context), the result replaces record_metric and log_event.
_DROPPED_CORE_INTENTS: Final = frozenset({"persist_state", "record_metric", "log_event"})


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One action of the contract: run ``operation`` on ``target_node``."""

    name: str
    target_node: str
    operation: str
    is_critical: bool = False
    timeout_ms: int | None = None


@dataclass(frozen=True, slots=True)
class GuardSpec:
    """One guard (core condition) in core's mini-language: ``field operator [value]``."""

    name: str
    field: str
    operator: str
    value: str | None

    def __str__(self) -> str:
        return self.field + " " + self.operator + ("" if self.value is None else " " + self.value)


@dataclass(frozen=True, slots=True)
class StateSpec:
    """A state, its actions and the context keys it holds."""

    name: str
    description: str
    is_terminal: bool
    is_error: bool
    entry_actions: tuple[ActionSpec, ...]
    exit_actions: tuple[ActionSpec, ...]
    required_keys: tuple[str, ...]
    kept_keys: tuple[str, ...]
    """``required_data`` then ``optional_data``: the keys a snapshot in this state keeps."""


@dataclass(frozen=True, slots=True)
class TransitionSpec:
    """A transition; ``from_state`` may be ``*`` (any non-terminal state)."""

    name: str
    from_state: str
    to_state: str
    trigger: str
    guards: tuple[GuardSpec, ...]
    actions: tuple[ActionSpec, ...]


class PlannedIntent(NamedTuple):
    """One intent a transition plans: ``action`` for the state left (exit action) or
    entered (entry and transition actions)."""

    kind: EnumFSMIntentKind
    action: ActionSpec
    state: str


type GuardPredicate = Callable[[Mapping[str, Any]], bool]
"""Whether a context passes one guard, or all guards of a transition."""


@dataclass(frozen=True, slots=True)
class CompiledStep:
    """What ``transition.trigger`` does in ``source``: the transition, the state it enters,
    and ``plan``, the intents core's executor plans for it when its guards pass, in core's
    order (exit, transition, entry actions), asked of core when the contract is compiled.

    ``guards_pass`` (None without guards) is the transition's guards compiled from core's
    guard language (:func:`guard_predicate`), checked against core's executor at load.
    """

    transition: TransitionSpec
    source: StateSpec
    target: StateSpec
    plan: tuple[PlannedIntent, ...]
    guards_pass: GuardPredicate | None


@dataclass(frozen=True, slots=True)
class FsmDefinition:
    """A checked FSM contract with its lookups precomputed.

    ``fsm`` is core's model, passed to core's executor unchanged. ``step(state, trigger)``
    resolves exact transitions before ``*`` ones, as core does, but never from a terminal
    state; ``compiled(state, trigger)`` adds the state it enters and core's plan.
    """

    fsm: ModelFSMSubcontract
    source: str
    states: Mapping[str, StateSpec]
    transitions: tuple[TransitionSpec, ...]
    declared_keys: frozenset[str]
    _steps: Mapping[tuple[str, str], CompiledStep]
    _actions: Mapping[str, ActionSpec]

    @property
    def name(self) -> str:
        """The state machine's name."""
        return self.fsm.state_machine_name

    @property
    def version(self) -> str:
        """The state machine's version, ``major.minor.patch``."""
        v = self.fsm.state_machine_version
        return f"{v.major}.{v.minor}.{v.patch}"

    @property
    def initial_state(self) -> str:
        """Where every resource starts."""
        return self.fsm.initial_state

    def step(self, state: str, trigger: str) -> TransitionSpec | None:
        """The transition ``trigger`` takes from ``state``, or None."""
        compiled = self._steps.get((state, trigger))
        return None if compiled is None else compiled.transition

    def compiled(self, state: str, trigger: str) -> CompiledStep | None:
        """The transition ``trigger`` takes from ``state`` with its target and plan, or None."""
        return self._steps.get((state, trigger))

    def transitions_from(self, state: str) -> tuple[TransitionSpec, ...]:
        """The transitions that can leave ``state`` (none if terminal), sorted by trigger."""
        return tuple(
            compiled.transition
            for (source, _), compiled in sorted(self._steps.items(), key=lambda item: item[0])
            if source == state
        )

    def triggers_for(self, state: str) -> tuple[str, ...]:
        """Every trigger valid in ``state`` (none in a terminal state), sorted."""
        return tuple(spec.trigger for spec in self.transitions_from(state))

    def action_target(self, name: str) -> ActionSpec | None:
        """The node and operation of the action called ``name``, or None."""
        return self._actions.get(name)


def _plan_from_core(
    result: ModelFSMTransitionResult,
    target: StateSpec,
    actions: Mapping[str, ActionSpec],
    *,
    where: str,
) -> tuple[PlannedIntent, ...]:
    """The intents of a transition core's executor applied, as effect-node actions.

    Core embeds the whole context in each payload; only the action's identity is read from
    it. Raises ``InfraProtocolError`` (target ``where``) when core moved elsewhere than
    ``target`` or planned something the contract does not say.
    """

    def protocol_error(message: str) -> InfraProtocolError:
        return InfraProtocolError(
            message, transport=EnumTransport.INTERNAL, operation=_LOAD, target=where
        )

    if result.new_state != target.name:
        raise protocol_error(
            f"core moved to {result.new_state!r}, the contract says {target.name!r}"
        )
    planned: list[PlannedIntent] = []
    for core_intent in result.intents:
        payload = core_intent.payload
        options: dict[str, Any]
        if core_intent.intent_type == _STATE_ACTION:
            kind, state = _STATE_ACTION_KINDS[payload["action_type"]], payload["state"]
            options = {}
        elif core_intent.intent_type == _TRANSITION_ACTION:
            kind, state = EnumFSMIntentKind.TRANSITION_ACTION, target.name
            options = {"is_critical": payload["is_critical"], "timeout_ms": payload["timeout_ms"]}
        elif core_intent.intent_type in _DROPPED_CORE_INTENTS:
            continue
        else:
            raise protocol_error(
                f"core planned an intent of unknown type {core_intent.intent_type!r}"
            )
        action = actions.get(payload["action_name"])
        if action is None:  # compile_fsm named every action; core cannot invent one
            raise protocol_error(f"core planned the undeclared action {payload['action_name']!r}")
        planned.append(PlannedIntent(kind, replace(action, **options), state))
    return tuple(planned)


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.lines.append(f"{where}: {message}")


def _action(name: str, where: str, problems: _Problems) -> ActionSpec | None:
    match = _ACTION_RE.fullmatch(name)
    if match is None:
        problems.add(
            where,
            f"action {name!r} must be '<node>.<operation>' (e.g. "
            "'node_vault_adapter_effect.issue_database_credentials')",
        )
        return None
    return ActionSpec(name=name, target_node=match["node"], operation=match["operation"])


def _operand_problem(operator: str, operand: str) -> str | None:
    if operator in _NUMERIC_OPERATORS:
        try:
            finite = math.isfinite(float(operand))
        except ValueError:
            finite = False
        if not finite:
            return f"{operator!r} needs a finite number, got {operand!r}"
    if operator in _LENGTH_OPERATORS and not operand.isdigit():
        return f"{operator!r} needs a non-negative integer, got {operand!r}"
    return None


def _guard_problem(parts: list[str], declared: frozenset[str]) -> str | None:
    """What is wrong with a split guard expression, or None."""
    if len(parts) < 2:
        return f"expression {' '.join(parts)!r} is not 'field operator [value]'"
    field, operator, operands = parts[0], parts[1], parts[2:]
    arity = GUARD_OPERATORS.get(operator)
    if arity is None:
        return (
            f"unknown operator {operator!r} (core would evaluate it as false); "
            f"use one of {', '.join(GUARD_OPERATORS)}"
        )
    if len(operands) != arity:
        return f"{operator!r} takes {arity} value(s), got {len(operands)} in {parts!r}"
    problem = _operand_problem(operator, operands[0]) if operands else None
    if problem is None and field not in declared:
        problem = (
            f"guard field {field!r} is not declared in any state's required_data/optional_data"
        )
    return problem


def _guard(
    condition: ModelFSMTransitionCondition,
    where: str,
    declared: frozenset[str],
    problems: _Problems,
) -> GuardSpec | None:
    where = f"{where}.conditions[{condition.condition_name!r}]"
    if not condition.required:
        problems.add(where, "required: false guards are never evaluated by core; remove it")
        return None
    parts = condition.expression.split()
    problem = _guard_problem(parts, declared)
    if problem is not None:
        problems.add(where, problem)
        return None
    return GuardSpec(
        name=condition.condition_name,
        field=parts[0],
        operator=parts[1],
        value=parts[2] if len(parts) > 2 else None,
    )


def _declared_keys(fsm: ModelFSMSubcontract, problems: _Problems) -> frozenset[str]:
    keys: set[str] = set()
    for state in fsm.states:
        for key in (*state.required_data, *state.optional_data):
            where = f"states[{state.state_name!r}]"
            if not _KEY_RE.fullmatch(key):
                problems.add(where, f"context key {key!r} must match {CONTEXT_KEY_PATTERN}")
            elif is_sensitive_key(key):
                problems.add(where, f"context key {key!r} names a secret; secrets never enter FSMs")
            else:
                keys.add(key)
    return frozenset(keys)


def _states(
    fsm: ModelFSMSubcontract, problems: _Problems, actions: dict[str, ActionSpec]
) -> dict[str, StateSpec]:
    states: dict[str, StateSpec] = {}
    terminal_names = set(fsm.terminal_states)
    for state in fsm.states:
        where = f"states[{state.state_name!r}]"
        if state.state_name in states:
            problems.add(where, "state defined twice")
            continue
        if not _NAME_RE.fullmatch(state.state_name):
            problems.add(where, f"state name must match {NAME_PATTERN}")
        if state.is_terminal != (state.state_name in terminal_names):
            problems.add(where, "is_terminal and terminal_states disagree")
        is_terminal = state.is_terminal or state.state_name in terminal_names
        if is_terminal and state.exit_actions:
            problems.add(where, "a terminal state is never left: exit_actions cannot run")
        entry = tuple(
            spec for name in state.entry_actions if (spec := _action(name, where, problems))
        )
        exits = tuple(
            spec for name in state.exit_actions if (spec := _action(name, where, problems))
        )
        for spec in (*entry, *exits):
            actions.setdefault(spec.name, spec)
        kept = tuple(dict.fromkeys((*state.required_data, *state.optional_data)))
        states[state.state_name] = StateSpec(
            name=state.state_name,
            description=state.description,
            is_terminal=is_terminal,
            is_error=state.state_name in fsm.error_states,
            entry_actions=entry,
            exit_actions=exits,
            required_keys=tuple(dict.fromkeys(state.required_data)),
            kept_keys=kept,
        )
    return states


def _transition(
    transition: ModelFSMStateTransition,
    declared: frozenset[str],
    problems: _Problems,
    actions: dict[str, ActionSpec],
) -> TransitionSpec:
    where = f"transitions[{transition.transition_name!r}]"
    if not _NAME_RE.fullmatch(transition.trigger):
        problems.add(where, f"trigger {transition.trigger!r} must match {NAME_PATTERN}")
    guards = tuple(
        guard
        for condition in transition.conditions
        if (guard := _guard(condition, where, declared, problems))
    )
    specs: list[ActionSpec] = []
    for action in transition.actions:
        if action.action_type != _EFFECT_ACTION_TYPE:
            problems.add(
                where, f"action {action.action_name!r}: action_type must be {_EFFECT_ACTION_TYPE!r}"
            )
        base = _action(action.action_name, where, problems)
        if base is None:
            continue
        spec = ActionSpec(
            name=base.name,
            target_node=base.target_node,
            operation=base.operation,
            is_critical=action.is_critical,
            timeout_ms=action.timeout_ms,
        )
        actions.setdefault(spec.name, base)
        specs.append(spec)
    return TransitionSpec(
        name=transition.transition_name,
        from_state=transition.from_state,
        to_state=transition.to_state,
        trigger=transition.trigger,
        guards=guards,
        actions=tuple(specs),
    )


def _steps(
    states: Mapping[str, StateSpec], transitions: tuple[TransitionSpec, ...], problems: _Problems
) -> dict[tuple[str, str], TransitionSpec]:
    exact: dict[tuple[str, str], TransitionSpec] = {}
    wildcard: dict[tuple[str, str], TransitionSpec] = {}
    names: set[str] = set()
    for spec in transitions:
        where = f"transitions[{spec.name!r}]"
        if spec.name in names:
            problems.add(where, "transition name used twice")
        names.add(spec.name)
        table = wildcard if spec.from_state == WILDCARD else exact
        other = table.setdefault((spec.from_state, spec.trigger), spec)
        if other is not spec:
            problems.add(
                where,
                f"same state and trigger as {other.name!r}: core only ever takes the first "
                "(a failed guard does not fall through); use distinct triggers",
            )
    steps: dict[tuple[str, str], TransitionSpec] = {}
    for state in states.values():
        if state.is_terminal:
            continue  # terminal really is terminal, whatever '*' says
        for (_, trigger), spec in wildcard.items():
            steps[(state.name, trigger)] = spec
        leaves = False
        for (source, trigger), spec in exact.items():
            if source == state.name:
                steps[(source, trigger)] = spec
                leaves = True
        if not (leaves or wildcard):
            problems.add(
                f"states[{state.name!r}]", "not terminal but no transition leaves it (stuck)"
            )
    return steps


def _run_pure[T](coroutine: Coroutine[Any, Any, T], *, where: str) -> T:
    """Run a coroutine that never waits on anything (core's executor is pure: its awaits
    only call other coroutines) without an event loop, so that contracts compile in
    synchronous code, also inside a running loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise InfraProtocolError(
        "core's FSM executor suspended while planning a transition; it is expected to be pure",
        transport=EnumTransport.INTERNAL,
        operation=_LOAD,
        target=where,
    )


def _compile_steps(
    fsm: ModelFSMSubcontract,
    states: Mapping[str, StateSpec],
    steps: Mapping[tuple[str, str], TransitionSpec],
    actions: Mapping[str, ActionSpec],
    source: str,
) -> dict[tuple[str, str], CompiledStep]:
    """Every step with what core's executor plans for it once its guards pass.

    Core defines which transition a trigger takes and which actions it plans in which
    order; that does not depend on the event, so core is asked here, once per step, on a
    copy of the contract without guards. Guards depend on the event: they are compiled
    (:func:`guard_predicate`) and each distinct guard is checked against core's executor
    on values around its bound (:func:`_disagreement`).
    """
    unguarded = fsm.model_copy(
        update={"transitions": [t.model_copy(update={"conditions": []}) for t in fsm.transitions]}
    )
    by_name = {t.transition_name: t for t in fsm.transitions}
    predicates: dict[GuardSpec, GuardPredicate] = {}
    compiled: dict[tuple[str, str], CompiledStep] = {}
    for (state, trigger), spec in steps.items():
        where = f"{source}: {state} --{trigger}-->"
        try:
            result = _run_pure(execute_transition(unguarded, state, trigger, {}), where=where)
        except ModelOnexError as exc:
            raise InfraProtocolError(
                f"{where}: core's executor rejects a transition the contract declares",
                transport=EnumTransport.INTERNAL,
                operation=_LOAD,
                target=source,
            ) from exc
        if not result.success or result.transition_name != spec.name:
            raise InfraProtocolError(
                f"{where}: core takes {result.transition_name!r}, the contract {spec.name!r}",
                transport=EnumTransport.INTERNAL,
                operation=_LOAD,
                target=source,
            )
        target = states[spec.to_state]
        plan = _plan_from_core(result, target, actions, where=source)
        transition = by_name[spec.name]
        for guard, condition in zip(spec.guards, transition.conditions, strict=True):
            if guard in predicates:
                continue
            disagreement = _disagreement(
                fsm,
                state=state,
                transition=transition,
                condition=condition,
                guard=guard,
                where=where,
            )
            if disagreement is not None:
                raise InfraProtocolError(
                    f"{where}: guard {str(guard)!r} compiles to another verdict: " + disagreement,
                    transport=EnumTransport.INTERNAL,
                    operation=_LOAD,
                    target=source,
                )
            predicates[guard] = guard_predicate(guard)
        compiled[(state, trigger)] = CompiledStep(
            transition=spec,
            source=states[state],
            target=target,
            plan=plan,
            guards_pass=_all_of([predicates[g] for g in spec.guards]),
        )
    return compiled


def guard_predicate(guard: GuardSpec) -> GuardPredicate:
    """``guard`` as core's executor evaluates it (``omnibase_core.utils.fsm_executor.
    _evaluate_single_condition``), its operand parsed once: ``equals``/``not_equals``
    compare ``str()`` forms, ``greater_than``/``less_than`` compare ``float(value or 0)``,
    ``min_length`` is false and ``max_length`` true for a falsy value, a value that cannot
    be converted fails the guard, ``exists``/``not_exists`` test the key. Like core's, the
    numeric ones raise ``OverflowError`` for an int beyond float range."""
    field, operator = guard.field, guard.operator
    if operator in {"equals", "not_equals"}:
        text, equal = str(guard.value), operator == "equals"
        return lambda context: (str(context.get(field)) == text) is equal
    if operator in _LENGTH_OPERATORS:
        size, at_least = int(guard.value or "0"), operator == "min_length"

        def length(context: Mapping[str, Any]) -> bool:
            value = context.get(field)
            if not value:
                return not at_least
            try:
                return len(value) >= size if at_least else len(value) <= size
            except TypeError:
                return False

        return length
    if operator in _NUMERIC_OPERATORS:
        bound, above = float(guard.value or "0"), operator == "greater_than"

        def compare(context: Mapping[str, Any]) -> bool:
            try:
                number = float(context.get(field) or 0)
            except (TypeError, ValueError):
                return False
            return number > bound if above else number < bound

        return compare
    present = operator == "exists"  # or not_exists: compile_fsm admits no other operator
    return lambda context: (field in context) is present


def _all_of(predicates: list[GuardPredicate]) -> GuardPredicate | None:
    if not predicates:
        return None
    if len(predicates) == 1:
        return predicates[0]
    return lambda context: all(predicate(context) for predicate in predicates)


_ABSENT: Final = object()


def _probes(guard: GuardSpec) -> list[object]:
    """Values of the guard's field around its bound, of every context value type."""
    probes: list[object] = [_ABSENT, None, True, False, 0, 1, -1, 0.5, "", "x", "None"]
    probes += [[], ["a"], ["a", "b"], guard.value, f"{guard.value}_x"]
    if guard.operator in _NUMERIC_OPERATORS:
        bound = float(guard.value or "0")
        probes += [bound, bound - 1, bound + 1, str(bound + 1), round(bound) + 1, round(bound)]
    if guard.operator in _LENGTH_OPERATORS:
        size = int(guard.value or "0")
        for n in (max(size - 1, 0), size, size + 1):
            probes += ["x" * n, ["a"] * n]
    return probes


def _disagreement(
    fsm: ModelFSMSubcontract,
    *,
    state: str,
    transition: ModelFSMStateTransition,
    condition: ModelFSMTransitionCondition,
    guard: GuardSpec,
    where: str,
) -> str | None:
    """Where core's executor and the compiled guard disagree on :func:`_probes` (the type
    of the value and core's verdict), or None: core defines the guard language, and a core
    that changed it is caught when a contract is loaded."""
    predicate = guard_predicate(guard)
    guard_only = fsm.model_copy(
        update={
            "transitions": [
                transition.model_copy(
                    update={"from_state": state, "conditions": [condition], "actions": []}
                )
            ],
            "persistence_enabled": False,
        }
    )
    for probe in _probes(guard):
        context = {} if probe is _ABSENT else {guard.field: probe}
        cores = _run_pure(
            execute_transition(guard_only, state, transition.trigger, context), where=where
        ).success
        if predicate(context) is not cores:
            return f"core's executor says {cores} for a {type(probe).__name__} value"
    return None


def compile_fsm(fsm: ModelFSMSubcontract, *, source: str) -> FsmDefinition:
    """Check ``fsm`` against this reducer's rules and precompute its lookups.

    Raises ``InfraConfigurationError`` naming ``source`` and listing every problem.
    Run core's ``validate_fsm_contract()`` first (the strict loaders of
    ``omnibase_infra.contracts`` do).
    """
    problems = _Problems()
    actions: dict[str, ActionSpec] = {}
    declared = _declared_keys(fsm, problems)
    states = _states(fsm, problems, actions)
    transitions = tuple(_transition(t, declared, problems, actions) for t in fsm.transitions)
    steps = _steps(states, transitions, problems)
    if problems.lines:
        count = len(problems.lines)
        raise InfraConfigurationError(
            f"{source}: FSM {fsm.state_machine_name!r} is not usable by infra_reducer "
            f"({count} problem{'s' if count != 1 else ''}):\n  " + "\n  ".join(problems.lines),
            transport=EnumTransport.INTERNAL,
            operation=_LOAD,
            target=source,
            problems=problems.lines,
        )
    return FsmDefinition(
        fsm=fsm,
        source=source,
        states=MappingProxyType(states),
        transitions=transitions,
        declared_keys=declared,
        _steps=MappingProxyType(_compile_steps(fsm, states, steps, actions, source)),
        _actions=MappingProxyType(actions),
    )


def parse_definition(data: object, *, source: str) -> FsmDefinition:
    """Strictly validate raw FSM YAML data (e.g. a file given to the CLI) and compile it."""
    return compile_fsm(parse_fsm_contract(data, source=source), source=source)


def load_definition(
    fsm: EnumInfraFSMType | str = EnumInfraFSMType.INFRASTRUCTURE_STATE,
) -> FsmDefinition:
    """Load an FSM contract shipped with this package: by its FSM type (default: the
    infrastructure state), or by its resource path inside the package."""
    resource = FSM_CONTRACTS[fsm] if isinstance(fsm, EnumInfraFSMType) else fsm
    fsm_contract = load_fsm_contract(CONTRACTS_PACKAGE, resource)
    return compile_fsm(fsm_contract, source=resource_label(CONTRACTS_PACKAGE, resource))


def load_node_definition() -> tuple[ModelContractReducer, FsmDefinition]:
    """The node contract and the FSM its ``state_transitions.$ref`` names.

    The node never caches results, so a contract that enables result caching is
    rejected rather than silently ignored.
    """
    contract = load_node_contract(CONTRACTS_PACKAGE, NODE_CONTRACT_RESOURCE, ModelContractReducer)
    label = resource_label(CONTRACTS_PACKAGE, NODE_CONTRACT_RESOURCE)
    ref = (
        contract.state_transitions.get("$ref")
        if isinstance(contract.state_transitions, dict)
        else None
    )
    problem = None
    if contract.result_caching_enabled or contract.caching is not None:
        problem = "result caching must be off (result_caching_enabled: false, no caching)"
    elif not isinstance(ref, str) or not ref.endswith((".yaml", ".yml")) or "/" in ref:
        problem = "state_transitions must be {$ref: <fsm file beside this contract>}"
    if problem is not None:
        raise InfraConfigurationError(
            f"{label}: {problem}",
            transport=EnumTransport.INTERNAL,
            operation=_LOAD,
            target=label,
        )
    return contract, load_definition(f"contracts/{ref}")
