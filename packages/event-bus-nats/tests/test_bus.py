"""The bus against the harness's real nats-server: publish, consumer groups, acks,
redelivery, de-duplication, backpressure, commands, errors, spans."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from omnibase_spi.protocols.event_bus import ProtocolEventBus, ProtocolKafkaEventBusAdapter
from omnibase_spi.protocols.types.protocol_event_bus_types import ProtocolEventMessage
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import SecretStr

from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraConnectionError,
    InfraError,
    InfraUnavailableError,
    InfraValidationError,
)
from omnibase_infra.event_bus.nats import (
    ModelNatsEventBusConfig,
    NatsEventBus,
    NatsEventMessage,
    OutgoingMessage,
)
from omnibase_infra.events import EventHeaders, broadcast_topic, group_topic
from omnibase_infra.resilience.breaker import BreakerRegistry

from .conftest import BusFactory, Inbox, until, until_true

pytestmark = pytest.mark.real_service


async def _stored(raw: JetStreamContext, stream: str) -> int:
    info = await raw.stream_info(stream)
    return info.state.messages


def test_the_bus_satisfies_the_spi_protocols() -> None:
    bus = NatsEventBus(ModelNatsEventBusConfig())
    assert isinstance(bus, ProtocolEventBus)
    assert isinstance(bus.adapter, ProtocolKafkaEventBusAdapter)
    assert (bus.environment, bus.group, bus.stream) == ("dev", "default", "onex-dev")


async def test_publish_subscribe_ack(
    bus: NatsEventBus, inbox: Inbox, raw: JetStreamContext
) -> None:
    await bus.subscribe("orders.created", "billing", inbox)
    receipt = await bus.publish_confirmed("orders.created", b"order-7", b'{"id": 7}')
    assert receipt.stream == bus.stream
    assert receipt.sequence == 1
    assert not receipt.duplicate
    (message,) = await inbox.wait(1)
    assert isinstance(message, ProtocolEventMessage)
    assert isinstance(message, NatsEventMessage)
    assert (message.topic, message.key, message.value) == (
        "orders.created",
        b"order-7",
        b'{"id": 7}',
    )
    assert message.subject == f"{bus.environment}.orders.created"
    assert message.offset == "1"
    assert message.partition is None
    assert message.delivery_count == 1
    assert message.group == "billing"
    assert message.headers.source == f"{bus.environment}.default"
    assert message.headers.event_type == "orders.created"
    # The handler returned: the bus acked it, and the group has nothing left to do.
    await until(lambda: message.acked, within=5)

    async def settled() -> bool:  # the ack travels to the server after ack() returns
        consumer = (await raw.consumers_info(bus.stream))[0]
        return (consumer.num_ack_pending, consumer.num_pending) == (0, 0)

    await until_true(settled, within=5)
    assert bus.connected


async def test_every_group_gets_each_message_and_members_share_it(
    make_bus: BusFactory,
) -> None:
    first, second, other = make_bus(), make_bus(), make_bus()
    a, b, audit = Inbox(), Inbox(), Inbox()
    await first.subscribe("jobs", "workers", a)
    await second.subscribe("jobs", "workers", b)
    await other.subscribe("jobs", "audit", audit)
    await first.publish_many([OutgoingMessage("jobs", str(i).encode()) for i in range(40)])
    seen = await audit.wait(40)
    assert sorted(int(m.value) for m in seen) == list(range(40))
    await until(lambda: len(a.messages) + len(b.messages) >= 40, within=15)
    shared = [int(m.value) for m in a.messages + b.messages]
    assert sorted(shared) == list(range(40))  # each once within the group


async def test_headers_and_trace_ids_given_by_the_caller_arrive(
    bus: NatsEventBus, inbox: Inbox
) -> None:
    await bus.subscribe("orders", "g", inbox)
    headers = EventHeaders(
        content_type="application/json",
        source="shop",
        event_type="order.placed",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
        priority="critical",
    )
    await bus.publish("orders", None, b"{}", headers)
    (message,) = await inbox.wait(1)
    got = message.headers
    assert (got.message_id, got.correlation_id) == (headers.message_id, headers.correlation_id)
    assert (got.content_type, got.source, got.event_type, got.priority) == (
        "application/json",
        "shop",
        "order.placed",
        "critical",
    )
    assert got.timestamp == headers.timestamp
    # No SDK: the caller's own trace is carried as the producer's context.
    assert (got.trace_id, got.span_id) == (headers.trace_id, headers.span_id)
    assert message.key is None


async def test_a_duplicate_publish_is_stored_once(
    bus: NatsEventBus, raw: JetStreamContext, inbox: Inbox
) -> None:
    headers = EventHeaders(source="s", event_type="payments")
    first = await bus.publish_confirmed("payments", None, b"pay 10", headers)
    again = await bus.publish_confirmed("payments", None, b"pay 10", headers)
    assert not first.duplicate
    assert again.duplicate
    assert again.sequence == first.sequence
    assert await _stored(raw, bus.stream) == 1
    await bus.subscribe("payments", "ledger", inbox)
    await inbox.wait(1)
    await asyncio.sleep(0.3)  # nothing else arrives
    assert len(inbox.messages) == 1


async def test_publish_many_keeps_ids_keys_and_order(
    bus: NatsEventBus, raw: JetStreamContext, inbox: Inbox
) -> None:
    own = EventHeaders(source="x", event_type="t")
    batch = [
        OutgoingMessage("t", b"0", key=b"k0"),
        OutgoingMessage("t", b"1", headers=own),
        OutgoingMessage("t.sub", b"2"),
    ]
    receipts = await bus.publish_many(batch)
    assert [r.sequence for r in receipts] == [1, 2, 3]
    assert await bus.publish_many([]) == []
    again = await bus.publish_many([OutgoingMessage("t", b"1", headers=own)])
    assert again[0].duplicate
    assert await _stored(raw, bus.stream) == 3
    await bus.subscribe("t", "g", inbox)
    first, second = await inbox.wait(2)
    assert (first.value, first.key, second.value) == (b"0", b"k0", b"1")
    assert second.headers.message_id == own.message_id
    assert second.headers.correlation_id == own.correlation_id
    assert first.headers.correlation_id != own.correlation_id


async def test_a_failing_handler_gets_the_message_again_then_gives_up(
    make_bus: BusFactory,
    make_config: Callable[..., ModelNatsEventBusConfig],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = make_bus(
        config=make_config(max_deliver=3, redelivery_delay_seconds=0.05),
        known_secrets=["tok-secret-123"],
    )

    async def explode(message: Any) -> None:
        raise RuntimeError("handler broke with tok-secret-123")

    inbox = Inbox(explode)
    failing: list[int] = []

    async def record(message: Any) -> None:
        failing.append(message.delivery_count)
        await explode(message)

    await bus.subscribe("work", "g", record)
    await bus.publish("work", None, b"job")
    await until(lambda: len(failing) >= 3, within=15)
    await asyncio.sleep(0.5)
    assert failing == [1, 2, 3]  # max_deliver 3: terminated after the third
    assert bus.failed_deliveries == 3
    assert "tok-secret-123" not in caplog.text
    assert "handler broke with" in caplog.text
    assert inbox.messages == []


async def test_handlers_settle_messages_themselves(bus: NatsEventBus) -> None:
    seen: list[tuple[bytes, int]] = []

    async def handler(message: Any) -> None:
        seen.append((message.value, message.delivery_count))
        if message.value == b"nak" and message.delivery_count == 1:
            await message.nak(0.05)
            await message.ack()  # after settling, further calls change nothing
            assert message.settled == "nak"
            assert not message.acked
        elif message.value == b"term":
            await message.term()
        else:
            await message.in_progress()
            await message.ack()
            await message.in_progress()

    await bus.subscribe("manual", "g", handler)
    for value in (b"nak", b"term", b"ok"):
        await bus.publish("manual", None, value)
    await until(lambda: len(seen) >= 4, within=10)
    await asyncio.sleep(0.3)
    assert sorted(seen) == [(b"nak", 1), (b"nak", 2), (b"ok", 1), (b"term", 1)]


async def test_a_long_handler_is_kept_alive_by_in_progress_heartbeats(
    make_bus: BusFactory, make_config: Callable[..., ModelNatsEventBusConfig]
) -> None:
    bus = make_bus(config=make_config(ack_wait_seconds=1.0, in_progress_interval_seconds=0.25))
    deliveries: list[int] = []

    async def slow(message: Any) -> None:
        deliveries.append(message.delivery_count)
        await asyncio.sleep(3.0)  # three times the ack wait

    await bus.subscribe("slow", "g", slow)
    await bus.publish("slow", None, b"long job")
    await until(lambda: bool(deliveries), within=10)
    await asyncio.sleep(4.0)
    assert deliveries == [1]  # never redelivered while it ran


async def test_in_flight_handlers_are_bounded_and_the_rest_wait_in_the_stream(
    make_bus: BusFactory, make_config: Callable[..., ModelNatsEventBusConfig], raw: JetStreamContext
) -> None:
    bus = make_bus(config=make_config(max_in_flight=3))
    release = asyncio.Event()
    running = 0
    peak = 0
    done = 0

    async def handler(message: Any) -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        done += 1

    await bus.subscribe("busy", "g", handler)
    await bus.publish_many([OutgoingMessage("busy", b"x") for _ in range(20)])
    await until(lambda: running >= 3, within=10)
    await asyncio.sleep(0.5)
    assert running == 3
    consumer = (await raw.consumers_info(bus.stream))[0]
    assert consumer.num_ack_pending == 3  # only what runs was handed out
    assert consumer.num_pending == 17
    release.set()
    await until(lambda: done >= 20, within=15)
    assert peak == 3


async def test_unsubscribe_stops_delivery_and_keeps_the_groups_position(
    bus: NatsEventBus, make_bus: BusFactory, inbox: Inbox
) -> None:
    unsubscribe = await bus.subscribe("feed", "reader", inbox)
    assert bus.subscriptions == 1
    await bus.publish("feed", None, b"1")
    await inbox.wait(1)
    await unsubscribe()
    await unsubscribe()
    assert bus.subscriptions == 0
    await bus.publish("feed", None, b"2")
    await asyncio.sleep(0.5)
    assert [m.value for m in inbox.messages] == [b"1"]
    later = Inbox()
    await make_bus().subscribe("feed", "reader", later)
    (message,) = await later.wait(1)
    assert message.value == b"2"  # the group resumes where it was


async def test_deliver_policy_new_skips_what_came_before_the_group(
    make_bus: BusFactory, make_config: Callable[..., ModelNatsEventBusConfig], inbox: Inbox
) -> None:
    bus = make_bus(config=make_config(deliver_policy="new"))
    await bus.publish("news", None, b"old")
    await bus.subscribe("news", "late", inbox)
    await bus.publish("news", None, b"fresh")
    (message,) = await inbox.wait(1)
    assert message.value == b"fresh"


async def test_a_changed_setting_updates_the_existing_consumer(
    make_bus: BusFactory, make_config: Callable[..., ModelNatsEventBusConfig], raw: JetStreamContext
) -> None:
    unsubscribe = await make_bus().subscribe("upd", "g", Inbox())
    await unsubscribe()
    await make_bus(config=make_config(ack_wait_seconds=9.0)).subscribe("upd", "g", Inbox())
    (consumer,) = await raw.consumers_info(make_config().stream_name)
    assert consumer.config.ack_wait == 9.0


async def test_commands_are_json_messages_on_their_topics(bus: NatsEventBus, inbox: Inbox) -> None:
    env = bus.environment
    await bus.subscribe(broadcast_topic(env), "all", inbox)
    await bus.subscribe(group_topic(env, "db"), "db", inbox)
    await bus.broadcast_to_environment("reload", {"id": uuid.UUID(int=1)})
    await bus.send_to_group("migrate", {"to": 3}, "db")
    received = await inbox.wait(2)
    bodies = sorted((json.loads(m.value) for m in received), key=lambda b: b["command"])
    assert bodies == [
        {
            "command": "migrate",
            "payload": {"to": 3},
            "source": {"environment": env, "group": "default"},
        },
        {
            "command": "reload",
            "payload": {"id": str(uuid.UUID(int=1))},
            "source": {"environment": env, "group": "default"},
        },
    ]
    assert {m.headers.content_type for m in received} == {"application/json"}
    with pytest.raises(InfraValidationError, match="serves environment"):
        await bus.broadcast_to_environment("reload", {}, target_environment="prod")
    with pytest.raises(InfraValidationError, match="secrets"):
        await bus.send_to_group("x", {"password": SecretStr("s")}, "db")
    with pytest.raises(InfraValidationError, match="non-empty"):
        await bus.send_to_group("", {}, "db")


async def test_invalid_calls_are_refused_before_anything_is_sent(bus: NatsEventBus) -> None:
    with pytest.raises(InfraValidationError, match="topic"):
        await bus.publish("bad topic", None, b"x")
    with pytest.raises(InfraValidationError, match="value must be bytes"):
        await bus.publish("t", None, "text")  # type: ignore[arg-type]
    with pytest.raises(InfraValidationError, match="key must be bytes"):
        await bus.publish("t", "k", b"x")  # type: ignore[arg-type]
    with pytest.raises(InfraValidationError, match="invalid headers"):
        await bus.publish("t", None, b"x", EventHeaders(content_type=""))
    with pytest.raises(InfraValidationError, match="group_id"):
        await bus.subscribe("t", "a.b", Inbox())
    with pytest.raises(InfraValidationError, match="async callable"):
        await bus.subscribe("t", "g", "nope")  # type: ignore[arg-type]
    with pytest.raises(InfraValidationError, match="topic"):
        await bus.publish_many([OutgoingMessage("t", b"ok"), OutgoingMessage("a..b", b"x")])
    assert not bus.connected  # nothing was sent: the connection never opened


async def test_a_closed_bus_refuses_everything(bus: NatsEventBus) -> None:
    await bus.connect()
    await bus.close()
    await bus.close()
    assert bus.closed
    for call in (
        bus.publish("t", None, b"x"),
        bus.subscribe("t", "g", Inbox()),
        bus.connect(),
        bus.publish_many([OutgoingMessage("t", b"x")]),
        bus.send_to_group("c", {}, "g"),
    ):
        with pytest.raises(InfraUnavailableError) as caught:
            await call
        assert caught.value.reason == "closed"
        assert not caught.value.retryable


async def test_an_existing_stream_must_capture_the_environment(
    make_bus: BusFactory, make_config: Callable[..., ModelNatsEventBusConfig], raw: JetStreamContext
) -> None:
    config = make_config()
    await raw.add_stream(StreamConfig(name=config.stream_name, subjects=["elsewhere.>"]))
    with pytest.raises(InfraConfigurationError, match="does not capture"):
        await make_bus(config=config).connect()
    await raw.delete_stream(config.stream_name)
    with pytest.raises(InfraConfigurationError, match="create_stream is off"):
        await make_bus(config=make_config(create_stream=False)).connect()


async def test_no_server_is_a_typed_error_within_the_deadline(
    make_config: Callable[..., ModelNatsEventBusConfig], caplog: pytest.LogCaptureFixture
) -> None:
    from omnibase_infra_testing.process import free_port

    config = make_config(
        servers=f"nats://127.0.0.1:{free_port()}",
        publish_timeout_seconds=1.0,
        connect_timeout_seconds=0.2,
        reconnect_wait_seconds=0.05,
        user="svc",
        password=SecretStr("pw-never-logged"),
    )
    bus = NatsEventBus(config)
    with pytest.raises(InfraConnectionError) as caught:
        await bus.publish("t", None, b"x")
    assert caught.value.transport.value == "event_bus"
    assert caught.value.not_sent  # retried within the deadline, then given up
    with pytest.raises(InfraConnectionError):
        await bus.connect()
    assert "pw-never-logged" not in str(caught.value) + caplog.text + repr(bus.config)
    await bus.close()


async def test_the_breaker_guards_publishing(
    make_config: Callable[..., ModelNatsEventBusConfig],
) -> None:
    from omnibase_infra.resilience.breaker import ModelCircuitBreakerConfig
    from omnibase_infra_testing.process import free_port

    config = make_config(
        servers=f"nats://127.0.0.1:{free_port()}",
        publish_timeout_seconds=0.3,
        publish_max_attempts=1,
        connect_timeout_seconds=0.1,
        reconnect_wait_seconds=0.05,
    )
    registry = BreakerRegistry(ModelCircuitBreakerConfig(minimum_calls=2, sliding_window_size=2))
    bus = NatsEventBus(config, breakers=registry)
    for _ in range(2):
        with pytest.raises(InfraError):
            await bus.publish("t", None, b"x")
    with pytest.raises(InfraUnavailableError) as caught:
        await bus.publish("t", None, b"x")
    assert caught.value.reason == "circuit_open"
    await bus.close()


async def test_spans_follow_the_messaging_conventions(
    make_bus: BusFactory, spans: tuple[TracerProvider, InMemorySpanExporter], inbox: Inbox
) -> None:
    provider, exporter = spans
    bus = make_bus(tracer_provider=provider)
    await bus.subscribe("traced", "g", inbox)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("caller") as caller:
        await bus.publish("traced", None, b"hello")
    (message,) = await inbox.wait(1)
    await until(
        lambda: any(s.name.startswith("process") for s in exporter.get_finished_spans()), within=5
    )
    by_name = {s.name: s for s in exporter.get_finished_spans()}
    subject = f"{bus.environment}.traced"
    publish = by_name[f"publish {subject}"]
    process = by_name[f"process {subject}"]
    receive = by_name[f"receive {subject}"]
    assert publish.kind is SpanKind.PRODUCER
    assert publish.parent is not None
    assert publish.parent.span_id == caller.get_span_context().span_id
    attributes = dict(publish.attributes or {})
    assert attributes["messaging.system"] == "nats"
    assert attributes["messaging.operation.type"] == "send"
    assert attributes["messaging.operation.name"] == "publish"
    assert attributes["messaging.destination.name"] == subject
    assert attributes["messaging.message.id"] == str(message.headers.message_id)
    # The handler's span is a child of the producer's, in the same trace.
    assert process.kind is SpanKind.CONSUMER
    assert process.parent is not None
    assert process.parent.span_id == publish.context.span_id
    assert process.context.trace_id == publish.context.trace_id
    consumed = dict(process.attributes or {})
    assert consumed["messaging.operation.type"] == "process"
    assert consumed["messaging.consumer.group.name"] == "g"
    assert consumed["messaging.message.id"] == str(message.headers.message_id)
    assert receive.kind is SpanKind.CLIENT
    assert dict(receive.attributes or {})["messaging.operation.type"] == "receive"
    assert (message.headers.trace_id, message.headers.span_id) == (
        format(publish.context.trace_id, "032x"),
        format(publish.context.span_id, "016x"),
    )


async def test_a_failing_handler_marks_its_span(
    make_bus: BusFactory,
    make_config: Callable[..., ModelNatsEventBusConfig],
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    bus = make_bus(config=make_config(max_deliver=1), tracer_provider=provider)

    async def broken(message: Any) -> None:
        raise KeyError("x")

    await bus.subscribe("bad", "g", broken)
    await bus.publish_many([OutgoingMessage("bad", b"1")])
    await until(
        lambda: any(s.name.startswith("process") for s in exporter.get_finished_spans()), within=5
    )
    (process,) = [s for s in exporter.get_finished_spans() if s.name.startswith("process")]
    assert process.status.status_code is StatusCode.ERROR
    assert dict(process.attributes or {})["error.type"] == "KeyError"
    (batch,) = [s for s in exporter.get_finished_spans() if s.name.startswith("publish")]
    assert dict(batch.attributes or {})["messaging.batch.message_count"] == 1


async def test_operation_records_are_emitted_per_publish(make_bus: BusFactory) -> None:
    records: list[Any] = []
    bus = make_bus(record_sink=records.append)
    await bus.publish("rec", None, b"x")
    (record,) = records
    assert record.operation == "publish"
    assert record.attributes["messaging.destination.name"] == f"{bus.environment}.rec"


async def test_entry_point_names_the_bus() -> None:
    from importlib.metadata import entry_points

    (found,) = [ep for ep in entry_points(group="omnibase_infra.event_bus") if ep.name == "nats"]
    assert found.load() is NatsEventBus


async def test_context_manager_connects_and_closes(
    make_config: Callable[..., ModelNatsEventBusConfig], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with NatsEventBus(make_config()) as bus:
        assert bus.connected
    assert bus.closed
    assert not bus.connected


async def test_unsubscribe_cancels_handlers_past_the_drain_timeout_for_redelivery(
    make_bus: BusFactory, make_config: Callable[..., ModelNatsEventBusConfig]
) -> None:
    bus = make_bus(config=make_config(drain_timeout_seconds=0.2, ack_wait_seconds=30.0))
    started = asyncio.Event()

    async def stuck(message: Any) -> None:
        started.set()
        await asyncio.Event().wait()

    unsubscribe = await bus.subscribe("stuck", "g", stuck)
    await bus.publish("stuck", None, b"job")
    async with asyncio.timeout(10):
        await started.wait()
    await unsubscribe()
    # Naked on cancel: another member has it at once, not after the 30 s ack wait. (The
    # server may count it as a first delivery again: it was the last one handed out.)
    inbox = Inbox()
    await make_bus().subscribe("stuck", "g", inbox)
    (message,) = await inbox.wait(1, within=10)
    assert message.value == b"job"


async def test_a_deleted_consumer_is_created_again(
    bus: NatsEventBus, raw: JetStreamContext, inbox: Inbox
) -> None:
    await bus.subscribe("phoenix", "g", inbox)
    await bus.publish("phoenix", None, b"1")
    await inbox.wait(1)
    (consumer,) = await raw.consumers_info(bus.stream)
    await raw.delete_consumer(bus.stream, consumer.name)
    await bus.publish("phoenix", None, b"2")
    # The group's consumer is made again; a new consumer starts from the stream's start
    # (deliver_policy "all"), so the first message comes again.
    await until(lambda: b"2" in [m.value for m in inbox.messages], within=20)
    assert [m.value for m in inbox.messages] == [b"1", b"1", b"2"]
    assert len(await raw.consumers_info(bus.stream)) == 1


async def test_a_consumer_with_another_filter_is_refused(
    bus: NatsEventBus, raw: JetStreamContext
) -> None:
    from nats.js.api import ConsumerConfig

    from omnibase_infra.event_bus.nats import durable_name

    await bus.connect()
    name = durable_name("g", "mine")
    await raw.add_consumer(
        bus.stream,
        ConsumerConfig(durable_name=name, filter_subject=f"{bus.environment}.other"),
    )
    with pytest.raises(InfraUnavailableError) as caught:
        await bus.subscribe("mine", "g", Inbox())
    assert caught.value.reason == "consumer_mismatch"
    assert not caught.value.retryable


async def test_a_handler_that_settles_then_raises_is_not_settled_again(
    bus: NatsEventBus,
) -> None:
    deliveries: list[int] = []

    async def handler(message: Any) -> None:
        deliveries.append(message.delivery_count)
        await message.ack()
        raise RuntimeError("after the ack")

    await bus.subscribe("settled", "g", handler)
    await bus.publish("settled", None, b"x")
    await until(lambda: bool(deliveries))
    await asyncio.sleep(0.5)
    assert deliveries == [1]
    assert bus.failed_deliveries == 1
