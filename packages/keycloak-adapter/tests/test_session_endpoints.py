"""Introspection, userinfo, logout and discovery against the real server."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from omnibase_infra.errors import InfraAuthenticationError, InfraNotFoundError, InfraProtocolError
from omnibase_infra.models.keycloak import (
    ModelKeycloakEndpoints,
    ModelKeycloakIntrospectRequest,
    ModelKeycloakLogoutRequest,
    ModelKeycloakToken,
    ModelKeycloakTokenRequest,
    ModelKeycloakUserinfoRequest,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect import NodeKeycloakAdapterEffect
from omnibase_infra_testing.services.oidc import OidcService

from .conftest import NodeFactory, note

pytestmark = pytest.mark.real_service


async def _login(
    node: NodeKeycloakAdapterEffect, service: OidcService, user: str
) -> ModelKeycloakToken:
    token = await node.token(
        ModelKeycloakTokenRequest(
            grant_type="password",
            username=user,
            password=SecretStr(service.user(user).password),
            scope="openid",
        )
    )
    note(token.access_token, token.refresh_token, token.id_token)
    return token


async def test_introspect_userinfo_then_logout(
    oidc_service: OidcService, make_node: NodeFactory
) -> None:
    node = make_node(oidc_service, "omnibase-app")
    login = await _login(node, oidc_service, "alice")
    alice = oidc_service.user("alice")

    active = await node.introspect(ModelKeycloakIntrospectRequest(token=login.access_token))
    assert active.active
    assert active.subject == alice.user_id
    assert active.client_id == "omnibase-app"
    assert active.username == "alice"
    assert active.expires_at is not None
    assert active.session_id == login.session_state
    assert active.has_realm_role("admin")
    assert active.has_client_role("omnibase-app", "editor")

    info = await node.userinfo(ModelKeycloakUserinfoRequest(access_token=login.access_token))
    assert (info.subject, info.preferred_username) == (alice.user_id, "alice")
    assert info.email == "alice@example.com"
    assert info.name == "Alice Liddell"

    assert login.refresh_token is not None
    refresh = await node.introspect(
        ModelKeycloakIntrospectRequest(token=login.refresh_token, token_type_hint="refresh_token")
    )
    assert refresh.active

    await node.logout(ModelKeycloakLogoutRequest(refresh_token=login.refresh_token))
    for token in (login.access_token, login.refresh_token):
        gone = await node.introspect(ModelKeycloakIntrospectRequest(token=token))
        assert gone.active is False
        assert gone.subject is None
    with pytest.raises(InfraAuthenticationError):
        await node.userinfo(ModelKeycloakUserinfoRequest(access_token=login.access_token))
    # Local verification cannot know about the logout (the token is signed and unexpired):
    # that is what introspection is for.
    assert (await node.verify_token(login.access_token)).preferred_username == "alice"


async def test_discovery_is_cached_and_checked(
    oidc_service: OidcService, make_node: NodeFactory
) -> None:
    node = make_node(oidc_service, "omnibase-service")
    endpoints = await node.endpoints()
    assert endpoints == ModelKeycloakEndpoints.keycloak_defaults(oidc_service.issuer)
    assert await node.endpoints() is endpoints
    assert node.network_requests["discovery"] == 1

    off = make_node(oidc_service, "omnibase-service", use_discovery=False)
    token = await off.token(ModelKeycloakTokenRequest())
    note(token.access_token)
    assert "discovery" not in off.network_requests
    assert await off.endpoints() is await off.endpoints()

    # Same server, another spelling of the issuer: discovery names the real one.
    wrong = make_node(
        oidc_service,
        "omnibase-service",
        issuer=oidc_service.issuer.replace("127.0.0.1", "localhost"),
    )
    with pytest.raises(InfraProtocolError, match="discovery names issuer"):
        await wrong.endpoints()


async def test_unknown_realm_is_not_found(
    oidc_service: OidcService, make_node: NodeFactory
) -> None:
    node = make_node(
        oidc_service, "omnibase-service", issuer=oidc_service.base_url + "/realms/nope"
    )
    with pytest.raises(InfraNotFoundError) as caught:
        await node.endpoints()
    assert caught.value.details["status_code"] == 404
    assert caught.value.operation == "discovery"
