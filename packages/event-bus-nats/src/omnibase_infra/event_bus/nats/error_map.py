"""nats-py's exceptions as the shared taxonomy's errors (transport ``event_bus``).

Transient conditions are retryable (the runner retries publishes: they carry a message id,
so a retry is stored once): timeouts, connection loss, no responders while JetStream starts,
a full publish window, JetStream's 503. ``not_sent`` marks what never left the client
(no server, a closed connection, a full reconnect buffer). A refused request (a bad subject,
a payload above the server's limit, a missing stream) is not retryable. Messages name the
failure, never a payload, header value or credential.
"""

from __future__ import annotations

from typing import Any, Final
from uuid import UUID

import nats.errors
import nats.js.errors
from omnibase_infra.effect.runner import Attempt
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConnectionError,
    InfraError,
    InfraNotFoundError,
    InfraPermissionError,
    InfraProtocolError,
    InfraRejectedRequestError,
    InfraTimeoutError,
    InfraUnavailableError,
    InfraValidationError,
)

__all__ = ["map_nats_error", "nats_error"]

_HTTP_UNAVAILABLE: Final = 503
_HTTP_NOT_FOUND: Final = 404
_HTTP_SERVER_ERROR: Final = 500
# BadHeaderError came with a later nats-py than the floor.
_BAD_INPUT: Final[tuple[type[Exception], ...]] = tuple(
    getattr(nats.errors, name)
    for name in ("BadSubjectError", "BadHeaderError")
    if hasattr(nats.errors, name)
)
_NOT_SENT: Final = (
    nats.errors.NoServersError,
    nats.errors.ConnectionClosedError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.ConnectionDrainingError,
)


def nats_error(  # noqa: PLR0911 - one return per kind of failure
    exc: BaseException,
    *,
    operation: str,
    target: str | None,
    correlation_id: UUID | None = None,
    timeout_seconds: float = 0.0,
) -> InfraError:
    """The taxonomy's error for what nats-py (or the socket underneath) raised."""
    common: dict[str, Any] = {
        "transport": EnumTransport.EVENT_BUS,
        "operation": operation,
        "target": target,
        "correlation_id": correlation_id,
    }
    name = type(exc).__name__
    if isinstance(exc, nats.js.errors.TooManyStalledMsgsError):
        return InfraTimeoutError(
            f"{operation}: the window of unacknowledged publishes stayed full",
            timeout_seconds=timeout_seconds,
            **common,
        )
    if isinstance(exc, nats.js.errors.NoStreamResponseError | nats.errors.NoRespondersError):
        # Seen while a restarted server brings JetStream up: transient.
        return InfraUnavailableError(
            f"{operation}: no JetStream responder (is JetStream enabled, the stream there?)",
            reason="no_responders",
            **common,
        )
    if isinstance(exc, nats.js.errors.APIError):
        return _api_error(exc, operation, common)
    if isinstance(exc, nats.errors.AuthorizationError):
        return InfraAuthenticationError(
            f"{operation}: the server refused the credentials", **common
        )
    if isinstance(exc, nats.errors.MaxPayloadError):
        return InfraValidationError(
            f"{operation}: the message is larger than the server's max_payload", **common
        )
    if isinstance(exc, _BAD_INPUT):
        return InfraValidationError(f"{operation}: {name}", **common)
    if isinstance(exc, TimeoutError):  # nats.errors.TimeoutError is one too
        return InfraTimeoutError(
            f"{operation}: timed out", timeout_seconds=timeout_seconds, **common
        )
    if isinstance(exc, _NOT_SENT):
        return InfraConnectionError(f"{operation}: {name}", not_sent=True, **common)
    if isinstance(exc, nats.errors.Error | OSError):
        return InfraConnectionError(f"{operation}: {name}", **common)
    return InfraProtocolError(f"{operation}: {name}", **common)


def _api_error(exc: nats.js.errors.APIError, operation: str, common: dict[str, Any]) -> InfraError:
    code = exc.code or 0
    detail = f"{operation}: JetStream answered {code} (error code {exc.err_code})"
    if code == _HTTP_UNAVAILABLE or code >= _HTTP_SERVER_ERROR:
        return InfraUnavailableError(detail, reason="jetstream_unavailable", **common)
    if code == _HTTP_NOT_FOUND:
        return InfraNotFoundError(detail, **common)
    if code in (401, 403):
        return InfraPermissionError(detail, **common)
    return InfraRejectedRequestError(detail, status=code, **common)


def map_nats_error(exc: Exception, attempt: Attempt) -> InfraError:
    """The runner's error mapper for the bus's operations."""
    return nats_error(
        exc,
        operation=attempt.operation,
        target=attempt.target,
        correlation_id=attempt.correlation_id,
        timeout_seconds=attempt.timeout_seconds,
    )
