"""OIDC discovery and the realm's JWKS document.

:class:`RealmEndpoints` holds the realm's endpoints: from
``{issuer}/.well-known/openid-configuration`` (cached for ``discovery_ttl_seconds``; its
``issuer`` must be the configured one; an endpoint it does not name takes Keycloak's default
path), or Keycloak's defaults alone when discovery is off. Concurrent callers share one
fetch. The fetch itself is the node's (an operation of its own through the runner).
:func:`jwks_document` checks the JWKS answer before :class:`~.jwks.JwksCache` parses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final
from uuid import UUID

from omnibase_infra.errors import InfraProtocolError
from omnibase_infra.models.keycloak import ModelKeycloakConfig, ModelKeycloakEndpoints
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import TRANSPORT

__all__ = ["DISCOVERY_PATH", "FetchDocument", "RealmEndpoints", "jwks_document"]

DISCOVERY_PATH: Final = "/.well-known/openid-configuration"

type FetchDocument = Callable[[str], Awaitable[dict[str, Any]]]
"""Fetches a JSON object from a URL (the node runs it as the ``discovery`` operation)."""

# Endpoint fields and the names network_requests counts them under.
_NAMES: Final = (
    ("token_endpoint", "token"),
    ("jwks_uri", "jwks"),
    ("introspection_endpoint", "introspection"),
    ("userinfo_endpoint", "userinfo"),
    ("end_session_endpoint", "end_session"),
)


class RealmEndpoints:
    """The realm's endpoints, discovered and cached (see the module docstring)."""

    def __init__(
        self, config: ModelKeycloakConfig, *, target: str, clock: Callable[[], float]
    ) -> None:
        self._config = config
        self._target = target
        self._clock = clock
        self._defaults = ModelKeycloakEndpoints.keycloak_defaults(target)
        self._endpoints: ModelKeycloakEndpoints | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def current(self) -> ModelKeycloakEndpoints | None:
        """The endpoints held now (None before the first discovery)."""
        return self._endpoints

    def replace(self, **fields: str) -> None:
        """Use these endpoint URLs from now on (until the next discovery)."""
        self._endpoints = (self._endpoints or self._defaults).model_copy(update=fields)

    def fresh(self) -> ModelKeycloakEndpoints | None:
        """The endpoints when no discovery is due: the no-await fast path."""
        current = self._endpoints
        if current is not None and (
            not self._config.use_discovery
            or self._clock() - self._fetched_at < self._config.discovery_ttl_seconds
        ):
            return current
        if current is None and not self._config.use_discovery:
            self._endpoints = self._defaults
            return self._defaults
        return None

    async def get(
        self, fetch: FetchDocument, correlation_id: UUID | None = None
    ) -> ModelKeycloakEndpoints:
        """The endpoints, discovering them with ``fetch`` when due."""
        fresh = self.fresh()
        if fresh is not None:
            return fresh
        current = self._endpoints
        async with self._lock:
            if self._endpoints is not current and self._endpoints is not None:
                return self._endpoints  # another caller discovered them meanwhile
            document = await fetch(self._target + DISCOVERY_PATH)
            if document.get("issuer") != self._target:
                raise InfraProtocolError(
                    f"discovery names issuer {str(document.get('issuer'))[:200]!r}, not the "
                    "configured one",
                    transport=TRANSPORT,
                    operation="discovery",
                    target=self._target,
                    correlation_id=correlation_id,
                )
            fields = {
                name: value
                for name in ModelKeycloakEndpoints.model_fields
                if isinstance(value := document.get(name), str) and value
            }
            self._endpoints = self._defaults.model_copy(update=fields)
            self._fetched_at = self._clock()
            return self._endpoints

    def name_of(self, url: str) -> str:
        """What a request URL is, for the request counters."""
        path = url.split("?", 1)[0]
        if path.endswith(DISCOVERY_PATH):
            return "discovery"
        if "/admin/realms/" in path:
            return "admin"
        endpoints = self._endpoints or self._defaults
        for field, name in _NAMES:
            if path == getattr(endpoints, field):
                return name
        return "other"


def jwks_document(body: Mapping[str, Any], *, target: str, correlation_id: UUID) -> None:
    """Refuse a JWKS answer without a ``keys`` list."""
    if not isinstance(body.get("keys"), list):
        raise InfraProtocolError(
            "the JWKS document has no 'keys' list",
            transport=TRANSPORT,
            operation="jwks",
            target=target,
            correlation_id=correlation_id,
        )
