"""One breaker per (transport, target), sharing a clock, a store and an event bus."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from omnibase_infra.enums import EnumTransport
from omnibase_infra.redaction import strip_userinfo
from omnibase_infra.resilience.breaker.breaker import CircuitBreaker, Clock
from omnibase_infra.resilience.breaker.config import ModelCircuitBreakerConfig
from omnibase_infra.resilience.breaker.engine import ModelCircuitBreakerSnapshot
from omnibase_infra.resilience.breaker.events import STATE_CHANGED_TOPIC
from omnibase_infra.resilience.breaker.store import (
    BreakerKey,
    InMemoryBreakerStore,
    ProtocolBreakerStore,
)

if TYPE_CHECKING:  # the event bus protocol (omnibase-spi) costs import time: typing only
    from omnibase_spi.protocols.event_bus import ProtocolEventBus

__all__ = ["BreakerRegistry", "ConfigFactory"]

type ConfigFactory = Callable[[BreakerKey], ModelCircuitBreakerConfig]
"""Chooses the configuration of a breaker when it is first created."""


class BreakerRegistry:
    """Creates breakers on first use and hands back the same one afterwards.

    ``config`` applies to every breaker unless ``config_factory`` is given. ``store``
    defaults to one :class:`InMemoryBreakerStore` for the registry (share a store between
    registries or processes to share breaker state); ``event_bus`` defaults to an
    :class:`InMemoryEventBus` (see :attr:`event_bus`). Targets are keyed without any
    ``user:password@`` part.
    """

    def __init__(
        self,
        config: ModelCircuitBreakerConfig | None = None,
        *,
        config_factory: ConfigFactory | None = None,
        clock: Clock = time.time,
        store: ProtocolBreakerStore | None = None,
        event_bus: ProtocolEventBus | None = None,
        topic: str = STATE_CHANGED_TOPIC,
    ) -> None:
        default = config or ModelCircuitBreakerConfig()
        self._config_factory: ConfigFactory = config_factory or (lambda _key: default)
        self._clock = clock
        self._store: ProtocolBreakerStore = store if store is not None else InMemoryBreakerStore()
        if event_bus is None:
            # Imported here: the event bus (and omnibase-spi) load when a registry is built.
            from omnibase_infra.events import InMemoryEventBus  # noqa: PLC0415

            event_bus = InMemoryEventBus()
        self._bus: ProtocolEventBus = event_bus
        self._topic = topic
        self._breakers: dict[BreakerKey, CircuitBreaker] = {}
        self._aliases: dict[tuple[EnumTransport, str], CircuitBreaker] = {}

    @property
    def store(self) -> ProtocolBreakerStore:
        """The store every breaker of this registry shares."""
        return self._store

    @property
    def event_bus(self) -> ProtocolEventBus:
        """Where state changes are published."""
        return self._bus

    def get(self, transport: EnumTransport, target: str) -> CircuitBreaker:
        """The breaker for ``target`` over ``transport``, created on first use."""
        try:
            return self._aliases[transport, target]
        except KeyError:
            pass
        key = BreakerKey(EnumTransport(transport), strip_userinfo(target))
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = CircuitBreaker(
                key,
                self._config_factory(key),
                clock=self._clock,
                store=self._store,
                event_bus=self._bus,
                topic=self._topic,
            )
            self._breakers[key] = breaker
        self._aliases[transport, target] = breaker
        return breaker

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter(list(self._breakers.values()))

    def __len__(self) -> int:
        return len(self._breakers)

    def snapshots(self) -> list[ModelCircuitBreakerSnapshot]:
        """State and metrics of every breaker."""
        return [breaker.snapshot() for breaker in self._breakers.values()]

    async def drain(self) -> None:
        """Wait for every breaker's pending events and background store calls."""
        for breaker in list(self._breakers.values()):
            await breaker.drain()
