"""What every ``ProtocolEventBus`` of the project shares: command messages, argument checks
and the closed-bus error.

``broadcast_to_environment`` publishes to :func:`broadcast_topic` (``"{env}-broadcast"``) and
``send_to_group`` to :func:`group_topic` (``"{env}-{group}-commands"``: the SPI's
``{env}-{group}-{topic}`` naming). The body is JSON
``{"command", "payload", "source": {"environment", "group"}}`` (keys sorted); secrets are
refused, models, UUIDs, datetimes, enums and sets are converted.

:func:`check_payload`, :func:`invalid_argument` and :func:`closed_bus_error` give every bus
the same errors for the same mistakes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from uuid import UUID

from pydantic import BaseModel, SecretBytes, SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraUnavailableError, InfraValidationError
from omnibase_infra.events.model_event_message import EventHeaders

__all__ = [
    "broadcast_topic",
    "check_payload",
    "closed_bus_error",
    "command_headers",
    "encode_command",
    "group_topic",
    "invalid_argument",
]


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
        raise invalid_argument("command must be a non-empty string", operation, topic)
    body = {
        "command": command,
        "payload": dict(payload),
        "source": {"environment": environment, "group": group},
    }
    try:
        return json.dumps(body, default=_json_default, sort_keys=True).encode()
    except (TypeError, ValueError) as exc:
        message = f"command payload is not serialisable: {exc}"
        raise invalid_argument(message, operation, topic) from None


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


def invalid_argument(
    message: str, operation: str, target: str | None = None
) -> InfraValidationError:
    """A bus call refused before anything was sent."""
    return InfraValidationError(
        message, transport=EnumTransport.EVENT_BUS, operation=operation, target=target
    )


def check_payload(key: object, value: object, operation: str, topic: str) -> None:
    """``value`` must be bytes, ``key`` bytes or ``None``."""
    if not isinstance(value, bytes):
        message = f"value must be bytes, not {type(value).__name__}"
        raise invalid_argument(message, operation, topic)
    if key is not None and not isinstance(key, bytes):
        message = f"key must be bytes or None, not {type(key).__name__}"
        raise invalid_argument(message, operation, topic)


def closed_bus_error(
    operation: str, topic: str | None, target: str | None = None
) -> InfraUnavailableError:
    """What a closed bus raises (``reason="closed"``, not retryable)."""
    return InfraUnavailableError(
        f"event bus is closed: cannot {operation.replace('_', ' ')}"
        + (f" on topic {topic!r}" if topic else ""),
        transport=EnumTransport.EVENT_BUS,
        operation=operation,
        target=target if target is not None else topic,
        reason="closed",
        retryable=False,
    )
