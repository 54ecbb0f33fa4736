"""``ConsulKVWatch``: follow one key with blocking queries, yielding its value when it changes.

Each read carries the last index and ``wait``; its deadline is above ``wait + wait/16``
(Consul adds up to a sixteenth of jitter). A read that returns with the same index (the wait
ran out) yields nothing; an index that goes backwards (a restored or new cluster) starts
over from 0. Writes to other keys that wake the read yield nothing either. Transient
failures back off exponentially with full jitter (``base`` doubling up to ``max``, reset by
a success) and the watch goes on; other errors end it. Cancelling the task that iterates
(or ``aclose()``) cancels the pending HTTP request.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from uuid import UUID

from omnibase_infra.errors import InfraError
from omnibase_infra.models.consul import ModelConsulKVEntry
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.client import ConsulClient

__all__ = ["ConsulKVWatch"]

logger = logging.getLogger("omnibase_infra.nodes.node_consul_adapter_effect")


class ConsulKVWatch:
    """``async for entry in ConsulKVWatch(client, key): ...``; the first item is the current
    value (``None``: no such key), then one item per change."""

    def __init__(
        self,
        client: ConsulClient,
        key: str,
        *,
        wait_seconds: float = 30,
        base_delay_seconds: float = 0.5,
        max_delay_seconds: float = 30,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        correlation_id: UUID | None = None,
    ) -> None:
        self._client = client
        self.key = key
        self._wait = wait_seconds
        self._base = base_delay_seconds
        self._max = max_delay_seconds
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self._cid = correlation_id
        self.index = 0
        self.consecutive_errors = 0
        self.last_error: InfraError | None = None

    def _backoff(self) -> float:
        ceiling = min(self._max, self._base * 2 ** (self.consecutive_errors - 1))
        return self._rng.uniform(0, ceiling)

    async def __aiter__(self) -> AsyncIterator[ModelConsulKVEntry | None]:
        first = True
        seen: int | None = None  # the key's modify index (None: no such key)
        while True:
            try:
                index, entry = await self._client.kv_wait(
                    self.key, index=self.index, wait_seconds=self._wait, correlation_id=self._cid
                )
            except InfraError as exc:
                if not exc.retryable:
                    raise
                self.consecutive_errors += 1
                self.last_error = exc
                delay = self._backoff()
                logger.warning(
                    "consul watch on %s failed (%s); retrying in %.2fs",
                    self.key,
                    exc.error_code,
                    delay,
                    extra={"correlation_id": self._cid},
                )
                await self._sleep(delay)
                continue
            self.consecutive_errors = 0
            if index < self.index:
                self.index = 0  # the index went backwards: read afresh
                continue
            self.index = index
            # The index also moves for writes to other keys: compare the key's own version.
            version = None if entry is None else entry.modify_index
            if first or version != seen:
                first, seen = False, version
                yield entry
