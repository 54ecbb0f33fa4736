"""Generated compact JWS tokens for a realm whose key the tests hold, and PyJWT's decision
on each as the reference.

:func:`tokens` draws one :class:`Token`: well-formed and valid, with mutated claims or
header (re-signed with the realm's key, so that only the checks can refuse them), with
segments encoded in non-canonical ways (re-signed too: the signature covers the odd text),
signed with the wrong key or algorithm, tampered after signing, or not a JWT at all.
``Token.minted`` says whether the realm's key signed exactly its signing input.

:func:`deliberate_refusal` names the rules by which the node refuses a token that PyJWT
accepts (see ``jwt_check``'s module docstring); each is computed from the token's text,
never from the node's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import strategies as st
from jwt.algorithms import get_default_algorithms

__all__ = [
    "DELIBERATE_RULES",
    "KINDS",
    "PYJWT_STRICT_BASE64",
    "Realm",
    "Token",
    "deliberate_refusal",
    "pyjwt_accepts",
    "tokens",
]

ALPHABET: Final = string.ascii_letters + string.digits + "-_"
_ALGORITHMS = get_default_algorithms()
_DELETE: Final = object()  # a mutation that removes the claim or header field
# NumericDates a datetime holds (the node refuses the others; PyJWT accepts finite ones).
_EARLIEST, _LATEST = -62135596800, 253402300799

# PyJWT before 2.14 decoded segments leniently (characters outside the alphabet dropped,
# unused bits ignored) and before 2.10 did not check ``sub``/``jti``; with those versions
# the node's stricter checks are deliberate refusals too (the ``lowest`` session).
PYJWT_STRICT_BASE64: Final = hasattr(jwt.api_jws.PyJWS, "_decode_base64url_segment")
PYJWT_CHECKS_SUB: Final = bool(getattr(jwt.api_jwt.PyJWT(), "options", {}).get("verify_sub"))

DELIBERATE_RULES: Final = ("padding", "numeric-date", "date-range", "crit")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _lenient(segment: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(segment.rstrip("=") + "=" * (-len(segment) % 4))
    except ValueError:
        return None


def _canonical(segment: str) -> bool:
    raw = _lenient(segment)
    return raw is not None and b64(raw) == segment


@dataclass(frozen=True, slots=True)
class Realm:
    """What a token generator needs: the realm's key, other keys, and the realm's valid
    claims (``claims()``: the conftest minter's, fresh times and ids on each call)."""

    issuer: str
    kid: str
    key: rsa.RSAPrivateKey
    other_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    claims: Callable[[], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    minted: bool  # the realm's key signed exactly this token's signing input
    kind: str


# -- claims and header mutations ----------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@dataclass(frozen=True, slots=True)
class _Later:
    """A time relative to the token's ``iat`` (strategies are built once, tokens later)."""

    seconds: float


# Far from every limit (exp vs now - leeway, nbf/iat vs now + leeway; leeway <= 30 s):
# PyJWT truncates to int and compares at a slightly different instant.
_OFFSETS = st.sampled_from([-(10**8), -86400, -3600, -120, 120, 3600, 86400, 10**8])
_DATES: st.SearchStrategy[object] = st.one_of(
    _OFFSETS.map(_Later),
    _OFFSETS.map(lambda seconds: _Later(seconds + 0.5)),
    st.sampled_from(
        [
            None,
            True,
            False,
            "99999999999",
            " 99999999999 ",
            "1_000",
            "NaN",
            [],
            {},
            0,
            float("nan"),
            float("inf"),
            float("-inf"),
            10**20,
            -(10**20),
            1e300,
            _LATEST,
            _LATEST + 1,
            _EARLIEST,
            _EARLIEST - 1,
        ]
    ),
)


def _claim_mutation(realm: Realm) -> st.SearchStrategy[tuple[str, object]]:
    audiences = st.sampled_from(
        [
            "account",
            ["account"],
            ["x", "account"],
            [],
            "",
            "x",
            ["x"],
            [1],
            None,
            5,
            {"account": 1},
            [["account"]],
            _DELETE,
        ]
    )
    issuers = st.sampled_from(
        [realm.issuer, realm.issuer + "/", "", None, 5, [realm.issuer], "http://evil", _DELETE]
    )
    strings = st.sampled_from(["s", "", 5, None, [], {"a": 1}, True, _DELETE])
    return st.one_of(
        st.tuples(st.sampled_from(["exp", "nbf", "iat"]), _DATES | st.just(_DELETE)),
        st.tuples(st.just("aud"), audiences),
        st.tuples(st.just("iss"), issuers),
        st.tuples(st.sampled_from(["sub", "jti", "azp", "scope"]), strings),
        st.tuples(st.sampled_from(["realm_access", "resource_access", "x"]), _JSON),
    )


def _header_mutation(realm: Realm) -> st.SearchStrategy[tuple[str, object]]:
    return st.one_of(
        st.tuples(
            st.just("alg"),
            st.sampled_from(
                [
                    "RS256",
                    "RS384",
                    "RS512",
                    "PS256",
                    "ES256",
                    "HS256",
                    "none",
                    "",
                    "rs256",
                    5,
                    None,
                    _DELETE,
                ]
            ),
        ),
        st.tuples(
            st.just("kid"),
            st.sampled_from([realm.kid, "unknown-kid", "", 5, None, [realm.kid], _DELETE]),
        ),
        st.tuples(st.just("crit"), st.sampled_from([["b64"], ["exp"], [], "b64", [5]])),
        st.tuples(st.just("b64"), st.sampled_from([True, False, "false"])),
        st.tuples(st.sampled_from(["typ", "cty", "jku", "x5u"]), _JSON),
    )


def _apply(document: dict[str, Any], changes: list[tuple[str, object]], now: int = 0) -> None:
    for name, value in changes:
        if value is _DELETE:
            document.pop(name, None)
        else:
            document[name] = now + value.seconds if isinstance(value, _Later) else value


# -- encodings and signatures ----------------------------------------------------------------

_SAME_HIGH_BITS = {2: 0b001111, 3: 0b000011}  # unused low bits of a 2- or 3-char tail


def _non_canonical(segment: str, low: int) -> str:
    """The segment with its last character's unused bits set: decodes to the same bytes."""
    mask = _SAME_HIGH_BITS.get(len(segment) % 4)
    if mask is None:
        return segment + "A"  # a length of 4n+1: not base64 at all
    last = ALPHABET.index(segment[-1]) if segment else 0
    unused = low & mask or 1
    return segment[:-1] + ALPHABET[(last & ~mask) | unused]


_VARIANTS: dict[str, Callable[[st.DrawFn, str, bytes], str]] = {
    "plain": lambda draw, text, data: text,
    "pad": lambda draw, text, data: text + "=" * (-len(text) % 4),
    "overpad": lambda draw, text, data: text + "=" * draw(st.integers(1, 3)),
    "non-canonical": lambda draw, text, data: _non_canonical(text, draw(st.integers(1, 15))),
    "std-alphabet": lambda draw, text, data: base64.b64encode(data).decode().rstrip("="),
    "space": lambda draw, text, data: _insert(
        text, draw(st.integers(0, len(text))), draw(st.sampled_from([" ", "\n", "\t", "."]))
    ),
}


def _insert(text: str, at: int, character: str) -> str:
    return text[:at] + character + text[at:]


def _encode(draw: st.DrawFn, data: bytes, odd: bool) -> str:
    """``data`` as canonical base64url, or (``odd``) written in one of the odd ways."""
    text = b64(data)
    if not odd:
        return text
    return _VARIANTS[draw(st.sampled_from(sorted(_VARIANTS)))](draw, text, data)


def _sign(draw: st.DrawFn, realm: Realm, alg: object, signing_input: bytes) -> tuple[bytes, bool]:
    """A signature for ``signing_input`` and whether the realm's key made it."""
    if isinstance(alg, str) and alg[:2] in {"RS", "PS"} and alg in _ALGORITHMS:
        own = draw(st.integers(0, 9)) > 0
        key = realm.key if own else realm.other_key
        return _ALGORITHMS[alg].sign(signing_input, key), own
    if alg == "ES256":
        return _ALGORITHMS["ES256"].sign(signing_input, realm.ec_key), False
    if alg == "HS256":  # keyed with the realm's public key: algorithm confusion
        pem = realm.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hmac.new(pem, signing_input, hashlib.sha256).digest(), False
    return draw(st.binary(max_size=300)), False


def _tamper(draw: st.DrawFn, text: str) -> str:
    how = draw(st.sampled_from(["replace", "delete", "insert", "truncate", "swap", "splice"]))
    at = draw(st.integers(0, max(len(text) - 1, 0)))
    if how == "replace" and text:
        return text[:at] + draw(st.sampled_from(ALPHABET)) + text[at + 1 :]
    if how == "delete":
        return text[:at] + text[at + 1 :]
    if how == "insert":
        return text[:at] + draw(st.sampled_from(ALPHABET + ".=")) + text[at:]
    if how == "truncate":
        return text[:at]
    parts = text.split(".")
    if how == "swap" and len(parts) == 3:
        return ".".join([parts[1], parts[0], parts[2]])
    return text + "." + parts[-1]


_MALFORMED = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=ALPHABET + ".=+/ ", max_size=200),
    st.from_regex(r"\A[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,60}\Z"),
    st.binary(max_size=120).map(lambda raw: ".".join(b64(raw[i::3]) for i in range(3))),
)

