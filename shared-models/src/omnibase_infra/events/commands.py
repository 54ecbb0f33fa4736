"""Command messages of omnibase-spi's ``ProtocolEventBus``, one encoding for every bus.

``broadcast_to_environment`` publishes to :func:`broadcast_topic` (``"{env}-broadcast"``) and
``send_to_group`` to :func:`group_topic` (``"{env}-{group}-commands"``: the SPI's
``{env}-{group}-{topic}`` naming). The body is JSON
``{"command", "payload", "source": {"environment", "group"}}`` (keys sorted); secrets are
refused, models, UUIDs, datetimes, enums and sets are converted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from uuid import UUID

from pydantic import BaseModel, SecretBytes, SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError
from omnibase_infra.events.model_event_message import EventHeaders

__all__ = ["broadcast_topic", "command_headers", "encode_command", "group_topic"]


def broadcast_topic(environment: str) -> str:
    """Topic that ``broadcast_to_environment`` publishes to."""
    return f"{environment}-broadcast"


def group_topic(environment: str, group: str) -> str:
    """Topic that ``send_to_group`` publishes to."""
    return f"{environment}-{group}-commands"


def encode_command(
    command: object,
    payload: Mapping[str, object],
    *,
    environment: str,
    group: str,
    operation: str,
    topic: str,
) -> bytes:
    """The JSON body of a command message; an ``InfraValidationError`` for an empty command
    or a payload that cannot be sent (a secret, an object JSON does not know)."""
    if not isinstance(command, str) or not command:
        raise _invalid("command must be a non-empty string", operation, topic)
    body = {
        "command": command,
        "payload": dict(payload),
        "source": {"environment": environment, "group": group},
    }
    try:
        return json.dumps(body, default=_json_default, sort_keys=True).encode()
    except (TypeError, ValueError) as exc:
        message = f"command payload is not serialisable: {exc}"
        raise _invalid(message, operation, topic) from None


def command_headers(
    command: str, *, environment: str, group: str, operation: str, topic: str
) -> EventHeaders:
    """The headers of a command message (JSON content, the command as its event type)."""
    return EventHeaders(
        content_type="application/json",
        source=f"{environment}.{group}",
        event_type=command,
        destination=topic,
        operation_name=operation,
    )


def _json_default(value: object) -> object:
    if isinstance(value, SecretStr | SecretBytes):
        raise TypeError("secrets cannot be sent over the event bus")
    serialize = getattr(value, "serialize_for_context", None)
    if callable(serialize):
        return serialize()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _invalid(message: str, operation: str, target: str | None) -> InfraValidationError:
    return InfraValidationError(
        message, transport=EnumTransport.EVENT_BUS, operation=operation, target=target
    )
