"""Local verification against the real server's JWKS: valid, expired, not yet valid, wrong
audience, wrong issuer, tampered signature, ``alg: none``, HMAC with the public key, unknown
kid, malformed; required roles; and no network request per verification once warm."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from omnibase_infra.errors import InfraConfigurationError, InfraPermissionError
from omnibase_infra.models.keycloak import ModelKeycloakVerifyRequest
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import (
    KeycloakTokenError,
    TokenAlgorithmError,
    TokenAudienceError,
    TokenExpiredError,
    TokenIssuerError,
    TokenMalformedError,
    TokenNotYetValidError,
    TokenSignatureError,
    TokenUnknownKeyError,
)
from omnibase_infra_testing.services.oidc import OidcService

from .conftest import SIGNING_KID, FakeClock, Minter, NodeFactory, rsa_private_jwk

pytestmark = pytest.mark.real_service

Realm = tuple[OidcService, Minter]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_valid_token_then_no_network_per_verification(
    private_realm: Realm, make_node: NodeFactory
) -> None:
    service, minter = private_realm
    node = make_node(service)
    token = minter.mint(aud=["account", "other"], nbf=int(time.time()) - 5, scope="openid")
    claims = await node.verify(ModelKeycloakVerifyRequest(token=SecretStr(token)))
    assert claims.issuer == service.issuer
    assert claims.audience == ("account", "other")
    assert claims.key_id == SIGNING_KID
    assert claims.algorithm == "RS256"
    assert claims.realm_roles == ("user",)
    assert claims.client_roles == {"minted": ("reader",)}
    assert claims.scope == "openid"
    assert claims.not_before is not None
    assert claims.claims["typ"] == "Bearer"
    warm = dict(node.network_requests)
    assert warm == {"discovery": 1, "jwks": 1}
    for _ in range(50):
        await node.verify_token(token)
    assert dict(node.network_requests) == warm  # zero requests per verification


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"exp": -60}, TokenExpiredError),  # times: seconds from now, when the test runs
        ({"nbf": 120}, TokenNotYetValidError),
        ({"iat": 120}, TokenNotYetValidError),
        ({"aud": "someone-else"}, TokenAudienceError),
        ({"aud": None}, TokenAudienceError),
        ({"iss": "http://127.0.0.1:1/realms/evil"}, TokenIssuerError),
        ({"exp": None}, TokenMalformedError),
    ],
    ids=["expired", "not-yet-valid", "issued-in-future", "audience", "no-aud", "issuer", "no-exp"],
)
async def test_each_failed_check_has_its_error(
    private_realm: Realm,
    make_node: NodeFactory,
    claims: dict[str, Any],
    error: type[KeycloakTokenError],
) -> None:
    service, minter = private_realm
    node = make_node(service, leeway_seconds=5)
    now = int(time.time())
    token = minter.mint(
        **{
            name: now + value if name in {"exp", "nbf", "iat"} and value is not None else value
            for name, value in claims.items()
        }
    )
    with pytest.raises(error) as caught:
        await node.verify_token(token)
    assert caught.value.details["check"] == error.check
    assert not caught.value.retryable
    assert token not in str(caught.value) + repr(caught.value)


async def test_leeway_accepts_a_token_just_expired(
    private_realm: Realm, make_node: NodeFactory
) -> None:
    service, minter = private_realm
    token = minter.mint(exp=int(time.time()) - 3)
    assert (await make_node(service, leeway_seconds=30).verify_token(token)).subject
    with pytest.raises(TokenExpiredError):
        await make_node(service, leeway_seconds=0).verify_token(token)


async def test_audience_of_the_request_overrides_the_config(
    private_realm: Realm, make_node: NodeFactory
) -> None:
    service, minter = private_realm
    node = make_node(service, audience=())
    token = minter.mint(aud="api")
    with pytest.raises(InfraConfigurationError, match="audience"):
        await node.verify_token(token)
    assert (await node.verify_token(token, audience=("api",))).audience == ("api",)


async def test_tampered_and_forged_signatures(private_realm: Realm, make_node: NodeFactory) -> None:
    service, minter = private_realm
    node = make_node(service)
    header, payload, signature = minter.mint().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["realm_access"] = {"roles": ["admin"]}
    forged_payload = _b64(json.dumps(claims).encode())
    with pytest.raises(TokenSignatureError):
        await node.verify_token(f"{header}.{forged_payload}.{signature}")
    other_key, _ = rsa_private_jwk("other")
    with pytest.raises(TokenSignatureError):  # the realm's kid, another key
        await node.verify_token(minter.mint(key=other_key))


async def test_alg_none_and_hmac_are_refused(private_realm: Realm, make_node: NodeFactory) -> None:
    service, minter = private_realm
    node = make_node(service)
    unsigned_header = _b64(json.dumps({"alg": "none", "kid": SIGNING_KID}).encode())
    payload = _b64(json.dumps(minter.claims()).encode())
    with pytest.raises(TokenAlgorithmError):
        await node.verify_token(f"{unsigned_header}.{payload}.")
    # HMAC keyed with the realm's public key (the algorithm-confusion attack).
    public_pem = minter.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hmac_header = _b64(json.dumps({"alg": "HS256", "kid": SIGNING_KID, "typ": "JWT"}).encode())
    signing_input = f"{hmac_header}.{payload}".encode()
    mac = _b64(hmac.new(public_pem, signing_input, hashlib.sha256).digest())
    with pytest.raises(TokenAlgorithmError):
        await node.verify_token(f"{hmac_header}.{payload}.{mac}")
    # An allowed algorithm that does not fit the realm's RSA key.
    ec_key = ec.generate_private_key(ec.SECP256R1())
    node_es = make_node(service, algorithms=("RS256", "ES256"))
    with pytest.raises(TokenAlgorithmError, match="fit"):
        await node_es.verify_token(minter.mint(key=ec_key, algorithm="ES256"))
    # PS256 is not on the default allow-list.
    with pytest.raises(TokenAlgorithmError, match="not allowed"):
        await node.verify_token(minter.mint(algorithm="PS256"))


async def test_declared_alg_of_the_jwk_is_enforced(
    private_realm: Realm, make_node: NodeFactory
) -> None:
    service, minter = private_realm
    node = make_node(service, algorithms=("RS256", "RS384", "PS256"))
    await node.verify_token(minter.mint())  # warm: loads the JWKS (the server declares RS256)
    for algorithm in ("RS384", "PS256"):  # the right key, but not the JWK's declared alg
        with pytest.raises(TokenAlgorithmError, match="fit"):
            await node.verify_token(minter.mint(algorithm=algorithm))


@pytest.mark.parametrize(
    "token",
    ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"],
    ids=["empty", "one-part", "garbage", "no-kid"],
)
async def test_malformed_tokens(private_realm: Realm, make_node: NodeFactory, token: str) -> None:
    service, _ = private_realm
    with pytest.raises(TokenMalformedError):
        await make_node(service).verify_token(token)


async def test_unknown_kid_and_roles(
    private_realm: Realm, make_node: NodeFactory, clock: FakeClock
) -> None:
    service, minter = private_realm
    node = make_node(service, clock=clock)
    with pytest.raises(TokenUnknownKeyError) as caught:
        await node.verify_token(minter.mint(kid="never-published"))
    assert caught.value.details["kid"] == "never-published"
    token = SecretStr(minter.mint())
    ok = await node.verify(
        ModelKeycloakVerifyRequest(
            token=token,
            required_realm_roles=("user",),
            required_client_roles={"minted": ("reader",)},
        )
    )
    assert ok.missing_roles(("admin",), {"minted": ("writer",)}) == ["admin", "minted:writer"]
    with pytest.raises(InfraPermissionError, match="admin"):
        await node.verify(ModelKeycloakVerifyRequest(token=token, required_realm_roles=("admin",)))
    with pytest.raises(InfraPermissionError, match="minted:writer"):
        await node.verify(
            ModelKeycloakVerifyRequest(token=token, required_client_roles={"minted": ("writer",)})
        )


async def test_verification_needs_no_server_once_warm(
    private_realm: Realm, make_node: NodeFactory
) -> None:
    service, minter = private_realm
    node = make_node(service)
    token = minter.mint()
    await node.verify_token(token)
    # Point every endpoint at a dead port: verification of a known kid still works.
    node.realm.replace(jwks_uri="http://127.0.0.1:9/certs")
    assert (await node.verify_token(token)).subject
    assert jwt.get_unverified_header(token)["kid"] == SIGNING_KID


async def test_signed_but_not_json_payload(private_realm: Realm, make_node: NodeFactory) -> None:
    service, minter = private_realm
    token = jwt.api_jws.PyJWS().encode(
        b"not json", minter.key, algorithm="RS256", headers={"kid": SIGNING_KID}
    )
    with pytest.raises(TokenMalformedError, match="payload"):
        await make_node(service).verify_token(token)
