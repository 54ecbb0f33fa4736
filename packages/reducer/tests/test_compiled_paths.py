"""The fast paths: results built without re-validation equal validated ones, intent ids
are uuid5, and core disagreeing with the compiled table or guards fails the load."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any, Final

import pytest
from hypothesis import given
from hypothesis import strategies as st
from omnibase_core.models.errors.model_onex_error import ModelOnexError
from omnibase_core.models.fsm.model_fsm_transition_result import ModelFSMTransitionResult
from pydantic import BaseModel

from omnibase_infra.errors import InfraProtocolError, InfraValidationError
from omnibase_infra.models.fsm import (
    EnumFSMOutcome,
    ModelFSMEvent,
    ModelFSMIntent,
    ModelFSMResult,
    ModelFSMSnapshot,
)
from omnibase_infra.nodes.infra_reducer.v1_0_0 import InfraReducer, load_definition
from omnibase_infra.nodes.infra_reducer.v1_0_0 import definition as definition_module
from omnibase_infra.nodes.infra_reducer.v1_0_0 import reducer as reducer_module

type EventFactory = Callable[..., ModelFSMEvent]
type SnapshotFactory = Callable[..., ModelFSMSnapshot]

DEFINITION: Final = load_definition()


def _validated[M: BaseModel](model: M) -> M:
    return type(model).model_validate(model.model_dump())


def _assert_like_validated(model: BaseModel) -> None:
    again = _validated(model)
    assert model == again
    assert model.model_dump_json() == again.model_dump_json()
    assert repr(model) == repr(again)
    assert model.model_fields_set == set(type(model).model_fields)
    assert model == type(model).model_construct(**dict(model))


async def test_results_are_what_validation_would_build(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    snapshot = snapshot_in("recovering", requested_by="ops")
    event = make_event("credentials_issued")
    applied = await reducer.apply(snapshot, event)
    assert [i.kind.value for i in applied.intents] == ["exit_action", "transition_action"]
    rejected = await reducer.apply(
        applied.snapshot, make_event("health_check_failed", consecutive_failures=1)
    )
    duplicate = await reducer.apply(applied.snapshot, event)
    assert [r.outcome for r in (applied, rejected, duplicate)] == [
        EnumFSMOutcome.APPLIED,
        EnumFSMOutcome.GUARD_REJECTED,
        EnumFSMOutcome.DUPLICATE,
    ]
    for result in (applied, rejected, duplicate):
        _assert_like_validated(result)
        _assert_like_validated(result.snapshot)
        for intent in result.intents:
            _assert_like_validated(intent)
    # The models stay usable as models: a copy with an update leaves the original alone.
    moved = applied.snapshot.model_copy(update={"version": 99})
    assert (moved.version, applied.snapshot.version) == (99, snapshot.version + 1)
    assert ModelFSMSnapshot.model_validate_json(applied.snapshot.model_dump_json()) == (
        applied.snapshot
    )


async def test_intent_payloads_are_copies(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    result = await reducer.apply(snapshot_in("decommissioning"), make_event("service_deregistered"))
    first, second = result.intents
    assert first.payload == second.payload == result.snapshot.context
    first.payload["service_name"] = "changed"
    assert second.payload["service_name"] == result.snapshot.context["service_name"]


def test_copied_context_lists_are_new_lists() -> None:
    tags = ["a", "b"]
    copied = reducer_module._copy_context({"tags": tags, "name": "x"})
    assert copied == {"tags": ["a", "b"], "name": "x"}
    assert copied["tags"] is not tags


@given(event_id=st.uuids(), version=st.integers(1, 10**9), position=st.integers(0, 99))
def test_intent_ids_are_uuid5_of_the_event_version_and_position(
    event_id: uuid.UUID, version: int, position: int
) -> None:
    name = f"{version}:{position}"
    fast = reducer_module._intent_id(event_id.bytes + name.encode())
    slow = uuid.uuid5(event_id, name)
    assert fast == slow
    assert (str(fast), hash(fast), fast.version, fast.variant) == (
        str(slow),
        hash(slow),
        slow.version,
        slow.variant,
    )
    assert fast.is_safe is slow.is_safe


# -- core disagreeing with the compiled table --------------------------------------------


def test_a_core_that_suspends_while_compiling_is_a_protocol_error() -> None:
    with pytest.raises(InfraProtocolError, match="suspended") as caught:
        definition_module._run_pure(asyncio.sleep(0), where="x.yaml: a --b-->")
    assert caught.value.operation == "load_contract"


def _compile_with(monkeypatch: pytest.MonkeyPatch, executor: Any) -> InfraProtocolError:
    monkeypatch.setattr(definition_module, "execute_transition", executor)
    with pytest.raises(InfraProtocolError) as caught:
        definition_module.compile_fsm(DEFINITION.fsm, source="lifecycle.yaml")
    assert (caught.value.operation, caught.value.target) == ("load_contract", "lifecycle.yaml")
    return caught.value


def test_core_rejecting_a_declared_transition_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    async def rejecting(*_: object) -> ModelFSMTransitionResult:
        raise ModelOnexError("No transition", error_code="ONEX_CORE_006_VALIDATION_ERROR")

    error = _compile_with(monkeypatch, rejecting)
    assert "rejects a transition the contract declares" in error.message
    assert isinstance(error.__cause__, ModelOnexError)


def test_core_taking_another_transition_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    async def elsewhere(_fsm: object, state: str, *_: object) -> ModelFSMTransitionResult:
        return ModelFSMTransitionResult(
            success=True, new_state=state, old_state=state, transition_name="other", intents=[]
        )

    assert "core takes 'other'" in _compile_with(monkeypatch, elsewhere).message


def test_a_guard_compiled_unlike_core_fails_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Core defines the guard language: a compiled guard that disagrees with core's
    executor on any probe value (here: one that always passes) is refused at load."""
    monkeypatch.setattr(definition_module, "guard_predicate", lambda _guard: lambda _ctx: True)
    with pytest.raises(InfraProtocolError, match="compiles to another verdict") as caught:
        definition_module.compile_fsm(DEFINITION.fsm, source="lifecycle.yaml")
    assert (caught.value.operation, caught.value.target) == ("load_contract", "lifecycle.yaml")
    assert "core's executor says False" in caught.value.message


