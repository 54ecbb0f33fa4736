"""The SPI's message headers as NATS message headers, and back.

On the wire (NATS headers are text; values are percent-encoded where they are free text):

=====================  ====================================================================
``Nats-Msg-Id``        ``message_id``: JetStream stores a message id once per duplicate window
``x-correlation-id``   ``correlation_id`` (``x-causation-id`` when the caller's context has one)
``traceparent``        W3C trace context of the publish span (``tracestate`` beside it); the
                       consumer's process span is its child
``Content-Type``       ``content_type`` (left out when ``application/octet-stream``)
``Onex-Key``           the message key, base64 (NATS has no keys: carried, not used to route)
``Onex-Source``        ``source``
``Onex-Timestamp``     ``timestamp`` (ISO 8601) when the caller gave headers; otherwise the
                       stream's own timestamp of the message is reported
``Onex-<Field>``       ``event_type`` and ``destination`` (left out when equal to the topic),
                       ``schema_version`` (left out when 1.0.0), ``operation_name``,
                       ``priority``, ``routing_key``, ``partition_key``, ``retry_count``,
                       ``max_retries``, ``ttl_seconds``, ``parent_span_id``, when set
=====================  ====================================================================

A header that is missing or unreadable on receipt (a message from another kind of producer)
gets a default: a message id that is not a UUID becomes ``uuid5`` of its text, a missing
correlation id the message id.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Final, cast
from urllib.parse import quote, unquote
from uuid import NAMESPACE_URL, UUID, uuid5

from omnibase_spi.protocols.types.protocol_event_bus_types import LiteralEventPriority

from omnibase_infra.events import EventHeaders, EventSchemaVersion
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability import CORRELATION_ID

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_CONTENT_TYPE",
    "KEY",
    "MSG_ID",
    "SOURCE",
    "TIMESTAMP",
    "decode_headers",
    "decode_key",
    "encode_headers",
    "encode_key",
    "new_message_id",
]

MSG_ID: Final = "Nats-Msg-Id"
CONTENT_TYPE: Final = "Content-Type"
KEY: Final = "Onex-Key"
SOURCE: Final = "Onex-Source"
TIMESTAMP: Final = "Onex-Timestamp"
EVENT_TYPE: Final = "Onex-Event-Type"
DESTINATION: Final = "Onex-Destination"
SCHEMA_VERSION: Final = "Onex-Schema-Version"
OPERATION_NAME: Final = "Onex-Operation-Name"
PRIORITY: Final = "Onex-Priority"
ROUTING_KEY: Final = "Onex-Routing-Key"
PARTITION_KEY: Final = "Onex-Partition-Key"
RETRY_COUNT: Final = "Onex-Retry-Count"
MAX_RETRIES: Final = "Onex-Max-Retries"
TTL_SECONDS: Final = "Onex-Ttl-Seconds"
PARENT_SPAN_ID: Final = "Onex-Parent-Span-Id"
DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"
_DEFAULT_SCHEMA: Final = "1.0.0"
_PRIORITIES: Final = frozenset({"low", "normal", "high", "critical"})
_TEXT: Final = (
    (OPERATION_NAME, "operation_name"),
    (ROUTING_KEY, "routing_key"),
    (PARTITION_KEY, "partition_key"),
)
_COUNTS: Final = (
    (RETRY_COUNT, "retry_count"),
    (MAX_RETRIES, "max_retries"),
    (TTL_SECONDS, "ttl_seconds"),
)
# Free text is percent-encoded: NATS strips a value's surrounding spaces and breaks it at
# line ends. Everything printable but '%' stays as it is.
_SAFE: Final = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
_VARIANT: Final = "89ab"  # RFC 4122 variant bits 10xx


def _text(value: str) -> str:
    return quote(value, safe=_SAFE)


def new_message_id() -> str:
    """A random (version 4) UUID as text, from the same source as ``uuid.uuid4()``
    (``os.urandom``) without building a ``UUID`` object: the hot path of publishing only
    needs the header value."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def encode_key(key: bytes) -> str:
    """A message key as a header value."""
    return base64.b64encode(key).decode()


