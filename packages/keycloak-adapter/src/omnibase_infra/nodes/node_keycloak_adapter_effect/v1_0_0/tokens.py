"""Token grants: the form each grant sends, the token answer read into its model, and the
client-credentials token cache.

:class:`TokenCache` keeps one client-credentials token per scope. It is replaced once
``token_refresh_fraction`` of its lifetime has passed (earlier for a short-lived token, so
that one is never handed out with less than ``token_min_remaining_seconds`` left); when the
replacement fails with a transient error while the old one is still usable, the old one is
handed out; an expired token never is. Concurrent callers of one scope share one fetch
(:meth:`TokenCache.lock`). Password and refresh grants are never cached (the node keeps no
user's password). The node's admin operations take their token from the same cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import SecretStr

from omnibase_infra.errors import InfraError, InfraProtocolError
from omnibase_infra.models.keycloak import (
    ModelKeycloakConfig,
    ModelKeycloakToken,
    ModelKeycloakTokenRequest,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import TRANSPORT
from omnibase_infra.redaction import register_secret

__all__ = ["TokenCache", "grant_form", "token_from_answer"]

type CacheKey = str | None  # the scope


@dataclass(slots=True)
class _Cached:
    token: ModelKeycloakToken
    refresh_at: float  # clock: replace it from here on
    usable_until: float  # clock: never hand it out from here on


class TokenCache:
    """Client-credentials tokens by scope, on the node's monotonic ``clock``."""

    def __init__(self, config: ModelKeycloakConfig, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._tokens: dict[CacheKey, _Cached] = {}
        self._locks: dict[CacheKey, asyncio.Lock] = {}

    def fresh(self, scope: CacheKey) -> ModelKeycloakToken | None:
        """The cached token of ``scope`` while it need not be replaced yet."""
        cached = self._tokens.get(scope)
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.token
        return None

    def lock(self, scope: CacheKey) -> asyncio.Lock:
        """The lock one replacement of ``scope``'s token holds."""
        return self._locks.setdefault(scope, asyncio.Lock())

    def fallback(self, scope: CacheKey, error: InfraError) -> ModelKeycloakToken | None:
        """After a failed replacement: the old token when the error is transient and the
        token still usable; otherwise None, and the token is dropped."""
        cached = self._tokens.get(scope)
        if cached is not None and error.retryable and self._clock() < cached.usable_until:
            return cached.token
        self._tokens.pop(scope, None)
        return None

    def store(self, scope: CacheKey, token: ModelKeycloakToken, requested_at: float) -> None:
        """Keep a new client-credentials token (``requested_at``: the clock when it was
        asked for, so the lifetime is counted from before the request)."""
        lifetime = float(token.expires_in)
        usable_until = requested_at + lifetime - self._config.token_min_remaining_seconds
        self._tokens[scope] = _Cached(
            token=token.model_copy(update={"from_cache": True}),
            # A short-lived token is replaced before it gets too close to its end.
            refresh_at=min(
                requested_at + lifetime * self._config.token_refresh_fraction, usable_until
            ),
            usable_until=usable_until,
        )

    def drop(self, scope: CacheKey, token: ModelKeycloakToken | None = None) -> None:
        """Forget ``scope``'s token (only if it is still ``token``, when given): the server
        refused it."""
        cached = self._tokens.get(scope)
        if cached is None:
            return
        if token is None or (
            cached.token.access_token.get_secret_value() == token.access_token.get_secret_value()
        ):
            del self._tokens[scope]

    def clear(self) -> None:
        self._tokens.clear()


def grant_form(request: ModelKeycloakTokenRequest) -> dict[str, str]:
    """The token endpoint's form for ``request`` (without client authentication). A
    password is registered with the redaction registry before it is sent."""
    form: dict[str, str] = {"grant_type": request.grant_type}
    if request.username is not None:
        form["username"] = request.username
    if request.password is not None:
        register_secret(request.password.get_secret_value())
        form["password"] = request.password.get_secret_value()
    if request.refresh_token is not None:
        form["refresh_token"] = request.refresh_token.get_secret_value()
    if request.scope:
        form["scope"] = request.scope
    return form


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def token_from_answer(
    body: object, *, operation: str, target: str, correlation_id: UUID
) -> ModelKeycloakToken:
    """The token endpoint's JSON answer as a :class:`ModelKeycloakToken`."""
    data: Mapping[str, Any] = body if isinstance(body, dict) else {}
    access = data.get("access_token")
    expires_in = data.get("expires_in")
    if (
        not isinstance(access, str)
        or not isinstance(expires_in, int)
        or isinstance(expires_in, bool)
        or expires_in < 0
    ):
        raise InfraProtocolError(
            "the token response lacks access_token or expires_in",
            transport=TRANSPORT,
            operation=operation,
            target=target,
            correlation_id=correlation_id,
        )
    refresh_expires = data.get("refresh_expires_in")

    def secret(name: str) -> SecretStr | None:
        value = data.get(name)
        return SecretStr(value) if isinstance(value, str) and value else None

    return ModelKeycloakToken(
        access_token=SecretStr(access),
        token_type=_str(data.get("token_type")) or "Bearer",
        expires_in=expires_in,
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
        refresh_token=secret("refresh_token"),
        refresh_expires_in=refresh_expires if isinstance(refresh_expires, int) else None,
        id_token=secret("id_token"),
        scope=_str(data.get("scope")),
        session_state=_str(data.get("session_state")),
    )
