"""No secret reaches an FSM context, a snapshot, an intent, an error or a log line."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from omnibase_infra.models.fsm import (
    FsmContextValue,
    ModelFSMEvent,
    ModelFSMResult,
    ModelFSMSnapshot,
)
from omnibase_infra.nodes.infra_reducer.v1_0_0 import InfraReducer
from omnibase_infra.redaction import register_secret, unregister_secret

type EventFactory = Callable[..., ModelFSMEvent]

REGISTERED = "vault-fetched-5c8f2e91d4"
SECRETS = [
    "postgresql://app:Sup3rS3cret@db.internal:5432/app",
    "hvs.CAESIJxVyb3RrZXktdG9rZW4tdmFsdWUtMTIzNDU2",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdmMifQ.c2lnbmF0dXJl",
    "password=hunter2-hunter2",
    "Bearer abcdefghijklmnopqrstuvwxyz",
    REGISTERED,
]
MARKERS = [
    "Sup3rS3cret",
    "CAESIJxVyb3Rr",
    "eyJzdWIiOiJzdmMifQ",
    "hunter2",
    "abcdefghijklmnop",
    REGISTERED,
]


@pytest.fixture(autouse=True)
def registered_secret() -> Iterator[None]:
    register_secret(REGISTERED)
    yield
    unregister_secret(REGISTERED)


def _leaks(*texts: str) -> list[str]:
    return [m for m in MARKERS for text in texts if m in text]


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("key", ["service_name", "note", "environment"])
def test_secret_looking_event_data_is_rejected_without_echo(key: str, secret: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ModelFSMEvent(resource_id="svc", trigger="provision", data={key: secret})
    assert _leaks(str(caught.value), repr(caught.value)) == []
    assert key in str(caught.value)


@pytest.mark.parametrize("key", ["db_password", "api_key", "client_secret", "vault_token"])
def test_sensitive_key_names_are_rejected_whatever_the_value(key: str) -> None:
    with pytest.raises(ValidationError, match=key):
        ModelFSMEvent(resource_id="svc", trigger="provision", data={key: "harmless"})


def test_secret_objects_cannot_enter_at_all() -> None:
    with pytest.raises(ValidationError) as caught:
        ModelFSMEvent.model_validate(
            {"resource_id": "svc", "trigger": "provision", "data": {"note": SecretStr("pw-123")}}
        )
    assert "pw-123" not in str(caught.value)


def test_snapshots_with_secrets_do_not_load(reducer: InfraReducer) -> None:
    stored = reducer.initial_snapshot("svc").model_dump(mode="json")
    stored["context"] = {"service_name": SECRETS[0]}
    with pytest.raises(ValidationError) as caught:
        ModelFSMSnapshot.model_validate(stored)
    assert _leaks(str(caught.value)) == []


_text = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=12)
_declared = st.sampled_from(["service_name", "database_name", "environment", "requested_by"])
_undeclared = st.sampled_from(["note", "owner", "zone", "ticket"])


@pytest.mark.slow
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    clean=st.dictionaries(st.one_of(_declared, _undeclared), _text, max_size=6),
    leak_key=st.one_of(_declared, _undeclared),
    secret=st.sampled_from(SECRETS),
)
async def test_a_context_with_a_secret_never_reaches_an_intent(
    reducer: InfraReducer,
    clean: dict[str, FsmContextValue],
    leak_key: str,
    secret: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whatever mix of declared and undeclared keys: an event carrying a secret-looking
    value is refused, and the intents, snapshots, results and logs of the clean
    events that do go through contain no secret."""
    caplog.set_level(logging.DEBUG)
    reducer.forget("svc-x")
    with pytest.raises(ValidationError):
        ModelFSMEvent(resource_id="svc-x", trigger="provision", data={**clean, leak_key: secret})
    data = {"service_name": "svc", "database_name": "db", **clean}
    snapshot = reducer.initial_snapshot("svc-x")
    results: list[ModelFSMResult] = []
    for trigger, extra in [
        ("provision", data),
        ("credentials_issued", clean),
        ("decommission", {**clean, "requested_by": "ops"}),
    ]:
        result = await reducer.apply(
            snapshot, ModelFSMEvent(resource_id="svc-x", trigger=trigger, data=extra)
        )
        results.append(result)
        snapshot = result.snapshot
    dumped = [r.model_dump_json() for r in results]
    assert _leaks(*dumped, caplog.text) == []
    assert all(
        set(i.payload) <= reducer.definition.declared_keys for r in results for i in r.intents
    )
    undeclared = set(clean) - reducer.definition.declared_keys
    assert all(key not in r.snapshot.context for r in results for key in undeclared)


async def test_dropped_keys_are_logged_by_name_only(
    reducer: InfraReducer, make_event: EventFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="omnibase_infra.nodes.infra_reducer")
    event = make_event(
        "provision", service_name="svc", database_name="db", ticket="zz-ticket-value-42"
    )
    result = await reducer.apply(reducer.initial_snapshot(event.resource_id), event)
    assert result.dropped_keys == ("ticket",)
    assert "ticket" in caplog.text
    assert "zz-ticket-value-42" not in caplog.text
