"""Typed configuration, requests and responses of the Keycloak/OIDC node.

The client secret, passwords and every token (access, refresh, ID) are ``SecretStr``: they
never appear in ``repr``, ``str`` or ``model_dump(mode="json")`` (masked as ``**********``).
The realm's issuer is a full URL (``https://kc.example/realms/omnibase``); the endpoints
default to Keycloak's paths under it and are taken from discovery when it is enabled.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    field_validator,
    model_validator,
)

from omnibase_infra.models.model_infra_envelope import ModelInfraRequest

__all__ = [
    "ALLOWED_ALGORITHMS",
    "KEYCLOAK_OIDC_PATH",
    "EnumKeycloakOperation",
    "KeycloakRequest",
    "ModelKeycloakConfig",
    "ModelKeycloakEndpoints",
    "ModelKeycloakIntrospectRequest",
    "ModelKeycloakIntrospection",
    "ModelKeycloakLogoutRequest",
    "ModelKeycloakLogoutResponse",
    "ModelKeycloakToken",
    "ModelKeycloakTokenClaims",
    "ModelKeycloakTokenRequest",
    "ModelKeycloakUserinfo",
    "ModelKeycloakUserinfoRequest",
    "ModelKeycloakVerifyRequest",
    "parse_keycloak_request",
]

# Asymmetric signature algorithms only: never ``none``, never HMAC (a public key used as an
# HMAC secret is the classic algorithm-confusion attack).
ALLOWED_ALGORITHMS: frozenset[str] = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
KEYCLOAK_OIDC_PATH = "/protocol/openid-connect"

_ISSUER = r"^https?://[^/@\s?#]+(:\d+)?(/[^\s?#]*)?$"
_ROLE = Annotated[str, Field(min_length=1, max_length=255)]


class EnumKeycloakOperation(StrEnum):
    """Operations of the Keycloak node (the contract lists them in this order)."""

    TOKEN = "token"  # noqa: S105 - an operation name
    VERIFY = "verify"
    INTROSPECT = "introspect"
    USERINFO = "userinfo"
    LOGOUT = "logout"


class ModelKeycloakEndpoints(BaseModel):
    """The realm's endpoints, from discovery or Keycloak's default paths."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    issuer: str
    token_endpoint: str
    jwks_uri: str
    introspection_endpoint: str
    userinfo_endpoint: str
    end_session_endpoint: str

    @classmethod
    def keycloak_defaults(cls, issuer: str) -> Self:
        """Keycloak's paths under ``issuer`` (``{issuer}/protocol/openid-connect/...``)."""
        base = issuer.rstrip("/") + KEYCLOAK_OIDC_PATH
        return cls(
            issuer=issuer.rstrip("/"),
            token_endpoint=f"{base}/token",
            jwks_uri=f"{base}/certs",
            introspection_endpoint=f"{base}/token/introspect",
            userinfo_endpoint=f"{base}/userinfo",
            end_session_endpoint=f"{base}/logout",
        )


class ModelKeycloakConfig(BaseModel):
    """Where the realm is, which client the node is, and how tokens are verified.

    ``audience``: the ``aud`` values a verified token must hold one of (a verify request may
    name its own); empty means every verification must name one. ``leeway_seconds`` applies
    to ``exp``/``nbf``/``iat``. ``jwks_refetch_cooldown_seconds`` is the least time between
    two JWKS fetches caused by unknown ``kid``s. ``token_refresh_fraction`` is when a cached
    client-credentials token is replaced (2/3 of its lifetime, the lifetime manager's policy);
    ``token_min_remaining_seconds`` is the least lifetime a token handed out still has.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    issuer: str = Field(pattern=_ISSUER, max_length=2048)
    client_id: str = Field(min_length=1, max_length=255)
    client_secret: SecretStr | None = None
    client_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
    audience: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = ("RS256",)
    leeway_seconds: float = Field(default=10.0, ge=0, le=300, allow_inf_nan=False)
    use_discovery: bool = True
    discovery_ttl_seconds: float = Field(default=3600.0, ge=0, le=86400, allow_inf_nan=False)
    jwks_ttl_seconds: float = Field(default=300.0, gt=0, le=86400, allow_inf_nan=False)
    jwks_refetch_cooldown_seconds: float = Field(default=30.0, ge=0, le=3600, allow_inf_nan=False)
    token_refresh_fraction: float = Field(default=2 / 3, gt=0, lt=1, allow_inf_nan=False)
    token_min_remaining_seconds: float = Field(default=5.0, ge=0, le=600, allow_inf_nan=False)
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=600, allow_inf_nan=False)
    verify_tls: bool = True
    ca_cert_path: str | None = None

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("algorithms")
    @classmethod
    def _algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one algorithm is needed")
        refused = sorted(set(value) - ALLOWED_ALGORITHMS)
        if refused:
            raise ValueError(
                f"algorithms {refused} are not allowed (only {sorted(ALLOWED_ALGORITHMS)})"
            )
        return value

    @property
    def target(self) -> str:
        """``host:port`` of the issuer (never credentials): the breaker's key."""
        return self.issuer.split("://", 1)[1].split("/", 1)[0]


