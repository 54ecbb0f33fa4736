"""Key rotation on the real server: the first token signed with the new key causes exactly
one JWKS fetch, later ones none; random kids cause at most one fetch per cooldown."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import jwt
import pytest

from omnibase_infra.models.keycloak import ModelKeycloakTokenRequest
from omnibase_infra.nodes.node_keycloak_adapter_effect import NodeKeycloakAdapterEffect
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import (
    TokenUnknownKeyError,
)
from omnibase_infra_testing.services.oidc import (
    OidcClient,
    OidcRealmConfig,
    OidcService,
    running_oidc,
)

from .conftest import FakeClock, NodeFactory, note, rsa_private_jwk

pytestmark = pytest.mark.real_service


@pytest.fixture
def rotating() -> Iterator[OidcService]:
    """A private server per test: rotation changes its signing key."""
    client = OidcClient("rotating", "rotating-secret-" + uuid.uuid4().hex)
    with running_oidc(OidcRealmConfig(realm="rotation", clients=(client,))) as service:
        yield service


async def _fresh_token(node: NodeKeycloakAdapterEffect, service: OidcService) -> str:
    token = await node.token(ModelKeycloakTokenRequest(use_cache=False))
    note(token.access_token)
    return token.access_token.get_secret_value()


async def test_rotation_costs_exactly_one_fetch(
    rotating: OidcService, make_node: NodeFactory, clock: FakeClock
) -> None:
    node = make_node(rotating, "rotating", clock=clock)
    old = await _fresh_token(node, rotating)
    await node.verify_token(old)
    assert node.network_requests["jwks"] == 1

    new_kid = rotating.rotate_keys()
    new = await _fresh_token(node, rotating)
    assert jwt.get_unverified_header(new)["kid"] == new_kid
    # Within the cooldown the new kid is refused without a fetch ...
    with pytest.raises(TokenUnknownKeyError):
        await node.verify_token(new)
    assert node.network_requests["jwks"] == 1
    assert node.jwks.skipped_refetches == 1
    # ... after it, the first token with the new kid fetches once, the rest none.
    clock.advance(31)
    await node.verify_token(new)
    assert node.network_requests["jwks"] == 2
    for _ in range(3):
        await node.verify_token(await _fresh_token(node, rotating))
    await node.verify_token(old)  # the previous key is still published
    assert node.network_requests["jwks"] == 2
    assert set(node.jwks.kids) == {new_kid, jwt.get_unverified_header(old)["kid"]}


async def test_rotation_with_a_short_real_cooldown(
    rotating: OidcService, make_node: NodeFactory
) -> None:
    node = make_node(rotating, "rotating", jwks_refetch_cooldown_seconds=0.2)
    await node.verify_token(await _fresh_token(node, rotating))
    rotating.rotate_keys(keep_previous=False)
    await asyncio.sleep(0.25)
    await node.verify_token(await _fresh_token(node, rotating))
    assert node.network_requests["jwks"] == 2


async def test_random_kid_storm_is_one_fetch_per_cooldown(
    rotating: OidcService, make_node: NodeFactory, clock: FakeClock
) -> None:
    node = make_node(rotating, "rotating", clock=clock)
    token = await _fresh_token(node, rotating)
    await node.verify_token(token)
    assert node.network_requests["jwks"] == 1
    key, _ = rsa_private_jwk("attacker")

    def forged() -> str:
        return jwt.encode(
            {"iss": rotating.issuer, "aud": "account", "exp": 2**31},
            key,
            algorithm="RS256",
            headers={"kid": uuid.uuid4().hex},
        )

    async def attempt(value: str) -> None:
        with pytest.raises(TokenUnknownKeyError):
            await node.verify_token(value)

    storm = [forged() for _ in range(40)]
    await asyncio.gather(*(attempt(t) for t in storm))  # inside the first cooldown
    assert node.network_requests["jwks"] == 1
    clock.advance(31)
    await asyncio.gather(*(attempt(t) for t in storm))  # one cooldown later, concurrently
    assert node.network_requests["jwks"] == 2
    for value in storm[:10]:  # sequentially, still within that cooldown
        await attempt(value)
    assert node.network_requests["jwks"] == 2
    await node.verify_token(token)  # the real key keeps working throughout
    assert node.network_requests["jwks"] == 2
