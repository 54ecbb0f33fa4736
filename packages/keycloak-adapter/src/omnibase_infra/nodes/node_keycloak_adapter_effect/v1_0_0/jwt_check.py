"""The checks of one compact JWS access token, in the order they run.

Signatures are verified with PyJWT's algorithm objects (``jwt.algorithms``, on
``cryptography``); the token's structure and claims are checked here, with PyJWT's rules:
``exp`` required and ``exp <= now - leeway`` expired; ``nbf``/``iat`` beyond
``now + leeway`` not yet valid; ``iss`` required and equal; ``aud`` required, a string or a
list of strings, holding one expected audience; ``sub``/``jti`` strings when present; no
``crit`` extensions, no unencoded payload (``b64: false``). Doing the parsing here rather
than through ``jwt.decode`` avoids PyJWT 2.15's per-character base64url validation (a
generator over every character, as costly as the RSA check): one regular expression checks
the alphabet and that the segment is canonical.

Stricter than PyJWT, on purpose (each is a token PyJWT 2.15 accepts and this module
refuses; ``tests/test_jwt_differential.py`` encodes every one):

* ``=`` padding in a segment (RFC 7515 section 2: base64url "with all trailing '='
  characters omitted"); PyJWT tolerates it for some issuers' sake.
* ``exp``/``nbf``/``iat`` that is not a JSON number (RFC 7519 NumericDate: PyJWT coerces
  ``"123"``, ``true``) or is beyond what a ``datetime`` holds (years 1-9999).
* any ``crit`` header (no extension is supported here; PyJWT supports ``b64``).
"""

from __future__ import annotations

import base64
import json
import re
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, TypeGuard

from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import (
    KeycloakTokenError,
    TokenAudienceError,
    TokenExpiredError,
    TokenIssuerError,
    TokenMalformedError,
    TokenNotYetValidError,
)

if TYPE_CHECKING:
    from jwt.algorithms import Algorithm

__all__ = [
    "ClaimProblem",
    "algorithms",
    "b64url",
    "check_claims",
    "header_of",
    "json_object",
]


@cache
def algorithms() -> dict[str, Algorithm]:
    """PyJWT's signature algorithm objects by name, imported on first use (PyJWT and
    ``cryptography`` cost import time a node must not pay until it verifies)."""
    from jwt.algorithms import get_default_algorithms  # noqa: PLC0415

    return get_default_algorithms()


_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# Canonical base64url ends in whole 4-character groups, or in a tail of 2 characters (the
# last one's low 4 bits unused, so zero: A Q g w) or 3 (low 2 bits unused: A E I M Q U Y c
# g k o s w 0 4 8): exactly the texts that re-encoding the decoded bytes gives back. A tail
# of 1 is not base64. (One regular expression for all of it is 6x slower than this.)
_CANONICAL_LAST = {0: None, 2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}
# The NumericDates a datetime holds (0001-01-01 to 9999-12-31T23:59:59 UTC).
_EARLIEST, _LATEST = -62135596800, 253402300799

type ClaimProblem = tuple[type[KeycloakTokenError], str]


def b64url(segment: str) -> bytes:
    """Canonical base64url (no padding, no other characters, unused bits zero: the text
    that encoding the result gives back); ``ValueError`` otherwise."""
    last = _CANONICAL_LAST.get(len(segment) % 4, ())
    if _B64URL.fullmatch(segment) is None or (last is not None and segment[-1] not in last):
        raise ValueError("not canonical base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def json_object(data: bytes) -> dict[str, Any] | None:
    """``data`` parsed as a JSON object, or None (not JSON, not an object, or nested too
    deeply for the parser: ``RecursionError`` is not a ``ValueError``)."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


_CACHED_HEADER_LENGTH = 1024  # a real JOSE header is ~100 characters


def header_of(segment: str) -> tuple[str, str | None] | None:
    """``(alg, kid)`` of a header segment, or None when it is not a usable JOSE header.
    Cached: every token signed with one key shares one header. Only short segments are
    cached: 256 huge headers an attacker sent must not stay in memory."""
    if len(segment) > _CACHED_HEADER_LENGTH:
        return _parse_header(segment)
    return _cached_header(segment)


def _parse_header(segment: str) -> tuple[str, str | None] | None:
    try:
        header = json_object(b64url(segment))
    except ValueError:
        return None
    if header is None or "crit" in header or header.get("b64") is False:
        return None
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str):
        return None
    return alg, kid if isinstance(kid, str) else None


_cached_header = lru_cache(maxsize=256)(_parse_header)


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric_date(value: object) -> bool:
    """A JSON number a ``datetime`` holds. The range check also refuses NaN and the
    infinities (``json`` parses both; ``NaN <= now`` is false: a NaN ``exp`` would never
    expire)."""
    return _number(value) and _EARLIEST <= value <= _LATEST


def check_claims(
    claims: dict[str, Any],
    *,
    issuer: str,
    audience: tuple[str, ...],
    leeway: float,
    now: float,
) -> ClaimProblem | None:
    """The first failed check as (error class, message), or None when the claims pass."""
    return (
        _format_problem(claims)
        or _time_problem(claims, leeway, now)
        or _identity_problem(claims, issuer, audience)
    )


def _format_problem(claims: dict[str, Any]) -> ClaimProblem | None:
    if not _numeric_date(claims.get("exp")):
        return TokenMalformedError, "token has no 'exp' claim that is a date"
    for name in ("nbf", "iat"):
        if name in claims and not _numeric_date(claims[name]):
            return TokenMalformedError, f"token claim {name!r} is not a date"
    for name in ("sub", "jti"):
        if name in claims and not isinstance(claims[name], str):
            return TokenMalformedError, f"token claim {name!r} is not a string"
    return None


def _time_problem(claims: dict[str, Any], leeway: float, now: float) -> ClaimProblem | None:
    if claims["exp"] <= now - leeway:
        return TokenExpiredError, "token has expired"
    if claims.get("nbf", now) > now + leeway or claims.get("iat", now) > now + leeway:
        return TokenNotYetValidError, "token is not valid yet"
    return None


def _identity_problem(
    claims: dict[str, Any], issuer: str, audience: tuple[str, ...]
) -> ClaimProblem | None:
    if "iss" not in claims:
        return TokenMalformedError, "token lacks the 'iss' claim"
    if claims["iss"] != issuer:
        return TokenIssuerError, "token was issued by another issuer"
    aud = claims.get("aud")
    held = [aud] if isinstance(aud, str) else aud
    if not isinstance(held, list) or not held or not all(isinstance(a, str) for a in held):
        return TokenAudienceError, "token has no valid audience"
    if not any(a in audience for a in held):
        return TokenAudienceError, "token is not meant for this audience"
    return None
