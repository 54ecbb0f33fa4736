"""Token grants against the real OIDC server: client credentials (cached, refreshed before
expiry, never handed out expired), password, refresh, and each failure."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from omnibase_infra.models.keycloak import ModelKeycloakLogoutRequest, ModelKeycloakTokenRequest
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import (
    KeycloakInvalidClientError,
    KeycloakInvalidGrantError,
)
from omnibase_infra_testing.services.oidc import (
    OidcClient,
    OidcRealmConfig,
    OidcService,
    running_oidc,
)

from .conftest import FakeClock, NodeFactory, note

pytestmark = pytest.mark.real_service


async def test_client_credentials_token_is_cached_per_scope(
    oidc_service: OidcService, make_node: NodeFactory, clock: FakeClock
) -> None:
    node = make_node(oidc_service, "omnibase-service", clock=clock)
    first = await node.token(ModelKeycloakTokenRequest())
    note(first.access_token)
    assert first.token_type == "Bearer"
    assert first.expires_in == 300
    assert first.refresh_token is None
    assert not first.from_cache
    assert abs((first.expires_at - datetime.now(UTC)).total_seconds() - 300) < 5
    assert node.network_requests["token"] == 1

    again = await node.token(ModelKeycloakTokenRequest())
    assert again.from_cache
    assert again.access_token.get_secret_value() == first.access_token.get_secret_value()
    assert node.network_requests["token"] == 1  # no request for a cached token

    other_scope = await node.token(ModelKeycloakTokenRequest(scope="openid"))
    assert not other_scope.from_cache
    assert other_scope.scope == "openid profile email"
    uncached = await node.token(ModelKeycloakTokenRequest(use_cache=False))
    assert not uncached.from_cache
    assert node.network_requests["token"] == 3

    claims = await node.verify_token(first.access_token)
    assert claims.authorized_party == "omnibase-service"
    assert claims.has_realm_role("service")
    assert claims.has_client_role("omnibase-service", "publish")
    assert not claims.has_client_role("omnibase-service", "admin")
    assert first.access_token.get_secret_value() not in repr(first) + str(first.model_dump())


async def test_cached_token_is_replaced_at_two_thirds_of_its_lifetime(
    oidc_service: OidcService, make_node: NodeFactory, clock: FakeClock
) -> None:
    node = make_node(oidc_service, "omnibase-service", clock=clock)
    first = await node.token(ModelKeycloakTokenRequest())
    clock.advance(199)  # 2/3 of 300 s is 200 s
    assert (await node.token(ModelKeycloakTokenRequest())).from_cache
    clock.advance(2)
    refreshed = await node.token(ModelKeycloakTokenRequest())
    assert not refreshed.from_cache
    assert refreshed.access_token.get_secret_value() != first.access_token.get_secret_value()
    assert node.network_requests["token"] == 2


async def test_a_cached_token_survives_a_failed_refresh_but_never_expires(
    oidc_service: OidcService, make_node: NodeFactory, clock: FakeClock
) -> None:
    node = make_node(oidc_service, "omnibase-service", clock=clock, request_timeout_seconds=0.5)
    first = await node.token(ModelKeycloakTokenRequest())
    # Point the node at a port nothing listens on: refreshes fail with connection errors.
    node.realm.replace(token_endpoint="http://127.0.0.1:9/realms/x/protocol/openid-connect/token")
    clock.advance(250)  # past 2/3, before the end
    kept = await node.token(ModelKeycloakTokenRequest())
    assert kept.access_token.get_secret_value() == first.access_token.get_secret_value()
    clock.advance(46)  # less than token_min_remaining_seconds (5 s) left
    with pytest.raises(Exception) as caught:  # noqa: PT011
        await node.token(ModelKeycloakTokenRequest())
    assert type(caught.value).__name__ == "InfraConnectionError"


async def test_password_and_refresh_grants(
    oidc_service: OidcService, make_node: NodeFactory
) -> None:
    node = make_node(oidc_service, "omnibase-app", audience=("omnibase-service",))
    alice = oidc_service.user("alice")
    login = await node.token(
        ModelKeycloakTokenRequest(
            grant_type="password",
            username="alice",
            password=SecretStr(alice.password),
            scope="openid",
        )
    )
    note(login.access_token, login.refresh_token, login.id_token)
    assert login.refresh_token is not None
    assert login.id_token is not None
    assert login.refresh_expires_in == 1800
    assert login.session_state
    claims = await node.verify_token(login.access_token)
    assert claims.preferred_username == "alice"
    assert claims.session_id == login.session_state
    assert claims.has_client_role("omnibase-app", "editor")
    assert set(claims.audience) == {"account", "omnibase-service"}

    refreshed = await node.token(
        ModelKeycloakTokenRequest(grant_type="refresh_token", refresh_token=login.refresh_token)
    )
    note(refreshed.access_token, refreshed.refresh_token)
    assert refreshed.access_token.get_secret_value() != login.access_token.get_secret_value()
    assert (await node.verify_token(refreshed.access_token)).preferred_username == "alice"


async def test_wrong_client_secret_is_an_authentication_error(
    oidc_service: OidcService, make_node: NodeFactory
) -> None:
    node = make_node(
        oidc_service, "omnibase-service", client_secret=SecretStr("wrong-secret-value")
    )
    with pytest.raises(KeycloakInvalidClientError) as caught:
        await node.token(ModelKeycloakTokenRequest())
    assert caught.value.details["oauth_error"] == "invalid_client"
    assert not caught.value.retryable
    assert "wrong-secret-value" not in str(caught.value) + repr(caught.value)
    assert node.network_requests["token"] == 1  # not retried
    post = make_node(
        oidc_service,
        "omnibase-service",
        client_secret=SecretStr("wrong-secret-value"),
        client_auth_method="client_secret_post",
    )
    with pytest.raises(KeycloakInvalidClientError):
        await post.token(ModelKeycloakTokenRequest())


async def test_client_secret_post_works(oidc_service: OidcService, make_node: NodeFactory) -> None:
    node = make_node(oidc_service, "omnibase-service", client_auth_method="client_secret_post")
    token = await node.token(ModelKeycloakTokenRequest())
    note(token.access_token)
    assert (await node.verify_token(token.access_token)).authorized_party == "omnibase-service"


async def test_wrong_password_is_an_invalid_grant(
    oidc_service: OidcService, make_node: NodeFactory
) -> None:
    node = make_node(oidc_service, "omnibase-app")
    with pytest.raises(KeycloakInvalidGrantError, match="Invalid user credentials"):
        await node.token(
            ModelKeycloakTokenRequest(
                grant_type="password", username="alice", password=SecretStr("not-her-password")
            )
        )


async def test_revoked_refresh_token_is_an_invalid_grant(
    oidc_service: OidcService, make_node: NodeFactory
) -> None:
    node = make_node(oidc_service, "omnibase-app")
    bob = oidc_service.user("bob")
    login = await node.token(
        ModelKeycloakTokenRequest(
            grant_type="password", username="bob", password=SecretStr(bob.password)
        )
    )
    note(login.access_token, login.refresh_token)
    assert login.refresh_token is not None
    out = await node.logout(ModelKeycloakLogoutRequest(refresh_token=login.refresh_token))
    assert out.logged_out
    with pytest.raises(KeycloakInvalidGrantError):
        await node.token(
            ModelKeycloakTokenRequest(grant_type="refresh_token", refresh_token=login.refresh_token)
        )
    with pytest.raises(KeycloakInvalidGrantError):
        await node.logout(ModelKeycloakLogoutRequest(refresh_token=login.refresh_token))


async def test_background_lifetime_keeps_the_token_fresh(make_node: NodeFactory) -> None:
    client = OidcClient(
        "short",
        "short-secret-" + uuid.uuid4().hex,
        grant_types=("client_credentials",),
        access_token_lifespan=3,
    )
    with running_oidc(OidcRealmConfig(realm="short", clients=(client,))) as service:
        node = make_node(service, "short", token_min_remaining_seconds=0.5)
        manager = await node.start_token_lifetime()
        assert await node.start_token_lifetime() is manager
        first = await node.token(ModelKeycloakTokenRequest())
        note(first.access_token)
        assert first.from_cache
        await asyncio.sleep(2.3)  # the manager replaced it at ~60% of its 3 s
        second = await node.token(ModelKeycloakTokenRequest())
        note(second.access_token)
        assert second.from_cache
        assert second.access_token.get_secret_value() != first.access_token.get_secret_value()
        assert manager.logins >= 1
        assert node.network_requests["token"] == 1 + manager.logins
        await node.close()
        assert not manager.running


async def test_a_short_lived_token_is_replaced_before_its_last_seconds(
    make_node: NodeFactory, clock: FakeClock
) -> None:
    client = OidcClient(
        "brief",
        "brief-secret-" + uuid.uuid4().hex,
        grant_types=("client_credentials",),
        access_token_lifespan=6,
    )
    with running_oidc(OidcRealmConfig(realm="brief", clients=(client,))) as service:
        node = make_node(service, "brief", clock=clock, token_min_remaining_seconds=5)
        first = await node.token(ModelKeycloakTokenRequest())
        note(first.access_token)
        assert (await node.token(ModelKeycloakTokenRequest())).from_cache
        clock.advance(1.5)  # 2/3 of 6 s would be 4 s; only 1 s may pass (6 - 5)
        second = await node.token(ModelKeycloakTokenRequest())
        note(second.access_token)
        assert not second.from_cache
        assert node.network_requests["token"] == 2
