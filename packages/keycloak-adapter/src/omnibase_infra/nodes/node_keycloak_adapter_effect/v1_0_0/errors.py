"""The Keycloak node's failures on the error taxonomy.

A token that fails local verification is a credential the node refuses: each reason has its
own subclass of ``InfraAuthenticationError`` (not retryable, never a breaker failure), so
callers can tell an expired token from a forged one. Grant failures follow the server's
OAuth error: ``invalid_client`` (wrong client secret) and ``invalid_grant`` (wrong password,
revoked or expired refresh token) are authentication errors too. HTTP and transport
failures map onto the shared classes (connection, timeout, unavailable, rate limited,
rejected request, protocol).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar
from uuid import UUID

import aiohttp

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConnectionError,
    InfraError,
    InfraPermissionError,
    InfraProtocolError,
    InfraRateLimitedError,
    InfraRejectedRequestError,
    InfraTimeoutError,
    InfraUnavailableError,
)

__all__ = [
    "KeycloakGrantError",
    "KeycloakInvalidClientError",
    "KeycloakInvalidGrantError",
    "KeycloakTokenError",
    "TokenAlgorithmError",
    "TokenAudienceError",
    "TokenExpiredError",
    "TokenIssuerError",
    "TokenMalformedError",
    "TokenNotYetValidError",
    "TokenSignatureError",
    "TokenUnknownKeyError",
    "from_http_status",
    "from_transport",
]

TRANSPORT = EnumTransport.KEYCLOAK


class KeycloakTokenError(InfraAuthenticationError):
    """A token failed local verification; ``check`` names what failed."""

    check: ClassVar[str] = "token"


class TokenMalformedError(KeycloakTokenError):
    """Not a JWT (three base64url parts with a JSON header and payload), or a required
    claim is missing or of the wrong type."""

    check = "format"


class TokenAlgorithmError(KeycloakTokenError):
    """The header's ``alg`` is not on the allow-list (``none`` and HMAC never are), or
    does not fit the key."""

    check = "alg"


class TokenUnknownKeyError(KeycloakTokenError):
    """The ``kid`` is not in the realm's JWKS, even after the refetch it allows."""

    check = "kid"


class TokenSignatureError(KeycloakTokenError):
    """The signature does not verify with the realm's key (tampered or forged)."""

    check = "signature"


class TokenExpiredError(KeycloakTokenError):
    """``exp`` is in the past (beyond the leeway)."""

    check = "exp"


class TokenNotYetValidError(KeycloakTokenError):
    """``nbf`` (or ``iat``) is in the future (beyond the leeway)."""

    check = "nbf"


class TokenAudienceError(KeycloakTokenError):
    """``aud`` holds none of the expected audiences."""

    check = "aud"


class TokenIssuerError(KeycloakTokenError):
    """``iss`` is not the realm's issuer."""

    check = "iss"


class KeycloakGrantError(InfraAuthenticationError):
    """The token endpoint refused the credentials; ``oauth_error`` is the server's code."""


class KeycloakInvalidClientError(KeycloakGrantError):
    """``invalid_client``: unknown client or wrong client secret."""


class KeycloakInvalidGrantError(KeycloakGrantError):
    """``invalid_grant``: wrong user credentials, or a revoked/expired refresh token."""


def _kw(operation: str, target: str, correlation_id: UUID) -> dict[str, Any]:
    return {
        "transport": TRANSPORT,
        "operation": operation,
        "target": target,
        "correlation_id": correlation_id,
    }


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def from_http_status(
    status: int,
    body: object,
    *,
    operation: str,
    target: str,
    correlation_id: UUID,
    retry_after: str | None = None,
) -> InfraError:
    """The error for a non-2xx answer; ``body`` is the parsed JSON (or None)."""
    kw = _kw(operation, target, correlation_id)
    oauth_error = body.get("error") if isinstance(body, dict) else None
    code = str(oauth_error) if oauth_error else None
    # The server's own words, never the request: OAuth error descriptions name no secret.
    description = body.get("error_description") if isinstance(body, dict) else None
    detail = f"{code}: {description}" if code and description else code or f"HTTP {status}"
    if code == "invalid_client":
        return KeycloakInvalidClientError(
            f"client authentication failed ({detail})", oauth_error=code, **kw
        )
    if code == "invalid_grant":
        return KeycloakInvalidGrantError(f"grant refused ({detail})", oauth_error=code, **kw)
    by_status: dict[int, Callable[[], InfraError]] = {
        401: lambda: InfraAuthenticationError(f"not authenticated ({detail})", **kw),
        403: lambda: InfraPermissionError(f"permission denied ({detail})", **kw),
        429: lambda: InfraRateLimitedError(
            f"rate limited ({detail})", retry_after_seconds=_retry_after(retry_after), **kw
        ),
    }
    if status in by_status:
        return by_status[status]()
    if status >= 500:
        return InfraUnavailableError(
            f"server error ({detail})", reason="server_error", status_code=status, **kw
        )
    return InfraRejectedRequestError(f"request rejected ({detail})", status=status, **kw)


def from_transport(
    exc: BaseException,
    *,
    operation: str,
    target: str,
    correlation_id: UUID,
    timeout_seconds: float,
) -> InfraError:
    """The error for a failure below HTTP (connect, TLS, timeout, broken answer)."""
    if isinstance(exc, InfraError):
        return exc
    kw = _kw(operation, target, correlation_id)
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return InfraTimeoutError(
            f"no answer within {timeout_seconds}s", timeout_seconds=timeout_seconds, **kw
        )
    if isinstance(exc, aiohttp.ClientSSLError):
        return InfraConnectionError("TLS handshake or verification failed", retryable=False, **kw)
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        return InfraConnectionError(f"cannot reach the server ({type(exc).__name__})", **kw)
    return InfraProtocolError(f"unexpected answer ({type(exc).__name__})", **kw)
