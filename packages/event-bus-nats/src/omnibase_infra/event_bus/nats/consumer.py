"""One member of a consumer group: a continuous pull from the group's durable consumer.

The member keeps pull requests outstanding for exactly the handler slots it has free
(``max_in_flight`` minus running handlers minus messages already requested), so a message
is delivered the moment it is stored, and a slow handler stops the pulling instead of
piling messages up in the client: the unprocessed ones wait in the stream (backpressure).
Each delivery runs its handler in a task of its own; while it runs, the message is reported
in progress every ``heartbeat_interval_seconds`` so the server does not redeliver it; if the
process dies the heartbeats stop and the server redelivers it after ``ack_wait`` to another
member. A handler that returns has its message acked (``auto_ack``); one that raises has it
naked with a growing delay, or terminated once ``max_deliver`` deliveries are spent.

Credit accounting (how many messages the outstanding requests may still bring): a message
takes one; the server's 408/409 statuses give back what a request left unfilled
(``Nats-Pending-Messages``); a reconnect, or a silence longer than two idle heartbeats,
means the server forgot the requests, and the member asks again (after re-creating the
durable consumer if it was deleted).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from omnibase_spi.protocols.types.protocol_event_bus_types import ProtocolEventMessage
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanKind,
    Status,
    StatusCode,
)
from pydantic import SecretStr

import nats.js.api
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraError, InfraUnavailableError
from omnibase_infra.event_bus.nats import headers as wire
from omnibase_infra.event_bus.nats.config import ModelNatsEventBusConfig
from omnibase_infra.event_bus.nats.error_map import nats_error
from omnibase_infra.event_bus.nats.message import NatsEventMessage
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability import TRACEPARENT, caller_context
from omnibase_infra.observability import semconv as sc
from omnibase_infra.redaction import redact_text

__all__ = ["ConsumerInstruments", "GroupMember", "MessageHandler"]

type MessageHandler = Callable[[ProtocolEventMessage], Awaitable[None]]
"""A subscriber's handler: it is given a :class:`NatsEventMessage`."""

_STATUS: Final = nats.js.api.Header.STATUS.value
_PENDING: Final = "Nats-Pending-Messages"
_HEARTBEAT: Final = "100"
_NOT_FOUND: Final = "404"
_EXPIRED: Final = "408"
_CONFLICT: Final = "409"
_DESCRIPTION: Final = nats.js.api.Header.DESCRIPTION
_MAX_BACKOFF_SECONDS: Final = 5.0


@dataclass(frozen=True, slots=True)
class ConsumerInstruments:
    """The consumer side's spans and metrics (one set per bus)."""

    tracer: trace.Tracer
    process_duration: metrics.Histogram
    consumed: metrics.Counter
    base_attributes: dict[str, str]