KINDS = (
    "valid",
    "valid",
    "claims",
    "claims",
    "header",
    "payload",
    "raw-header",
    "encoding",
    "tamper",
    "malformed",
)
_RAW_JSON = (
    st.sampled_from([b"[]", b"null", b"1", b'"s"', b"", b"{", b"\xff", b"{}"])
    | _JSON.map(lambda value: json.dumps(value).encode())
    | st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth)
)


def tokens(realm: Realm) -> st.SearchStrategy[Token]:
    """Tokens of every kind (module docstring); about a third pass every check."""

    claim_mutations = st.lists(_claim_mutation(realm), min_size=1, max_size=3)
    header_mutations = st.lists(_header_mutation(realm), min_size=1, max_size=2)

    @st.composite
    def build(draw: st.DrawFn) -> Token:
        kind = draw(st.sampled_from(KINDS))
        if kind == "malformed":
            return Token(draw(_MALFORMED), minted=False, kind=kind)
        header: dict[str, Any] = {"alg": "RS256", "kid": realm.kid, "typ": "JWT"}
        claims = realm.claims()
        if kind == "header":
            _apply(header, draw(header_mutations))
        if kind == "claims":
            _apply(claims, draw(claim_mutations), now=claims["iat"])
        payload = json.dumps(claims).encode()  # NaN and Infinity as JSON extensions
        if kind == "payload":
            payload = draw(_RAW_JSON)
        odd = kind == "encoding"
        spaced = draw(st.booleans())
        header_json = json.dumps(header, separators=(", ", ": ") if spaced else (",", ":"))
        raw_header = draw(_RAW_JSON) if kind == "raw-header" else header_json.encode()
        signing_input = (
            _encode(draw, raw_header, odd and draw(st.booleans()))
            + "."
            + _encode(draw, payload, odd and draw(st.booleans()))
        )
        signature, minted = _sign(draw, realm, header.get("alg"), signing_input.encode())
        text = signing_input + "." + _encode(draw, signature, odd and draw(st.booleans()))
        if kind == "tamper":
            tampered = _tamper(draw, text)
            return Token(tampered, minted=minted and tampered == text, kind=kind)
        return Token(text, minted=minted, kind=kind)

    return build()


