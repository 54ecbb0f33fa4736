"""An in-memory TTL cache of KV reads, invalidated by this node's own writes."""

from __future__ import annotations

import time
from collections.abc import Callable

from omnibase_infra.models.vault import ModelVaultKvSecret

__all__ = ["SecretCache"]

type CacheKey = tuple[str, str, int | None]


class SecretCache:
    """(mount, path, version) → secret for ``ttl_seconds`` (0 turns it off). Memory only."""

    def __init__(self, ttl_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[CacheKey, tuple[float, ModelVaultKvSecret]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey) -> ModelVaultKvSecret | None:
        """The cached secret, or None when absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: CacheKey, secret: ModelVaultKvSecret) -> None:
        """Remember ``secret`` for the TTL (nothing when the cache is off)."""
        if self._ttl > 0:
            self._entries[key] = (self._clock() + self._ttl, secret)

    def invalidate(self, mount: str, path: str) -> None:
        """Forget every version of one secret."""
        for key in [k for k in self._entries if k[0] == mount and k[1] == path]:
            del self._entries[key]

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
