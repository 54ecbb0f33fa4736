"""Process-wide registry of known secret values (e.g. a Vault token fetched at runtime).

Every redaction function masks the registered values, so a secret learnt at runtime is
hidden in logs and errors without each caller passing it around.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import quote

from pydantic import SecretBytes, SecretStr

__all__ = [
    "MIN_SECRET_LENGTH",
    "SecretLike",
    "clear_registered_secrets",
    "register_secret",
    "registered_secret_count",
    "unregister_secret",
]

MIN_SECRET_LENGTH = 4
"""Known secret values shorter than this are ignored: masking "ab" would mask everything."""

type SecretLike = str | bytes | SecretStr | SecretBytes


def _plain(value: object) -> str | None:
    if isinstance(value, SecretStr | SecretBytes):
        value = value.get_secret_value()
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
        return value
    return None


def secret_variants(value: object) -> frozenset[str]:
    """The value plus its percent-encoded form (how it appears inside URLs/DSNs)."""
    plain = _plain(value)
    if plain is None:
        return frozenset()
    return frozenset({plain, quote(plain, safe="")})


def normalize_secrets(values: Iterable[object] | SecretLike) -> frozenset[str]:
    """Known secrets as plain strings; a lone str/bytes/Secret* counts as one value."""
    if isinstance(values, str | bytes | SecretStr | SecretBytes):
        return secret_variants(values)
    out: set[str] = set()
    try:
        for value in values:
            out |= secret_variants(value)
    except TypeError:
        return frozenset()
    return frozenset(out)


@lru_cache(maxsize=64)
def compile_secrets(secrets: frozenset[str]) -> re.Pattern[str] | None:
    """One alternation, longest first, so a secret containing another is masked whole."""
    if not secrets:
        return None
    ordered = sorted(secrets, key=lambda s: (-len(s), s))
    return re.compile("|".join(re.escape(s) for s in ordered))


class _SecretRegistry:
    """Thread-safe set of secret values; readers see an immutable snapshot."""

    __slots__ = ("_lock", "_values")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return f"<_SecretRegistry: {len(self._values)} value(s)>"

    def add(self, value: object) -> bool:
        variants = secret_variants(value)
        if not variants:
            return False
        with self._lock:
            self._values = self._values | variants
        return True

    def remove(self, value: object) -> None:
        variants = secret_variants(value)
        with self._lock:
            self._values = self._values - variants

    def clear(self) -> None:
        with self._lock:
            self._values = frozenset()

    def snapshot(self) -> frozenset[str]:
        return self._values


REGISTRY = _SecretRegistry()


def register_secret(value: SecretLike) -> bool:
    """Mask ``value`` everywhere from now on; False if it is too short to be masked."""
    return REGISTRY.add(value)


def unregister_secret(value: SecretLike) -> None:
    """Stop masking ``value`` (e.g. after a token was revoked)."""
    REGISTRY.remove(value)


def clear_registered_secrets() -> None:
    """Forget every registered secret (for tests)."""
    REGISTRY.clear()


def registered_secret_count() -> int:
    """How many distinct values (including encoded variants) are registered."""
    return len(REGISTRY.snapshot())