class ModelKeycloakTokenRequest(ModelInfraRequest):
    """Obtain a token: ``client_credentials`` (cached per client and scope unless
    ``use_cache`` is False), ``password`` (``username`` + ``password``) or
    ``refresh_token`` (``refresh_token``)."""

    operation: Literal["token"] = "token"
    grant_type: Literal["client_credentials", "password", "refresh_token"] = "client_credentials"
    username: str | None = Field(default=None, min_length=1, max_length=255)
    password: SecretStr | None = None
    refresh_token: SecretStr | None = None
    scope: str | None = Field(default=None, max_length=2048)
    use_cache: bool = True

    @model_validator(mode="after")
    def _grant_fields(self) -> Self:
        needs = {
            "client_credentials": set(),
            "password": {"username", "password"},
            "refresh_token": {"refresh_token"},
        }[self.grant_type]
        given = {n for n in ("username", "password", "refresh_token") if getattr(self, n)}
        if missing := sorted(needs - given):
            raise ValueError(f"grant {self.grant_type} needs {', '.join(missing)}")
        if extra := sorted(given - needs):
            raise ValueError(f"grant {self.grant_type} takes no {', '.join(extra)}")
        return self


class ModelKeycloakVerifyRequest(ModelInfraRequest):
    """Verify an access token locally (signature from the cached JWKS, issuer, audience,
    expiry, not-before, algorithm) and optionally require roles."""

    operation: Literal["verify"] = "verify"
    token: SecretStr
    audience: tuple[str, ...] | None = None
    required_realm_roles: tuple[_ROLE, ...] = ()
    required_client_roles: dict[str, tuple[_ROLE, ...]] = Field(default_factory=dict)


class ModelKeycloakIntrospectRequest(ModelInfraRequest):
    """Ask the server whether a token is active (RFC 7662), e.g. after a logout."""

    operation: Literal["introspect"] = "introspect"
    token: SecretStr
    token_type_hint: Literal["access_token", "refresh_token"] | None = None


class ModelKeycloakUserinfoRequest(ModelInfraRequest):
    """The userinfo of an access token's subject (the token needs the ``openid`` scope)."""

    operation: Literal["userinfo"] = "userinfo"
    access_token: SecretStr


class ModelKeycloakLogoutRequest(ModelInfraRequest):
    """End the session of a refresh token (Keycloak's back-channel logout)."""

    operation: Literal["logout"] = "logout"
    refresh_token: SecretStr


type KeycloakRequest = (
    ModelKeycloakTokenRequest
    | ModelKeycloakVerifyRequest
    | ModelKeycloakIntrospectRequest
    | ModelKeycloakUserinfoRequest
    | ModelKeycloakLogoutRequest
)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class ModelKeycloakToken(_Response):
    """A token response. ``expires_at`` is when the access token expires (UTC)."""

    access_token: SecretStr
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret
    expires_in: int = Field(ge=0)
    expires_at: datetime
    refresh_token: SecretStr | None = None
    refresh_expires_in: int | None = None
    id_token: SecretStr | None = None
    scope: str | None = None
    session_state: str | None = None
    from_cache: bool = False


class _RoleClaims(_Response):
    realm_roles: tuple[str, ...] = ()
    client_roles: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    def has_realm_role(self, role: str) -> bool:
        """Whether ``realm_access.roles`` holds ``role``."""
        return role in self.realm_roles

    def has_client_role(self, client_id: str, role: str) -> bool:
        """Whether ``resource_access.{client_id}.roles`` holds ``role``."""
        return role in self.client_roles.get(client_id, ())

    def missing_roles(
        self, realm: tuple[str, ...] = (), client: dict[str, tuple[str, ...]] | None = None
    ) -> list[str]:
        """The required roles not held: ``role`` for realm roles, ``client:role`` otherwise."""
        missing = [role for role in realm if not self.has_realm_role(role)]
        for client_id, roles in (client or {}).items():
            missing += [f"{client_id}:{r}" for r in roles if not self.has_client_role(client_id, r)]
        return missing


class ModelKeycloakTokenClaims(_RoleClaims):
    """The verified claims of an access token, with Keycloak's roles pulled out.

    ``claims`` holds every claim as the token carries it (no secrets: a JWT's claims are
    readable by anyone holding it).
    """

    subject: str | None = None
    issuer: str
    audience: tuple[str, ...] = ()
    authorized_party: str | None = None
    expires_at: datetime
    issued_at: datetime | None = None
    not_before: datetime | None = None
    scope: str | None = None
    preferred_username: str | None = None
    session_id: str | None = None
    token_id: str | None = None
    key_id: str | None = None
    algorithm: str
    claims: dict[str, object] = Field(default_factory=dict)


class ModelKeycloakIntrospection(_RoleClaims):
    """The server's view of a token; everything but ``active`` is absent when inactive."""

    active: bool
    subject: str | None = None
    client_id: str | None = None
    username: str | None = None
    scope: str | None = None
    token_type: str | None = None
    expires_at: datetime | None = None
    session_id: str | None = None


class ModelKeycloakUserinfo(_Response):
    """The userinfo endpoint's answer; ``claims`` holds every claim returned."""

    subject: str
    preferred_username: str | None = None
    email: str | None = None
    name: str | None = None
    claims: dict[str, object] = Field(default_factory=dict)


class ModelKeycloakLogoutResponse(_Response):
    """A logout that the server accepted."""

    logged_out: bool = True


_REQUEST_ADAPTER: TypeAdapter[KeycloakRequest] = TypeAdapter(
    Annotated[
        ModelKeycloakTokenRequest
        | ModelKeycloakVerifyRequest
        | ModelKeycloakIntrospectRequest
        | ModelKeycloakUserinfoRequest
        | ModelKeycloakLogoutRequest,
        Field(discriminator="operation"),
    ]
)


def parse_keycloak_request(data: object) -> KeycloakRequest:
    """The typed request for a dict whose ``operation`` names it (pydantic errors otherwise)."""
    return _REQUEST_ADAPTER.validate_python(data)
