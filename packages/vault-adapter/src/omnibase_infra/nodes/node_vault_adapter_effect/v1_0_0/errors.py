"""hvac and requests failures as the taxonomy's errors: hvac's exception classes stand for
HTTP statuses, which go through the platform's one table (``omnibase_infra.effect.http``);
only what Vault says beyond the status is decided here (a check-and-set mismatch, a sealed
or standby server, an uninitialised one). hvac and requests are imported when an error is
mapped (by then the client has loaded them), not with this module."""

from __future__ import annotations

from typing import Any, Final
from uuid import UUID

from omnibase_infra.effect.http import error_for_status, error_for_transport
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraConflictError,
    InfraConnectionError,
    InfraError,
    InfraProtocolError,
    InfraUnavailableError,
)

__all__ = ["is_cas_mismatch", "to_infra_error"]

_T: Final = EnumTransport.VAULT
# hvac raises one class per status (hvac.exceptions.VaultError.from_status); VaultDown
# (503) and VaultNotInitialized (501) are Vault's own cases, decided below.
_STATUS_BY_CLASS: Final = {
    "InvalidRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "InvalidPath": 404,
    "UnsupportedOperation": 405,
    "PreconditionFailed": 412,
    "RateLimitExceeded": 429,
    "InternalServerError": 500,
    "BadGateway": 502,
}


def _detail(exc: Any) -> str:
    # Only the server's error list: without one, hvac's message is the raw response body,
    # which may hold secret data, and its str() appends the URL.
    return "; ".join(str(e) for e in exc.errors) if exc.errors else "no detail"


def is_cas_mismatch(exc: BaseException) -> bool:
    """A KV v2 write refused because ``cas`` did not match the current version."""
    from hvac.exceptions import InvalidRequest  # type: ignore[import-untyped]  # noqa: PLC0415

    return isinstance(exc, InvalidRequest) and "did not match the current version" in _detail(exc)


def _from_vault(exc: Any, kw: dict[str, Any]) -> InfraError:
    from hvac import exceptions as hv  # type: ignore[import-untyped]  # noqa: PLC0415

    detail = _detail(exc)
    if is_cas_mismatch(exc):
        return InfraConflictError(f"check-and-set failed: {detail}", **kw)
    if isinstance(exc, hv.VaultDown):
        lowered = detail.lower()
        reason = "sealed" if "sealed" in lowered else "standby" if "standby" in lowered else "down"
        return InfraUnavailableError(
            f"server unavailable ({reason}): {detail}", reason=reason, **kw
        )
    if isinstance(exc, hv.VaultNotInitialized):
        return InfraUnavailableError(
            f"server not initialized: {detail}", reason="server_error", **kw
        )
    status = next(
        (_STATUS_BY_CLASS[c.__name__] for c in type(exc).__mro__ if c.__name__ in _STATUS_BY_CLASS),
        None,
    )
    error = (
        None if status is None else error_for_status(status, detail=detail, service="vault", **kw)
    )
    return error or InfraProtocolError(f"unexpected answer from vault: {detail}", **kw)


def _never_sent(exc: BaseException) -> bool:
    """requests failed to connect: the request never reached the server."""
    import requests  # noqa: PLC0415

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return any(c.__name__ == "NewConnectionError" for c in type(reason).__mro__)


def _from_transport(exc: BaseException, kw: dict[str, Any], timeout_seconds: float) -> InfraError:
    import requests  # noqa: PLC0415

    if isinstance(exc, requests.exceptions.SSLError):  # not an ssl.SSLError
        return InfraConnectionError(
            "TLS handshake or certificate verification with vault failed", retryable=False, **kw
        )
    # requests' timeouts are not TimeoutErrors: the shared mapping gets one.
    cause = TimeoutError() if isinstance(exc, requests.exceptions.Timeout) else exc
    return error_for_transport(
        cause, timeout_seconds=timeout_seconds, sent=not _never_sent(exc), service="vault", **kw
    )


def to_infra_error(
    exc: BaseException,
    *,
    operation: str,
    target: str,
    correlation_id: UUID,
    timeout_seconds: float,
) -> InfraError:
    """The taxonomy's error for a failure of one call to the server; ``timeout_seconds``
    is hvac's per-request timeout (what a requests timeout exceeded)."""
    if isinstance(exc, InfraError):
        return exc
    kw: dict[str, Any] = {
        "transport": _T,
        "operation": operation,
        "target": target,
        "correlation_id": correlation_id,
    }
    from hvac.exceptions import VaultError  # noqa: PLC0415

    if isinstance(exc, VaultError):
        return _from_vault(exc, kw)
    return _from_transport(exc, kw, timeout_seconds)
