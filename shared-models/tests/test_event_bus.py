"""InMemoryEventBus: SPI conformance, delivery, isolation, unsubscribe, close, history."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from uuid import UUID, uuid4

import pytest
from omnibase_spi.protocols.event_bus import (
    ProtocolEventBus,
    ProtocolEventBusHeaders,
    ProtocolEventBusInMemory,
    ProtocolEventMessage,
    ProtocolKafkaEventBusAdapter,
)
from omnibase_spi.protocols.types.protocol_core_types import ProtocolSemVer
from omnibase_spi.protocols.types.protocol_event_bus_types import (
    LiteralEventPriority,
    ProtocolEventHeaders,
)
from pydantic import BaseModel, SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraUnavailableError, InfraValidationError
from omnibase_infra.events import (
    DEFAULT_MAX_HISTORY,
    EventHeaders,
    EventSchemaVersion,
    InMemoryEventBus,
    InMemoryEventMessage,
    broadcast_topic,
    group_topic,
)

SECRET = "hunter2-very-secret"


class Recorder:
    """Async handler that records what it receives."""

    def __init__(self) -> None:
        self.messages: list[ProtocolEventMessage] = []

    async def __call__(self, message: ProtocolEventMessage) -> None:
        self.messages.append(message)

    @property
    def values(self) -> list[bytes]:
        return [m.value for m in self.messages]


@pytest.fixture
def bus() -> InMemoryEventBus:
    return InMemoryEventBus("test", "infra")


# -- protocol conformance -------------------------------------------------------------


def test_satisfies_spi_protocols_at_runtime(bus: InMemoryEventBus) -> None:
    assert isinstance(bus, ProtocolEventBus)
    assert isinstance(bus, ProtocolEventBusInMemory)
    assert isinstance(bus.adapter, ProtocolKafkaEventBusAdapter)
    message = InMemoryEventMessage(topic="t", key=None, value=b"", headers=EventHeaders())
    assert isinstance(message, ProtocolEventMessage)
    assert isinstance(EventHeaders(), ProtocolEventHeaders)
    assert isinstance(EventHeaders(), ProtocolEventBusHeaders)
    assert isinstance(EventSchemaVersion(), ProtocolSemVer)


def test_satisfies_spi_protocols_statically(bus: InMemoryEventBus) -> None:
    # These assignments are what mypy --strict checks structurally.
    as_bus: ProtocolEventBus = bus
    as_in_memory: ProtocolEventBusInMemory = bus
    as_adapter: ProtocolKafkaEventBusAdapter = bus.adapter
    headers: ProtocolEventHeaders = EventHeaders()
    bus_headers: ProtocolEventBusHeaders = EventHeaders()
    message: ProtocolEventMessage = InMemoryEventMessage(
        topic="t", key=None, value=b"", headers=headers
    )
    assert as_bus is bus
    assert as_in_memory is bus
    assert as_adapter is bus
    assert message.headers is headers
    assert bus_headers.content_type == "application/octet-stream"


def test_properties(bus: InMemoryEventBus) -> None:
    assert (bus.environment, bus.group) == ("test", "infra")
    assert bus.max_history == DEFAULT_MAX_HISTORY == 1000
    assert not bus.closed
    assert bus.failed_deliveries == 0


# -- delivery -------------------------------------------------------------------------


async def test_publish_delivers_to_every_group_once(bus: InMemoryEventBus) -> None:
    audit, metrics, other_topic = Recorder(), Recorder(), Recorder()
    await bus.subscribe("infra.vault", "audit", audit)
    await bus.subscribe("infra.vault", "metrics", metrics)
    await bus.subscribe("infra.consul", "audit", other_topic)

    await bus.publish("infra.vault", b"k1", b'{"rotated": true}')

    assert audit.values == [b'{"rotated": true}']
    assert metrics.values == [b'{"rotated": true}']
    assert other_topic.messages == []
    received = audit.messages[0]
    assert received.topic == "infra.vault"
    assert received.key == b"k1"
    assert received.partition == 0
    assert received.offset == "0"


async def test_group_members_take_turns(bus: InMemoryEventBus) -> None:
    first, second = Recorder(), Recorder()
    await bus.subscribe("jobs", "workers", first)
    await bus.subscribe("jobs", "workers", second)

    for n in range(5):
        await bus.publish("jobs", None, str(n).encode())

    assert first.values == [b"0", b"2", b"4"]
    assert second.values == [b"1", b"3"]


async def test_offsets_count_per_topic(bus: InMemoryEventBus) -> None:
    await bus.publish("a", None, b"1")
    await bus.publish("a", None, b"2")
    await bus.publish("b", None, b"3")
    history = await bus.get_event_history()
    assert [(m.topic, m.offset) for m in history] == [("a", "0"), ("a", "1"), ("b", "0")]


async def test_each_subscriber_gets_its_own_message_and_ack(bus: InMemoryEventBus) -> None:
    seen: list[ProtocolEventMessage] = []

    async def acking(message: ProtocolEventMessage) -> None:
        await message.ack()
        message.headers.source = "mutated by handler"
        seen.append(message)

    passive = Recorder()
    await bus.subscribe("t", "acking", acking)
    await bus.subscribe("t", "passive", passive)
    await bus.publish("t", None, b"x", EventHeaders(source="origin"))

    acked, other = seen[0], passive.messages[0]
    assert isinstance(acked, InMemoryEventMessage)
    assert isinstance(other, InMemoryEventMessage)
    assert acked.acked
    assert not other.acked
    assert other.headers.source == "origin"
    (record,) = await bus.get_event_history()
    assert record.headers.source == "origin"


async def test_default_headers(bus: InMemoryEventBus) -> None:
    inbox = Recorder()
    await bus.subscribe("infra.events", "g", inbox)
    await bus.publish("infra.events", None, b"x")
    headers = inbox.messages[0].headers
    assert headers.event_type == "infra.events"
    assert headers.destination == "infra.events"
    assert headers.source == "test.infra"
    assert isinstance(headers.correlation_id, UUID)
    assert headers.timestamp.tzinfo is not None
    assert str(headers.schema_version) == "1.0.0"


async def test_headers_are_carried_through(bus: InMemoryEventBus) -> None:
    inbox = Recorder()
    await bus.subscribe("t", "g", inbox)
    correlation_id = uuid4()
    sent = EventHeaders(
        content_type="application/json",
        correlation_id=correlation_id,
        source="vault-adapter",
        event_type="secret.rotated",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
        priority="high",
        retry_count=1,
    )
    await bus.publish("t", None, b"{}", sent)
    got = inbox.messages[0].headers
    assert got is not sent
    assert got.correlation_id == correlation_id
    assert got.message_id == sent.message_id
    assert (got.content_type, got.source, got.event_type) == (
        "application/json",
        "vault-adapter",
        "secret.rotated",
    )
    assert (got.trace_id, got.span_id, got.priority, got.retry_count) == (
        sent.trace_id,
        sent.span_id,
        "high",
        1,
    )


FOREIGN_MESSAGE_ID = UUID(int=7)


@dataclass(frozen=True)
class ForeignHeaders:
    """Another ProtocolEventBusHeaders implementation (read-only attributes)."""

    correlation_id: UUID
    content_type: str = "text/plain"
    message_id: UUID = FOREIGN_MESSAGE_ID
    timestamp: datetime = datetime(2024, 1, 2, tzinfo=UTC)
    source: str = "elsewhere"
    event_type: str = "foreign.event"
    schema_version: ProtocolSemVer = field(default_factory=lambda: EventSchemaVersion(2, 1, 0))
    destination: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    operation_name: str | None = "op"
    priority: LiteralEventPriority | None = "low"
    routing_key: str | None = "rk"
    partition_key: str | None = "pk"
    retry_count: int | None = None
    max_retries: int | None = 3
    ttl_seconds: int | None = 60


async def test_foreign_headers_are_converted(bus: InMemoryEventBus) -> None:
    inbox = Recorder()
    await bus.subscribe("t", "g", inbox)
    foreign = ForeignHeaders(correlation_id=uuid4())
    await bus.publish("t", None, b"x", foreign)
    got = inbox.messages[0].headers
    assert isinstance(got, EventHeaders)
    assert got.correlation_id == foreign.correlation_id
    assert got.message_id == UUID(int=7)
    assert str(got.schema_version) == "2.1.0"
    assert (got.operation_name, got.priority, got.routing_key, got.partition_key) == (
        "op",
        "low",
        "rk",
        "pk",
    )
    assert (got.max_retries, got.ttl_seconds) == (3, 60)
    assert await got.validate_headers()


async def test_handler_can_publish_reentrantly(bus: InMemoryEventBus) -> None:
    replies = Recorder()

    async def responder(message: ProtocolEventMessage) -> None:
        await bus.publish("replies", None, b"re:" + message.value)

    await bus.subscribe("requests", "responder", responder)
    await bus.subscribe("replies", "client", replies)
    await bus.publish("requests", None, b"ping")
    assert replies.values == [b"re:ping"]


async def test_concurrent_publishers_all_delivered(bus: InMemoryEventBus) -> None:
    inbox = Recorder()

    async def slow(message: ProtocolEventMessage) -> None:
        await asyncio.sleep(0)
        await inbox(message)

    await bus.subscribe("t", "g", slow)
    await asyncio.gather(*(bus.publish("t", None, str(n).encode()) for n in range(20)))
    assert sorted(inbox.values, key=int) == [str(n).encode() for n in range(20)]


# -- isolation ------------------------------------------------------------------------


async def test_failing_handler_is_isolated_and_logged_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = InMemoryEventBus("test", "infra", known_secrets=[SECRET])
    survivor = Recorder()

    async def broken(message: ProtocolEventMessage) -> None:
        raise RuntimeError(f"could not log in with password {SECRET}")

    await bus.subscribe("t", "broken", broken)
    await bus.subscribe("t", "survivor", survivor)
    with caplog.at_level(logging.ERROR, logger="omnibase_infra.events"):
        await bus.publish("t", None, b"payload")

    assert survivor.values == [b"payload"]
    assert bus.failed_deliveries == 1
    assert "event handler failed (topic=t group=broken offset=0)" in caplog.text
    assert "RuntimeError" in caplog.text
    assert SECRET not in caplog.text


async def test_sync_handler_counts_as_failed_delivery(bus: InMemoryEventBus) -> None:
    calls: list[bytes] = []

    def not_async(message: ProtocolEventMessage) -> None:
        calls.append(message.value)

    await bus.subscribe("t", "g", not_async)  # type: ignore[arg-type]
    await bus.publish("t", None, b"x")
    assert calls == [b"x"]
    assert bus.failed_deliveries == 1


async def test_cancellation_is_not_swallowed(bus: InMemoryEventBus) -> None:
    async def cancelled(message: ProtocolEventMessage) -> None:
        raise asyncio.CancelledError

    await bus.subscribe("t", "g", cancelled)
    with pytest.raises(asyncio.CancelledError):
        await bus.publish("t", None, b"x")


# -- unsubscribe ----------------------------------------------------------------------


async def test_unsubscribe_stops_delivery(bus: InMemoryEventBus) -> None:
    inbox, other = Recorder(), Recorder()
    unsubscribe = await bus.subscribe("t", "g", inbox)
    await bus.subscribe("t", "h", other)
    assert await bus.get_subscriber_count() == 2
    assert await bus.get_subscriber_count("t") == 2

    await bus.publish("t", None, b"1")
    await unsubscribe()
    await unsubscribe()  # idempotent
    await bus.publish("t", None, b"2")

    assert inbox.values == [b"1"]
    assert other.values == [b"1", b"2"]
    assert await bus.get_subscriber_count("t") == 1


async def test_unsubscribe_last_member_forgets_topic(bus: InMemoryEventBus) -> None:
    unsubscribe = await bus.subscribe("t", "g", Recorder())
    await unsubscribe()
    assert await bus.get_subscriber_count() == 0
    assert await bus.get_subscriber_count("t") == 0


async def test_unsubscribe_during_delivery_skips_the_removed_subscriber(
    bus: InMemoryEventBus,
) -> None:
    late = Recorder()
    unsubscribers: list[Callable[[], Awaitable[None]]] = []

    async def first(message: ProtocolEventMessage) -> None:
        await unsubscribers[0]()

    await bus.subscribe("t", "a", first)
    unsubscribers.append(await bus.subscribe("t", "b", late))
    await bus.publish("t", None, b"x")
    assert late.messages == []
    assert await bus.get_subscriber_count("t") == 1


# -- history --------------------------------------------------------------------------


async def test_history_is_bounded() -> None:
    bus = InMemoryEventBus(max_history=3)
    for n in range(5):
        await bus.publish("t", None, str(n).encode())
    assert [m.value for m in await bus.get_event_history()] == [b"2", b"3", b"4"]
    bus.clear_event_history()
    assert await bus.get_event_history() == []
    await bus.publish("t", None, b"5")
    (after_clear,) = await bus.get_event_history()
    assert after_clear.offset == "5"


async def test_history_can_be_disabled() -> None:
    bus = InMemoryEventBus(max_history=0)
    inbox = Recorder()
    await bus.subscribe("t", "g", inbox)
    await bus.publish("t", None, b"x")
    assert inbox.values == [b"x"]
    assert await bus.get_event_history() == []
    assert bus.max_history == 0


def test_negative_history_is_rejected() -> None:
    with pytest.raises(InfraValidationError, match="max_history"):
        InMemoryEventBus(max_history=-1)


# -- close ----------------------------------------------------------------------------


async def test_close_stops_delivery_and_rejects_later_use(bus: InMemoryEventBus) -> None:
    inbox = Recorder()
    unsubscribe = await bus.subscribe("t", "g", inbox)
    await bus.publish("t", None, b"before")
    await bus.close()
    await bus.close()  # idempotent
    await unsubscribe()  # harmless after close

    assert bus.closed
    assert await bus.get_subscriber_count() == 0
    with pytest.raises(InfraUnavailableError, match="event bus is closed") as caught:
        await bus.publish("t", None, b"after")
    error = caught.value
    assert error.transport is EnumTransport.EVENT_BUS
    assert error.operation == "publish"
    assert error.target == "t"
    assert not error.retryable
    with pytest.raises(InfraUnavailableError):
        await bus.subscribe("t", "g", inbox)
    with pytest.raises(InfraUnavailableError):
        await bus.broadcast_to_environment("reload", {})
    with pytest.raises(InfraUnavailableError):
        await bus.send_to_group("reload", {}, "infra")
    assert inbox.values == [b"before"]
    assert [m.value for m in await bus.get_event_history()] == [b"before"]


async def test_close_during_delivery_stops_remaining_deliveries(bus: InMemoryEventBus) -> None:
    later = Recorder()

    async def closer(message: ProtocolEventMessage) -> None:
        await bus.close()

    await bus.subscribe("t", "first", closer)
    await bus.subscribe("t", "second", later)
    await bus.publish("t", None, b"x")
    assert later.messages == []


# -- commands -------------------------------------------------------------------------


class Colour(Enum):
    RED = "red"


class Settings(BaseModel):
    level: int


class ContextValue:
    """Implements the SPI ContextValue serialisation hook."""

    def serialize_for_context(self) -> dict[str, object]:
        return {"kind": "context", "value": 42}


async def test_broadcast_to_environment(bus: InMemoryEventBus) -> None:
    here, there = Recorder(), Recorder()
    await bus.subscribe(broadcast_topic("test"), "g", here)
    await bus.subscribe(broadcast_topic("prod"), "g", there)
    correlation_id = UUID(int=1)
    payload: dict[str, object] = {
        "id": correlation_id,
        "at": datetime(2024, 5, 1, tzinfo=UTC),
        "colour": Colour.RED,
        "settings": Settings(level=3),
        "tags": frozenset({"a"}),
        "context": ContextValue(),
        "n": 1,
    }

    await bus.broadcast_to_environment("reload_config", payload)
    await bus.broadcast_to_environment("drain", {}, target_environment="prod")

    assert broadcast_topic("test") == "test-broadcast"
    body = json.loads(here.values[0])
    assert body == {
        "command": "reload_config",
        "payload": {
            "id": str(correlation_id),
            "at": "2024-05-01T00:00:00+00:00",
            "colour": "red",
            "settings": {"level": 3},
            "tags": ["a"],
            "context": {"kind": "context", "value": 42},
            "n": 1,
        },
        "source": {"environment": "test", "group": "infra"},
    }
    headers = here.messages[0].headers
    assert (headers.event_type, headers.content_type) == ("reload_config", "application/json")
    assert headers.operation_name == "broadcast_to_environment"
    assert json.loads(there.values[0])["command"] == "drain"


async def test_send_to_group(bus: InMemoryEventBus) -> None:
    inbox = Recorder()
    await bus.subscribe(group_topic("test", "db"), "g", inbox)
    await bus.send_to_group("vacuum", {"table": "events"}, "db")
    assert group_topic("test", "db") == "test-db-commands"
    assert json.loads(inbox.values[0])["payload"] == {"table": "events"}
    assert inbox.messages[0].headers.destination == "test-db-commands"


async def test_commands_refuse_secrets_and_unserialisable_payloads(bus: InMemoryEventBus) -> None:
    with pytest.raises(InfraValidationError, match="secrets cannot be sent") as caught:
        await bus.send_to_group("login", {"password": SecretStr(SECRET)}, "db")
    assert SECRET not in str(caught.value)
    with pytest.raises(InfraValidationError, match="not JSON serialisable"):
        await bus.broadcast_to_environment("x", {"obj": object()})
    with pytest.raises(InfraValidationError, match="command must be"):
        await bus.broadcast_to_environment("", {})
    with pytest.raises(InfraValidationError, match="target_group"):
        await bus.send_to_group("x", {}, "bad group")
    with pytest.raises(InfraValidationError, match="target_environment"):
        await bus.broadcast_to_environment("x", {}, target_environment="")
    assert await bus.get_event_history() == []


# -- input validation -----------------------------------------------------------------


async def test_publish_validates_its_arguments(bus: InMemoryEventBus) -> None:
    with pytest.raises(InfraValidationError, match="value must be bytes, not str"):
        await bus.publish("t", None, "text")  # type: ignore[arg-type]
    with pytest.raises(InfraValidationError, match="key must be bytes or None"):
        await bus.publish("t", "k", b"x")  # type: ignore[arg-type]
    with pytest.raises(InfraValidationError, match="topic must be"):
        await bus.publish("no spaces", None, b"x")
    with pytest.raises(InfraValidationError, match="topic must be"):
        await bus.publish("", None, b"x")


async def test_subscribe_validates_its_arguments(bus: InMemoryEventBus) -> None:
    with pytest.raises(InfraValidationError, match="group_id"):
        await bus.subscribe("t", "", Recorder())
    with pytest.raises(InfraValidationError, match="on_message"):
        await bus.subscribe("t", "g", None)  # type: ignore[arg-type]
    with pytest.raises(InfraValidationError, match="topic"):
        await bus.subscribe("a/b", "g", Recorder())


def test_constructor_validates_names() -> None:
    with pytest.raises(InfraValidationError, match="environment"):
        InMemoryEventBus("")
    with pytest.raises(InfraValidationError, match="group"):
        InMemoryEventBus("dev", "two words")


# -- headers validation ---------------------------------------------------------------


async def test_header_validation() -> None:
    assert await EventHeaders().validate_headers()
    bad = EventHeaders(
        content_type="",
        timestamp=datetime(2024, 1, 1),  # deliberately naive
        trace_id="XYZ",
        span_id="short",
        parent_span_id="also-bad",
        retry_count=-1,
        max_retries=-2,
        ttl_seconds=-3,
    )
    bad.priority = "urgent"  # type: ignore[assignment]
    assert not await bad.validate_headers()
    assert bad.problems() == [
        "content_type is empty",
        "timestamp is not timezone-aware",
        "trace_id is not 32 lower-case hex characters",
        "span_id is not 16 lower-case hex characters",
        "parent_span_id is not 16 lower-case hex characters",
        "priority is not one of low/normal/high/critical",
        "retry_count is negative",
        "max_retries is negative",
        "ttl_seconds is negative",
    ]
