"""The checks of one compact JWS access token, in the order they run.

Signatures are verified with PyJWT's algorithm objects (``jwt.algorithms``, on
``cryptography``); the token's structure and claims are checked here, with PyJWT's rules:
``exp`` required and ``exp <= now - leeway`` expired; ``nbf``/``iat`` beyond
``now + leeway`` not yet valid; ``iss`` required and equal; ``aud`` required, a string or a
list of strings, holding one expected audience; ``sub``/``jti`` strings when present; no
``crit`` extensions, no unencoded payload (``b64: false``). Doing the parsing here rather
than through ``jwt.decode`` avoids PyJWT 2.15's per-character base64url validation (a
generator over every character, as costly as the RSA check): a regular expression checks the
same alphabet.
"""

from __future__ import annotations

import base64
import json
import re
from functools import lru_cache
from typing import Any

from jwt.algorithms import Algorithm, get_default_algorithms

from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import (
    KeycloakTokenError,
    TokenAudienceError,
    TokenExpiredError,
    TokenIssuerError,
    TokenMalformedError,
    TokenNotYetValidError,
)

__all__ = ["ALGORITHMS", "ClaimProblem", "b64url", "check_claims", "header_of"]

ALGORITHMS: dict[str, Algorithm] = get_default_algorithms()
_B64URL = re.compile(r"[A-Za-z0-9_-]*")

type ClaimProblem = tuple[type[KeycloakTokenError], str]


def b64url(segment: str) -> bytes:
    """Strict base64url (no padding, no other characters); ``ValueError`` otherwise."""
    if _B64URL.fullmatch(segment) is None:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@lru_cache(maxsize=256)
def header_of(segment: str) -> tuple[str, str | None] | None:
    """``(alg, kid)`` of a header segment, or None when it is not a usable JOSE header.
    Cached: every token signed with one key shares one header."""
    try:
        header = json.loads(b64url(segment))
    except ValueError:
        return None
    if not isinstance(header, dict) or "crit" in header or header.get("b64") is False:
        return None
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str):
        return None
    return alg, kid if isinstance(kid, str) else None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
    if not _number(claims.get("exp")):
        return TokenMalformedError, "token has no numeric 'exp' claim"
    for name in ("nbf", "iat"):
        if name in claims and not _number(claims[name]):
            return TokenMalformedError, f"token claim {name!r} is not a number"
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
