"""infra_reducer: (snapshot, event) -> (new snapshot, intents), on core's FSM executor.

The node plans and runs nothing: the orchestrator's runtime stores the returned snapshot
(compare-and-set on its version) and then executes the intents in order.

Core's executor defines the semantics. What it plans for a step does not depend on the
event, so it is asked once per step when the contract is compiled (``definition``); the
guards are compiled from core's guard language and checked against core's executor
there too. Per event nothing of core runs; the snapshot, intents and result are built
from already validated parts without validating them again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from hashlib import sha1
from typing import Any, Final, NamedTuple
from uuid import UUID, SafeUUID

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.models.contracts.model_contract_reducer import ModelContractReducer
from omnibase_core.models.model_intent import ModelIntent
from omnibase_core.models.model_reducer_input import ModelReducerInput
from omnibase_core.models.model_reducer_output import ModelReducerOutput
from omnibase_core.nodes.node_reducer_declarative import NodeReducerDeclarative
from pydantic import BaseModel, ValidationError

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraConflictError,
    InfraValidationError,
    summarize_validation_error,
)
from omnibase_infra.models.fsm import (
    EnumFSMOutcome,
    FsmContextValue,
    ModelFSMEvent,
    ModelFSMIntent,
    ModelFSMResult,
    ModelFSMSnapshot,
)
from omnibase_infra.nodes.infra_reducer.v1_0_0.definition import (
    CompiledStep,
    FsmDefinition,
    GuardPredicate,
    PlannedIntent,
    StateSpec,
    load_node_definition,
)

__all__ = ["InfraReducer"]

logger = logging.getLogger(__name__)

_OPERATION: Final = "fsm_transition"
_CORE_INTENT_PRIORITY: Final = 2
_set: Final = object.__setattr__


def _trusted[M: BaseModel](model: type[M], values: dict[str, Any]) -> M:
    """``model.model_construct(**values)`` for values that name every field in order,
    without its per-field default handling (it costs more than validating): the reducer
    builds its snapshots, intents and results from parts that are already validated (the
    snapshot and event passed in, the compiled contract). ``tests/test_compiled_paths.py``
    keeps it equal to ``model_construct`` and to a validated copy."""
    instance = model.__new__(model)
    _set(instance, "__dict__", values)
    _set(instance, "__pydantic_fields_set__", set(values))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


# uuid5: the first 16 bytes of the SHA-1, with the version (5) and RFC 4122 variant bits.
_UUID5_CLEAR: Final = ~((0xF000 << 64) | (0xC000 << 48))
_UUID5_SET: Final = (5 << 76) | (0x8000 << 48)


def _intent_id(namespace_and_name: bytes) -> UUID:
    """``uuid5(namespace, name)`` from ``namespace.bytes + name.encode()``, at a third of
    its cost: no re-import of hashlib, no argument parsing in ``UUID()`` (its slots are set
    as ``UUID.__init__`` sets them). A test keeps it equal to ``uuid5``."""
    digest = sha1(namespace_and_name, usedforsecurity=False).digest()
    value = int.from_bytes(digest[:16])
    uuid = object.__new__(UUID)
    _set(uuid, "int", (value & _UUID5_CLEAR) | _UUID5_SET)
    _set(uuid, "is_safe", SafeUUID.unknown)
    return uuid


def _copy_context(context: Mapping[str, FsmContextValue]) -> dict[str, FsmContextValue]:
    """A copy whose lists are copies too, as validation would have made."""
    return {key: list(value) if type(value) is list else value for key, value in context.items()}


def _intents(
    plan: tuple[PlannedIntent, ...], snapshot: ModelFSMSnapshot, event: ModelFSMEvent
) -> tuple[ModelFSMIntent, ...]:
    """The plan's intents for the new ``snapshot``. Ids are ``uuid5(event_id,
    f"{version}:{position}")``: the same event on the same snapshot gets the same ids."""
    version = snapshot.version
    prefix = event.event_id.bytes + f"{version}:".encode()
    context = snapshot.context
    return tuple(
        [
            _trusted(
                ModelFSMIntent,
                {
                    "intent_id": _intent_id(prefix + str(position).encode()),
                    "kind": planned.kind,
                    "target_node": planned.action.target_node,
                    "operation": planned.action.operation,
                    "resource_id": snapshot.resource_id,
                    "state": planned.state,
                    "transition": snapshot.last_transition,
                    "event_id": event.event_id,
                    "correlation_id": event.correlation_id,
                    "snapshot_version": version,
                    "payload": _copy_context(context),
                    "is_critical": planned.action.is_critical,
                    "timeout_ms": planned.action.timeout_ms,
                },
            )
            for position, planned in enumerate(plan)
        ]
    )


class _Planned(NamedTuple):
    """The last snapshot version this node planned for a resource, and from which event."""

    version: int
    event_id: UUID


class InfraReducer(NodeReducerDeclarative[ModelFSMEvent, list[ModelFSMResult]]):
    """The declarative infrastructure-state FSM: one FSM instance per resource id.

    ``apply(snapshot, event)`` is the typed entry point; ``process()`` folds a batch of
    events for one resource in core's reducer shapes. Snapshots older than the last one
    this node produced for the resource are rejected (``InfraConflictError``), except a
    retry of the very same event on the same snapshot, which plans the same result again.

    Event data keys that no state declares, or that look secret, never reach the
    context: they are dropped (and named in ``result.dropped_keys``), or rejected when
    ``strict_context`` is set.
    """

    def __init__(
        self,
        container: ModelONEXContainer | None = None,
        *,
        definition: FsmDefinition | None = None,
        strict_context: bool = False,
    ) -> None:
        super().__init__(container if container is not None else ModelONEXContainer())
        self.node_contract: ModelContractReducer | None = None
        if definition is None:
            self.node_contract, definition = load_node_definition()
        self.definition = definition
        self.fsm_contract = definition.fsm
        self._fsm_name = definition.name
        self._fsm_version = definition.version
        self.strict_context = strict_context
        self._planned: dict[str, _Planned] = {}

    # -- snapshots ---------------------------------------------------------------------

    def initial_snapshot(self, resource_id: str) -> ModelFSMSnapshot:
        """The version-0 snapshot every resource starts from."""
        return ModelFSMSnapshot(
            resource_id=resource_id,
            fsm_name=self.definition.name,
            fsm_version=self.definition.version,
            state=self.definition.initial_state,
        )

    def allowed_triggers(self, state: str) -> tuple[str, ...]:
        """The triggers valid in ``state`` (none in a terminal state)."""
        return self.definition.triggers_for(state)

    def is_terminal(self, snapshot: ModelFSMSnapshot) -> bool:
        """True when no event can move the snapshot's resource again."""
        spec = self.definition.states.get(snapshot.state)
        return spec is not None and spec.is_terminal

    def forget(self, resource_id: str) -> None:
        """Forget the version this node last planned for the resource."""
        self._planned.pop(resource_id, None)

    # -- the reducer ---------------------------------------------------------------------

    async def apply(self, snapshot: ModelFSMSnapshot, event: ModelFSMEvent) -> ModelFSMResult:
        """Apply one event to one snapshot; return the new snapshot and its intents.

        Raises ``InfraValidationError`` (state unchanged) for a trigger that is not valid
        in the snapshot's state, a terminal state, a snapshot of another resource or FSM,
        or missing required context; ``InfraConflictError`` for a stale snapshot.
        """
        planned = self._planned.get(snapshot.resource_id)
        if planned is not None and snapshot.version < planned.version:
            retry = snapshot.version == planned.version - 1 and event.event_id == planned.event_id
            if not retry:
                raise self._conflict(snapshot, event, planned.version)
        # Nothing below awaits: no other apply for this resource can run in between.
        result = self._reduce(snapshot, event)
        if result.outcome is EnumFSMOutcome.APPLIED:
            self._planned[snapshot.resource_id] = _Planned(result.snapshot.version, event.event_id)
        return result

    async def replay(
        self, events: Iterable[ModelFSMEvent], snapshot: ModelFSMSnapshot | None = None
    ) -> ModelFSMSnapshot:
        """Rebuild a snapshot by folding ``events`` from ``snapshot`` (default: the
        initial snapshot of the first event's resource). Pure: the node's per-resource
        versions are neither read nor changed."""
        async for result in self.iter_replay(events, snapshot):
            snapshot = result.snapshot
        if snapshot is None:
            raise InfraValidationError(
                "nothing to replay: no events and no snapshot",
                transport=EnumTransport.INTERNAL,
                operation="fsm_replay",
                target=self.definition.name,
            )
        return snapshot

    async def iter_replay(
        self, events: Iterable[ModelFSMEvent], snapshot: ModelFSMSnapshot | None = None
    ) -> AsyncIterator[ModelFSMResult]:
        """Like :meth:`replay`, yielding the result of every event."""
        for event in events:
            if snapshot is None:
                snapshot = self.initial_snapshot(event.resource_id)
            result = self._reduce(snapshot, event)
            snapshot = result.snapshot
            yield result

    def _reduce(self, snapshot: ModelFSMSnapshot, event: ModelFSMEvent) -> ModelFSMResult:
        state = self._check_snapshot(snapshot, event)
        if event.event_id == snapshot.last_event_id:
            return self._unchanged(EnumFSMOutcome.DUPLICATE, snapshot, event, None, ())
        step = self.definition.compiled(state.name, event.trigger)
        if step is None:
            raise self._invalid_trigger(snapshot, event, state)
        accepted, dropped = self._accept(event)
        context = {**snapshot.context, **accepted}
        target = step.target
        missing = [key for key in target.required_keys if context.get(key) is None]
        if missing:
            raise self._error(
                f"entering {target.name!r} needs context keys {missing}",
                snapshot,
                event,
                missing_keys=missing,
            )
        guards_pass = step.guards_pass
        if guards_pass is not None and not self._guards_pass(
            guards_pass, snapshot, event, step, context
        ):
            return self._unchanged(
                EnumFSMOutcome.GUARD_REJECTED, snapshot, event, step.transition.name, dropped
            )
        return self._applied(snapshot, event, step, context, dropped)

    def _guards_pass(
        self,
        guards_pass: GuardPredicate,
        snapshot: ModelFSMSnapshot,
        event: ModelFSMEvent,
        step: CompiledStep,
        context: dict[str, Any],
    ) -> bool:
        """The step's compiled guards (core's guard language, checked against core's
        executor when the contract was compiled) on ``context``."""
        try:
            passed = guards_pass(context)
        except ArithmeticError as exc:  # e.g. an int beyond float range in greater_than
            raise self._error(
                f"the guards of {step.transition.name!r} cannot be evaluated on this event's "
                "data (a number out of range)",
                snapshot,
                event,
            ) from exc
        if not passed:
            logger.debug(
                "guard rejected %s for %s in %s (correlation_id=%s)",
                step.transition.name,
                snapshot.resource_id,
                snapshot.state,
                event.correlation_id,
            )
        return passed

    def _applied(
        self,
        snapshot: ModelFSMSnapshot,
        event: ModelFSMEvent,
        step: CompiledStep,
        context: Mapping[str, FsmContextValue],
        dropped: tuple[str, ...],
    ) -> ModelFSMResult:
        # Built without validating again: every value comes from the validated snapshot and
        # event (declared keys only: no secrets), the compiled contract or core's plan.
        target = step.target
        transition = step.transition.name
        kept = {key: context[key] for key in target.kept_keys if key in context}
        version = snapshot.version + 1
        event_id = event.event_id
        new_snapshot = _trusted(
            ModelFSMSnapshot,
            {
                "resource_id": snapshot.resource_id,
                "fsm_name": snapshot.fsm_name,
                "fsm_version": self._fsm_version,
                "state": target.name,
                "version": version,
                "context": kept,
                "last_event_id": event_id,
                "last_transition": transition,
                "updated_at": event.occurred_at,
            },
        )
        intents = _intents(step.plan, new_snapshot, event) if step.plan else ()
        logger.debug(
            "%s: %s -> %s via %s, %d intents (correlation_id=%s)",
            snapshot.resource_id,
            snapshot.state,
            target.name,
            transition,
            len(intents),
            event.correlation_id,
        )
        return _trusted(
            ModelFSMResult,
            {
                "outcome": EnumFSMOutcome.APPLIED,
                "snapshot": new_snapshot,
                "previous_state": snapshot.state,
                "trigger": event.trigger,
                "transition": transition,
                "event_id": event_id,
                "intents": intents,
                "dropped_keys": dropped,
            },
        )

    def _accept(self, event: ModelFSMEvent) -> tuple[dict[str, FsmContextValue], tuple[str, ...]]:
        """Event data restricted to declared keys, and the names of the rest."""
        declared = self.definition.declared_keys
        data = event.data
        if declared.issuperset(data):
            return data, ()  # the caller merges it into a new dict: never changed
        accepted = {key: value for key, value in data.items() if key in declared}
        dropped = tuple(key for key in data if key not in declared)
        if self.strict_context:
            raise self._error(
                f"event data keys not declared by {self.definition.name!r}: {list(dropped)}",
                None,
                event,
                rejected_keys=list(dropped),
            )
        logger.debug(
            "%s: dropped undeclared event data %s (trigger %s, correlation_id=%s)",
            event.resource_id,
            dropped,
            event.trigger,
            event.correlation_id,
        )
        return accepted, dropped

    def _check_snapshot(self, snapshot: ModelFSMSnapshot, event: ModelFSMEvent) -> StateSpec:
        if event.resource_id != snapshot.resource_id:
            raise self._error(
                f"event for {event.resource_id!r} applied to a snapshot of "
                f"{snapshot.resource_id!r}",
                snapshot,
                event,
            )
        if snapshot.fsm_name != self._fsm_name:
            raise self._error(
                f"snapshot belongs to FSM {snapshot.fsm_name!r}, not {self.definition.name!r}",
                snapshot,
                event,
            )
        state = self.definition.states.get(snapshot.state)
        if state is None:
            raise self._error(
                f"snapshot state {snapshot.state!r} is not in the FSM", snapshot, event
            )
        if not self.definition.declared_keys.issuperset(snapshot.context):
            unknown = sorted(snapshot.context.keys() - self.definition.declared_keys)
            raise self._error(f"snapshot context has undeclared keys {unknown}", snapshot, event)
        return state

    def _unchanged(
        self,
        outcome: EnumFSMOutcome,
        snapshot: ModelFSMSnapshot,
        event: ModelFSMEvent,
        transition: str | None,
        dropped: tuple[str, ...],
    ) -> ModelFSMResult:
        return _trusted(
            ModelFSMResult,
            {
                "outcome": outcome,
                "snapshot": snapshot,
                "previous_state": snapshot.state,
                "trigger": event.trigger,
                "transition": transition,
                "event_id": event.event_id,
                "intents": (),
                "dropped_keys": dropped,
            },
        )

    # -- errors --------------------------------------------------------------------------

    def _target(self, snapshot: ModelFSMSnapshot) -> str:
        return f"{self.definition.name}/{snapshot.resource_id}"

    def _error(
        self,
        message: str,
        snapshot: ModelFSMSnapshot | None,
        event: ModelFSMEvent,
        **details: object,
    ) -> InfraValidationError:
        context: dict[str, Any] = {
            "state": None if snapshot is None else snapshot.state,
            "trigger": event.trigger,
            **details,
        }
        return InfraValidationError(
            message,
            transport=EnumTransport.INTERNAL,
            operation=_OPERATION,
            target=f"{self.definition.name}/{event.resource_id}",
            correlation_id=event.correlation_id,
            **context,
        )

    def _invalid_trigger(
        self, snapshot: ModelFSMSnapshot, event: ModelFSMEvent, state: StateSpec
    ) -> InfraValidationError:
        allowed = self.definition.triggers_for(state.name)
        if state.is_terminal:
            message = (
                f"{snapshot.resource_id} is in terminal state {state.name!r}; nothing moves it"
            )
        else:
            message = (
                f"trigger {event.trigger!r} is not valid in state {state.name!r}; "
                f"valid: {', '.join(allowed)}"
            )
        return self._error(message, snapshot, event, allowed_triggers=list(allowed))

    def _conflict(
        self, snapshot: ModelFSMSnapshot, event: ModelFSMEvent, current: int
    ) -> InfraConflictError:
        return InfraConflictError(
            f"stale snapshot of {snapshot.resource_id}: version {snapshot.version}, "
            f"this node already planned version {current}; reload and retry",
            transport=EnumTransport.INTERNAL,
            operation=_OPERATION,
            target=self._target(snapshot),
            correlation_id=event.correlation_id,
            current_version=current,
            snapshot_version=snapshot.version,
        )

    # -- core's reducer interface ------------------------------------------------------

    async def process(
        self, input_data: ModelReducerInput[ModelFSMEvent]
    ) -> ModelReducerOutput[list[ModelFSMResult]]:
        """Fold ``input_data.data`` (events of one resource, or their dicts) over
        ``input_data.metadata["snapshot"]`` (a snapshot, its dict or JSON; default: the
        initial snapshot). ``result`` is one result per event; ``intents`` are the planned
        intents as core ``ModelIntent`` (target = node, ``payload["operation"]``);
        ``metadata`` holds strings only and never echoes the input metadata."""
        started = time.perf_counter()
        events = [self._coerce(item, ModelFSMEvent, "event") for item in input_data.data]
        raw = input_data.metadata.get("snapshot")
        if raw is not None:
            snapshot = self._coerce(raw, ModelFSMSnapshot, "snapshot")
        elif events:
            snapshot = self.initial_snapshot(events[0].resource_id)
        else:
            raise InfraValidationError(
                "process() needs events or a snapshot",
                transport=EnumTransport.INTERNAL,
                operation=_OPERATION,
                target=self.definition.name,
            )
        results: list[ModelFSMResult] = []
        for event in events:
            result = await self.apply(snapshot, event)
            results.append(result)
            snapshot = result.snapshot
        last = results[-1] if results else None
        return ModelReducerOutput[list[ModelFSMResult]](
            result=results,
            operation_id=input_data.operation_id,
            reduction_type=input_data.reduction_type,
            processing_time_ms=(time.perf_counter() - started) * 1000,
            items_processed=len(events),
            streaming_mode=input_data.streaming_mode,
            intents=[_core_intent(i) for r in results for i in r.intents],
            metadata={
                "resource_id": snapshot.resource_id,
                "fsm_state": snapshot.state,
                "fsm_version": str(snapshot.version),
                "fsm_transition": (last.transition if last else None) or "none",
                "fsm_success": str(last is not None and last.applied),
                "fsm_outcomes": ",".join(r.outcome.value for r in results),
            },
        )

    def _coerce[M: BaseModel](self, item: object, model: type[M], what: str) -> M:
        if isinstance(item, model):
            return item
        try:
            if isinstance(item, str | bytes):
                return model.model_validate_json(item)
            return model.model_validate(item)
        except ValidationError as exc:
            raise InfraValidationError(
                f"invalid {what}: {summarize_validation_error(exc)}",
                transport=EnumTransport.INTERNAL,
                operation=_OPERATION,
                target=self.definition.name,
            ) from exc


def _core_intent(intent: ModelFSMIntent) -> ModelIntent:
    return ModelIntent(
        intent_id=intent.intent_id,
        intent_type=intent.kind.value,
        target=intent.target_node,
        payload=intent.model_dump(mode="json", exclude={"intent_id", "kind", "target_node"}),
        priority=_CORE_INTENT_PRIORITY,
        epoch=intent.snapshot_version,
    )
