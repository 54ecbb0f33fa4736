"""``NatsEventBus``: omnibase-spi's ``ProtocolEventBus`` on NATS JetStream.

Guarantees (the package README says more):

* **At-least-once.** ``publish`` returns once JetStream has stored the message (its ack);
  a handler's message is acked after the handler returns, so a consumer that dies
  mid-message has it redelivered (after ``ack_wait``) to another member of its group.
  Duplicates are possible on the consumer side (a redelivery after a lost ack); the same
  message id is never stored twice within the stream's duplicate window.
* **Publishing goes through the shared runner**: one deadline per publish
  (``publish_timeout_seconds``), each attempt waiting ``publish_ack_timeout_seconds`` for
  the ack, retries of transient failures with backoff (safe: a retry carries the same
  ``Nats-Msg-Id``), the server's circuit breaker, a PRODUCER span and metrics.
* **Bounded.** At most ``max_pending_publishes`` publishes await their ack; at most
  ``max_in_flight`` handlers run per subscription and at most ``max_ack_pending`` messages
  are unacknowledged per group; nothing else is buffered in the client.
* **Reconnection.** The client reconnects for ever (by default) when the server goes away;
  subscriptions resume pulling, publishes in the meantime are retried within their deadline.

The connection opens on first use (or ``await bus.connect()``), and the stream is created
when missing. Use one bus per event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Self
from uuid import UUID, uuid4

from omnibase_spi.protocols.event_bus import ProtocolEventBusHeaders, ProtocolKafkaEventBusAdapter
from omnibase_spi.protocols.types.protocol_event_bus_types import ProtocolEventMessage
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind
from pydantic import SecretStr

import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import PubAck, StorageType, StreamConfig
from omnibase_infra.effect.deadline import deadline_at
from omnibase_infra.effect.policy import ModelOperationPolicy
from omnibase_infra.effect.runner import Attempt, OperationRunner
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraConfigurationError,
)
from omnibase_infra.event_bus.nats import headers as wire
from omnibase_infra.event_bus.nats.config import ModelNatsEventBusConfig
from omnibase_infra.event_bus.nats.consumer import ConsumerInstruments, GroupMember
from omnibase_infra.event_bus.nats.error_map import map_nats_error
from omnibase_infra.event_bus.nats.message import OutgoingMessage, PublishReceipt
from omnibase_infra.event_bus.nats.subjects import check_group, check_topic, durable_name
from omnibase_infra.events import (
    EventHeaders,
    broadcast_topic,
    check_payload,
    closed_bus_error,
    command_headers,
    encode_command,
    group_topic,
    invalid_argument,
)
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability import CORRELATION_ID, trace_headers
from omnibase_infra.observability import semconv as sc
from omnibase_infra.observability.telemetry import (
    OperationRecordEmitter,
    OperationTelemetry,
    RecordSink,
)
from omnibase_infra.resilience.breaker import BreakerRegistry
from omnibase_infra.resilience.model_retry_policy import ModelRetryPolicy

__all__ = ["SCOPE", "NatsEventBus"]

SCOPE: Final = "omnibase_infra.event_bus.nats"
_SYSTEM: Final = "nats"
# How often a long batch pushes its stall timer on (a stall is no ack for an ack timeout).
_PROGRESS_EVERY: Final = 64

type EventHandler = Callable[[ProtocolEventMessage], Awaitable[None]]


class NatsEventBus:
    """The ONEX event bus on NATS JetStream (see the module docstring and the README).

    ``config`` defaults to :meth:`ModelNatsEventBusConfig.from_env`. ``breakers`` shares
    circuit breakers (one per server list) with other components; ``known_secrets`` are
    masked in logged handler tracebacks; ``record_sink`` receives an operation record per
    publish. ``tracer_provider``/``meter_provider`` default to OpenTelemetry's globals.
    """

    def __init__(
        self,
        config: ModelNatsEventBusConfig | None = None,
        *,
        breakers: BreakerRegistry | None = None,
        known_secrets: Iterable[str | SecretStr] = (),
        record_sink: RecordSink | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._config = config if config is not None else ModelNatsEventBusConfig.from_env()
        cfg = self._config
        self._logger = logger or logging.getLogger(SCOPE)
        self._known_secrets = tuple(known_secrets)
        self._target = cfg.target
        self._stream = cfg.stream_name
        self._prefix = cfg.subject_prefix_for_environment
        self._source = f"{cfg.environment}.{cfg.group}"
        registry = breakers if breakers is not None else BreakerRegistry()
        span_attributes = {sc.MESSAGING_SYSTEM: _SYSTEM, **sc.server_attributes(self._target)}

        def telemetry(kind: SpanKind, extra: Mapping[str, str]) -> OperationTelemetry:
            return OperationTelemetry(
                scope=SCOPE,
                span_prefix=_SYSTEM,
                duration_metric=sc.MESSAGING_CLIENT_OPERATION_DURATION,
                counter_prefix="omnibase.event_bus",
                operation_attributes=(sc.MESSAGING_OPERATION_NAME,),
                span_attributes={**span_attributes, **extra},
                metric_attributes={sc.MESSAGING_SYSTEM: _SYSTEM},
                outcome_attribute=sc.OUTCOME,
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
                span_kind=kind,
            )

        records = (
            OperationRecordEmitter(
                record_sink, transport=EnumTransport.EVENT_BUS, logger=self._logger
            )
            if record_sink is not None
            else None
        )
        breaker = registry.get(EnumTransport.EVENT_BUS, self._target)
        # Publishes are PRODUCER spans (their context is the messages' creation context);
        # connecting and creating consumers are CLIENT spans. One breaker guards both.
        self._runner, self._control = (
            OperationRunner(
                transport=EnumTransport.EVENT_BUS,
                target=self._target,
                telemetry=telemetry(kind, extra),
                logger=self._logger,
                breaker=breaker,
                map_error=map_nats_error,
                records=records,
            )
            for kind, extra in (
                (SpanKind.PRODUCER, {sc.MESSAGING_OPERATION_TYPE: "send"}),
                (SpanKind.CLIENT, {}),
            )
        )
        retry = ModelRetryPolicy(max_attempts=cfg.publish_max_attempts, base_delay_seconds=0.05)
        # Every operation may be retried: a publish carries its message id (the stream
        # stores it once), creating the stream or a durable consumer is idempotent.
        self._policies = {
            name: ModelOperationPolicy(
                operation=name,
                timeout_seconds=cfg.publish_timeout_seconds,
                idempotent=True,
                retry=retry,
            )
            for name in ("publish", "publish_batch", "connect", "subscribe")
        }
        self._publish_policy = self._policies["publish"]
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self._instruments = ConsumerInstruments(
            tracer=trace.get_tracer(SCOPE, tracer_provider=tracer_provider),
            process_duration=meter.create_histogram(
                sc.MESSAGING_PROCESS_DURATION, unit="s", description="Duration of handlers"
            ),
            consumed=meter.create_counter(
                sc.MESSAGING_CLIENT_CONSUMED_MESSAGES,
                unit="{message}",
                description="Messages handed to handlers, by outcome",
            ),
            base_attributes={sc.MESSAGING_SYSTEM: _SYSTEM},
        )
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._connecting = asyncio.Lock()
        self._subjects: dict[str, str] = {}
        self._members: set[GroupMember] = set()
        self._closed = False
        self._failed_deliveries = 0

    # -- ProtocolEventBus properties -------------------------------------------------

    @property
    def adapter(self) -> ProtocolKafkaEventBusAdapter:
        """The bus is its own adapter (publish, subscribe, close)."""
        return self

    @property
    def environment(self) -> str:
        """Environment of this bus: the stream and the first subject token."""
        return self._config.environment

    @property
    def group(self) -> str:
        """Node group of this bus (command topics, the default ``source``)."""
        return self._config.group

    # -- views -------------------------------------------------------------------------

    @property
    def config(self) -> ModelNatsEventBusConfig:
        """The configuration (credentials stay ``SecretStr``)."""
        return self._config

    @property
    def target(self) -> str:
        """The servers as ``host:port`` (comma-separated): errors and the breaker name it."""
        return self._target

    @property
    def stream(self) -> str:
        """The JetStream stream of this bus's environment."""
        return self._stream

    @property
    def runner(self) -> OperationRunner:
        """The runner publishes go through (its breaker, its telemetry)."""
        return self._runner

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    @property
    def connected(self) -> bool:
        """Whether the client is connected now (not while it reconnects)."""
        return self._nc is not None and self._nc.is_connected

    @property
    def failed_deliveries(self) -> int:
        """Handler invocations that raised (in this process)."""
        return self._failed_deliveries

    @property
    def subscriptions(self) -> int:
        """Active subscriptions of this bus."""
        return len(self._members)

    def subject(self, topic: str) -> str:
        """The NATS subject of ``topic`` (``<environment>.<topic>``; see ``subjects``)."""
        subject = self._subjects.get(topic)
        if subject is None:
            check_topic(topic, "subject")
            subject = self._subjects[topic] = f"{self._prefix}.{topic}"
        return subject

    # -- connection --------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect and make sure the stream exists (publish and subscribe do it on first
        use), through the runner: retried within ``publish_timeout_seconds``. A missing
        stream with ``create_stream=False`` is an ``InfraConfigurationError``."""
        self._ensure_open("connect", None)
        await self._control.run(
            self._policies["connect"], self._connect_attempt, correlation=_fresh()
        )

    async def _connect_attempt(self, _attempt: Attempt) -> JetStreamContext:
        return await self._jetstream()

    async def _jetstream(self) -> JetStreamContext:
        js = self._js
        if js is not None:
            return js
        return (await self._connection())[1]

    async def _connection(self) -> tuple[Client, JetStreamContext]:
        """The connection and its JetStream context, opened (once) on first use."""
        async with self._connecting:
            if self._nc is not None and self._js is not None:
                return self._nc, self._js
            self._ensure_open("connect", None)
            nc = Client()
            try:
                # The first connection tries each server twice, then fails (the runner
                # retries it within the deadline); afterwards the client reconnects as
                # configured (nats-py would otherwise loop for ever on a first connect).
                await nc.connect(**self._connect_options(), max_reconnect_attempts=1)
                nc.options["max_reconnect_attempts"] = self._config.max_reconnect_attempts
                js = nc.jetstream(publish_async_max_pending=self._config.max_pending_publishes)
                await self._ensure_stream(js)
            except BaseException:
                with contextlib.suppress(Exception):
                    await nc.close()
                raise
            self._nc, self._js = nc, js
            return nc, js

    def _connect_options(self) -> dict[str, Any]:
        cfg = self._config
        options: dict[str, Any] = {
            "servers": cfg.server_urls,
            "name": cfg.client_name or f"omnibase_infra {self._source}",
            "connect_timeout": cfg.connect_timeout_seconds,
            "reconnect_time_wait": cfg.reconnect_wait_seconds,
            "allow_reconnect": True,
            "drain_timeout": cfg.drain_timeout_seconds,
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
            "closed_cb": self._on_closed,
        }
        if cfg.user is not None:
            options["user"] = cfg.user
            if cfg.password is not None:
                options["password"] = cfg.password.get_secret_value()
        if cfg.token is not None:
            options["token"] = cfg.token.get_secret_value()
        return options

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        cfg = self._config
        wanted = f"{self._prefix}.>"
        try:
            info = await js.stream_info(self._stream)
        except nats.js.errors.NotFoundError:
            if not cfg.create_stream:
                raise self._config_error(
                    f"stream {self._stream!r} does not exist (create_stream is off)"
                ) from None
            await js.add_stream(
                StreamConfig(
                    name=self._stream,
                    description=f"omnibase_infra event bus, environment {cfg.environment}",
                    subjects=[wanted],
                    storage=StorageType.FILE,
                    duplicate_window=cfg.duplicate_window_seconds,
                    max_age=cfg.max_age_seconds,
                    max_bytes=cfg.max_bytes,
                    num_replicas=cfg.replicas,
                )
            )
            return
        subjects = info.config.subjects or []
        if wanted not in subjects:
            raise self._config_error(
                f"stream {self._stream!r} does not capture {wanted!r} (it has {subjects})"
            )

    def _config_error(self, message: str) -> InfraConfigurationError:
        return InfraConfigurationError(
            message, transport=EnumTransport.EVENT_BUS, operation="connect", target=self._target
        )

    async def _on_error(self, exc: Exception) -> None:
        # While (re)connecting every refused attempt comes here: the disconnect is logged.
        quiet = self._nc is None or not self._nc.is_connected
        level = logging.DEBUG if quiet else logging.WARNING
        self._logger.log(level, "event bus: connection error (%s)", type(exc).__name__)

    async def _on_disconnected(self) -> None:
        if not self._closed:
            self._logger.warning("event bus: disconnected from %s; reconnecting", self._target)

    async def _on_reconnected(self) -> None:
        self._logger.info("event bus: reconnected to %s", self._target)
        for member in list(self._members):
            member.reconnected()

    async def _on_closed(self) -> None:
        self._logger.info("event bus: connection to %s closed", self._target)

    # -- publishing ----------------------------------------------------------------------

    async def publish(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: ProtocolEventBusHeaders | None = None,
    ) -> None:
        """Publish one message; returns once JetStream has stored it (see
        :meth:`publish_confirmed` for the receipt)."""
        await self.publish_confirmed(topic, key, value, headers)

    async def publish_confirmed(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: ProtocolEventBusHeaders | None = None,
        *,
        timeout_seconds: float | None = None,
    ) -> PublishReceipt:
        """Publish one message through the runner and return JetStream's receipt.

        Raises ``InfraValidationError`` for a bad topic, key or value (nothing is sent),
        ``InfraUnavailableError`` when the bus is closed or the breaker is open, and the
        last attempt's error (``InfraTimeoutError``, ``InfraConnectionError``, ...) when
        the deadline (``timeout_seconds``, default ``publish_timeout_seconds``) passes.
        """
        self._ensure_open("publish", topic)
        out = self._outgoing(topic, key, value, headers, "publish")
        correlation = out.correlation()
        loop = asyncio.get_running_loop()
        ack_timeout = self._config.publish_ack_timeout_seconds

        async def call(attempt: Attempt) -> PubAck:
            js = await self._jetstream()
            span = trace.get_current_span()
            if span.is_recording():
                span.update_name(f"publish {out.subject}")
                span.set_attributes(
                    {
                        sc.MESSAGING_DESTINATION_NAME: out.subject,
                        sc.MESSAGING_MESSAGE_ID: out.message_id,
                        sc.MESSAGING_MESSAGE_CONVERSATION_ID: str(correlation.correlation_id),
                        sc.MESSAGING_MESSAGE_BODY_SIZE: len(out.value),
                    }
                )
            traced = _trace_headers(correlation)
            sent = {**out.headers, **traced} if traced else out.headers
            future = await js.publish_async(out.subject, out.value, headers=sent)
            try:
                # One attempt waits ack_timeout for the ack: a lost one is sent again.
                async with deadline_at(min(loop.time() + ack_timeout, attempt.deadline)):
                    return await future
            finally:
                future.cancel()  # a no-op once acked; frees the window slot otherwise

        outcome = await self._runner.run(
            self._publish_policy,
            call,
            correlation=correlation,
            timeout_seconds=timeout_seconds,
            record_attributes={sc.MESSAGING_DESTINATION_NAME: out.subject},
        )
        ack = outcome.value
        return PublishReceipt(ack.stream, ack.seq, bool(ack.duplicate))

    async def publish_many(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        timeout_seconds: float | None = None,
    ) -> list[PublishReceipt]:
        """Publish messages pipelined (up to ``max_pending_publishes`` awaiting their acks
        at once) as one operation of the runner; returns a receipt per message, in order.

        Everything is validated before anything is sent. A failed attempt (no ack for
        ``publish_ack_timeout_seconds``) is retried with the messages not yet acked, their
        ids unchanged. One PRODUCER span covers the batch (``messaging.batch.message_count``)
        and is every message's trace parent; each message keeps its own correlation id.
        """
        self._ensure_open("publish_batch", None)
        count = len(messages)
        if count == 0:
            return []
        batch = [
            self._outgoing(m.topic, m.key, m.value, m.headers, "publish_batch") for m in messages
        ]
        correlation = _fresh()
        results: list[PubAck | None] = [None] * count
        loop = asyncio.get_running_loop()
        stall = self._config.publish_ack_timeout_seconds

        async def call(attempt: Attempt) -> list[PubAck | None]:
            js = await self._jetstream()
            span = trace.get_current_span()
            if span.is_recording():
                span.update_name(f"publish {batch[0].subject}")
                span.set_attribute(sc.MESSAGING_BATCH_MESSAGE_COUNT, count)
            traced = _trace_headers(correlation)
            futures: list[tuple[int, asyncio.Future[PubAck]]] = []
            publish = js.publish_async
            try:
                # A stall (no progress for an ack timeout) fails the attempt; the timer is
                # pushed on as messages go out and acks come back.
                async with asyncio.timeout_at(_stall_deadline(loop, stall, attempt)) as timer:
                    for index, out in enumerate(batch):
                        if results[index] is not None:
                            continue
                        sent = {**out.headers, **traced} if traced else out.headers
                        futures.append((index, await publish(out.subject, out.value, headers=sent)))
                        if len(futures) % _PROGRESS_EVERY == 0:
                            timer.reschedule(_stall_deadline(loop, stall, attempt))
                    for done, (index, future) in enumerate(futures, 1):
                        results[index] = await future
                        if done % _PROGRESS_EVERY == 0:
                            timer.reschedule(_stall_deadline(loop, stall, attempt))
            finally:
                for _, future in futures:
                    future.cancel()
            return results

        outcome = await self._runner.run(
            self._policies["publish_batch"],
            call,
            correlation=correlation,
            timeout_seconds=timeout_seconds,
            record_attributes={sc.MESSAGING_BATCH_MESSAGE_COUNT: count},
        )
        return [
            PublishReceipt(ack.stream, ack.seq, bool(ack.duplicate))
            for ack in outcome.value
            if ack is not None
        ]

    def _outgoing(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: ProtocolEventBusHeaders | None,
        operation: str,
    ) -> _Outgoing:
        """A validated message with its wire headers (the trace context is added per
        attempt, from the publish span)."""
        subject = self.subject(topic)
        check_payload(key, value, operation, topic)
        if headers is None:
            # No headers: the message id is its correlation id too (one id, one header).
            message_id = wire.new_message_id()
            header_map = {wire.MSG_ID: message_id, wire.SOURCE: self._source}
            correlation: str | EventHeaders = message_id
        else:
            event = (
                headers
                if isinstance(headers, EventHeaders)
                else EventHeaders.from_protocol(headers)
            )
            problems = event.problems()
            if problems:
                raise invalid_argument(f"invalid headers: {'; '.join(problems)}", operation, topic)
            header_map = wire.encode_headers(event, topic)
            if event.correlation_id != event.message_id:
                header_map[CORRELATION_ID] = str(event.correlation_id)
            correlation = event
        if key is not None:
            header_map[wire.KEY] = wire.encode_key(key)
        return _Outgoing(subject, value, header_map, header_map[wire.MSG_ID], correlation)

    # -- subscribing ---------------------------------------------------------------------

    async def subscribe(
        self,
        topic: str,
        group_id: str,
        on_message: EventHandler,
    ) -> Callable[[], Awaitable[None]]:
        """Join consumer group ``group_id`` on ``topic``: every group receives each message,
        the members of one group share them. Returns an idempotent async ``unsubscribe()``
        that stops pulling and lets running handlers finish (``drain_timeout_seconds``);
        the group's durable consumer (its position) stays on the server."""
        self._ensure_open("subscribe", topic)
        subject = self.subject(topic)
        check_group(group_id, "subscribe", topic)
        if not callable(on_message):
            raise invalid_argument("on_message must be an async callable", "subscribe", topic)
        durable = durable_name(group_id, topic)

        async def call(_attempt: Attempt) -> GroupMember:
            js = await self._jetstream()
            member = GroupMember(
                nc=js._nc,  # the connection the context was made from
                js=js,
                config=self._config,
                topic=topic,
                subject=subject,
                group_id=group_id,
                durable=durable,
                handler=on_message,
                instruments=self._instruments,
                logger=self._logger,
                known_secrets=self._known_secrets,
                on_failure=self._count_failure,
            )
            await member.start()
            return member

        outcome = await self._control.run(
            self._policies["subscribe"],
            call,
            correlation=_fresh(),
            record_attributes={sc.MESSAGING_DESTINATION_NAME: subject},
        )
        member = outcome.value
        self._members.add(member)

        async def unsubscribe() -> None:
            if member in self._members:
                self._members.discard(member)
                await member.stop()

        return unsubscribe

    def _count_failure(self) -> None:
        self._failed_deliveries += 1

    # -- commands ------------------------------------------------------------------------

    async def broadcast_to_environment(
        self,
        command: str,
        payload: Mapping[str, object],
        target_environment: str | None = None,
    ) -> None:
        """Publish ``command`` on ``broadcast_topic(environment)`` of this environment's
        stream (another environment's broadcast topic lives in that environment's stream:
        use a bus configured for it)."""
        environment = target_environment if target_environment is not None else self.environment
        operation = "broadcast_to_environment"
        if environment != self.environment:
            raise invalid_argument(
                f"this bus serves environment {self.environment!r}, not {environment!r}",
                operation,
                None,
            )
        await self._send_command(broadcast_topic(environment), command, payload, operation)

    async def send_to_group(
        self, command: str, payload: Mapping[str, object], target_group: str
    ) -> None:
        """Publish ``command`` on ``group_topic(environment, target_group)``."""
        check_group(target_group, "send_to_group")
        topic = group_topic(self.environment, target_group)
        await self._send_command(topic, command, payload, "send_to_group")

    async def _send_command(
        self, topic: str, command: str, payload: Mapping[str, object], operation: str
    ) -> None:
        self._ensure_open(operation, topic)
        common = {"environment": self.environment, "group": self.group, "operation": operation}
        value = encode_command(command, payload, topic=topic, **common)
        await self.publish(topic, None, value, command_headers(command, topic=topic, **common))

    # -- lifecycle -----------------------------------------------------------------------

    async def close(self) -> None:
        """Stop every subscription (running handlers get ``drain_timeout_seconds``), drain
        the connection (flush what is buffered, at most ``drain_timeout_seconds``) and close
        it. Idempotent; later calls raise ``InfraUnavailableError`` (``reason="closed"``)."""
        if self._closed:
            return
        self._closed = True
        members, self._members = list(self._members), set()
        await asyncio.gather(*(member.stop() for member in members))
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.drain()
            except Exception as exc:  # the server is gone: nothing left to flush
                self._logger.debug("event bus: drain failed (%s)", type(exc).__name__)
                with contextlib.suppress(Exception):
                    await nc.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _ensure_open(self, operation: str, topic: str | None) -> None:
        if self._closed:
            raise closed_bus_error(operation, topic, self._target)


