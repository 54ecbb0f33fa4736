"""Concrete SPI event headers and message used by the in-memory bus."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

from omnibase_spi.protocols.event_bus import ProtocolEventBusHeaders
from omnibase_spi.protocols.types.protocol_core_types import ProtocolSemVer
from omnibase_spi.protocols.types.protocol_event_bus_types import (
    LiteralEventPriority,
    ProtocolEventHeaders,
)

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_PRIORITIES = frozenset({"low", "normal", "high", "critical"})


@dataclass(slots=True)
class EventSchemaVersion:
    """Minimal ``ProtocolSemVer`` for header ``schema_version``."""

    major: int = 1
    minor: int = 0
    patch: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _default_schema_version() -> ProtocolSemVer:
    return EventSchemaVersion()


@dataclass(slots=True, kw_only=True)
class EventHeaders:
    """Standard ONEX message headers (SPI ``ProtocolEventHeaders``/``ProtocolEventBusHeaders``).

    Attributes are plain and mutable because the SPI protocols declare them that way;
    the bus hands every subscriber its own copy.
    """

    content_type: str = "application/octet-stream"
    correlation_id: UUID = field(default_factory=uuid4)
    message_id: UUID = field(default_factory=uuid4)
    timestamp: datetime = field(default_factory=_utc_now)
    source: str = ""
    event_type: str = ""
    schema_version: ProtocolSemVer = field(default_factory=_default_schema_version)
    destination: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    operation_name: str | None = None
    priority: LiteralEventPriority | None = None
    routing_key: str | None = None
    partition_key: str | None = None
    retry_count: int | None = None
    max_retries: int | None = None
    ttl_seconds: int | None = None

    @classmethod
    def from_protocol(cls, headers: ProtocolEventBusHeaders) -> EventHeaders:
        """Copy any ``ProtocolEventBusHeaders`` implementation into an ``EventHeaders``."""
        return cls(
            content_type=headers.content_type,
            correlation_id=headers.correlation_id,
            message_id=headers.message_id,
            timestamp=headers.timestamp,
            source=headers.source,
            event_type=headers.event_type,
            schema_version=headers.schema_version,
            destination=headers.destination,
            trace_id=headers.trace_id,
            span_id=headers.span_id,
            parent_span_id=headers.parent_span_id,
            operation_name=headers.operation_name,
            priority=headers.priority,
            routing_key=headers.routing_key,
            partition_key=headers.partition_key,
            retry_count=headers.retry_count,
            max_retries=headers.max_retries,
            ttl_seconds=headers.ttl_seconds,
        )

    def problems(self) -> list[str]:
        """What is wrong with these headers (empty when valid)."""
        found: list[str] = []
        if not self.content_type:
            found.append("content_type is empty")
        if self.timestamp.tzinfo is None:
            found.append("timestamp is not timezone-aware")
        if self.trace_id is not None and _TRACE_ID.fullmatch(self.trace_id) is None:
            found.append("trace_id is not 32 lower-case hex characters")
        for name, value in (("span_id", self.span_id), ("parent_span_id", self.parent_span_id)):
            if value is not None and _SPAN_ID.fullmatch(value) is None:
                found.append(f"{name} is not 16 lower-case hex characters")
        if self.priority is not None and self.priority not in _PRIORITIES:
            found.append("priority is not one of low/normal/high/critical")
        for name, count in (
            ("retry_count", self.retry_count),
            ("max_retries", self.max_retries),
            ("ttl_seconds", self.ttl_seconds),
        ):
            if count is not None and count < 0:
                found.append(f"{name} is negative")
        return found

    async def validate_headers(self) -> bool:
        """SPI hook: True when :meth:`problems` finds nothing."""
        return not self.problems()


@dataclass(slots=True, kw_only=True)
class InMemoryEventMessage:
    """One delivered message (SPI ``ProtocolEventMessage``).

    ``offset`` is the per-topic sequence number as a string; there is one partition (0).
    ``ack()`` only records the acknowledgement: the in-memory bus never redelivers.
    """

    topic: str
    key: bytes | None
    value: bytes
    headers: ProtocolEventHeaders
    offset: str | None = None
    partition: int | None = None
    acked: bool = False

    async def ack(self) -> None:
        """Mark this delivery as acknowledged."""
        self.acked = True
