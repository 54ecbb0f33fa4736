"""How the SPI's topics and consumer groups map onto JetStream: one deterministic layout.

* **Stream.** One stream per environment, ``onex-<environment>`` unless configured,
  capturing every subject under the environment's prefix (``<prefix>.>``).
* **Subjects.** A topic is published on ``<prefix>.<topic>``, the prefix being the
  environment (``dev.orders``), or ``<subject_prefix>.<environment>`` when a subject prefix
  is configured (``onex.dev.orders``). A topic is one or more ``.``-separated tokens of
  ``[A-Za-z0-9_-]`` (at most 249 characters): the mapping is the identity, so a dotted topic
  is a subject hierarchy other NATS clients can filter with wildcards, and no two topics share
  a subject. Spaces, ``*``, ``>`` and empty tokens (``a..b``, a leading or trailing ``.``)
  are refused: NATS forbids them in a published subject.
* **Consumer groups.** A group is a durable pull consumer of the stream, filtered on the
  topic's subject: every member subscribed with the same group id shares its messages.
  Its name is ``<group>_<topic with . as _>_<hash>``, the hash (12 hex digits of SHA-256 of
  group and topic) keeping names distinct where the readable part is not (``a.b`` and
  ``a_b``); the readable part is cut so that the name stays within 96 characters.
  A group id is 1-64 characters of ``[A-Za-z0-9_-]``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from omnibase_infra.events import invalid_argument

__all__ = [
    "MAX_TOPIC_LENGTH",
    "check_group",
    "check_name_token",
    "check_topic",
    "durable_name",
    "stream_name",
    "subject_prefix",
]

MAX_TOPIC_LENGTH: Final = 249
_TOKEN: Final = r"[A-Za-z0-9_-]+"  # noqa: S105 - a subject token, no secret
_TOKEN_RE: Final = re.compile(_TOKEN)
_DOTTED: Final = re.compile(rf"{_TOKEN}(?:\.{_TOKEN})*")
_GROUP: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DURABLE_READABLE: Final = 96 - 13  # "_" + 12 hex digits


def check_topic(topic: object, operation: str) -> str:
    """``topic`` when it is a valid topic (see the module docstring), else a validation error."""
    if (
        not isinstance(topic, str)
        or len(topic) > MAX_TOPIC_LENGTH
        or _DOTTED.fullmatch(topic) is None
    ):
        shown = topic[:80] if isinstance(topic, str) else type(topic).__name__
        raise invalid_argument(
            f"topic {shown!r} is not 1-{MAX_TOPIC_LENGTH} characters of '.'-separated "
            "tokens of [A-Za-z0-9_-] (NATS subjects forbid spaces, '*', '>' and empty tokens)",
            operation,
        )
    return topic


def check_group(group_id: object, operation: str, topic: str | None = None) -> str:
    """``group_id`` when it is 1-64 characters of ``[A-Za-z0-9_-]``."""
    if not isinstance(group_id, str) or _GROUP.fullmatch(group_id) is None:
        message = "group_id must be 1-64 characters of [A-Za-z0-9_-]"
        raise invalid_argument(message, operation, topic)
    return group_id


def check_name_token(value: object, label: str) -> str:
    """One subject token (an environment, a node group): ``[A-Za-z0-9_-]``, 1-64 characters."""
    if not isinstance(value, str) or len(value) > 64 or _TOKEN_RE.fullmatch(value) is None:
        raise ValueError(f"{label} must be 1-64 characters of [A-Za-z0-9_-]")
    return value


def subject_prefix(environment: str, configured: str | None) -> str:
    """``<environment>`` or ``<configured>.<environment>``: every subject of the bus starts so."""
    return environment if configured is None else f"{configured}.{environment}"


def stream_name(environment: str, configured: str | None) -> str:
    """The stream of an environment: the configured name, else ``onex-<environment>``."""
    return configured if configured is not None else f"onex-{environment}"


def durable_name(group_id: str, topic: str) -> str:
    """The durable consumer of ``group_id`` on ``topic`` (stable across processes)."""
    digest = hashlib.sha256(f"{group_id}\0{topic}".encode()).hexdigest()[:12]
    readable = f"{group_id}_{topic.replace('.', '_')}"[:_DURABLE_READABLE]
    return f"{readable}_{digest}"


def is_dotted(value: str) -> bool:
    """Whether ``value`` is ``.``-separated tokens of ``[A-Za-z0-9_-]``."""
    return _DOTTED.fullmatch(value) is not None
