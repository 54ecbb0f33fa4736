"""Property tests: replay equals live application; snapshots and results round-trip JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from omnibase_infra.errors import InfraValidationError
from omnibase_infra.models.fsm import (
    EnumFSMOutcome,
    FsmContextValue,
    ModelFSMEvent,
    ModelFSMResult,
    ModelFSMSnapshot,
)
from omnibase_infra.nodes.infra_reducer.v1_0_0 import InfraReducer, load_definition

DEFINITION: Final = load_definition()
TRIGGERS: Final = sorted({spec.trigger for spec in DEFINITION.transitions})
KEYS: Final = sorted(DEFINITION.declared_keys)
START: Final = datetime(2025, 6, 1, tzinfo=UTC)

_values = st.one_of(
    st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=70),
    st.integers(min_value=-5, max_value=20),
    st.floats(min_value=-5, max_value=20, allow_nan=False),
    st.booleans(),
    st.none(),
)


@st.composite
def _event_data(draw: st.DrawFn, trigger: str, state: str) -> dict[str, FsmContextValue]:
    """Data that often satisfies the transition's guards and required keys, not always."""
    data: dict[str, FsmContextValue] = draw(
        st.dictionaries(st.sampled_from(KEYS), _values, max_size=3)
    )
    spec = DEFINITION.step(state, trigger)
    if spec is not None and draw(st.booleans()):
        for key in DEFINITION.states[spec.to_state].required_keys:
            data.setdefault(key, draw(st.sampled_from(["payments", "orders", "db1"])))
        for guard in spec.guards:
            if guard.operator in {"greater_than", "less_than"}:
                data[guard.field] = float(guard.value or 0) + draw(st.sampled_from([-1, 1]))
            elif guard.operator in {"min_length", "max_length"}:
                data[guard.field] = "x" * draw(st.integers(0, int(guard.value or 0) + 1))
    return data


@pytest.mark.slow
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
async def test_replay_rebuilds_the_live_state_and_everything_round_trips(
    data: st.DataObject,
) -> None:
    live = InfraReducer(definition=DEFINITION)
    snapshot = live.initial_snapshot("svc/prop")
    valid: list[ModelFSMEvent] = []
    for tick in range(data.draw(st.integers(0, 25), label="steps")):
        allowed = live.allowed_triggers(snapshot.state)
        wander = data.draw(st.integers(0, 9)) == 0  # now and then, any trigger at all
        pool = list(allowed) if allowed and not wander else TRIGGERS
        trigger = data.draw(st.sampled_from(pool))
        event = ModelFSMEvent(
            resource_id="svc/prop",
            trigger=trigger,
            data=data.draw(_event_data(trigger, snapshot.state)),
            occurred_at=START + timedelta(seconds=tick),
        )
        try:
            result = await live.apply(snapshot, event)
        except InfraValidationError:
            continue  # an invalid event changes nothing and is not part of the history
        valid.append(event)
        assert ModelFSMResult.model_validate_json(result.model_dump_json()) == result
        if result.outcome is EnumFSMOutcome.APPLIED:
            assert result.snapshot.version == snapshot.version + 1
        else:
            assert result.snapshot == snapshot
        snapshot = result.snapshot
        assert ModelFSMSnapshot.model_validate_json(snapshot.model_dump_json()) == snapshot

    note_event(f"final state {snapshot.state}")
    replayed = await InfraReducer(definition=DEFINITION).replay(
        valid, InfraReducer(definition=DEFINITION).initial_snapshot("svc/prop")
    )
    assert replayed == snapshot
    if valid:
        assert await live.replay(valid) == snapshot
