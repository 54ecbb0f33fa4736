"""Pure logic: the HTTP/transport error mapping and the JWKS cache rules (with a counting
fetch function and a fake clock; the real-server behaviour is in test_rotation)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConflictError,
    InfraConnectionError,
    InfraNotFoundError,
    InfraPermissionError,
    InfraProtocolError,
    InfraRateLimitedError,
    InfraRejectedRequestError,
    InfraTimeoutError,
    InfraUnavailableError,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import (
    from_http_status,
    from_transport,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.jwks import (
    JwksCache,
    key_family,
    parse_jwks,
)

from .conftest import FakeClock, rsa_private_jwk

CID = uuid.uuid4()
KW: dict[str, Any] = {"operation": "token", "target": "http://kc/realms/r", "correlation_id": CID}


@pytest.mark.parametrize(
    ("status", "body", "retry_after", "error"),
    [
        (401, {"error": "unauthorized"}, None, InfraAuthenticationError),
        (
            403,
            {"error": "insufficient_scope", "error_description": "no"},
            None,
            InfraPermissionError,
        ),
        (429, None, "2", InfraRateLimitedError),
        (503, None, None, InfraUnavailableError),
        (404, None, None, InfraNotFoundError),
        (409, None, None, InfraConflictError),
        (400, {"error": "unsupported_grant_type"}, None, InfraRejectedRequestError),
    ],
)
def test_http_status_mapping(
    status: int, body: object, retry_after: str | None, error: type[Exception]
) -> None:
    mapped = from_http_status(status, body, retry_after=retry_after, **KW)
    assert type(mapped) is error
    assert mapped.correlation_id == CID


def test_rate_limit_and_server_error_details() -> None:
    limited = from_http_status(429, None, retry_after="2", **KW)
    assert isinstance(limited, InfraRateLimitedError)
    assert limited.retry_after_seconds == 2.0
    assert limited.not_sent  # the server refused it: safe to send again
    assert limited.retryable
    garbled = from_http_status(429, None, retry_after="soon", **KW)
    assert isinstance(garbled, InfraRateLimitedError)
    assert garbled.retry_after_seconds is None
    down = from_http_status(502, None, **KW)
    assert isinstance(down, InfraUnavailableError)
    assert down.retryable
    assert down.details["status_code"] == 502


@pytest.mark.parametrize(
    ("exc", "error", "retryable"),
    [
        (TimeoutError(), InfraTimeoutError, True),
        (aiohttp.ServerTimeoutError(), InfraTimeoutError, True),
        (aiohttp.ClientConnectionError(), InfraConnectionError, True),
        (ConnectionRefusedError(), InfraConnectionError, True),
        (aiohttp.ClientPayloadError(), InfraProtocolError, False),
    ],
)
def test_transport_mapping(exc: BaseException, error: type[Exception], retryable: bool) -> None:
    mapped = from_transport(exc, timeout_seconds=1.0, **KW)
    assert type(mapped) is error
    assert mapped.retryable is retryable


def test_tls_failure_is_not_retried() -> None:
    key = aiohttp.client_reqrep.ConnectionKey("h", 443, True, True, None, None, None)
    tls = aiohttp.ClientConnectorCertificateError(key, ValueError("bad cert"))
    mapped = from_transport(tls, timeout_seconds=1.0, **KW)
    assert type(mapped) is InfraConnectionError
    assert not mapped.retryable
    same = InfraProtocolError("x", transport=mapped.transport, operation="token")
    assert from_transport(same, timeout_seconds=1.0, **KW) is same


def _public(jwk: Mapping[str, str], **extra: str) -> dict[str, str]:
    return {"kty": "RSA", "n": jwk["n"], "e": jwk["e"], "kid": jwk["kid"], **extra}


def test_parse_jwks_keeps_signature_keys_only() -> None:
    _, a = rsa_private_jwk("a")
    _, b = rsa_private_jwk("b")
    document = {
        "keys": [
            _public(a),
            _public(b, use="enc"),
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "RSA", "kid": "broken", "n": "", "e": ""},
            {"kty": "RSA", "n": a["n"], "e": a["e"]},  # no kid
            "not-a-key",
        ]
    }
    keys = parse_jwks(document)
    assert list(keys) == ["a"]
    assert keys["a"].alg is None
    assert keys["a"].fits("PS256")
    assert keys["a"].fits("RS512")
    assert not keys["a"].fits("ES256")
    assert parse_jwks({"keys": "nope"}) == {}
    assert key_family("ES384") == "EC"
    assert key_family("HS256") is None


class _Fetcher:
    def __init__(self, *kids: str) -> None:
        self.documents = {"keys": [_public(rsa_private_jwk(k)[1], alg="RS256") for k in kids]}
        self.calls = 0
        self.fail: Exception | None = None

    async def __call__(self) -> Mapping[str, Any]:
        self.calls += 1
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        return self.documents


async def test_cache_ttl_cooldown_and_single_flight() -> None:
    clock = FakeClock()
    fetch = _Fetcher("k1")
    cache = JwksCache(fetch, ttl_seconds=100, cooldown_seconds=10, clock=clock)
    assert cache.cached("k1") is None
    assert await cache.get("k1") is not None
    assert fetch.calls == 1
    assert await cache.get("unknown") is None  # in the cooldown: no fetch
    assert (fetch.calls, cache.skipped_refetches) == (1, 1)
    clock.advance(11)
    results = await asyncio.gather(*(cache.get(f"r{i}") for i in range(20)))
    assert results == [None] * 20
    assert fetch.calls == 2  # concurrent misses share one fetch
    clock.advance(100.5)  # past the TTL (not exactly at it: float sums): a known kid refetches
    assert cache.cached("k1") is None
    assert await cache.get("k1") is not None
    assert fetch.calls == 3


async def test_failed_refresh_keeps_known_keys() -> None:
    clock = FakeClock()
    fetch = _Fetcher("k1")
    cache = JwksCache(fetch, ttl_seconds=5, cooldown_seconds=1, clock=clock)
    await cache.get("k1")
    fetch.fail = InfraConnectionError("down", transport=EnumTransport.KEYCLOAK, operation="jwks")
    clock.advance(6)
    assert await cache.get("k1") is not None  # stale key kept, refresh failed
    assert fetch.calls == 2
    cache.clear()
    assert cache.kids == []
    clock.advance(2)
    with pytest.raises(InfraConnectionError):
        await cache.get("k1")  # nothing to fall back to


def test_fast_claims_model_equals_model_construct() -> None:
    from datetime import UTC, datetime

    from omnibase_infra.models.keycloak import ModelKeycloakTokenClaims
    from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.verification import (
        claims_model,
    )

    values: dict[str, Any] = dict.fromkeys(ModelKeycloakTokenClaims.model_fields) | {
        "issuer": "http://kc/realms/r",
        "expires_at": datetime.now(UTC),
        "algorithm": "RS256",
        "audience": ("a",),
        "claims": {"sub": "x"},
        "realm_roles": ("r",),
        "client_roles": {"c": ("x",)},
    }
    fast = claims_model(**values)
    slow = ModelKeycloakTokenClaims.model_construct(**values)
    assert fast == slow
    assert fast.model_dump(mode="json") == slow.model_dump(mode="json")
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.has_client_role("c", "x")


def _segment(value: object) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_header_parsing_rules() -> None:
    from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.jwt_check import header_of

    assert header_of(_segment({"alg": "RS256", "kid": "k"})) == ("RS256", "k")
    assert header_of(_segment({"alg": "RS256", "kid": 7})) == ("RS256", None)
    for bad in (
        {"alg": "RS256", "kid": "k", "crit": ["exp"]},
        {"alg": "RS256", "kid": "k", "b64": False},
        {"kid": "k"},
        ["RS256"],
    ):
        assert header_of(_segment(bad)) is None
    assert header_of("e30=") is None  # padding is not base64url
    assert header_of("a") is None  # not decodable


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"exp": "tomorrow"}, "TokenMalformedError"),
        ({"exp": True}, "TokenMalformedError"),
        ({"nbf": "soon"}, "TokenMalformedError"),
        ({"sub": 42}, "TokenMalformedError"),
        ({"jti": ["x"]}, "TokenMalformedError"),
        ({"exp": 990}, "TokenExpiredError"),  # exactly at now - leeway
        ({"exp": 991}, None),
        ({"nbf": 1100}, "TokenNotYetValidError"),
        ({"iat": 1100}, "TokenNotYetValidError"),
        ({"iss": None}, "TokenMalformedError"),
        ({"iss": "other"}, "TokenIssuerError"),
        ({"aud": None}, "TokenAudienceError"),
        ({"aud": []}, "TokenAudienceError"),
        ({"aud": ["api", 3]}, "TokenAudienceError"),
        ({"aud": {"api": 1}}, "TokenAudienceError"),
        ({"aud": ["web"]}, "TokenAudienceError"),
        ({"aud": ["web", "api"]}, None),
        ({"exp": 1000.5, "nbf": 1005, "iat": 1005}, None),  # within the leeway of 10 s
    ],
)
def test_claim_rules(claims: dict[str, Any], problem: str | None) -> None:
    from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.jwt_check import check_claims

    base: dict[str, Any] = {"iss": "me", "aud": "api", "exp": 2000, "sub": "s"}
    merged = {k: v for k, v in (base | claims).items() if v is not None}
    found = check_claims(merged, issuer="me", audience=("api",), leeway=10, now=1000)
    assert (found[0].__name__ if found else None) == problem