def test_compiled_steps(reducer: InfraReducer) -> None:
    guarded = reducer.definition.compiled("degraded", "decommission")
    assert guarded is not None
    assert guarded.guards_pass is not None
    assert guarded.guards_pass({"requested_by": "ops"})
    assert not guarded.guards_pass({"requested_by": ""})
    provision = reducer.definition.compiled("unprovisioned", "provision")
    assert provision is not None
    assert provision.guards_pass is not None
    assert provision.guards_pass({"service_name": "s" * 63})
    assert not provision.guards_pass({"service_name": "s" * 64})
    unguarded = reducer.definition.compiled("provisioning", "credentials_issued")
    assert unguarded is not None
    assert unguarded.guards_pass is None
    assert [(p.action.target_node, p.action.operation) for p in unguarded.plan] == [
        ("node_postgres_adapter_effect", "prepare_database")
    ]


def test_the_models_have_nothing_trusted_construction_skips() -> None:
    for model in (ModelFSMResult, ModelFSMSnapshot, ModelFSMIntent):
        assert model.__pydantic_post_init__ is None
        assert not model.__private_attributes__


async def test_a_number_core_cannot_compare_is_a_typed_error(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    """Core's greater_than raises OverflowError for an int beyond float range."""
    healthy = snapshot_in("healthy")
    event = make_event("health_check_failed", consecutive_failures=10**400)
    with pytest.raises(InfraValidationError, match="cannot be evaluated") as caught:
        await reducer.apply(healthy, event)
    assert isinstance(caught.value.__cause__, OverflowError)
    assert caught.value.correlation_id == event.correlation_id
    # Nothing moved: the same snapshot still takes a valid event.
    passing = make_event("health_check_failed", consecutive_failures=3)
    assert (await reducer.apply(healthy, passing)).applied


async def test_apply_never_suspends(
    reducer: InfraReducer, snapshot_in: SnapshotFactory, make_event: EventFactory
) -> None:
    """Nothing in apply() awaits: another apply for the resource cannot run in between
    (the stale-snapshot check and the version it records are one step)."""
    healthy = snapshot_in("healthy")
    for event in (
        make_event("breaker_opened", breaker_target="db"),  # guarded, applied
        make_event("health_check_failed", consecutive_failures=1),  # guard rejects
    ):
        reducer.forget(healthy.resource_id)
        running = reducer.apply(healthy, event)
        with pytest.raises(StopIteration) as done:
            running.send(None)
        assert isinstance(done.value.value, ModelFSMResult)
