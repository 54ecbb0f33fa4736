"""Watches: follow a KV key, a service's healthy instances or the service catalog with
blocking queries, yielding the current state first and then one item per change.

The machinery is shared (:class:`ConsulWatch`). Each read carries the last index and
``wait``; its deadline is above ``wait + wait/16`` (Consul adds up to a sixteenth of
jitter). A read that returns with nothing changed (the wait ran out, or the index moved
for something else) yields nothing; an index that goes backwards (a restarted dev agent, a
restored or new cluster) starts over from 0. Transient failures (connection, 5xx, timeout,
open breaker) back off exponentially with full jitter (``base`` doubling up to ``max``,
reset by a success) and the watch goes on; other errors end it. Cancelling the task that
iterates (or ``aclose()``) cancels the pending HTTP request. Every read carries the
watch's ``correlation`` (a fresh one by default).
"""

from __future__ import annotations

import asyncio
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from omnibase_infra.errors import InfraError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.consul import (
    ModelConsulCatalogWaitRequest,
    ModelConsulHealthWaitRequest,
    ModelConsulKVEntry,
    ModelConsulKVWaitRequest,
    ModelConsulServiceInstance,
)

if TYPE_CHECKING:
    from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.node import (
        NodeConsulAdapterEffect,
    )

__all__ = ["ConsulCatalogWatch", "ConsulHealthWatch", "ConsulKVWatch", "ConsulWatch"]

logger = logging.getLogger("omnibase_infra.nodes.node_consul_adapter_effect")


class ConsulWatch[T](ABC):
    """``async for item in watch: ...``: the current state, then one item per change.

    Subclasses say how to read (:meth:`_read`, one blocking query) and what counts as a
    change (:meth:`_version`)."""

    def __init__(
        self,
        node: NodeConsulAdapterEffect,
        *,
        wait_seconds: float = 30,
        base_delay_seconds: float = 0.5,
        max_delay_seconds: float = 30,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        correlation: ModelCorrelationContext | None = None,
    ) -> None:
        self._node = node
        self._wait = wait_seconds
        self._base = base_delay_seconds
        self._max = max_delay_seconds
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self._correlation = correlation or ModelCorrelationContext.fresh()
        self.index = 0
        self.consecutive_errors = 0
        self.last_error: InfraError | None = None
        self.resets = 0  # how often the index went backwards

    @property
    @abstractmethod
    def subject(self) -> str:
        """What is watched (for logs)."""

    @abstractmethod
    async def _read(self, index: int) -> tuple[int, T]:
        """One blocking query from ``index``."""

    @abstractmethod
    def _version(self, item: T) -> object:
        """What must differ between two results for the second to be a change."""

    def _backoff(self) -> float:
        ceiling = min(self._max, self._base * 2 ** (self.consecutive_errors - 1))
        return self._rng.uniform(0, ceiling)

    async def __aiter__(self) -> AsyncIterator[T]:
        first = True
        seen: object = None
        while True:
            try:
                index, item = await self._read(self.index)
            except InfraError as exc:
                if not exc.retryable:
                    raise
                self.consecutive_errors += 1
                self.last_error = exc
                delay = self._backoff()
                logger.warning(
                    "consul watch on %s failed (%s); retrying in %.2fs",
                    self.subject,
                    exc.error_code,
                    delay,
                    extra={"correlation_id": self._correlation.correlation_id},
                )
                await self._sleep(delay)
                continue
            self.consecutive_errors = 0
            if index < self.index:
                self.index = 0  # the index went backwards: read afresh
                self.resets += 1
                continue
            self.index = index
            version = self._version(item)
            if first or version != seen:
                first, seen = False, version
                yield item


class ConsulKVWatch(ConsulWatch[ModelConsulKVEntry | None]):
    """One key: its value (``None``: no such key), then one item per change of that key
    (writes to other keys also move the index: they yield nothing)."""

    def __init__(
        self,
        node: NodeConsulAdapterEffect,
        key: str,
        *,
        wait_seconds: float = 30,
        base_delay_seconds: float = 0.5,
        max_delay_seconds: float = 30,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        correlation: ModelCorrelationContext | None = None,
    ) -> None:
        super().__init__(
            node,
            wait_seconds=wait_seconds,
            base_delay_seconds=base_delay_seconds,
            max_delay_seconds=max_delay_seconds,
            sleep=sleep,
            rng=rng,
            correlation=correlation,
        )
        self.key = key

    @property
    def subject(self) -> str:
        return f"key {self.key}"

    async def _read(self, index: int) -> tuple[int, ModelConsulKVEntry | None]:
        result = await self._node.kv_wait(
            ModelConsulKVWaitRequest(
                key=self.key, index=index, wait_seconds=self._wait, correlation=self._correlation
            )
        )
        return result.index, result.entry

    def _version(self, item: ModelConsulKVEntry | None) -> object:
        # The key's own modify index (None: no such key).
        return None if item is None else item.modify_index


class ConsulHealthWatch(ConsulWatch[list[ModelConsulServiceInstance]]):
    """The passing instances of ``service`` (optionally with ``tag``): the current list,
    then the new list whenever an instance appears, goes, or turns healthy or unhealthy."""

    def __init__(
        self,
        node: NodeConsulAdapterEffect,
        service: str,
        *,
        tag: str | None = None,
        wait_seconds: float = 30,
        base_delay_seconds: float = 0.5,
        max_delay_seconds: float = 30,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        correlation: ModelCorrelationContext | None = None,
    ) -> None:
        super().__init__(
            node,
            wait_seconds=wait_seconds,
            base_delay_seconds=base_delay_seconds,
            max_delay_seconds=max_delay_seconds,
            sleep=sleep,
            rng=rng,
            correlation=correlation,
        )
        self.service = service
        self.tag = tag

    @property
    def subject(self) -> str:
        return f"service {self.service}"

    async def _read(self, index: int) -> tuple[int, list[ModelConsulServiceInstance]]:
        result = await self._node.health_wait(
            ModelConsulHealthWaitRequest(
                service=self.service,
                index=index,
                wait_seconds=self._wait,
                tag=self.tag,
                correlation=self._correlation,
            )
        )
        return result.index, list(result.instances)

    def _version(self, item: list[ModelConsulServiceInstance]) -> object:
        # A TTL refresh moves the index without changing anything a caller can see.
        return sorted(item, key=lambda i: (i.node, i.service_id))


class ConsulCatalogWatch(ConsulWatch[dict[str, list[str]]]):
    """The catalog's services (name to tags): the current map, then the new map whenever a
    service is added or removed or its tags change."""

    @property
    def subject(self) -> str:
        return "the service catalog"

    async def _read(self, index: int) -> tuple[int, dict[str, list[str]]]:
        result = await self._node.catalog_wait(
            ModelConsulCatalogWaitRequest(
                index=index, wait_seconds=self._wait, correlation=self._correlation
            )
        )
        return result.index, result.services

    def _version(self, item: dict[str, list[str]]) -> object:
        return {name: sorted(tags) for name, tags in item.items()}
