"""``verify_token`` and PyJWT's ``jwt.decode`` decide alike on generated tokens.

Every token of :mod:`.jwt_cases` goes to the node (local verification against the private
realm's JWKS, served by the harness's OIDC server; no request per token once warm) and to
``jwt.decode`` with the same key (chosen by ``kid`` from the same JWKS), algorithms,
issuer, audience and leeway. Both must accept or both refuse, except where the node is
stricter on purpose (``deliberate_refusal``: ``=`` padding, time claims that are not
JSON numbers or not representable dates, any ``crit`` header); the node refuses only with
its typed token errors; and it never accepts a token whose signing input the realm's key
did not sign.

``test_ten_thousand_tokens_agree_with_pyjwt`` (marked ``slow``: it runs in
``tests(keycloak-adapter)``, not in the ``core`` sessions) checks at least 10,000 distinct
generated tokens and counts them; the fuzz target runs the same check on 300 in every
default run and for its time budget under ``nox -s fuzz``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import coverage
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnibase_infra.nodes.node_keycloak_adapter_effect import NodeKeycloakAdapterEffect
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import (
    KeycloakTokenError,
    TokenMalformedError,
)
from omnibase_infra_testing.fuzz import fuzz_target
from omnibase_infra_testing.services.oidc import OidcService

from .conftest import FAST_RETRY, SIGNING_KID, Minter, node_config
from .jwt_cases import (
    DELIBERATE_RULES,
    KINDS,
    PYJWT_STRICT_BASE64,
    Realm,
    Token,
    deliberate_refusal,
    pyjwt_accepts,
    tokens,
)

pytestmark = pytest.mark.real_service

LEEWAY = 10.0
TEN_THOUSAND = 10_000
BATCH = 25
_PYJWT = tuple(int(part) for part in jwt.__version__.split(".")[:2])


class Verifier:
    """The node, run on its own event loop (hypothesis tests are synchronous)."""

    def __init__(self, service: OidcService, minter: Minter) -> None:
        self.realm = Realm(
            issuer=service.issuer,
            kid=SIGNING_KID,
            key=minter.key,
            other_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
            ec_key=ec.generate_private_key(ec.SECP256R1()),
            claims=minter.claims,
        )
        self.tokens = tokens(self.realm)  # built once: a composite strategy compiles code
        self._runner = asyncio.Runner()
        self.config = node_config(service, "omnibase-app", leeway_seconds=LEEWAY)
        self.node = self._runner.run(self._make())
        with urllib.request.urlopen(service.jwks_url, timeout=10) as answer:  # noqa: S310 - loopback
            document = json.load(answer)
        self.keys = {
            entry["kid"]: (jwt.PyJWK.from_dict(entry).key, entry.get("alg"))
            for entry in document["keys"]
        }
        assert SIGNING_KID in self.keys
        assert self.node_accepts(minter.mint())  # warm: the JWKS is cached from here on

    async def _make(self) -> NodeKeycloakAdapterEffect:
        return NodeKeycloakAdapterEffect(config=self.config, retry_policy=FAST_RETRY)

    def node_accepts(self, text: str) -> bool:
        try:
            self._runner.run(self.node.verify_token(text))
        except KeycloakTokenError:
            return False
        return True

    def pyjwt_accepts(self, text: str) -> bool:
        return pyjwt_accepts(
            text,
            self.keys,
            issuer=self.realm.issuer,
            audience=tuple(self.config.audience),
            algorithms=tuple(self.config.algorithms),
            leeway=LEEWAY,
        )

    def check(self, token: Token) -> tuple[bool, bool, str | None]:
        """(node accepts, PyJWT accepts, deliberate rule) after asserting they agree."""
        ours = self.node_accepts(token.text)
        reference = self.pyjwt_accepts(token.text)
        rule = deliberate_refusal(token.text)
        if ours:
            assert token.minted, f"accepted a token the realm's key did not sign: {token}"
        assert ours == (reference and rule is None), (token, ours, reference, rule)
        return ours, reference, rule

    def close(self) -> None:
        self._runner.run(self.node.close())
        self._runner.close()


@pytest.fixture(scope="module")
def verifier(private_realm: tuple[OidcService, Minter]) -> Iterator[Verifier]:
    service, minter = private_realm
    verifier = Verifier(service, minter)
    yield verifier
    verifier.close()


@fuzz_target(examples=300)
@given(data=st.data())
def test_jwt_fuzz_agrees_with_pyjwt(verifier: Verifier, data: st.DataObject) -> None:
    """The fuzz target: only typed errors, never a token the key did not sign, and the
    same decision as PyJWT."""
    verifier.check(data.draw(verifier.tokens))


@pytest.mark.slow
def test_ten_thousand_tokens_agree_with_pyjwt(verifier: Verifier) -> None:
    """At least 10,000 distinct tokens, drawn in batches of 25 per hypothesis example (a
    third of the time of one token per example, the engine's own cost shared)."""
    outcomes: Counter[tuple[bool, bool, str | None]] = Counter()
    kinds: Counter[str] = Counter()
    distinct: set[str] = set()

    @settings(
        max_examples=TEN_THOUSAND * 14 // 10 // BATCH,  # ~15 % repeat (e.g. short garbage)
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(verifier.tokens, min_size=BATCH, max_size=BATCH))
    def run(batch: list[Token]) -> None:
        for token in batch:
            outcomes[verifier.check(token)] += 1
            kinds[token.kind] += 1
            distinct.add(token.text)

    # Coverage's tracer doubles this test's time (hypothesis runs a lot of Python per
    # token); the node's lines it runs are covered by the other tests, so pause it here.
    tracer = coverage.Coverage.current()
    if tracer is not None:
        tracer.stop()
    try:
        run()
    finally:
        if tracer is not None:
            tracer.start()
    total = sum(outcomes.values())
    accepted = sum(n for (ours, _, _), n in outcomes.items() if ours)
    deliberate = {rule for (_, reference, rule) in outcomes if reference and rule}
    assert len(distinct) >= TEN_THOUSAND, (len(distinct), total)
    # Not vacuous: both decisions are common, every kind of token was made, and the
    # node's deliberate refusals of tokens PyJWT accepts did happen.
    assert total // 20 <= accepted <= total - total // 20, (accepted, total)
    assert set(kinds) == set(KINDS), kinds
    assert deliberate, outcomes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _padded(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


_RS256 = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256)


def _signed(
    verifier: Verifier,
    header: dict[str, Any] | bytes,
    claims: dict[str, Any] | bytes,
    encode: Callable[[bytes], str] | None = None,
) -> str:
    """A token signed with the realm's key (RS256), its segments written by ``encode``."""
    encode = encode or _b64
    raw_header = header if isinstance(header, bytes) else json.dumps(header).encode()
    raw_claims = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    signing_input = f"{encode(raw_header)}.{encode(raw_claims)}"
    signature = _RS256.sign(signing_input.encode(), verifier.realm.key)
    return f"{signing_input}.{encode(signature)}"


_HEADER = {"alg": "RS256", "kid": SIGNING_KID, "typ": "JWT"}


def _pad(segment: str) -> str:
    return segment + "=" * (-len(segment) % 4)


@pytest.mark.parametrize(
    ("rule", "make"),
    [
        ("padding", lambda v: _signed(v, _HEADER, v.realm.claims(), _padded)),
        ("numeric-date", lambda v: _signed(v, _HEADER, v.realm.claims() | {"exp": "99999999999"})),
        ("numeric-date", lambda v: _signed(v, _HEADER, v.realm.claims() | {"iat": True})),
        ("date-range", lambda v: _signed(v, _HEADER, v.realm.claims() | {"exp": 10**20})),
        ("date-range", lambda v: _signed(v, _HEADER, v.realm.claims() | {"nbf": -1e300})),
        ("crit", lambda v: _signed(v, _HEADER | {"crit": ["b64"], "b64": True}, v.realm.claims())),
    ],
    ids=["padding", "exp-string", "iat-bool", "exp-year-3e12", "nbf-before-year-1", "crit-b64"],
)
def test_each_deliberate_disagreement(verifier: Verifier, rule: str, make: Any) -> None:
    """Tokens PyJWT accepts and the node refuses, one per documented rule."""
    text = make(verifier)
    assert rule in DELIBERATE_RULES
    assert deliberate_refusal(text) == rule
    # PyJWT 2.14 (the floor) refuses padded segments too; 2.15 accepts them.
    assert verifier.pyjwt_accepts(text) or (rule == "padding" and _PYJWT < (2, 15))
    with pytest.raises(TokenMalformedError):
        verifier._runner.run(verifier.node.verify_token(text))


@pytest.mark.parametrize("segment", [0, 1, 2])
def test_non_canonical_base64url_is_refused_like_pyjwt(verifier: Verifier, segment: int) -> None:
    """The issue's case: a segment whose last character carries set unused bits decodes to
    the same bytes as the canonical text. PyJWT refuses it; so does the node, even when the
    realm's key signed that very text."""
    for attempt in range(50):  # find claims whose segment ends in a partial group
        claims = verifier.realm.claims() | {"pad": "x" * attempt}
        parts = _signed(verifier, _HEADER | {"pad": "y" * attempt}, claims).split(".")
        if len(parts[segment]) % 4 in (2, 3):
            break
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    parts[segment] = parts[segment][:-1] + alphabet[alphabet.index(parts[segment][-1]) | 1]
    signing_input = ".".join(parts[:2])
    if segment < 2:  # re-sign the odd text: only the encoding is wrong
        parts[2] = _b64(_RS256.sign(signing_input.encode(), verifier.realm.key))
    text = ".".join(parts)
    assert base64.urlsafe_b64decode(_pad(parts[segment])) == base64.urlsafe_b64decode(
        _pad(parts[segment][:-1] + alphabet[alphabet.index(parts[segment][-1]) & ~1])
    )
    # PyJWT 2.14 and later refuse it too (older versions decode leniently).
    assert verifier.pyjwt_accepts(text) is not PYJWT_STRICT_BASE64
    with pytest.raises(TokenMalformedError):
        verifier._runner.run(verifier.node.verify_token(text))


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": float("nan")},
        {"exp": float("inf")},
        {"nbf": float("nan")},
        {"iat": float("-inf")},
    ],
    ids=["exp-nan", "exp-inf", "nbf-nan", "iat-minus-inf"],
)
def test_non_finite_dates_are_malformed(verifier: Verifier, claims: dict[str, Any]) -> None:
    """``json`` parses NaN and Infinity; a NaN ``exp`` compared with now is never expired
    (and building the claims model raised a bare ValueError)."""
    text = _signed(verifier, _HEADER, verifier.realm.claims() | claims)
    assert not verifier.pyjwt_accepts(text)
    with pytest.raises(TokenMalformedError, match="date"):
        verifier._runner.run(verifier.node.verify_token(text))


@pytest.mark.parametrize("where", ["header", "payload"])
def test_deeply_nested_json_is_malformed(verifier: Verifier, where: str) -> None:
    """JSON nested beyond the parser's recursion limit raised RecursionError (not a typed
    error) from the header, before any signature check."""
    deep = b"[" * 100_000 + b"]" * 100_000
    header = deep if where == "header" else _HEADER
    text = _signed(verifier, header, deep if where == "payload" else verifier.realm.claims())
    assert not verifier.pyjwt_accepts(text)
    with pytest.raises(TokenMalformedError):
        verifier._runner.run(verifier.node.verify_token(text))


def test_the_node_accepts_a_plain_valid_token(verifier: Verifier) -> None:
    text = _signed(verifier, _HEADER, verifier.realm.claims() | {"iat": int(time.time())})
    assert verifier.pyjwt_accepts(text)
    assert verifier.node_accepts(text)
