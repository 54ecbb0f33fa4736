"""infra_reducer: (snapshot, event) -> (new snapshot, intents), on core's FSM executor.

The node plans and runs nothing: the orchestrator's runtime stores the returned snapshot
(compare-and-set on its version) and then executes the intents in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID, uuid5

from omnibase_core.mixins.mixin_fsm_execution import MixinFSMExecution
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.models.contracts.model_contract_reducer import ModelContractReducer
from omnibase_core.models.errors.model_onex_error import ModelOnexError
from omnibase_core.models.fsm.model_fsm_state_snapshot import ModelFSMStateSnapshot
from omnibase_core.models.model_intent import ModelIntent
from omnibase_core.models.model_reducer_input import ModelReducerInput
from omnibase_core.models.model_reducer_output import ModelReducerOutput
from omnibase_core.nodes.node_reducer_declarative import NodeReducerDeclarative
from pydantic import BaseModel, ValidationError

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraConflictError,
    InfraProtocolError,
    InfraValidationError,
    summarize_validation_error,
)
from omnibase_infra.models.fsm import (
    EnumFSMIntentKind,
    EnumFSMOutcome,
    FsmContextValue,
    ModelFSMEvent,
    ModelFSMIntent,
    ModelFSMResult,
    ModelFSMSnapshot,
)
from omnibase_infra.nodes.infra_reducer.v1_0_0.definition import (
    FsmDefinition,
    StateSpec,
    TransitionSpec,
    load_node_definition,
)

__all__ = ["InfraReducer"]

logger = logging.getLogger(__name__)

_OPERATION: Final = "fsm_transition"
_STATE_ACTION: Final = "fsm_state_action"
_TRANSITION_ACTION: Final = "fsm_transition_action"
# Core intents the reducer does not pass on: the snapshot replaces persist_state (which
# embeds the whole context), the result replaces record_metric and log_event.
_DROPPED_CORE_INTENTS: Final = frozenset({"persist_state", "record_metric", "log_event"})
_STATE_ACTION_KINDS: Final = {
    "entry": EnumFSMIntentKind.ENTRY_ACTION,
    "exit": EnumFSMIntentKind.EXIT_ACTION,
}
_CORE_INTENT_PRIORITY: Final = 2


class _ResourceMachine(MixinFSMExecution):
    """One resource's FSM instance for one call, loaded from the snapshot: the snapshot
    stays the source of truth and concurrent calls never share FSM state."""

    def __init__(self, snapshot: ModelFSMSnapshot, context: dict[str, Any]) -> None:
        super().__init__()
        self._fsm_state = ModelFSMStateSnapshot(
            current_state=snapshot.state, context=context, history=[]
        )


@dataclass(frozen=True, slots=True)
class _Planned:
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
        result = await self._reduce(snapshot, event)
        if result.outcome is EnumFSMOutcome.APPLIED:
            latest = self._planned.get(snapshot.resource_id)
            if latest is not planned:  # another apply for this resource finished first
                raise self._conflict(snapshot, event, latest.version if latest else 0)
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
            result = await self._reduce(snapshot, event)
            snapshot = result.snapshot
            yield result

    async def _reduce(self, snapshot: ModelFSMSnapshot, event: ModelFSMEvent) -> ModelFSMResult:
        definition = self.definition
        state = self._check_snapshot(snapshot, event)
        if event.event_id == snapshot.last_event_id:
            return self._unchanged(EnumFSMOutcome.DUPLICATE, snapshot, event, None, ())
        spec = definition.step(state.name, event.trigger)
        if spec is None:
            raise self._invalid_trigger(snapshot, event, state)
        accepted, dropped = self._accept(event)
        context = {**snapshot.context, **accepted}
        target = definition.states[spec.to_state]
        missing = [key for key in target.required_keys if context.get(key) is None]
        if missing:
            raise self._error(
                f"entering {target.name!r} needs context keys {missing}",
                snapshot,
                event,
                missing_keys=missing,
            )
        machine = _ResourceMachine(snapshot, context)
        try:
            outcome = await machine.execute_fsm_transition(definition.fsm, event.trigger, context)
        except ModelOnexError as exc:
            raise self._error(
                f"core rejected trigger {event.trigger!r} in state {state.name!r}",
                snapshot,
                event,
            ) from exc
        if not outcome.success:
            logger.debug(
                "guard rejected %s for %s in %s (correlation_id=%s)",
                spec.name,
                snapshot.resource_id,
                state.name,
                event.correlation_id,
            )
            return self._unchanged(
                EnumFSMOutcome.GUARD_REJECTED, snapshot, event, spec.name, dropped
            )
        if outcome.new_state != target.name:
            raise InfraProtocolError(
                f"core moved to {outcome.new_state!r}, the contract says {target.name!r}",
                transport=EnumTransport.INTERNAL,
                operation=_OPERATION,
                target=self._target(snapshot),
                correlation_id=event.correlation_id,
            )
        return self._applied(
            snapshot=snapshot,
            event=event,
            spec=spec,
            target=target,
            context=context,
            core_intents=outcome.intents,
            dropped=dropped,
        )

    def _applied(
        self,
        *,
        snapshot: ModelFSMSnapshot,
        event: ModelFSMEvent,
        spec: TransitionSpec,
        target: StateSpec,
        context: Mapping[str, FsmContextValue],
        core_intents: Sequence[ModelIntent],
        dropped: tuple[str, ...],
    ) -> ModelFSMResult:
        kept = {key: context[key] for key in target.kept_keys if key in context}
        # Every value in ``kept`` comes from a validated snapshot or event (no secrets).
        new_snapshot = snapshot.model_copy(
            update={
                "fsm_version": self.definition.version,
                "state": target.name,
                "version": snapshot.version + 1,
                "context": kept,
                "last_event_id": event.event_id,
                "last_transition": spec.name,
                "updated_at": event.occurred_at,
            }
        )
        intents = self._translate(core_intents, new_snapshot, event, spec)
        logger.debug(
            "%s: %s -> %s via %s, %d intents (correlation_id=%s)",
            snapshot.resource_id,
            snapshot.state,
            target.name,
            spec.name,
            len(intents),
            event.correlation_id,
        )
        return ModelFSMResult(
            outcome=EnumFSMOutcome.APPLIED,
            snapshot=new_snapshot,
            previous_state=snapshot.state,
            trigger=event.trigger,
            transition=spec.name,
            event_id=event.event_id,
            intents=intents,
            dropped_keys=dropped,
        )

    def _translate(
        self,
        core_intents: Sequence[ModelIntent],
        snapshot: ModelFSMSnapshot,
        event: ModelFSMEvent,
        spec: TransitionSpec,
    ) -> tuple[ModelFSMIntent, ...]:
        """Core's action intents as intents for effect nodes. Core embeds the whole
        context in each payload; only the action's identity is read from it."""
        intents: list[ModelFSMIntent] = []
        for core_intent in core_intents:
            payload = core_intent.payload
            if core_intent.intent_type == _STATE_ACTION:
                kind = _STATE_ACTION_KINDS[payload["action_type"]]
                state = payload["state"]
                is_critical, timeout_ms = False, None
            elif core_intent.intent_type == _TRANSITION_ACTION:
                kind, state = EnumFSMIntentKind.TRANSITION_ACTION, snapshot.state
                is_critical, timeout_ms = payload["is_critical"], payload["timeout_ms"]
            elif core_intent.intent_type in _DROPPED_CORE_INTENTS:
                continue
            else:
                raise InfraProtocolError(
                    f"core planned an intent of unknown type {core_intent.intent_type!r}",
                    transport=EnumTransport.INTERNAL,
                    operation=_OPERATION,
                    target=self._target(snapshot),
                    correlation_id=event.correlation_id,
                )
            action = self.definition.action_target(payload["action_name"])
            if action is None:  # compile_fsm named every action; core cannot invent one
                raise InfraProtocolError(
                    f"core planned the undeclared action {payload['action_name']!r}",
                    transport=EnumTransport.INTERNAL,
                    operation=_OPERATION,
                    target=self._target(snapshot),
                    correlation_id=event.correlation_id,
                )
            intents.append(
                ModelFSMIntent(
                    intent_id=uuid5(event.event_id, f"{snapshot.version}:{len(intents)}"),
                    kind=kind,
                    target_node=action.target_node,
                    operation=action.operation,
                    resource_id=snapshot.resource_id,
                    state=state,
                    transition=spec.name,
                    event_id=event.event_id,
                    correlation_id=event.correlation_id,
                    snapshot_version=snapshot.version,
                    payload=snapshot.context,  # validation copies it
                    is_critical=is_critical,
                    timeout_ms=timeout_ms,
                )
            )
        return tuple(intents)

    def _accept(self, event: ModelFSMEvent) -> tuple[dict[str, FsmContextValue], tuple[str, ...]]:
        """Event data restricted to declared keys, and the names of the rest."""
        declared = self.definition.declared_keys
        accepted = {key: value for key, value in event.data.items() if key in declared}
        if len(accepted) == len(event.data):
            return accepted, ()
        dropped = tuple(key for key in event.data if key not in declared)
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
        if snapshot.fsm_name != self.definition.name:
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
        unknown = snapshot.context.keys() - self.definition.declared_keys
        if unknown:
            raise self._error(
                f"snapshot context has undeclared keys {sorted(unknown)}", snapshot, event
            )
        return state

    def _unchanged(
        self,
        outcome: EnumFSMOutcome,
        snapshot: ModelFSMSnapshot,
        event: ModelFSMEvent,
        transition: str | None,
        dropped: tuple[str, ...],
    ) -> ModelFSMResult:
        return ModelFSMResult(
            outcome=outcome,
            snapshot=snapshot,
            previous_state=snapshot.state,
            trigger=event.trigger,
            transition=transition,
            event_id=event.event_id,
            dropped_keys=dropped,
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
