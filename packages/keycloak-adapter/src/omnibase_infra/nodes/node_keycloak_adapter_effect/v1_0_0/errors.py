"""The Keycloak node's failures on the error taxonomy.

A token that fails local verification is a credential the node refuses: each reason has its
own subclass of ``InfraAuthenticationError`` (not retryable, never a breaker failure), so
callers can tell an expired token from a forged one. Grant failures follow the server's
OAuth error: ``invalid_client`` (wrong client secret) and ``invalid_grant`` (wrong password,
revoked or expired refresh token) are authentication errors too. HTTP and transport
failures map onto the shared classes through the platform's one HTTP mapping
(``omnibase_infra.effect.http``: connection, timeout, not found, conflict, unavailable, rate
limited, rejected request, protocol).
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from omnibase_infra.effect.http import error_for_status, error_for_transport
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraAuthenticationError, InfraError

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


def from_http_status(
    status: int,
    body: object,
    *,
    operation: str,
    target: str,
    correlation_id: UUID | None,
    retry_after: str | None = None,
) -> InfraError:
    """The error for a non-2xx answer of an OpenID endpoint; ``body`` is the parsed JSON
    (or None). The server's OAuth ``error`` code decides first (``invalid_client``,
    ``invalid_grant``); everything else is the platform's status table
    (:func:`omnibase_infra.effect.http.error_for_status`)."""
    oauth_error = body.get("error") if isinstance(body, dict) else None
    code = str(oauth_error) if oauth_error else None
    # The server's own words, never the request: OAuth error descriptions name no secret.
    description = body.get("error_description") if isinstance(body, dict) else None
    detail = f"{code}: {description}" if code and description else code or ""
    common: dict[str, Any] = {
        "transport": TRANSPORT,
        "operation": operation,
        "target": target,
        "correlation_id": correlation_id,
    }
    if code == "invalid_client":
        return KeycloakInvalidClientError(
            f"client authentication failed ({detail})", oauth_error=code, **common
        )
    if code == "invalid_grant":
        return KeycloakInvalidGrantError(f"grant refused ({detail})", oauth_error=code, **common)
    error = error_for_status(
        status,
        detail=detail,
        headers={"Retry-After": retry_after} if retry_after is not None else None,
        service="keycloak",
        **common,
    )
    assert error is not None  # noqa: S101 - callers pass non-2xx statuses only
    return error


def from_transport(
    exc: BaseException,
    *,
    operation: str,
    target: str,
    correlation_id: UUID | None,
    timeout_seconds: float,
) -> InfraError:
    """The error for a failure below HTTP (connect, TLS, timeout, broken answer): the
    platform's mapping (:func:`omnibase_infra.effect.http.error_for_transport`)."""
    return error_for_transport(
        exc,
        transport=TRANSPORT,
        operation=operation,
        target=target,
        correlation_id=correlation_id,
        timeout_seconds=timeout_seconds,
        service="keycloak",
    )
