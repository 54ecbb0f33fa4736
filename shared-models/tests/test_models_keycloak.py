"""Keycloak/OIDC models: configuration checks (algorithm allow-list, issuer), grant field
rules, secrets hidden, Keycloak's default endpoints, role helpers, request parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr, ValidationError

from omnibase_infra.models.keycloak import (
    ALLOWED_ALGORITHMS,
    EnumKeycloakOperation,
    ModelKeycloakConfig,
    ModelKeycloakEndpoints,
    ModelKeycloakIntrospection,
    ModelKeycloakIntrospectRequest,
    ModelKeycloakLogoutRequest,
    ModelKeycloakLogoutResponse,
    ModelKeycloakToken,
    ModelKeycloakTokenClaims,
    ModelKeycloakTokenRequest,
    ModelKeycloakUserinfo,
    ModelKeycloakUserinfoRequest,
    ModelKeycloakVerifyRequest,
    parse_keycloak_request,
)

ISSUER = "https://kc.example:8443/realms/omnibase"


def test_config_defaults_and_target() -> None:
    config = ModelKeycloakConfig(
        issuer=ISSUER + "/", client_id="svc", client_secret=SecretStr("s3cret-value")
    )
    assert config.issuer == ISSUER
    assert config.target == "kc.example:8443"
    assert config.algorithms == ("RS256",)
    assert config.jwks_refetch_cooldown_seconds == 30.0
    assert config.client_auth_method == "client_secret_basic"
    assert "s3cret-value" not in repr(config) + str(config.model_dump(mode="json"))


@pytest.mark.parametrize("issuer", ["kc.example/realms/x", "ftp://kc/realms/x", "https://u:p@kc/x"])
def test_config_rejects_bad_issuers(issuer: str) -> None:
    with pytest.raises(ValidationError):
        ModelKeycloakConfig(issuer=issuer, client_id="svc")


@pytest.mark.parametrize("algorithms", [(), ("none",), ("HS256",), ("RS256", "HS512")])
def test_config_refuses_none_and_hmac(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError, match="algorithm"):
        ModelKeycloakConfig(issuer=ISSUER, client_id="svc", algorithms=algorithms)


def test_config_accepts_every_asymmetric_algorithm() -> None:
    config = ModelKeycloakConfig(
        issuer=ISSUER, client_id="svc", algorithms=tuple(sorted(ALLOWED_ALGORITHMS))
    )
    assert len(config.algorithms) == 9
    assert not any(a.startswith("HS") for a in ALLOWED_ALGORITHMS)


def test_keycloak_default_endpoints() -> None:
    endpoints = ModelKeycloakEndpoints.keycloak_defaults(ISSUER + "/")
    base = ISSUER + "/protocol/openid-connect"
    assert endpoints.issuer == ISSUER
    assert endpoints.token_endpoint == f"{base}/token"
    assert endpoints.jwks_uri == f"{base}/certs"
    assert endpoints.introspection_endpoint == f"{base}/token/introspect"
    assert endpoints.userinfo_endpoint == f"{base}/userinfo"
    assert endpoints.end_session_endpoint == f"{base}/logout"


def test_grant_fields() -> None:
    assert ModelKeycloakTokenRequest().grant_type == "client_credentials"
    password = ModelKeycloakTokenRequest(
        grant_type="password", username="alice", password=SecretStr("pw-value")
    )
    assert "pw-value" not in repr(password)
    refresh = ModelKeycloakTokenRequest(grant_type="refresh_token", refresh_token=SecretStr("r"))
    assert refresh.refresh_token is not None
    with pytest.raises(ValidationError, match="needs password"):
        ModelKeycloakTokenRequest(grant_type="password", username="alice")
    with pytest.raises(ValidationError, match="needs refresh_token"):
        ModelKeycloakTokenRequest(grant_type="refresh_token")
    with pytest.raises(ValidationError, match="takes no username"):
        ModelKeycloakTokenRequest(username="alice")
    with pytest.raises(ValidationError, match="takes no refresh_token"):
        ModelKeycloakTokenRequest(
            grant_type="password",
            username="a",
            password=SecretStr("p"),
            refresh_token=SecretStr("r"),
        )


def test_parse_every_request() -> None:
    cases = {
        "token": ModelKeycloakTokenRequest,
        "verify": ModelKeycloakVerifyRequest,
        "introspect": ModelKeycloakIntrospectRequest,
        "userinfo": ModelKeycloakUserinfoRequest,
        "logout": ModelKeycloakLogoutRequest,
    }
    data = {
        "token": {},
        "verify": {"token": "t"},
        "introspect": {"token": "t", "token_type_hint": "refresh_token"},
        "userinfo": {"access_token": "t"},
        "logout": {"refresh_token": "t"},
    }
    for operation in EnumKeycloakOperation:
        parsed = parse_keycloak_request({"operation": operation.value, **data[operation.value]})
        assert type(parsed) is cases[operation.value]
    with pytest.raises(ValidationError):
        parse_keycloak_request({"operation": "admin"})
    with pytest.raises(ValidationError):
        ModelKeycloakVerifyRequest(token=SecretStr("t"), required_realm_roles=("",))


def test_role_helpers() -> None:
    claims = ModelKeycloakTokenClaims(
        issuer=ISSUER,
        expires_at=datetime.now(UTC),
        algorithm="RS256",
        realm_roles=("user",),
        client_roles={"app": ("editor",)},
    )
    assert claims.has_realm_role("user")
    assert not claims.has_realm_role("admin")
    assert claims.has_client_role("app", "editor")
    assert not claims.has_client_role("other", "editor")
    assert claims.missing_roles() == []
    assert claims.missing_roles(("user", "admin"), {"app": ("editor", "owner"), "x": ("y",)}) == [
        "admin",
        "app:owner",
        "x:y",
    ]
    inactive = ModelKeycloakIntrospection(active=False)
    assert inactive.missing_roles(("user",)) == ["user"]


def test_responses_hide_tokens() -> None:
    token = ModelKeycloakToken(
        access_token=SecretStr("eyJaccess"),
        expires_in=300,
        expires_at=datetime.now(UTC),
        refresh_token=SecretStr("refresh-value"),
        id_token=SecretStr("id-value"),
    )
    dumped = str(token.model_dump(mode="json")) + repr(token)
    for value in ("eyJaccess", "refresh-value", "id-value"):
        assert value not in dumped
    with pytest.raises(ValidationError):
        ModelKeycloakToken(access_token=SecretStr("a"), expires_in=-1, expires_at=datetime.now(UTC))
    info = ModelKeycloakUserinfo(subject="s", claims={"sub": "s"})
    assert info.preferred_username is None
    assert ModelKeycloakLogoutResponse().logged_out
