"""``process()``: core's reducer interface, with metadata as strings only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from omnibase_core.enums.enum_reducer_types import EnumReductionType
from omnibase_core.models.model_reducer_input import ModelReducerInput

from omnibase_infra.errors import InfraValidationError
from omnibase_infra.models.fsm import EnumFSMOutcome, ModelFSMEvent, ModelFSMSnapshot
from omnibase_infra.nodes.infra_reducer.v1_0_0 import InfraReducer

type EventFactory = Callable[..., ModelFSMEvent]
type SnapshotFactory = Callable[..., ModelFSMSnapshot]


def _input(data: list[Any], **metadata: Any) -> ModelReducerInput[Any]:
    return ModelReducerInput[Any](
        data=data, reduction_type=EnumReductionType.AGGREGATE, metadata=metadata
    )


async def test_process_folds_events_from_the_initial_snapshot(
    reducer: InfraReducer, make_event: EventFactory
) -> None:
    provision = make_event("provision", service_name="payments", database_name="pay")
    issued = make_event("credentials_issued")
    # Events as models, dicts and JSON; non-string input metadata must not crash core's output.
    out = await reducer.process(
        _input(
            [
                provision,
                issued.model_dump(mode="json"),
                make_event("database_ready").model_dump_json(),
            ],
            trace_tags=["a", "b"],
            attempt=3,
        )
    )
    assert [r.outcome for r in out.result] == [EnumFSMOutcome.APPLIED] * 3
    assert out.result[-1].snapshot.state == "registering_service"
    assert out.items_processed == 3
    assert out.metadata == {
        "resource_id": "payments/prod",
        "fsm_state": "registering_service",
        "fsm_version": "3",
        "fsm_transition": "database_ready",
        "fsm_success": "True",
        "fsm_outcomes": "applied,applied,applied",
    }
    assert [(i.intent_type, i.target, i.payload["operation"], i.epoch) for i in out.intents] == [
        ("entry_action", "node_vault_adapter_effect", "issue_database_credentials", 1),
        ("entry_action", "node_postgres_adapter_effect", "prepare_database", 2),
        ("entry_action", "node_consul_adapter_effect", "register_service", 3),
    ]
    ours = out.result[0].intents[0]
    assert out.intents[0].intent_id == ours.intent_id
    assert out.intents[0].payload["payload"] == ours.payload
    assert out.intents[0].payload["resource_id"] == "payments/prod"


@pytest.mark.parametrize("form", ["model", "dict", "json"])
async def test_process_starts_from_a_given_snapshot(
    reducer: InfraReducer,
    snapshot_in: SnapshotFactory,
    make_event: EventFactory,
    form: str,
) -> None:
    snapshot = snapshot_in("healthy")
    given: object = {
        "model": snapshot,
        "dict": snapshot.model_dump(mode="json"),
        "json": snapshot.model_dump_json(),
    }[form]
    out = await reducer.process(
        _input([make_event("health_check_failed", consecutive_failures=1)], snapshot=given)
    )
    assert out.result[0].outcome is EnumFSMOutcome.GUARD_REJECTED
    assert out.metadata["fsm_state"] == "healthy"
    assert out.metadata["fsm_version"] == "5"
    assert out.metadata["fsm_transition"] == "health_degraded"
    assert out.metadata["fsm_success"] == "False"
    assert out.intents == []


async def test_process_with_a_snapshot_and_no_events(
    reducer: InfraReducer, snapshot_in: SnapshotFactory
) -> None:
    out = await reducer.process(_input([], snapshot=snapshot_in("degraded")))
    assert out.result == []
    assert out.metadata["fsm_state"] == "degraded"
    assert out.metadata["fsm_transition"] == "none"


async def test_process_needs_events_or_a_snapshot(reducer: InfraReducer) -> None:
    with pytest.raises(InfraValidationError, match="needs events or a snapshot"):
        await reducer.process(_input([]))


async def test_process_rejects_bad_events_without_echoing_values(reducer: InfraReducer) -> None:
    bad = {"resource_id": "svc", "trigger": "provision", "data": {"service_name": 7.5j}}
    with pytest.raises(InfraValidationError, match="invalid event") as caught:
        await reducer.process(_input([bad]))
    assert "7.5j" not in str(caught.value)
    leaky = {"resource_id": "svc", "trigger": "provision", "data": {"note": "password=hunter2"}}
    with pytest.raises(InfraValidationError) as caught:
        await reducer.process(_input([leaky]))
    assert "hunter2" not in str(caught.value)
    assert "secret-looking" in str(caught.value)
