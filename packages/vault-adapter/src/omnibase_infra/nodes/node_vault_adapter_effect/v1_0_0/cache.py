"""An in-memory TTL cache of KV reads, bounded (least recently used out first) and
invalidated by this node's own writes."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from omnibase_infra.models.vault import ModelVaultKvSecret

__all__ = ["SecretCache"]

type CacheKey = tuple[str, str, int | None]


class SecretCache:
    """(mount, path, version) → secret for ``ttl_seconds`` (0 turns it off), at most
    ``max_entries`` secrets (``ModelVaultConfig.cache_max_entries``, 1024 by default): a put
    beyond that forgets the least recently used one. Memory only."""

    def __init__(
        self,
        ttl_seconds: float,
        *,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            msg = "max_entries must be at least 1"
            raise ValueError(msg)
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[CacheKey, tuple[float, ModelVaultKvSecret]] = OrderedDict()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def max_entries(self) -> int:
        """The bound on the number of cached secrets."""
        return self._max

    def get(self, key: CacheKey) -> ModelVaultKvSecret | None:
        """The cached secret (now the most recently used), or None when absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: CacheKey, secret: ModelVaultKvSecret) -> None:
        """Remember ``secret`` for the TTL (nothing when the cache is off), forgetting the
        least recently used secrets beyond ``max_entries``."""
        if self._ttl <= 0:
            return
        self._entries[key] = (self._clock() + self._ttl, secret)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
            self.evictions += 1

    def invalidate(self, mount: str, path: str) -> None:
        """Forget every version of one secret."""
        for key in [k for k in self._entries if k[0] == mount and k[1] == path]:
            del self._entries[key]

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
