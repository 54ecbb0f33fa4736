"""Pure logic: the configuration model, the subject layout, the header mapping, the errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid4, uuid5

import nats.errors
import nats.js.errors
import pytest
from pydantic import SecretStr, ValidationError

from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConfigurationError,
    InfraConnectionError,
    InfraError,
    InfraNotFoundError,
    InfraPermissionError,
    InfraProtocolError,
    InfraRejectedRequestError,
    InfraTimeoutError,
    InfraUnavailableError,
    InfraValidationError,
)
from omnibase_infra.event_bus.nats import (
    ModelNatsEventBusConfig,
    check_topic,
    durable_name,
    nats_error,
    stream_name,
    subject_prefix,
)
from omnibase_infra.event_bus.nats import headers as wire
from omnibase_infra.event_bus.nats.subjects import check_group
from omnibase_infra.events import EventHeaders, EventSchemaVersion
from omnibase_infra.observability import caller_context

# -- configuration ------------------------------------------------------------------------


def test_defaults_and_derived_values() -> None:
    config = ModelNatsEventBusConfig()
    assert config.server_urls == ["nats://127.0.0.1:4222"]
    assert config.target == "127.0.0.1:4222"
    assert config.stream_name == "onex-dev"
    assert config.subject_prefix_for_environment == "dev"
    assert config.heartbeat_interval_seconds == pytest.approx(10.0)


def test_environment_variables_configure_every_field() -> None:
    environ = {
        "OMNIBASE_INFRA_EVENT_BUS_SERVERS": "nats://a.example:4223, b.example",
        "OMNIBASE_INFRA_EVENT_BUS_USER": "svc",
        "OMNIBASE_INFRA_EVENT_BUS_PASSWORD": "pw-very-secret",
        "OMNIBASE_INFRA_EVENT_BUS_ENVIRONMENT": "prod",
        "OMNIBASE_INFRA_EVENT_BUS_SUBJECT_PREFIX": "onex.events",
        "OMNIBASE_INFRA_EVENT_BUS_ACK_WAIT_SECONDS": "12",
        "OMNIBASE_INFRA_EVENT_BUS_MAX_IN_FLIGHT": "3",
        "OMNIBASE_INFRA_EVENT_BUS_DELIVER_POLICY": "new",
    }
    config = ModelNatsEventBusConfig.from_env(environ=environ, group="billing")
    assert config.server_urls == ["nats://a.example:4223", "nats://b.example"]
    assert config.target == "a.example:4223,b.example:4222"
    assert config.user == "svc"
    assert config.password is not None
    assert config.password.get_secret_value() == "pw-very-secret"
    assert config.subject_prefix_for_environment == "onex.events.prod"
    assert config.stream_name == "onex-prod"
    assert (config.ack_wait_seconds, config.max_in_flight) == (12.0, 3)
    assert config.deliver_policy == "new"
    assert config.group == "billing"
    assert "pw-very-secret" not in repr(config)
    assert "pw-very-secret" not in str(config.model_dump())


def test_nothing_in_the_environment_gives_the_defaults() -> None:
    assert ModelNatsEventBusConfig.from_env(environ={}) == ModelNatsEventBusConfig()


def test_a_refused_environment_value_names_the_variable_not_the_value() -> None:
    environ = {"OMNIBASE_INFRA_EVENT_BUS_SERVERS": "nats://svc:hunter2-secret@host:4222"}
    with pytest.raises(InfraConfigurationError) as caught:
        ModelNatsEventBusConfig.from_env(environ=environ)
    assert "OMNIBASE_INFRA_EVENT_BUS_SERVERS" in caught.value.message
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"servers": "nats://u:p@host:4222"}, "must not carry credentials"),
        ({"servers": "http://host:4222"}, "scheme"),
        ({"servers": "nats://host:4222,"}, "none empty"),
        ({"servers": "nats://:4222"}, "no host"),
        ({"servers": "nats://host:99999"}, "invalid port"),
        ({"environment": "dev.eu"}, "environment must be"),
        ({"group": "a b"}, "group must be"),
        ({"subject_prefix": "onex..x"}, "subject_prefix"),
        ({"stream": "a.b"}, "stream"),
        ({"max_deliver": 0}, "max_deliver"),
        ({"password": SecretStr("p")}, "password needs user"),
        ({"user": "u", "token": SecretStr("t")}, "either user/password or token"),
        ({"in_progress_interval_seconds": 40.0}, "below ack_wait"),
        ({"redelivery_delay_seconds": 9.0, "max_redelivery_delay_seconds": 1.0}, "max_redel"),
    ],
)
def test_invalid_settings_are_refused(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ModelNatsEventBusConfig(**fields)
    assert fragment in str(caught.value)


# -- subjects ------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["orders", "orders.created", "dev-broadcast", "a_b.c-d.E9"])
def test_valid_topics_map_to_themselves(topic: str) -> None:
    assert check_topic(topic, "publish") == topic


@pytest.mark.parametrize(
    "topic",
    ["", "a..b", ".a", "a.", "a b", "orders.*", "orders.>", "é", "x" * 250, 7, None],
)
def test_topics_nats_cannot_carry_are_refused(topic: object) -> None:
    with pytest.raises(InfraValidationError, match="NATS subjects forbid"):
        check_topic(topic, "publish")


def test_layout_helpers() -> None:
    assert subject_prefix("dev", None) == "dev"
    assert subject_prefix("dev", "onex") == "onex.dev"
    assert stream_name("dev", None) == "onex-dev"
    assert stream_name("dev", "EVENTS") == "EVENTS"
    with pytest.raises(InfraValidationError, match="group_id"):
        check_group("a.b", "subscribe")


def test_durable_names_are_stable_valid_and_distinct() -> None:
    first = durable_name("workers", "orders.created")
    assert first == durable_name("workers", "orders.created")
    assert first.startswith("workers_orders_created_")
    assert "." not in first
    assert durable_name("workers", "a.b") != durable_name("workers", "a_b")
    assert durable_name("w", "a_b") != durable_name("w_a", "b")
    assert len(durable_name("g" * 64, "t." * 120 + "t")) <= 96


# -- headers -------------------------------------------------------------------------------


def test_headers_survive_the_wire() -> None:
    sent = EventHeaders(
        content_type="application/json",
        source=" billing service\r\nx ",
        event_type="order.created",
        schema_version=EventSchemaVersion(2, 1, 0),
        destination="elsewhere",
        parent_span_id="00f067aa0ba902b7",
        operation_name="create 100%",
        priority="high",
        routing_key="r",
        partition_key="p",
        retry_count=1,
        max_retries=3,
        ttl_seconds=60,
    )
    encoded = wire.encode_headers(sent, "orders")
    assert all("\n" not in v and v == v.strip() for v in encoded.values())
    encoded["x-correlation-id"] = str(sent.correlation_id)
    got = wire.decode_headers(encoded, "orders", datetime.now(UTC))
    for field in (
        "content_type",
        "correlation_id",
        "message_id",
        "timestamp",
        "source",
        "event_type",
        "destination",
        "parent_span_id",
        "operation_name",
        "priority",
        "routing_key",
        "partition_key",
        "retry_count",
        "max_retries",
        "ttl_seconds",
    ):
        assert getattr(got, field) == getattr(sent, field), field
    assert str(got.schema_version) == "2.1.0"


def test_defaults_are_left_off_the_wire_and_restored() -> None:
    sent = EventHeaders(source="dev.default", event_type="orders", destination="orders")
    encoded = wire.encode_headers(sent, "orders")
    assert set(encoded) == {wire.MSG_ID, wire.SOURCE, wire.TIMESTAMP}
    got = wire.decode_headers(encoded, "orders", datetime.now(UTC))
    assert (got.event_type, got.destination, str(got.schema_version)) == (
        "orders",
        "orders",
        "1.0.0",
    )
    assert got.content_type == wire.DEFAULT_CONTENT_TYPE
    assert got.correlation_id == got.message_id  # no correlation sent: the message id


def test_foreign_or_broken_headers_get_defaults() -> None:
    stored = datetime(2026, 1, 2, tzinfo=UTC)
    got = wire.decode_headers(
        {
            wire.MSG_ID: "not-a-uuid",
            wire.TIMESTAMP: "yesterday",
            "Onex-Schema-Version": "two",
            "Onex-Retry-Count": "many",
            "Onex-Priority": "urgent",
            "traceparent": "garbage",
        },
        "orders",
        stored,
    )
    assert got.message_id == uuid5(NAMESPACE_URL, "not-a-uuid")
    assert got.timestamp == stored
    assert str(got.schema_version) == "1.0.0"
    assert got.retry_count is None
    assert got.priority is None
    assert got.trace_id is None
    naive = wire.decode_headers({wire.TIMESTAMP: "2026-01-01T00:00:00"}, "t", stored)
    assert naive.timestamp == stored
    bare = wire.decode_headers({}, "t", stored)
    assert bare.message_id == uuid5(NAMESPACE_URL, "t")


def test_the_senders_trace_is_named_by_the_headers() -> None:
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    received = {"traceparent": f"00-{trace_id}-{span_id}-01"}
    got = wire.decode_headers(received, "t", datetime.now(UTC), caller_context(received))
    assert (got.trace_id, got.span_id) == (trace_id, span_id)


def test_keys_round_trip_and_bad_keys_read_as_none() -> None:
    assert wire.decode_key(wire.encode_key(b"\x00key\xff")) == b"\x00key\xff"
    assert wire.decode_key(None) is None
    assert wire.decode_key("***") is None


# -- errors ----------------------------------------------------------------------------------


def _api(code: int) -> nats.js.errors.APIError:
    return nats.js.errors.APIError(code=code, err_code=10000 + code, description="d")


@pytest.mark.parametrize(
    ("raised", "expected", "retryable", "not_sent"),
    [
        (nats.js.errors.TooManyStalledMsgsError(), InfraTimeoutError, True, False),
        (nats.js.errors.NoStreamResponseError(), InfraUnavailableError, True, False),
        (nats.errors.NoRespondersError(), InfraUnavailableError, True, False),
        (_api(503), InfraUnavailableError, True, False),
        (_api(500), InfraUnavailableError, True, False),
        (_api(404), InfraNotFoundError, False, False),
        (_api(403), InfraPermissionError, False, False),
        (_api(400), InfraRejectedRequestError, False, False),
        (nats.errors.AuthorizationError(), InfraAuthenticationError, False, False),
        (nats.errors.MaxPayloadError(), InfraValidationError, False, False),
        (nats.errors.BadSubjectError(), InfraValidationError, False, False),
        (nats.errors.TimeoutError(), InfraTimeoutError, True, False),
        (TimeoutError(), InfraTimeoutError, True, False),
        (nats.errors.NoServersError(), InfraConnectionError, True, True),
        (nats.errors.ConnectionClosedError(), InfraConnectionError, True, True),
        (nats.errors.OutboundBufferLimitError(), InfraConnectionError, True, True),
        (nats.errors.UnexpectedEOF(), InfraConnectionError, True, False),
        (ConnectionResetError(), InfraConnectionError, True, False),
        (ValueError("?"), InfraProtocolError, False, False),
    ],
)
def test_nats_errors_map_onto_the_taxonomy(
    raised: BaseException, expected: type[InfraError], retryable: bool, not_sent: bool
) -> None:
    correlation = uuid4()
    error = nats_error(raised, operation="publish", target="h:1", correlation_id=correlation)
    assert type(error) is expected
    assert (error.retryable, error.not_sent) == (retryable, not_sent)
    assert error.transport.value == "event_bus"
    assert (error.operation, error.target, error.correlation_id) == ("publish", "h:1", correlation)


def test_message_ids_are_random_version_4_uuids() -> None:
    ids = {wire.new_message_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text
