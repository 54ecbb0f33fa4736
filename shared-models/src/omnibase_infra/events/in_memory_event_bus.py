"""In-process event bus implementing omnibase-spi's ``ProtocolEventBus``.

Semantics (kept close to Kafka so code can move to a real broker):

* **Delivery is inline.** ``publish()`` awaits each handler in turn before it returns, so
  tests are deterministic and a message published by one task is seen by all subscribers
  in order. There is no global order between concurrently publishing tasks.
* **Consumer groups.** Every ``group_id`` subscribed to a topic receives each message
  once; inside a group, members take turns (round-robin per topic and group).
  Subscribe with distinct group ids to fan out to every handler.
* **Isolation.** A handler exception is logged (redacted, with traceback) and counted in
  :attr:`InMemoryEventBus.failed_deliveries`; other groups still receive the message and
  ``publish()`` does not fail. ``asyncio.CancelledError`` (any ``BaseException``)
  propagates.
* **Per-subscriber copies.** Each delivery gets its own :class:`InMemoryEventMessage`
  (and headers copy), so ``ack()`` is per delivery; the history keeps the published
  record. Nothing is redelivered.
* **Bounded history** of published messages (``max_history``, default 1000; 0 disables).
* **close()** drops all subscriptions and stops deliveries still in progress; later
  ``publish``/``subscribe``/commands raise ``InfraUnavailableError``
  (``reason="closed"``, not retryable).
* **Command topics**: ``broadcast_to_environment`` publishes to
  ``broadcast_topic(env)`` = ``"{env}-broadcast"`` and ``send_to_group`` to
  ``group_topic(env, group)`` = ``"{env}-{group}-commands"`` (the SPI's
  ``{env}-{group}-{topic}`` naming), with a JSON body
  ``{"command", "payload", "source": {"environment", "group"}}``.

Use one bus per event loop; it is not thread-safe.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import logging
import re
import traceback
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping

from omnibase_spi.protocols.event_bus import (
    ProtocolEventBusHeaders,
    ProtocolEventMessage,
    ProtocolKafkaEventBusAdapter,
)
from pydantic import SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError
from omnibase_infra.events.commands import (
    broadcast_topic,
    check_payload,
    closed_bus_error,
    command_headers,
    encode_command,
    group_topic,
    invalid_argument,
)
from omnibase_infra.events.model_event_message import EventHeaders, InMemoryEventMessage
from omnibase_infra.redaction import redact_text

__all__ = [
    "DEFAULT_MAX_HISTORY",
    "EventHandler",
    "InMemoryEventBus",
    "broadcast_topic",
    "group_topic",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_HISTORY = 1000
EventHandler = Callable[[ProtocolEventMessage], Awaitable[None]]
_NAME = re.compile(r"[A-Za-z0-9._\-]{1,249}")


@dataclasses.dataclass(eq=False, slots=True)
class _Subscription:
    topic: str
    group_id: str
    handler: EventHandler
    active: bool = True


class InMemoryEventBus:
    """Event bus for tests and single-process deployments (see module docstring)."""

    def __init__(
        self,
        environment: str = "dev",
        group: str = "default",
        *,
        max_history: int = DEFAULT_MAX_HISTORY,
        known_secrets: Iterable[str | SecretStr] = (),
    ) -> None:
        for label, name in (("environment", environment), ("group", group)):
            _check_name(name, label, operation="create_event_bus")
        if max_history < 0:
            raise InfraValidationError(
                "max_history must be >= 0",
                transport=EnumTransport.EVENT_BUS,
                operation="create_event_bus",
            )
        self._environment = environment
        self._group = group
        self._known_secrets = tuple(known_secrets)
        self._history: deque[InMemoryEventMessage] = deque(maxlen=max_history)
        self._subscriptions: dict[str, list[_Subscription]] = defaultdict(list)
        self._offsets: dict[str, itertools.count[int]] = defaultdict(itertools.count)
        self._turns: dict[tuple[str, str], int] = defaultdict(int)
        self._closed = False
        self._failed_deliveries = 0

    # -- ProtocolEventBus properties -------------------------------------------------
    @property
    def adapter(self) -> ProtocolKafkaEventBusAdapter:
        """The bus is its own adapter (no broker behind it)."""
        return self

    @property
    def environment(self) -> str:
        """Environment this bus belongs to (used for command topics)."""
        return self._environment

    @property
    def group(self) -> str:
        """Node group this bus belongs to (used for command topics)."""
        return self._group

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    @property
    def failed_deliveries(self) -> int:
        """Number of handler invocations that raised."""
        return self._failed_deliveries

    @property
    def max_history(self) -> int:
        """How many published messages the history keeps."""
        return self._history.maxlen or 0

    # -- publish / subscribe ---------------------------------------------------------
    async def publish(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: ProtocolEventBusHeaders | None = None,
    ) -> None:
        """Record the message and deliver it to one member of every subscribed group."""
        self._ensure_open("publish", topic)
        _check_name(topic, "topic", operation="publish")
        check_payload(key, value, "publish", topic)
        record = InMemoryEventMessage(
            topic=topic,
            key=key,
            value=value,
            headers=self._headers_for(topic, headers),
            offset=str(next(self._offsets[topic])),
            partition=0,
        )
        self._history.append(record)
        for subscription in self._pick_receivers(topic):
            if self._closed:
                break
            if subscription.active:
                await self._deliver(subscription, record)

    async def subscribe(
        self,
        topic: str,
        group_id: str,
        on_message: EventHandler,
    ) -> Callable[[], Awaitable[None]]:
        """Register ``on_message`` for ``topic`` in consumer group ``group_id``.

        Returns an idempotent async ``unsubscribe()``.
        """
        self._ensure_open("subscribe", topic)
        _check_name(topic, "topic", operation="subscribe")
        if not isinstance(group_id, str) or not group_id:
            raise invalid_argument("group_id must be a non-empty string", "subscribe", topic)
        if not callable(on_message):
            raise invalid_argument("on_message must be an async callable", "subscribe", topic)
        subscription = _Subscription(topic=topic, group_id=group_id, handler=on_message)
        self._subscriptions[topic].append(subscription)

        async def unsubscribe() -> None:
            if not subscription.active:
                return
            # Active subscriptions are always registered (close() deactivates them all).
            subscription.active = False
            members = self._subscriptions[topic]
            members.remove(subscription)
            if not members:
                del self._subscriptions[topic]

        return unsubscribe

    # -- commands --------------------------------------------------------------------
    async def broadcast_to_environment(
        self,
        command: str,
        payload: Mapping[str, object],
        target_environment: str | None = None,
    ) -> None:
        """Publish ``command`` to every subscriber of ``broadcast_topic(environment)``."""
        environment = target_environment if target_environment is not None else self._environment
        operation = "broadcast_to_environment"
        _check_name(environment, "target_environment", operation=operation)
        await self._send_command(broadcast_topic(environment), command, payload, operation)

    async def send_to_group(
        self, command: str, payload: Mapping[str, object], target_group: str
    ) -> None:
        """Publish ``command`` to ``group_topic(environment, target_group)``."""
        _check_name(target_group, "target_group", operation="send_to_group")
        topic = group_topic(self._environment, target_group)
        await self._send_command(topic, command, payload, "send_to_group")

    async def close(self) -> None:
        """Stop delivering; drop subscriptions. Idempotent; history stays readable."""
        self._closed = True
        for members in self._subscriptions.values():
            for subscription in members:
                subscription.active = False
        self._subscriptions.clear()

    # -- ProtocolEventBusInMemory ----------------------------------------------------
    async def get_event_history(self) -> list[ProtocolEventMessage]:
        """Published messages, oldest first (at most ``max_history``)."""
        return list(self._history)

    def clear_event_history(self) -> None:
        """Forget the recorded history (offsets keep counting)."""
        self._history.clear()

    async def get_subscriber_count(self, topic: str | None = None) -> int:
        """Active subscriptions, for one topic or in total."""
        if topic is not None:
            return len(self._subscriptions.get(topic, ()))
        return sum(len(members) for members in self._subscriptions.values())

    # -- internals -------------------------------------------------------------------
    def _ensure_open(self, operation: str, topic: str) -> None:
        if self._closed:
            raise closed_bus_error(operation, topic)

    def _headers_for(self, topic: str, headers: ProtocolEventBusHeaders | None) -> EventHeaders:
        if headers is None:
            return EventHeaders(
                source=f"{self._environment}.{self._group}", event_type=topic, destination=topic
            )
        if isinstance(headers, EventHeaders):
            return copy.copy(headers)
        return EventHeaders.from_protocol(headers)

    def _pick_receivers(self, topic: str) -> list[_Subscription]:
        groups: dict[str, list[_Subscription]] = {}
        for subscription in self._subscriptions.get(topic, ()):
            groups.setdefault(subscription.group_id, []).append(subscription)
        chosen: list[_Subscription] = []
        for group_id, members in groups.items():
            turn = self._turns[(topic, group_id)]
            self._turns[(topic, group_id)] = turn + 1
            chosen.append(members[turn % len(members)])
        return chosen

    async def _deliver(self, subscription: _Subscription, record: InMemoryEventMessage) -> None:
        message = dataclasses.replace(record, headers=copy.copy(record.headers), acked=False)
        try:
            await subscription.handler(message)
        except Exception as exc:
            self._failed_deliveries += 1
            detail = "".join(traceback.format_exception(exc)).rstrip()
            logger.error(
                "event handler failed (topic=%s group=%s offset=%s): %s",
                record.topic,
                subscription.group_id,
                record.offset,
                redact_text(detail, known_secrets=self._known_secrets),
            )

    async def _send_command(
        self, topic: str, command: str, payload: Mapping[str, object], operation: str
    ) -> None:
        self._ensure_open(operation, topic)
        common = {"environment": self._environment, "group": self._group, "operation": operation}
        value = encode_command(command, payload, topic=topic, **common)
        await self.publish(topic, None, value, command_headers(command, topic=topic, **common))


def _check_name(name: object, label: str, *, operation: str) -> None:
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        message = f"{label} must be 1-249 characters of [A-Za-z0-9._-]"
        raise invalid_argument(message, operation, None)
