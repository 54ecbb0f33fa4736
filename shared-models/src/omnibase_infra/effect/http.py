"""HTTP statuses and transport failures as the taxonomy's errors, for every HTTP-based node.

One mapping (Vault, Consul, Keycloak, webhooks): a node adds only what its server says
beyond the status (Consul's 500 for an unknown check, OAuth error codes, Vault's sealed
state) before calling :func:`error_for_status`.

========================  ===================================================  =========
status                    error                                                retryable
========================  ===================================================  =========
3xx                       ``InfraRejectedRequestError`` (redirects are never    no
                          followed)
401                       ``InfraAuthenticationError``                          no
403                       ``InfraPermissionError``                              no
404, 410                  ``InfraNotFoundError`` (``status_code`` in details)   no
408                       ``InfraUnavailableError`` reason ``http_408``         yes, not
                                                                                sent
409, 412                  ``InfraConflictError``                                no
429; 503 + Retry-After    ``InfraRateLimitedError`` with ``retry_after_seconds`` yes, not
                                                                                sent
501, 505                  ``InfraRejectedRequestError``                         no
other 5xx                 ``InfraUnavailableError`` reason ``server_error``      yes
other 4xx                 ``InfraRejectedRequestError``                         no
========================  ===================================================  =========

``Retry-After`` is read by :func:`parse_retry_after` (delta-seconds or an HTTP date,
never negative, capped). Failures below HTTP go through :func:`error_for_transport`:
no client library is imported here (shared-models depends on none); aiohttp's and
requests' exceptions are recognised by their standard-library bases.
"""

from __future__ import annotations

import email.utils
import socket
import ssl
import time
from collections.abc import Mapping
from datetime import UTC
from typing import Any, Final
from uuid import UUID

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConflictError,
    InfraConnectionError,
    InfraError,
    InfraNotFoundError,
    InfraPermissionError,
    InfraProtocolError,
    InfraRateLimitedError,
    InfraRejectedRequestError,
    InfraTimeoutError,
    InfraUnavailableError,
)

__all__ = [
    "DEFAULT_RETRY_AFTER_CAP_SECONDS",
    "error_for_status",
    "error_for_transport",
    "parse_retry_after",
]

DEFAULT_RETRY_AFTER_CAP_SECONDS: Final = 60.0
_DETAIL_LIMIT: Final = 200
# Connect-phase failures: nothing reached the server. aiohttp's connector errors are
# OSErrors named like this; socket.gaierror is a DNS failure.
_CONNECT_PHASE_NAMES: Final = frozenset(
    {"ClientConnectorError", "ClientConnectorDNSError", "NewConnectionError", "ConnectTimeout"}
)


def parse_retry_after(
    value: str | None,
    *,
    now: float | None = None,
    cap: float = DEFAULT_RETRY_AFTER_CAP_SECONDS,
) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date.

    ``None`` for a missing or unreadable value; never negative; at most ``cap``. ``now``
    (epoch seconds) defaults to the wall clock, for an HTTP date.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return min(float(text), cap)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return min(max(0.0, when.timestamp() - current), cap)


def error_for_status(  # noqa: PLR0911 - one return per row of the status table
    status: int,
    *,
    transport: EnumTransport,
    operation: str,
    target: str | None,
    correlation_id: UUID | None,
    detail: str = "",
    headers: Mapping[str, str] | None = None,
    retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP_SECONDS,
    service: str | None = None,
    **context: Any,
) -> InfraError | None:
    """The error for an HTTP answer (``None`` for 2xx); see the module's table.

    ``detail`` is the server's own words (never the request); it is cut to 200 characters
    and redacted like every error message. ``context`` goes to the error's details.
    """
    if 200 <= status < 300:
        return None
    who = service or transport.value
    detail = detail.strip()[:_DETAIL_LIMIT]
    message = f"{who} answered {status}: {detail}" if detail else f"{who} answered {status}"
    common: dict[str, Any] = {
        "transport": transport,
        "operation": operation,
        "target": target,
        "correlation_id": correlation_id,
        **context,
    }
    if 300 <= status < 400:
        return InfraRejectedRequestError(
            f"{message} (a redirect; redirects are not followed)", status=status, **common
        )
    if status == 401:
        return InfraAuthenticationError(message, status_code=status, **common)
    if status == 403:
        return InfraPermissionError(message, status_code=status, **common)
    if status in (404, 410):
        return InfraNotFoundError(message, status_code=status, **common)
    if status == 408:
        return InfraUnavailableError(
            message, reason="http_408", status_code=status, not_sent=True, **common
        )
    if status in (409, 412):
        return InfraConflictError(message, status_code=status, **common)
    retry_after = parse_retry_after(
        (headers or {}).get("Retry-After") or (headers or {}).get("retry-after"),
        cap=retry_after_cap,
    )
    if status == 429 or (status == 503 and retry_after is not None):
        return InfraRateLimitedError(
            message,
            retry_after_seconds=retry_after,
            status_code=status,
            not_sent=True,
            **common,
        )
    if status in (501, 505):
        return InfraRejectedRequestError(message, status=status, **common)
    if status >= 500:
        return InfraUnavailableError(message, reason="server_error", status_code=status, **common)
    return InfraRejectedRequestError(message, status=status, **common)


def _connect_phase(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionRefusedError | socket.gaierror):
        return True
    return any(cls.__name__ in _CONNECT_PHASE_NAMES for cls in type(exc).__mro__)


def error_for_transport(
    exc: BaseException,
    *,
    transport: EnumTransport,
    operation: str,
    target: str | None,
    correlation_id: UUID | None,
    timeout_seconds: float,
    sent: bool | None = None,
    service: str | None = None,
) -> InfraError:
    """The error for a failure below HTTP: timeout, TLS, connection, or a broken answer.

    ``sent`` says whether the request may have reached the server; ``None`` infers it
    (only connect-phase failures, such as a refused connection or a DNS failure, are
    known not to have been sent). An ``InfraError`` is returned as it is.
    """
    if isinstance(exc, InfraError):
        return exc
    who = service or transport.value
    common: dict[str, Any] = {
        "transport": transport,
        "operation": operation,
        "target": target,
        "correlation_id": correlation_id,
    }
    not_sent = (not sent) if sent is not None else _connect_phase(exc)
    if isinstance(exc, TimeoutError):
        return InfraTimeoutError(
            f"no answer from {who} within {timeout_seconds:g} s",
            timeout_seconds=timeout_seconds,
            not_sent=not_sent,
            **common,
        )
    if isinstance(exc, ssl.SSLError):
        return InfraConnectionError(
            f"TLS handshake or certificate verification with {who} failed",
            retryable=False,
            **common,
        )
    if isinstance(exc, OSError) or any(
        cls.__name__ in ("ClientConnectionError", "ConnectionError") for cls in type(exc).__mro__
    ):
        return InfraConnectionError(
            f"cannot reach {who} ({type(exc).__name__})", not_sent=not_sent, **common
        )
    return InfraProtocolError(f"unexpected answer from {who} ({type(exc).__name__})", **common)
