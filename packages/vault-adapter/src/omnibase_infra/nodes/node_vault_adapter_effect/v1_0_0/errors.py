"""hvac and requests failures mapped onto the error taxonomy (one place for the rules)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any
from uuid import UUID

import requests
from hvac import exceptions as hv  # type: ignore[import-untyped]

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

__all__ = ["is_cas_mismatch", "to_infra_error"]

_T = EnumTransport.VAULT


def _detail(exc: hv.VaultError) -> str:
    # Only the server's error list: without one, hvac's message is the raw response body,
    # which may hold secret data, and its str() appends the URL.
    return "; ".join(str(e) for e in exc.errors) if exc.errors else "no detail"


def is_cas_mismatch(exc: BaseException) -> bool:
    """A KV v2 write refused because ``cas`` did not match the current version."""
    return isinstance(exc, hv.InvalidRequest) and "did not match the current version" in _detail(
        exc
    )


# Checked in order (after the CAS and 503 special cases): class → (error, message label).
_BY_CLASS: tuple[tuple[type[hv.VaultError], Callable[..., InfraError], str], ...] = (
    (hv.Forbidden, InfraPermissionError, "permission denied"),
    (hv.Unauthorized, InfraAuthenticationError, "not authenticated"),
    (hv.InvalidPath, InfraNotFoundError, "not found"),
    (hv.RateLimitExceeded, InfraRateLimitedError, "rate limited"),
    (hv.InvalidRequest, partial(InfraRejectedRequestError, status=400), "request rejected"),
    (hv.InternalServerError, partial(InfraUnavailableError, reason="server_error"), "server error"),
    (hv.BadGateway, partial(InfraUnavailableError, reason="server_error"), "server error"),
    (hv.VaultNotInitialized, partial(InfraUnavailableError, reason="server_error"), "server error"),
)


def _from_vault(exc: hv.VaultError, kw: dict[str, Any]) -> InfraError:
    detail = _detail(exc)
    if is_cas_mismatch(exc):
        return InfraConflictError(f"check-and-set failed: {detail}", **kw)
    if isinstance(exc, hv.VaultDown):
        lowered = detail.lower()
        reason = "sealed" if "sealed" in lowered else "standby" if "standby" in lowered else "down"
        return InfraUnavailableError(
            f"server unavailable ({reason}): {detail}", reason=reason, **kw
        )
    for cls, make, label in _BY_CLASS:
        if isinstance(exc, cls):
            return make(f"{label}: {detail}", **kw)
    return InfraProtocolError(f"unexpected answer: {detail}", **kw)


def _from_transport(exc: BaseException, kw: dict[str, Any], timeout_seconds: float) -> InfraError:
    if isinstance(exc, requests.exceptions.SSLError):
        return InfraConnectionError("TLS handshake or verification failed", retryable=False, **kw)
    if isinstance(exc, requests.exceptions.Timeout):
        return InfraTimeoutError("request timed out", timeout_seconds=timeout_seconds, **kw)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return InfraConnectionError("cannot connect", **kw)
    return InfraProtocolError(f"unexpected failure: {type(exc).__name__}", **kw)


def to_infra_error(
    exc: BaseException,
    *,
    operation: str,
    target: str,
    correlation_id: UUID,
    timeout_seconds: float,
) -> InfraError:
    """The taxonomy's error for a failure of one call to the server."""
    if isinstance(exc, InfraError):
        return exc
    kw: dict[str, Any] = {
        "transport": _T,
        "operation": operation,
        "target": target,
        "correlation_id": correlation_id,
    }
    if isinstance(exc, hv.VaultError):
        return _from_vault(exc, kw)
    return _from_transport(exc, kw, timeout_seconds)
