"""The realm's signing keys, cached, and local verification of access tokens with them.

:class:`JwksCache` holds the JWKS as ready-to-use public keys. A token whose ``kid`` is
known is verified with no network call. An unknown ``kid`` (the realm rotated its key) makes
one fetch, but only when the last fetch is at least ``cooldown_seconds`` old (30 s by
default, as panva/jose): a storm of tokens with random ``kid``s causes at most one fetch per
cooldown. Concurrent misses share one fetch. The set is also refetched when it is older than
``ttl_seconds``; if that fetch fails, the keys already held are kept (a failed refresh does
not take verification down with the server).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from omnibase_infra.errors import InfraError

__all__ = ["JwksCache", "SigningKey", "key_family", "parse_jwks"]

logger = logging.getLogger("omnibase_infra.nodes.node_keycloak_adapter_effect")

type FetchJwks = Callable[[], Awaitable[Mapping[str, Any]]]

_FAMILY = {"RS": "RSA", "PS": "RSA", "ES": "EC"}


def key_family(algorithm: str) -> str | None:
    """The JWK ``kty`` an algorithm needs (``RSA`` for RS*/PS*, ``EC`` for ES*)."""
    return _FAMILY.get(algorithm[:2])


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A public key of the realm: the key object, its ``kty`` and its declared ``alg``
    (None when the JWK declares none: then any algorithm of its family fits)."""

    key: Any
    kty: str
    alg: str | None

    def fits(self, algorithm: str) -> bool:
        """Whether a token signed with ``algorithm`` may be verified with this key."""
        return self.kty == key_family(algorithm) and (self.alg is None or self.alg == algorithm)


class JwksCache:
    """The JWKS of one issuer: ``kid`` -> public key, with refetch rules (module doc)."""

    def __init__(
        self,
        fetch: FetchJwks,
        *,
        ttl_seconds: float = 300.0,
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0
        self.skipped_refetches = 0

    @property
    def kids(self) -> list[str]:
        """The ``kid``s held now."""
        return list(self._keys)

    def cached(self, kid: str) -> SigningKey | None:
        """The key for ``kid`` if held and the set is fresh: the no-await fast path."""
        fetched = self._fetched_at
        if fetched is not None and self._clock() - fetched < self._ttl:
            return self._keys.get(kid)
        return None

    async def get(self, kid: str) -> SigningKey | None:
        """The key for ``kid``, fetching the set when the rules allow; None if unknown."""
        key = self.cached(kid)
        if key is not None:
            return key
        async with self._lock:
            now = self._clock()
            fetched = self._fetched_at
            fresh = fetched is not None and now - fetched < self._ttl
            if fresh and kid in self._keys:
                return self._keys[kid]  # another caller's fetch brought it
            if fresh and fetched is not None and now - fetched < self._cooldown:
                self.skipped_refetches += 1
                return None
            await self.refresh(keep_on_error=bool(self._keys))
            return self._keys.get(kid)

    async def refresh(self, *, keep_on_error: bool = False) -> None:
        """Fetch the set now. With ``keep_on_error`` a failed fetch keeps the old keys."""
        self.fetches += 1
        try:
            document = await self._fetch()
        except InfraError as exc:
            if not keep_on_error:
                raise
            logger.warning("JWKS refresh failed, keeping %d keys: %s", len(self._keys), exc)
            return
        finally:
            # A failed fetch counts for the cooldown too: a down server is not hammered.
            self._fetched_at = self._clock()
        self._keys = parse_jwks(document)

    def clear(self) -> None:
        """Forget every key (the next lookup fetches)."""
        self._keys = {}
        self._fetched_at = None


def parse_jwks(document: Mapping[str, Any]) -> dict[str, SigningKey]:
    """The signature keys of a JWKS document by ``kid``; unusable entries are skipped."""
    import jwt  # noqa: PLC0415 - imported on first use (import cost)

    keys: dict[str, SigningKey] = {}
    entries = document.get("keys")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") not in {"RSA", "EC"} or not isinstance(entry.get("kid"), str):
            continue  # symmetric (oct) keys never verify tokens here
        try:
            jwk = jwt.PyJWK.from_dict(entry)
            keys[entry["kid"]] = SigningKey(jwk.key, entry["kty"], _str_or_none(entry.get("alg")))
        except jwt.PyJWTError:  # PyJWKError, InvalidKeyError
            logger.warning("skipping an unusable JWK (kid %s)", entry["kid"])
    return keys


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