class GroupMember:
    """One subscription of :meth:`NatsEventBus.subscribe` (see the module docstring)."""

    def __init__(
        self,
        *,
        nc: Client,
        js: JetStreamContext,
        config: ModelNatsEventBusConfig,
        topic: str,
        subject: str,
        group_id: str,
        durable: str,
        handler: MessageHandler,
        instruments: ConsumerInstruments,
        logger: logging.Logger,
        known_secrets: Iterable[str | SecretStr],
        on_failure: Callable[[], None],
    ) -> None:
        self._nc = nc
        self._js = js
        self._config = config
        self.topic = topic
        self.subject = subject
        self.group_id = group_id
        self.durable = durable
        self._handler = handler
        self._instruments = instruments
        self._logger = logger
        self._known_secrets = tuple(known_secrets)
        self._on_failure = on_failure
        self._stream = config.stream_name
        self._target = config.target
        self._next_subject = (
            f"{nats.js.api.DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{self._stream}.{durable}"
        )
        self._expires = config.pull_expires_seconds
        self._idle_heartbeat = self._expires / 2
        self._refill = max(1, config.max_in_flight // 2)
        self._active: dict[asyncio.Task[None], NatsEventMessage | None] = {}
        self._requested = 0
        self._last_seen = 0.0
        self._wake = asyncio.Event()
        self._stopping = False
        self._recreate = False
        self._inbox = ""
        self._sub: Subscription | None = None
        self._pump: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        attrs = dict(instruments.base_attributes)
        attrs[sc.MESSAGING_DESTINATION_NAME] = subject
        attrs[sc.MESSAGING_CONSUMER_GROUP_NAME] = group_id
        self._metric_attributes = attrs
        self._span_attributes: dict[str, str | int] = {
            **attrs,
            sc.MESSAGING_DESTINATION_SUBSCRIPTION_NAME: durable,
        }

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def active(self) -> int:
        """Handlers running now."""
        return len(self._active)

    @property
    def running(self) -> bool:
        """Whether the member is pulling (started and not stopped)."""
        return self._pump is not None and not self._stopping

    def consumer_config(self) -> ConsumerConfig:
        """The durable consumer this group uses (created, or brought up to date, on start)."""
        config = self._config
        return ConsumerConfig(
            durable_name=self.durable,
            name=self.durable,
            description=f"omnibase_infra group {self.group_id} on {self.topic}",
            filter_subject=self.subject,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=config.ack_wait_seconds,
            max_deliver=config.max_deliver,
            max_ack_pending=config.max_ack_pending,
            deliver_policy=DeliverPolicy.ALL
            if config.deliver_policy == "all"
            else DeliverPolicy.NEW,
        )

    async def ensure_consumer(self) -> None:
        """Create the durable consumer, or update the settings the bus manages."""
        wanted = self.consumer_config()
        try:
            info = await self._js.consumer_info(self._stream, self.durable)
        except nats.js.errors.NotFoundError:
            await self._js.add_consumer(self._stream, config=wanted)
            return
        current = info.config
        if current.filter_subject != self.subject:
            raise InfraUnavailableError(
                f"consumer {self.durable!r} exists with another filter subject",
                transport=EnumTransport.EVENT_BUS,
                operation="subscribe",
                target=self._target,
                reason="consumer_mismatch",
                retryable=False,
            )
        if (current.ack_wait, current.max_deliver, current.max_ack_pending) != (
            wanted.ack_wait,
            wanted.max_deliver,
            wanted.max_ack_pending,
        ):
            await self._js.add_consumer(self._stream, config=wanted)  # an update in place

    async def start(self) -> None:
        """Make sure the consumer exists, then start pulling."""
        await self.ensure_consumer()
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(self._inbox, cb=self._on_message)
        self._last_seen = asyncio.get_running_loop().time()
        self._pump = asyncio.create_task(self._run_pump(), name=f"nats-pull-{self.durable}")
        self._keeper = asyncio.create_task(
            self._keep_alive(), name=f"nats-in-progress-{self.durable}"
        )

    def reconnected(self) -> None:
        """The connection was re-established: pull requests the server held are gone."""
        self._requested = 0
        self._wake.set()

    async def stop(self, *, drain_timeout: float | None = None) -> None:
        """Stop pulling; give running handlers ``drain_timeout`` seconds, then cancel them
        (their messages are naked for redelivery). Idempotent."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        for task in (self._pump, self._keeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        timeout = self._config.drain_timeout_seconds if drain_timeout is None else drain_timeout
        pending = list(self._active)
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)

    # -- pulling ---------------------------------------------------------------------------

    async def _run_pump(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                if self._recreate:
                    self._recreate = False
                    await self.ensure_consumer()
                free = self._config.max_in_flight - len(self._active) - self._requested
                if free > 0 and (self._requested == 0 or free >= self._refill):
                    await self._pull(free)
                failures = 0
            except Exception as exc:  # the connection is down or JetStream refused
                failures += 1
                self._log_pull_failure(exc, failures)
                await asyncio.sleep(min(_MAX_BACKOFF_SECONDS, 0.1 * 2**failures))
                continue
            try:
                async with asyncio.timeout(self._idle_heartbeat):
                    await self._wake.wait()
            except TimeoutError:
                silent = loop.time() - self._last_seen
                if self._requested and silent > 2 * self._idle_heartbeat:
                    # No heartbeat: the server lost our requests (a restart), or the
                    # consumer is gone. Ask again, after making sure it exists.
                    self._requested = 0
                    self._recreate = True

    async def _pull(self, batch: int) -> None:
        request = {
            "batch": batch,
            "expires": int(self._expires * 1e9),
            "idle_heartbeat": int(self._idle_heartbeat * 1e9),
        }
        await self._nc.publish(self._next_subject, json.dumps(request).encode(), self._inbox)
        self._requested += batch
        self._last_seen = asyncio.get_running_loop().time()

    def _log_pull_failure(self, exc: Exception, failures: int) -> None:
        error = nats_error(exc, operation="pull", target=self._target)
        level = logging.DEBUG if failures < 3 else logging.WARNING
        self._logger.log(
            level,
            "event bus: pulling %s for group %s failed (%s); retrying",
            self.subject,
            self.group_id,
            error.message,
        )

    async def _on_message(self, msg: Msg) -> None:
        loop = asyncio.get_running_loop()
        self._last_seen = loop.time()
        headers = msg.headers or {}
        status = headers.get(_STATUS)
        if not status:
            self._requested = max(0, self._requested - 1)
            await self._dispatch(msg, time.time_ns())
            return
        if status == _HEARTBEAT:
            return
        pending = headers.get(_PENDING)
        if pending is not None and pending.isdigit():
            self._requested = max(0, self._requested - int(pending))
        elif status in (_CONFLICT, _NOT_FOUND):
            self._requested = 0
        if status == _CONFLICT and "deleted" in str(headers.get(_DESCRIPTION, "")).lower():
            self._recreate = True
        if status not in (_EXPIRED, _CONFLICT):
            self._logger.debug("event bus: pull status %s on %s", status, self.subject)
        self._wake.set()

    async def _dispatch(self, msg: Msg, arrived_ns: int) -> None:
        if self._stopping or len(self._active) >= self._config.max_in_flight:
            # Only after lost credits were re-requested: hand it back to the group now.
            with contextlib.suppress(Exception):
                await msg.nak()
            return
        # Started eagerly: the handler runs now, up to its first suspension, instead of a
        # loop iteration later (the delivery latency); it registers itself while it runs.
        task = asyncio.Task(
            self._handle(msg, arrived_ns), loop=asyncio.get_running_loop(), eager_start=True
        )
        if not task.done():
            self._active.setdefault(task, None)
        task.add_done_callback(self._finished)  # also when it finished eagerly: runs soon

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._active.pop(task, None)
        self._wake.set()

    async def _keep_alive(self) -> None:
        interval = self._config.heartbeat_interval_seconds
        while True:
            await asyncio.sleep(interval)
            for delivery in list(self._active.values()):
                if delivery is not None and delivery.settled is None:
                    with contextlib.suppress(Exception):
                        await delivery.in_progress()

    # -- handling ------------------------------------------------------------------------

    def _delivery(self, msg: Msg, sender: ModelCorrelationContext | None) -> NatsEventMessage:
        metadata = msg.metadata
        received = msg.headers or {}
        return NatsEventMessage(
            topic=self.topic,
            key=wire.decode_key(received.get(wire.KEY)),
            value=msg.data,
            headers=wire.decode_headers(
                received, self.topic, metadata.timestamp or datetime.now(UTC), sender
            ),
            offset=str(metadata.sequence.stream),
            subject=msg.subject,
            stream=metadata.stream,
            group=self.group_id,
            delivery_count=metadata.num_delivered,
            target=self._target,
            _msg=msg,
        )

    async def _handle(self, msg: Msg, arrived_ns: int) -> None:
        task = asyncio.current_task()
        tracer = self._instruments.tracer
        headers = msg.headers or {}
        # The producer's span (from ``traceparent``): the parent of this delivery's spans.
        sender = caller_context(headers) if TRACEPARENT in headers else None
        try:
            delivery = self._delivery(msg, sender)
        except Exception as exc:  # not a JetStream message: nothing to settle it with
            self._logger.error("event bus: undecodable delivery on %s (%s)", self.subject, exc)
            return
        if task is not None:
            self._active[task] = delivery
        remote = sender.to_span_context() if sender is not None else None
        parent = (
            trace.set_span_in_context(NonRecordingSpan(remote), otel_context.Context())
            if remote is not None
            else otel_context.Context()
        )
        message_attributes: dict[str, str | int] = {
            **self._span_attributes,
            sc.MESSAGING_MESSAGE_ID: str(delivery.headers.message_id),
            sc.MESSAGING_MESSAGE_CONVERSATION_ID: str(delivery.headers.correlation_id),
            sc.MESSAGING_MESSAGE_BODY_SIZE: len(msg.data),
            "omnibase.delivery_count": delivery.delivery_count,
        }
        receive = tracer.start_span(
            f"receive {self.subject}",
            context=parent,
            kind=SpanKind.CLIENT,
            start_time=arrived_ns,
            attributes={
                **message_attributes,
                sc.MESSAGING_OPERATION_TYPE: "receive",
                sc.MESSAGING_OPERATION_NAME: "receive",
            },
        )
        receive.end()
        links = [Link(receive.get_span_context())] if receive.get_span_context().is_valid else []
        started = time.perf_counter()
        outcome = "success"
        with tracer.start_as_current_span(
            f"process {self.subject}",
            context=parent,
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                **message_attributes,
                sc.MESSAGING_OPERATION_TYPE: "process",
                sc.MESSAGING_OPERATION_NAME: "process",
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                await self._handler(delivery)
            except asyncio.CancelledError:
                outcome = "cancelled"
                with contextlib.suppress(Exception):
                    await delivery.nak()
                raise
            except Exception as exc:
                outcome = "error"
                span.set_attribute(sc.ERROR_TYPE, type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                await self._failed(delivery, exc)
            else:
                if delivery.settled is None and self._config.auto_ack:
                    await self._settle(delivery.ack(), delivery, "ack")
            finally:
                attributes: dict[str, Any] = {**self._metric_attributes, sc.OUTCOME: outcome}
                self._instruments.process_duration.record(time.perf_counter() - started, attributes)
                self._instruments.consumed.add(1, attributes)

    async def _failed(self, delivery: NatsEventMessage, exc: Exception) -> None:
        self._on_failure()
        detail = "".join(traceback.format_exception(exc)).rstrip()
        self._logger.error(
            "event handler failed (topic=%s group=%s offset=%s delivery=%d): %s",
            self.topic,
            self.group_id,
            delivery.offset,
            delivery.delivery_count,
            redact_text(detail, known_secrets=self._known_secrets),
            extra={"correlation_id": str(delivery.headers.correlation_id)},
        )
        if delivery.settled is not None:
            return
        config = self._config
        spent = config.max_deliver != -1 and delivery.delivery_count >= config.max_deliver
        if spent:
            self._logger.error(
                "event bus: message %s on %s failed %d deliveries; no more redeliveries",
                delivery.headers.message_id,
                self.subject,
                delivery.delivery_count,
            )
            await self._settle(delivery.term(), delivery, "term")
            return
        delay = min(
            config.max_redelivery_delay_seconds,
            config.redelivery_delay_seconds * 2 ** (delivery.delivery_count - 1),
        )
        await self._settle(delivery.nak(delay or None), delivery, "nak")

    async def _settle(
        self, settling: Awaitable[None], delivery: NatsEventMessage, how: str
    ) -> None:
        try:
            await settling
        except InfraError as error:  # lost: the server redelivers after ack_wait
            self._logger.warning(
                "event bus: could not %s message %s on %s (%s)",
                how,
                delivery.headers.message_id,
                self.subject,
                error.message,
            )