# -- the reference and the documented disagreements -----------------------------------------


def pyjwt_accepts(
    text: str,
    keys: dict[str, tuple[Any, str | None]],
    *,
    issuer: str,
    audience: tuple[str, ...],
    algorithms: tuple[str, ...],
    leeway: float,
) -> bool:
    """PyJWT's decision with the same key and checks: the key found by the header's
    ``kid`` in ``keys`` (kid -> public key, the JWK's declared ``alg``; what
    ``PyJWKClient.get_signing_key_from_jwt`` does), the allowed algorithms that fit the
    declared ``alg``, ``exp``/``iss``/``aud`` required, the issuer, the audiences and the
    leeway. The key goes in as the public key object (older PyJWT takes no ``PyJWK``)."""
    try:
        kid = jwt.get_unverified_header(text).get("kid")
        found = keys.get(kid) if isinstance(kid, str) else None
        if found is None:
            return False
        key, declared = found
        jwt.decode(
            text,
            key,
            algorithms=[alg for alg in algorithms if declared in (None, alg)],
            audience=list(audience),
            issuer=issuer,
            leeway=leeway,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        return False
    # Not accepted either, by crashing: a str token is encoded to UTF-8 (lone surrogates
    # fail with UnicodeEncodeError, even in 2.15); older versions also let RecursionError
    # (deep JSON), OverflowError and TypeError (int() of an odd NumericDate) escape.
    except Exception:  # any crash of the reference is a refusal
        return False
    return True


def _json_object(segment: str) -> dict[str, Any] | None:
    raw = _lenient(segment)
    try:
        value = json.loads(raw) if raw is not None else None
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _date_rule(value: object) -> str | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "numeric-date"
    return None if _EARLIEST <= value <= _LATEST else "date-range"


def deliberate_refusal(text: str) -> str | None:
    """The documented rule by which the node refuses ``text`` even where PyJWT accepts it,
    or None (then the node must decide as PyJWT does)."""
    return next(_rules(text.split(".")), None)


def _rules(parts: list[str]) -> Iterator[str]:
    if len(parts) != 3:
        return
    if any("=" in part for part in parts):
        yield "padding"
    if not PYJWT_STRICT_BASE64 and not all(_canonical(part) for part in parts):
        yield "non-canonical"
    header = _json_object(parts[0])
    if header is not None and "crit" in header:
        yield "crit"
    claims = _json_object(parts[1]) or {}
    for name in ("exp", "nbf", "iat"):
        if name in claims and (rule := _date_rule(claims[name])) is not None:
            yield rule
    if not PYJWT_CHECKS_SUB and any(
        name in claims and not isinstance(claims[name], str) for name in ("sub", "jti")
    ):
        yield "sub-jti"
