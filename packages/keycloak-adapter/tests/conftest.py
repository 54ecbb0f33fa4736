"""Fixtures: nodes on the harness's Keycloak-compatible OIDC server (the session realm), a
private realm signed with a key the tests hold (to mint expired, early, foreign, tampered
and ``alg: none`` tokens), and a controllable monotonic clock.

Every log record of the run is kept; the session fails if one holds a known secret value
(client secrets, passwords, tokens noted by the tests).
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from omnibase_infra.models.keycloak import ModelKeycloakConfig
from omnibase_infra.nodes.node_keycloak_adapter_effect import NodeKeycloakAdapterEffect
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra_testing.services.oidc import (
    OidcClient,
    OidcRealmConfig,
    OidcService,
    OidcUser,
    running_oidc,
)

FAST_RETRY = ModelRetryPolicy(max_attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.05)
SECRETS: set[str] = set()


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + json.dumps(record.__dict__, default=str))


_LOGS = _Keep()


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(_LOGS)
    logging.getLogger().setLevel(logging.DEBUG)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    logging.getLogger().removeHandler(_LOGS)
    leaked = sorted({s[:4] + "..." for s in SECRETS if any(s in line for line in _LOGS.lines)})
    if leaked:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"secret scan: {len(leaked)} secret values found in logs")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def note(*values: str | SecretStr | None) -> None:
    """Remember secret values that must never reach a log."""
    for value in values:
        if value is not None:
            SECRETS.add(value.get_secret_value() if isinstance(value, SecretStr) else value)


class FakeClock:
    """A monotonic clock the test moves; starts at the real one."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def node_config(service: OidcService, client_id: str, **overrides: Any) -> ModelKeycloakConfig:
    client = service.client(client_id)
    note(client.secret)
    for user in service.users:
        note(user.password)
    values: dict[str, Any] = {
        "issuer": service.issuer,
        "client_id": client.client_id,
        "client_secret": SecretStr(client.secret) if client.secret else None,
        "audience": ("account",),
    }
    return ModelKeycloakConfig(**(values | overrides))


type NodeFactory = Callable[..., NodeKeycloakAdapterEffect]


@pytest.fixture
async def make_node() -> AsyncIterator[NodeFactory]:
    """Build nodes (closed at the end of the test): ``make_node(service, client_id, ...)``."""
    nodes: list[NodeKeycloakAdapterEffect] = []

    def make(
        service: OidcService,
        client_id: str = "omnibase-app",
        *,
        clock: Callable[[], float] = time.monotonic,
        retry_policy: ModelRetryPolicy = FAST_RETRY,
        **overrides: Any,
    ) -> NodeKeycloakAdapterEffect:
        node = NodeKeycloakAdapterEffect(
            config=node_config(service, client_id, **overrides),
            retry_policy=retry_policy,
            clock=clock,
        )
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        await node.close()


# -- a realm whose signing key the tests hold ---------------------------------------------

SIGNING_KID = "test-signing-key"


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rsa_private_jwk(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, str]]:
    """A new RSA key and its private JWK (what the harness's ``signing_key`` takes)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.private_numbers()
    jwk = {
        "kty": "RSA",
        "kid": kid,
        "n": _b64(numbers.public_numbers.n),
        "e": _b64(numbers.public_numbers.e),
        "d": _b64(numbers.d),
        "p": _b64(numbers.p),
        "q": _b64(numbers.q),
        "dp": _b64(numbers.dmp1),
        "dq": _b64(numbers.dmq1),
        "qi": _b64(numbers.iqmp),
    }
    return key, jwk


class Minter:
    """Signs tokens with the private realm's own key (or any other)."""

    def __init__(self, service: OidcService, key: rsa.RSAPrivateKey) -> None:
        self.service = service
        self.key = key

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "iss": self.service.issuer,
            "aud": "account",
            "sub": str(uuid.uuid4()),
            "azp": "minted",
            "exp": now + 300,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "typ": "Bearer",
            "realm_access": {"roles": ["user"]},
            "resource_access": {"minted": {"roles": ["reader"]}},
        }
        return {k: v for k, v in (base | overrides).items() if v is not None}

    def mint(
        self,
        *,
        kid: str = SIGNING_KID,
        key: Any = None,
        algorithm: str = "RS256",
        **claims: Any,
    ) -> str:
        token = jwt.encode(
            self.claims(**claims),
            key if key is not None else self.key,
            algorithm=algorithm,
            headers={"kid": kid},
        )
        note(token)
        return token


@pytest.fixture(scope="session")
def private_realm() -> Iterator[tuple[OidcService, Minter]]:
    """A realm signed with a key the tests hold; short-lived tokens for one client."""
    key, jwk = rsa_private_jwk(SIGNING_KID)
    config = OidcRealmConfig(
        realm="private",
        signing_key=jwk,
        access_token_lifespan=60,
        clients=(
            OidcClient(
                "omnibase-app",
                "private-secret-" + uuid.uuid4().hex,
                grant_types=("client_credentials", "password", "refresh_token"),
            ),
        ),
        users=(OidcUser("carol", "carol-pass-" + uuid.uuid4().hex, realm_roles=("user",)),),
    )
    with running_oidc(config) as service:
        yield service, Minter(service, key)
