"""OIDC smoke tests: the Keycloak test target is a real OpenID Provider, driven over HTTP.

Tokens are fetched with the standard library and checked with PyJWT against the published
JWKS, the way a Keycloak client adapter would.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

import jwt
import pytest

from omnibase_infra_testing.services.oidc import (
    SERVICE,
    OidcClient,
    OidcRealmConfig,
    OidcService,
    basic_auth,
    running_oidc,
)
from omnibase_infra_testing.unavailable import service_unavailable

pytestmark = pytest.mark.real_service

# Straight to loopback, whatever http_proxy says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _call(
    url: str, form: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """GET (no form) or POST a form; the status and the JSON body ({} when empty)."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers=dict(headers or {}))  # noqa: S310
    try:
        with _DIRECT.open(request, timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            status, body = error.code, error.read()
    return status, json.loads(body) if body else {}


def _token(service: OidcService, client: OidcClient, **form: str) -> dict[str, Any]:
    status, body = _call(service.token_url, form, {"Authorization": basic_auth(client)})
    assert status == 200, body
    return body


def _jwks(service: OidcService) -> jwt.PyJWKSet:
    status, body = _call(service.jwks_url)
    assert status == 200
    return jwt.PyJWKSet.from_dict(body)


def _verify(service: OidcService, token: str, audience: str) -> dict[str, Any]:
    """Verify an RS256 access token against the published JWKS, looking its kid up."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    key = _jwks(service)[header["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        key=key,
        algorithms=["RS256"],
        audience=audience,
        issuer=service.issuer,
        options={"require": ["exp", "iat", "iss", "sub", "aud", "jti"]},
    )
    return claims


def _introspect(service: OidcService, client: OidcClient, token: str) -> dict[str, Any]:
    status, body = _call(
        service.introspection_url, {"token": token}, {"Authorization": basic_auth(client)}
    )
    assert status == 200, body
    return body


def _managed(service: OidcService) -> OidcService:
    """The harness's own server: its realm's clients, users and roles are known."""
    if service.external:
        service_unavailable(
            f"{SERVICE} started by the harness",
            "an external issuer is configured, whose clients, users and roles are unknown here",
            "unset OMNIBASE_INFRA_TEST_OIDC_ISSUER to run this test",
        )
    return service


def test_discovery_has_keycloaks_paths(oidc_service: OidcService) -> None:
    status, document = _call(oidc_service.discovery_url)
    assert status == 200
    issuer = oidc_service.issuer
    assert document["issuer"] == issuer
    assert issuer.endswith(f"/realms/{oidc_service.realm}")
    oidc = f"{issuer}/protocol/openid-connect"
    assert document["token_endpoint"] == oidc_service.token_url == f"{oidc}/token"
    assert document["jwks_uri"] == oidc_service.jwks_url == f"{oidc}/certs"
    assert document["introspection_endpoint"] == f"{oidc}/token/introspect"
    assert document["userinfo_endpoint"] == f"{oidc}/userinfo"
    assert document["end_session_endpoint"] == f"{oidc}/logout"
    assert document["revocation_endpoint"] == f"{oidc}/revoke"
    assert {"client_credentials", "password", "refresh_token"} <= set(
        document["grant_types_supported"]
    )
    assert "RS256" in document["id_token_signing_alg_values_supported"]


def test_client_credentials_token_is_a_keycloak_jwt(oidc_service: OidcService) -> None:
    service = _managed(oidc_service)
    client = service.client("omnibase-service")
    response = _token(service, client, grant_type="client_credentials")
    assert response["token_type"] == "Bearer"
    assert response["expires_in"] == 300
    assert "refresh_token" not in response  # as Keycloak: none for client credentials

    claims = _verify(service, response["access_token"], audience="account")
    assert claims["azp"] == client.client_id
    assert claims["sub"] == client.service_account_id
    assert claims["preferred_username"] == f"service-account-{client.client_id}"
    assert claims["typ"] == "Bearer"
    assert claims["exp"] - claims["iat"] == 300
    assert abs(claims["iat"] - time.time()) < 60
    assert {"service", "offline_access", f"default-roles-{service.realm}"} <= set(
        claims["realm_access"]["roles"]
    )
    assert set(claims["resource_access"][client.client_id]["roles"]) == {"publish", "consume"}
    assert claims["scope"] == response["scope"] == "profile email"

    active = _introspect(service, client, response["access_token"])
    assert active["active"] is True
    assert (active["client_id"], active["sub"]) == (client.client_id, client.service_account_id)


def test_password_grant_carries_the_users_roles(oidc_service: OidcService) -> None:
    service = _managed(oidc_service)
    client, alice = service.client("omnibase-app"), service.user("alice")
    response = _token(
        service,
        client,
        grant_type="password",
        username=alice.username,
        password=alice.password,
        scope="openid",
    )
    assert response["session_state"]
    assert response["refresh_expires_in"] == 1800

    claims = _verify(service, response["access_token"], audience="omnibase-service")
    assert claims["aud"] == ["account", "omnibase-service"]  # not the requesting client
    assert claims["azp"] == client.client_id
    assert claims["sub"] == alice.user_id
    assert claims["sid"] == response["session_state"]
    assert claims["preferred_username"] == "alice"
    assert claims["email"] == "alice@example.com"
    assert claims["scope"] == "openid profile email"
    assert {"admin", "user"} <= set(claims["realm_access"]["roles"])
    assert claims["resource_access"]["omnibase-app"]["roles"] == ["editor"]
    assert claims["resource_access"]["omnibase-service"]["roles"] == ["consume"]

    id_token = jwt.decode(
        response["id_token"],
        key=_jwks(service)[jwt.get_unverified_header(response["id_token"])["kid"]],
        algorithms=["RS256"],
        audience=client.client_id,
        issuer=service.issuer,
    )
    assert (id_token["sub"], id_token["preferred_username"]) == (alice.user_id, "alice")

    bearer = {"Authorization": f"Bearer {response['access_token']}"}
    status, userinfo = _call(service.userinfo_url, headers=bearer)
    assert status == 200
    assert (userinfo["sub"], userinfo["preferred_username"]) == (alice.user_id, "alice")


def test_refresh_then_logout_ends_the_session(oidc_service: OidcService) -> None:
    service = _managed(oidc_service)
    client, bob = service.client("omnibase-app"), service.user("bob")
    login = _token(
        service, client, grant_type="password", username=bob.username, password=bob.password
    )
    refreshed = _token(
        service, client, grant_type="refresh_token", refresh_token=login["refresh_token"]
    )
    assert refreshed["access_token"] != login["access_token"]
    claims = _verify(service, refreshed["access_token"], audience="account")
    assert (claims["preferred_username"], claims["sid"]) == ("bob", login["session_state"])
    assert _introspect(service, client, refreshed["access_token"])["active"] is True
    assert _introspect(service, client, login["refresh_token"])["active"] is True

    status, body = _call(
        service.logout_url,
        {
            "client_id": client.client_id,
            "client_secret": client.secret or "",
            "refresh_token": refreshed["refresh_token"],
        },
    )
    assert (status, body) == (204, {})

    status, body = _call(
        service.token_url,
        {"grant_type": "refresh_token", "refresh_token": login["refresh_token"]},
        {"Authorization": basic_auth(client)},
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    for token in (login["access_token"], refreshed["access_token"], login["refresh_token"]):
        assert _introspect(service, client, token) == {"active": False}
    status, _ = _call(
        service.userinfo_url, headers={"Authorization": f"Bearer {login['access_token']}"}
    )
    assert status == 401


def test_revoked_access_token_is_inactive(oidc_service: OidcService) -> None:
    service = _managed(oidc_service)
    client = service.client("omnibase-service")
    token = _token(service, client, grant_type="client_credentials")["access_token"]
    status, _ = _call(
        service.revocation_url, {"token": token}, {"Authorization": basic_auth(client)}
    )
    assert status == 200
    assert _introspect(service, client, token) == {"active": False}


def test_wrong_credentials_are_rejected(oidc_service: OidcService) -> None:
    service = _managed(oidc_service)
    client, alice = service.client("omnibase-app"), service.user("alice")
    impostor = OidcClient(client.client_id, "not-the-secret")
    status, body = _call(
        service.token_url,
        {"grant_type": "client_credentials"},
        {"Authorization": basic_auth(impostor)},
    )
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = _call(
        service.token_url,
        {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": "x"},
    )
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = _call(
        service.token_url,
        {"grant_type": "password", "username": alice.username, "password": "wrong"},
        {"Authorization": basic_auth(client)},
    )
    assert (status, body) == (
        401,
        {"error": "invalid_grant", "error_description": "Invalid user credentials"},
    )


def test_key_rotation_and_short_lifetimes() -> None:
    """A private server (rotation would disturb the session one): new kids, expiry, stop."""
    client = OidcClient("rotating", "s3cret", grant_types=("client_credentials",))
    # exp is whole seconds after a whole-second iat: a 1 s lifespan leaves between 0 and 1 s,
    # too little on a loaded machine; 3 s leaves at least 2 s for the checks before expiry.
    config = OidcRealmConfig(realm="rotation", clients=(client,), access_token_lifespan=3)
    with running_oidc(config) as service:
        first = _token(service, client, grant_type="client_credentials")
        assert first["expires_in"] == 3
        old_kid = jwt.get_unverified_header(first["access_token"])["kid"]

        new_kid = service.rotate_keys()
        assert new_kid != old_kid
        assert {key.key_id for key in _jwks(service).keys} == {old_kid, new_kid}
        second = _token(service, client, grant_type="client_credentials")["access_token"]
        assert jwt.get_unverified_header(second)["kid"] == new_kid
        assert _verify(service, second, audience="account")["azp"] == "rotating"

        newest_kid = service.rotate_keys(keep_previous=False)
        assert {key.key_id for key in _jwks(service).keys} == {newest_kid}
        with pytest.raises(KeyError):
            _jwks(service)[old_kid]  # the old tokens' kid is no longer published
        assert _introspect(service, client, first["access_token"]) == {"active": False}

        third = _token(service, client, grant_type="client_credentials")["access_token"]
        assert _introspect(service, client, third)["active"] is True
        expires_at = jwt.decode(third, options={"verify_signature": False})["exp"]
        time.sleep(max(0.0, expires_at - time.time()) + 0.2)
        assert _introspect(service, client, third) == {"active": False}
        with pytest.raises(jwt.ExpiredSignatureError):
            _verify(service, third, audience="account")
    assert service.pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(service.pid, 0)