def decode_key(value: str | None) -> bytes | None:
    """The key of a received message (``None`` when absent or unreadable)."""
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def encode_headers(headers: EventHeaders, topic: str) -> dict[str, str]:
    """The NATS headers carrying ``headers`` (trace context and correlation aside)."""
    out: dict[str, str] = {
        MSG_ID: str(headers.message_id),
        SOURCE: _text(headers.source),
        TIMESTAMP: headers.timestamp.isoformat(),
    }
    if headers.content_type != DEFAULT_CONTENT_TYPE:
        out[CONTENT_TYPE] = _text(headers.content_type)
    if headers.event_type != topic:
        out[EVENT_TYPE] = _text(headers.event_type)
    if headers.destination is not None and headers.destination != topic:
        out[DESTINATION] = _text(headers.destination)
    schema = str(headers.schema_version)
    if schema != _DEFAULT_SCHEMA:
        out[SCHEMA_VERSION] = _text(schema)
    for name, attribute in _TEXT:
        text = getattr(headers, attribute)
        if text is not None:
            out[name] = _text(text)
    for name, attribute in _COUNTS:
        count = getattr(headers, attribute)
        if count is not None:
            out[name] = str(count)
    if headers.priority is not None:
        out[PRIORITY] = headers.priority
    if headers.parent_span_id is not None:
        out[PARENT_SPAN_ID] = headers.parent_span_id
    return out


def _schema(text: str | None) -> EventSchemaVersion:
    if text is None:
        return EventSchemaVersion()
    try:
        major, minor, patch = (int(part) for part in unquote(text).split("."))
    except ValueError:
        return EventSchemaVersion()
    return EventSchemaVersion(major, minor, patch)


def _count(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _uuid(text: str | None) -> UUID | None:
    if text is None:
        return None
    try:
        return UUID(text)
    except ValueError:
        return None


def _timestamp(text: str | None, stored: datetime) -> datetime:
    if text is None:
        return stored
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return stored
    return parsed if parsed.tzinfo is not None else stored


def _optional(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return None if value is None else unquote(value)


def decode_headers(
    headers: Mapping[str, str],
    topic: str,
    stored: datetime,
    sender: ModelCorrelationContext | None = None,
) -> EventHeaders:
    """The SPI headers of a received message; ``stored`` is the stream's timestamp of it,
    ``sender`` the producer's context read from its ``traceparent``
    (``omnibase_infra.observability.caller_context``), whose trace and span the headers
    name."""
    raw_id = headers.get(MSG_ID)
    message_id = _uuid(raw_id)
    if message_id is None:
        message_id = uuid5(NAMESPACE_URL, raw_id) if raw_id else uuid5(NAMESPACE_URL, topic)
    correlation_id = _uuid(headers.get(CORRELATION_ID)) or message_id
    priority = headers.get(PRIORITY)
    return EventHeaders(
        content_type=_optional(headers, CONTENT_TYPE) or DEFAULT_CONTENT_TYPE,
        correlation_id=correlation_id,
        message_id=message_id,
        timestamp=_timestamp(headers.get(TIMESTAMP), stored),
        source=_optional(headers, SOURCE) or "",
        event_type=_optional(headers, EVENT_TYPE) or topic,
        schema_version=_schema(headers.get(SCHEMA_VERSION)),
        destination=_optional(headers, DESTINATION) or topic,
        trace_id=sender.trace_id if sender is not None else None,
        span_id=sender.span_id if sender is not None else None,
        parent_span_id=headers.get(PARENT_SPAN_ID),
        operation_name=_optional(headers, OPERATION_NAME),
        priority=cast(LiteralEventPriority, priority) if priority in _PRIORITIES else None,
        routing_key=_optional(headers, ROUTING_KEY),
        partition_key=_optional(headers, PARTITION_KEY),
        retry_count=_count(headers.get(RETRY_COUNT)),
        max_retries=_count(headers.get(MAX_RETRIES)),
        ttl_seconds=_count(headers.get(TTL_SECONDS)),
    )
