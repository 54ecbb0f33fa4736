"""Event bus implementations satisfying omnibase-spi's event-bus protocols."""

from omnibase_infra.events.commands import (
    broadcast_topic,
    check_payload,
    closed_bus_error,
    command_headers,
    encode_command,
    group_topic,
    invalid_argument,
)
from omnibase_infra.events.in_memory_event_bus import (
    DEFAULT_MAX_HISTORY,
    EventHandler,
    InMemoryEventBus,
)
from omnibase_infra.events.model_event_message import (
    EventHeaders,
    EventSchemaVersion,
    InMemoryEventMessage,
)

__all__ = [
    "DEFAULT_MAX_HISTORY",
    "EventHandler",
    "EventHeaders",
    "EventSchemaVersion",
    "InMemoryEventBus",
    "InMemoryEventMessage",
    "broadcast_topic",
    "check_payload",
    "closed_bus_error",
    "command_headers",
    "encode_command",
    "group_topic",
    "invalid_argument",
]