def _fresh() -> ModelCorrelationContext:
    return ModelCorrelationContext(correlation_id=uuid4())


def _trace_headers(correlation: ModelCorrelationContext) -> dict[str, str]:
    """``traceparent``/``tracestate`` naming the current span (the publish span) as the
    messages' parent, else the correlation's own trace; nothing without a trace."""
    current = trace.get_current_span().get_span_context()
    if current.is_valid:
        correlation = ModelCorrelationContext.from_span_context(
            current, correlation_id=correlation.correlation_id
        )
    return trace_headers(correlation)


def _stall_deadline(loop: asyncio.AbstractEventLoop, stall: float, attempt: Attempt) -> float:
    return min(loop.time() + stall, attempt.deadline)


@dataclass(slots=True)
class _Outgoing:
    """A validated message on its way: subject, payload, wire headers, ids."""

    subject: str
    value: bytes
    headers: dict[str, str]
    message_id: str
    source: str | EventHeaders
    """The correlation id as text (no headers given), or the headers naming it and any
    trace."""

    def correlation(self) -> ModelCorrelationContext:
        """The publish's correlation context (built only where a single publish needs it)."""
        source = self.source
        if isinstance(source, str):
            return ModelCorrelationContext(correlation_id=UUID(source))
        if source.trace_id is not None and source.span_id is not None:
            return ModelCorrelationContext(
                correlation_id=source.correlation_id,
                trace_id=source.trace_id,
                span_id=source.span_id,
            )
        return ModelCorrelationContext(correlation_id=source.correlation_id)
