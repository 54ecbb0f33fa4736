"""Verification: local checks of an access token against the realm's cached keys, and the
server's answer to an introspection read into its model.

:class:`LocalVerifier` runs the checks of :mod:`.jwt_check` in order (structure, algorithm
on the allow-list, key by ``kid`` from the :class:`~.jwks.JwksCache`, key fit, signature,
claims) and builds the typed claims with Keycloak's roles pulled out. A known ``kid`` costs no
network request and no await beyond the call itself (the hot path).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

from pydantic import SecretStr

from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.models.keycloak import (
    ModelKeycloakConfig,
    ModelKeycloakIntrospection,
    ModelKeycloakTokenClaims,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import (
    TRANSPORT,
    KeycloakTokenError,
    TokenAlgorithmError,
    TokenMalformedError,
    TokenSignatureError,
    TokenUnknownKeyError,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.jwks import JwksCache
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.jwt_check import (
    algorithms,
    b64url,
    check_claims,
    header_of,
    json_object,
)

__all__ = ["LocalVerifier", "claims_model", "introspection_from", "roles_of"]


def _utc(seconds: object) -> datetime | None:
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return datetime.fromtimestamp(seconds, UTC)
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def roles_of(claims: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """Keycloak's ``realm_access.roles`` and ``resource_access.{client}.roles``."""
    realm_access = claims.get("realm_access")
    realm_roles = realm_access.get("roles") if isinstance(realm_access, dict) else None
    realm = (
        tuple(r for r in realm_roles if isinstance(r, str)) if isinstance(realm_roles, list) else ()
    )
    client: dict[str, tuple[str, ...]] = {}
    resource_access = claims.get("resource_access")
    if isinstance(resource_access, dict):
        for client_id, access in resource_access.items():
            roles = access.get("roles") if isinstance(access, dict) else None
            if isinstance(roles, list):
                client[str(client_id)] = tuple(r for r in roles if isinstance(r, str))
    return realm, client


def _audience(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(a for a in value if isinstance(a, str))
    return ()


_CLAIMS_FIELDS: Final = frozenset(ModelKeycloakTokenClaims.model_fields)


def claims_model(**values: Any) -> ModelKeycloakTokenClaims:
    """``ModelKeycloakTokenClaims.model_construct(**values)`` for values that name every
    field, without its per-field default handling (a quarter of its cost: this is the
    verification hot path). The values come from a token that has just been verified."""
    claims = ModelKeycloakTokenClaims.__new__(ModelKeycloakTokenClaims)
    object.__setattr__(claims, "__dict__", values)
    object.__setattr__(claims, "__pydantic_fields_set__", _CLAIMS_FIELDS)
    object.__setattr__(claims, "__pydantic_extra__", None)
    object.__setattr__(claims, "__pydantic_private__", None)
    return claims


class LocalVerifier:
    """Verifies access tokens of one issuer with its cached keys (module docstring).

    Building it loads PyJWT's algorithm objects (and ``cryptography``).
    """

    def __init__(self, config: ModelKeycloakConfig, jwks: JwksCache, *, target: str) -> None:
        self._config = config
        self._jwks = jwks
        self._target = target
        self._allowed = frozenset(config.algorithms)
        self._algorithms = algorithms()

    def _error(
        self,
        cls: type[KeycloakTokenError],
        message: str,
        correlation_id: UUID | None,
        **context: Any,
    ) -> KeycloakTokenError:
        return cls(
            message,
            transport=TRANSPORT,
            operation="verify",
            target=self._target,
            correlation_id=correlation_id,
            check=cls.check,
            **context,
        )

    async def verify(
        self,
        token: str | SecretStr,
        *,
        audience: tuple[str, ...] | None = None,
        correlation_id: UUID | None = None,
    ) -> ModelKeycloakTokenClaims:
        """The token's claims, or the error of the first check it fails."""
        value = token.get_secret_value() if isinstance(token, SecretStr) else token
        expected = audience or self._config.audience
        if not expected:
            raise InfraConfigurationError(
                "no expected audience: set ModelKeycloakConfig.audience or pass audience=",
                transport=TRANSPORT,
                operation="verify",
                target=self._target,
                correlation_id=correlation_id,
            )
        parts = value.split(".")
        parsed = header_of(parts[0]) if len(parts) == 3 else None
        if parsed is None:
            raise self._error(TokenMalformedError, "token is not a well-formed JWT", correlation_id)
        algorithm, kid = parsed
        if algorithm not in self._allowed:
            raise self._error(
                TokenAlgorithmError,
                f"token algorithm {algorithm[:20]!r} is not allowed",
                correlation_id,
            )
        if kid is None:
            raise self._error(TokenMalformedError, "token header has no kid", correlation_id)
        key = self._jwks.cached(kid)
        if key is None:
            key = await self._jwks.get(kid)
            if key is None:
                raise self._error(
                    TokenUnknownKeyError,
                    "token is signed with a key the realm does not publish",
                    correlation_id,
                    kid=kid[:100],
                )
        if not key.fits(algorithm):
            raise self._error(
                TokenAlgorithmError, "token algorithm does not fit its key", correlation_id
            )
        try:
            signature = b64url(parts[2])
            payload = b64url(parts[1])
        except ValueError:
            raise self._error(
                TokenMalformedError, "token is not a well-formed JWT", correlation_id
            ) from None
        try:
            signed = self._algorithms[algorithm].verify(
                f"{parts[0]}.{parts[1]}".encode(), key.key, signature
            )
        except Exception:  # a key or signature the library refuses does not verify
            signed = False
        if not signed:
            raise self._error(
                TokenSignatureError, "token signature does not verify", correlation_id
            )
        claims = json_object(payload)
        if claims is None:
            raise self._error(
                TokenMalformedError, "token payload is not a JSON object", correlation_id
            )
        problem = check_claims(
            claims,
            issuer=self._target,
            audience=expected,
            leeway=self._config.leeway_seconds,
            now=time.time(),
        )
        if problem is not None:
            raise self._error(problem[0], problem[1], correlation_id)
        realm, client = roles_of(claims)
        return claims_model(
            subject=_str(claims.get("sub")),
            issuer=self._target,
            audience=_audience(claims.get("aud")),
            authorized_party=_str(claims.get("azp")),
            expires_at=_utc(claims["exp"]),
            issued_at=_utc(claims.get("iat")),
            not_before=_utc(claims.get("nbf")),
            scope=_str(claims.get("scope")),
            preferred_username=_str(claims.get("preferred_username")),
            session_id=_str(claims.get("sid")),
            token_id=_str(claims.get("jti")),
            key_id=kid,
            algorithm=algorithm,
            claims=claims,
            realm_roles=realm,
            client_roles=client,
        )


def introspection_from(body: Mapping[str, Any]) -> ModelKeycloakIntrospection:
    """An RFC 7662 answer as a :class:`ModelKeycloakIntrospection` (everything but
    ``active`` absent for an inactive token)."""
    if body.get("active") is not True:
        return ModelKeycloakIntrospection(active=False)
    realm, client = roles_of(body)
    return ModelKeycloakIntrospection(
        active=True,
        subject=_str(body.get("sub")),
        client_id=_str(body.get("client_id")) or _str(body.get("azp")),
        username=_str(body.get("username")) or _str(body.get("preferred_username")),
        scope=_str(body.get("scope")),
        token_type=_str(body.get("token_type")) or _str(body.get("typ")),
        expires_at=_utc(body.get("exp")),
        session_id=_str(body.get("sid")),
        realm_roles=realm,
        client_roles=client,
    )
