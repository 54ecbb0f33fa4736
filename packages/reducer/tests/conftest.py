"""Fixtures: the shipped FSM definition, a reducer on it, and builders of events and
snapshots in any state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count
from uuid import uuid4

import pytest

from omnibase_infra.models.fsm import FsmContextValue, ModelFSMEvent, ModelFSMSnapshot
from omnibase_infra.nodes.infra_reducer.v1_0_0 import FsmDefinition, InfraReducer, load_definition

RESOURCE = "payments/prod"
BASE_CONTEXT: dict[str, FsmContextValue] = {
    "service_name": "payments",
    "database_name": "payments_db",
    "environment": "prod",
}
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)

type EventFactory = Callable[..., ModelFSMEvent]
type SnapshotFactory = Callable[..., ModelFSMSnapshot]


@pytest.fixture(scope="session")
def definition() -> FsmDefinition:
    return load_definition()


@pytest.fixture
def reducer(definition: FsmDefinition) -> InfraReducer:
    return InfraReducer(definition=definition)


@pytest.fixture
def make_event() -> EventFactory:
    """``make_event(trigger, resource_id=RESOURCE, **data)``; events are one second apart."""
    ticks = count()

    def make(trigger: str, resource_id: str = RESOURCE, **data: FsmContextValue) -> ModelFSMEvent:
        return ModelFSMEvent(
            resource_id=resource_id,
            trigger=trigger,
            data=data,
            occurred_at=_EPOCH + timedelta(seconds=next(ticks)),
        )

    return make


@pytest.fixture
def snapshot_in(definition: FsmDefinition) -> SnapshotFactory:
    """``snapshot_in(state, version=5, **extra_context)``: a snapshot as the reducer would
    have left it in ``state`` (its required context present)."""

    def make(state: str, version: int = 5, **extra: FsmContextValue) -> ModelFSMSnapshot:
        spec = definition.states[state]
        context = {k: v for k, v in {**BASE_CONTEXT, **extra}.items() if k in spec.kept_keys}
        return ModelFSMSnapshot(
            resource_id=RESOURCE,
            fsm_name=definition.name,
            fsm_version=definition.version,
            state=state,
            version=version,
            context=context,
            last_event_id=uuid4() if version else None,
            updated_at=_EPOCH if version else None,
        )

    return make
