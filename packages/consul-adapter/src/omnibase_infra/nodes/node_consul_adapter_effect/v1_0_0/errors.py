"""Consul's failures as the taxonomy's errors: the node's error mapper.

The transport raises :class:`ConsulStatusError` (an HTTP status it will not hand to
python-consul) or lets aiohttp's exceptions through; the runner calls
:func:`map_consul_error` with the attempt, which names the operation, the agent and the
caller's correlation id. Statuses and transport failures go through the shared mapping of
``omnibase_infra.effect.http``; what is Consul's own is here: Consul 1.8 answers 500, not
404, for an unknown check or service on the agent endpoints. Nothing here imports aiohttp.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from uuid import UUID

from omnibase_infra.effect import Attempt, error_for_status, error_for_transport
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraError, InfraProtocolError

__all__ = ["TRANSPORT", "ConsulStatusError", "map_consul_error", "status_error"]

TRANSPORT: Final = EnumTransport.CONSUL

_UNKNOWN_ON_AGENT: Final = re.compile(
    r"does not have associated TTL|Unknown (?:check|service)(?: ID)?\b", re.IGNORECASE
)


class ConsulStatusError(Exception):
    """An HTTP status of the agent that is a failure (mapped by :func:`map_consul_error`)."""

    def __init__(self, status: int, body: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"consul answered {status}")
        self.status = status
        self.body = body
        self.headers = headers


def status_error(
    status: int,
    body: str,
    headers: Mapping[str, str],
    *,
    operation: str,
    target: str,
    correlation_id: UUID | None = None,
) -> InfraError:
    """The taxonomy's error for a failed status (see the module docstring)."""
    if status == 500 and _UNKNOWN_ON_AGENT.search(body):
        status = 404
    error = error_for_status(
        status,
        transport=TRANSPORT,
        operation=operation,
        target=target,
        correlation_id=correlation_id,
        detail=body,
        headers=headers,
        service="consul",
    )
    if error is None:  # a success status is no failure: the caller misread the answer
        return InfraProtocolError(
            f"consul answered {status}, not a failure",
            transport=TRANSPORT,
            operation=operation,
            target=target,
            correlation_id=correlation_id,
        )
    return error


def map_consul_error(exc: Exception, attempt: Attempt) -> InfraError:
    """The runner's error mapper for this node."""
    if isinstance(exc, ConsulStatusError):
        return status_error(
            exc.status,
            exc.body,
            exc.headers,
            operation=attempt.operation,
            target=attempt.target,
            correlation_id=attempt.correlation_id,
        )
    return error_for_transport(
        exc,
        transport=TRANSPORT,
        operation=attempt.operation,
        target=attempt.target,
        correlation_id=attempt.correlation_id,
        timeout_seconds=attempt.timeout_seconds,
        service="consul",
    )
