"""FSM models: snapshots, events, intents and results; no secret gets into any of them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest
from pydantic import SecretBytes, SecretStr, ValidationError

from omnibase_infra.models.fsm import (
    MAX_CONTEXT_KEYS,
    MAX_CONTEXT_LIST_ITEMS,
    MAX_CONTEXT_TEXT_LENGTH,
    EnumFSMIntentKind,
    EnumFSMOutcome,
    ModelFSMEvent,
    ModelFSMIntent,
    ModelFSMResult,
    ModelFSMSnapshot,
    find_secret_like_keys,
    is_secret_like_value,
)
from omnibase_infra.redaction import register_secret, unregister_secret

REGISTERED = "runtime-secret-4f1c9a"


@pytest.fixture
def registered() -> Iterator[str]:
    register_secret(REGISTERED)
    yield REGISTERED
    unregister_secret(REGISTERED)


def _snapshot(**changes: Any) -> ModelFSMSnapshot:
    data: dict[str, Any] = {
        "resource_id": "payments/prod",
        "fsm_name": "infra_service_lifecycle",
        "fsm_version": "1.0.0",
        "state": "healthy",
        "version": 3,
        "context": {
            "service_name": "payments",
            "replicas": 3,
            "ratio": 0.5,
            "ok": True,
            "hosts": ["a", "b"],
            "note": None,
        },
        "last_event_id": uuid4(),
        "last_transition": "notified",
        "updated_at": datetime(2025, 1, 1, 12, tzinfo=UTC),
    }
    return ModelFSMSnapshot.model_validate({**data, **changes})


def _intent(**changes: Any) -> ModelFSMIntent:
    data: dict[str, Any] = {
        "intent_id": uuid4(),
        "kind": EnumFSMIntentKind.ENTRY_ACTION,
        "target_node": "node_vault_adapter_effect",
        "operation": "issue_database_credentials",
        "resource_id": "payments/prod",
        "state": "provisioning",
        "transition": "provision",
        "event_id": uuid4(),
        "correlation_id": uuid4(),
        "snapshot_version": 1,
        "payload": {"service_name": "payments"},
    }
    return ModelFSMIntent.model_validate({**data, **changes})


# -- secret detection ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://app:pw-1234@db:5432/app",
        "hvs.CAESIJxVyb3RrZXktdG9rZW4tdmFsdWUtMTIzNDU2",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
        "token=abcdef",
        ["fine", "password: hunter2"],
        SecretStr("x"),
        SecretBytes(b"x"),
    ],
)
def test_secret_like_values(value: object) -> None:
    assert is_secret_like_value(value)


@pytest.mark.parametrize("value", ["payments", "db.internal:5432", 3, 0.5, True, None, ["a"]])
def test_plain_values(value: object) -> None:
    assert not is_secret_like_value(value)


def test_registered_secrets_are_secret_like(registered: str) -> None:
    assert is_secret_like_value(f"prefix-{registered}")


def test_find_secret_like_keys_names_keys_in_order() -> None:
    data = {"service_name": "x", "db_password": "plain", "dsn": "postgres://u:p4ss@h/d", "n": 1}
    assert find_secret_like_keys(data) == ["db_password", "dsn"]


# -- snapshots -------------------------------------------------------------------------


def test_snapshot_round_trips_json_exactly() -> None:
    snapshot = _snapshot()
    again = ModelFSMSnapshot.model_validate_json(snapshot.model_dump_json())
    assert again == snapshot
    assert type(again.context["replicas"]) is int
    assert type(again.context["ratio"]) is float
    assert type(again.context["ok"]) is bool


def test_snapshot_defaults_are_the_initial_state() -> None:
    initial = ModelFSMSnapshot(
        resource_id="svc", fsm_name="f", fsm_version="1.0.0", state="unprovisioned"
    )
    assert (initial.version, initial.context, initial.last_event_id) == (0, {}, None)


def test_snapshot_times_are_utc() -> None:
    local = datetime(2025, 1, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    assert _snapshot(updated_at=local).updated_at == datetime(2025, 1, 1, 12, tzinfo=UTC)
    with pytest.raises(ValidationError):
        _snapshot(updated_at=datetime(2025, 1, 1))  # naive


@pytest.mark.parametrize(
    "changes",
    [
        {"version": -1},
        {"version": 0},  # version 0 has no last event
        {"resource_id": " spaced id"},
        {"state": "Healthy"},
        {"fsm_version": "1.0"},
        {"context": {"Bad-Key": "x"}},
        {"context": {"x": "y" * (MAX_CONTEXT_TEXT_LENGTH + 1)}},
        {"context": {"x": ["y"] * (MAX_CONTEXT_LIST_ITEMS + 1)}},
        {"context": {f"k{i}": i for i in range(MAX_CONTEXT_KEYS + 1)}},
        {"context": {"x": float("nan")}},
        {"context": {"x": {"nested": "dict"}}},
        {"context": {"x": "1", "extra": b"bytes"}},
        {"surprise": 1},
    ],
)
def test_snapshot_rejects(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _snapshot(**changes)


def test_snapshot_is_frozen() -> None:
    with pytest.raises(ValidationError):
        _snapshot().state = "failed"


@pytest.mark.parametrize(
    "context",
    [
        {"dsn": "postgresql://app:Sup3rS3cret@db/app"},
        {"api_token": "harmless"},
        {"note": "Bearer abcdefghijklmnopqrstuvwxyz"},
    ],
)
def test_snapshot_context_rejects_secrets_without_echo(context: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as caught:
        _snapshot(context=context)
    text = str(caught.value)
    assert "secret-looking" in text
    assert next(iter(context)) in text
    assert "Sup3rS3cret" not in text
    assert "abcdefghijklmnop" not in text


# -- events ----------------------------------------------------------------------------


def test_event_defaults_and_round_trip() -> None:
    event = ModelFSMEvent(resource_id="svc-1", trigger="provision", data={"service_name": "x"})
    assert event.event_id != event.correlation_id
    assert event.occurred_at.tzinfo is UTC
    assert ModelFSMEvent.model_validate_json(event.model_dump_json()) == event


@pytest.mark.parametrize(
    "changes",
    [
        {"trigger": "Provision"},
        {"trigger": ""},
        {"resource_id": ""},
        {"data": {"x": object()}},
        {"occurred_at": datetime(2025, 1, 1)},
        {"extra": "field"},
    ],
)
def test_event_rejects(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ModelFSMEvent.model_validate({"resource_id": "svc", "trigger": "provision", **changes})


def test_event_data_rejects_secrets_without_echo(registered: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ModelFSMEvent(resource_id="svc", trigger="provision", data={"note": registered})
    assert registered not in str(caught.value)
    assert "note" in str(caught.value)


def test_model_construct_skips_the_checks() -> None:
    """Documented escape hatch: construct() is for data that was already checked."""
    event = ModelFSMEvent.model_construct(resource_id="svc", trigger="x", data={"pw": "s"})
    assert event.data == {"pw": "s"}


# -- intents and results ---------------------------------------------------------------


def test_intent_round_trips_and_validates_names() -> None:
    intent = _intent(is_critical=True, timeout_ms=5000)
    assert ModelFSMIntent.model_validate_json(intent.model_dump_json()) == intent
    for changes in (
        {"target_node": "vault"},
        {"operation": "Issue"},
        {"snapshot_version": 0},
        {"timeout_ms": 0},
    ):
        with pytest.raises(ValidationError):
            _intent(**changes)


def test_result_round_trips_and_knows_if_applied() -> None:
    snapshot = _snapshot()
    result = ModelFSMResult(
        outcome=EnumFSMOutcome.APPLIED,
        snapshot=snapshot,
        previous_state="notifying",
        trigger="notified",
        transition="notified",
        event_id=snapshot.last_event_id,  # type: ignore[arg-type]
        intents=(_intent(),),
        dropped_keys=("owner",),
    )
    assert result.applied
    assert ModelFSMResult.model_validate_json(result.model_dump_json()) == result


def test_only_an_applied_result_carries_intents() -> None:
    with pytest.raises(ValidationError, match="only an applied transition plans intents"):
        ModelFSMResult(
            outcome=EnumFSMOutcome.GUARD_REJECTED,
            snapshot=_snapshot(),
            previous_state="healthy",
            trigger="t",
            transition="t",
            event_id=uuid4(),
            intents=(_intent(),),
        )
    rejected = ModelFSMResult(
        outcome=EnumFSMOutcome.DUPLICATE,
        snapshot=_snapshot(),
        previous_state="healthy",
        trigger="t",
        transition=None,
        event_id=uuid4(),
    )
    assert not rejected.applied
