"""Fixtures: buses on the harness's real nats-server, each test in an environment (so a
stream) of its own, and OpenTelemetry's SDK in memory where a test reads spans."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from omnibase_infra.event_bus.nats import ModelNatsEventBusConfig, NatsEventBus
from omnibase_infra_testing.services.nats import NatsService

type BusFactory = Callable[..., NatsEventBus]


@pytest.fixture
def environment() -> str:
    """An environment (a stream, a subject prefix) private to the test."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_config(
    nats_service: NatsService, environment: str
) -> Callable[..., ModelNatsEventBusConfig]:
    def make(**fields: Any) -> ModelNatsEventBusConfig:
        values: dict[str, Any] = {
            "servers": nats_service.url,
            "environment": environment,
            "ack_wait_seconds": 5.0,
            "publish_timeout_seconds": 10.0,
            "pull_expires_seconds": 2.0,
            "drain_timeout_seconds": 2.0,
        }
        values.update(fields)
        return ModelNatsEventBusConfig(**values)

    return make


@pytest.fixture
async def make_bus(
    make_config: Callable[..., ModelNatsEventBusConfig],
) -> AsyncIterator[BusFactory]:
    buses: list[NatsEventBus] = []

    def make(*, config: ModelNatsEventBusConfig | None = None, **kwargs: Any) -> NatsEventBus:
        bus = NatsEventBus(config if config is not None else make_config(), **kwargs)
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.close()


@pytest.fixture
async def bus(make_bus: BusFactory) -> NatsEventBus:
    return make_bus()


@pytest.fixture
async def raw(nats_service: NatsService, environment: str) -> AsyncIterator[JetStreamContext]:
    """A plain nats-py JetStream context on the same server; deletes the test's stream."""
    nc: Client = await nats.connect(nats_service.url)
    js = nc.jetstream()
    try:
        yield js
    finally:
        with contextlib.suppress(Exception):
            await js.delete_stream(f"onex-{environment}")
        await nc.close()


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


class Inbox:
    """A handler recording what it was given; ``wait(n)`` waits until it has ``n``."""

    def __init__(self, action: Callable[[Any], Awaitable[None]] | None = None) -> None:
        self.messages: list[Any] = []
        self._changed = asyncio.Condition()
        self._action = action

    async def __call__(self, message: Any) -> None:
        if self._action is not None:
            await self._action(message)
        async with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    async def wait(self, count: int, within: float = 15.0) -> list[Any]:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.messages) >= count)
        return list(self.messages)


async def until(predicate: Callable[[], bool], within: float = 15.0) -> None:
    """Wait until ``predicate()`` holds (state changed by other tasks), at most ``within`` s."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polls state no event announces
            await asyncio.sleep(0.01)


async def until_true(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Wait until ``await check()`` holds (server state: it answers a query, not an event)."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - polls the server's state
            await asyncio.sleep(0.02)


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()
