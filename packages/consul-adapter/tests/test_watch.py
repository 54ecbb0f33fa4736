"""The KV watch: fires on change and not otherwise, backs off on a stopped agent, resumes
against a new one (its index going backwards), and cancels cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConnectionError, InfraPermissionError
from omnibase_infra.models.consul import ModelConsulConfig, ModelConsulKVEntry
from omnibase_infra.nodes.node_consul_adapter_effect import ConsulClient, ConsulKVWatch
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra.resilience.breaker import (
    BreakerRegistry,
    CircuitOpenError,
    ModelCircuitBreakerConfig,
)
from omnibase_infra_testing.services.consul import start_consul

NO_RETRY = ModelRetryPolicy(max_attempts=1)


async def _next(items: asyncio.Queue[ModelConsulKVEntry | None]) -> ModelConsulKVEntry | None:
    return await asyncio.wait_for(items.get(), 5)


async def _follow(watch: ConsulKVWatch, items: asyncio.Queue[ModelConsulKVEntry | None]) -> None:
    async for entry in watch:
        await items.put(entry)


async def test_watch_fires_on_change_and_not_otherwise(client: ConsulClient, prefix: str) -> None:
    key = f"{prefix}/watched"
    items: asyncio.Queue[ModelConsulKVEntry | None] = asyncio.Queue()
    watch = ConsulKVWatch(client, key, wait_seconds=1)
    task = asyncio.create_task(_follow(watch, items))
    try:
        assert await _next(items) is None  # the current state: no such key
        await client.kv_put(key, b"one")
        first = await _next(items)
        assert first is not None
        assert first.value == b"one"
        await client.kv_put(f"{prefix}/other", b"x")  # wakes the read, is not a change
        await asyncio.sleep(1.3)  # and a wait that runs out is not one either
        assert items.empty()
        await client.kv_put(key, b"two")
        second = await _next(items)
        assert second is not None
        assert second.value == b"two"
        await client.kv_delete(key)
        assert await _next(items) is None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert task.cancelled()


async def test_watch_backs_off_while_the_agent_is_down() -> None:
    agent = start_consul()  # a private agent: this test stops it
    registry = BreakerRegistry(
        ModelCircuitBreakerConfig(minimum_calls=2, sliding_window_size=2, wait_in_open_seconds=60)
    )
    client = ConsulClient(
        ModelConsulConfig(host=agent.host, port=agent.port),
        retry_policy=NO_RETRY,
        breakers=registry,
    )
    delays: list[float] = []
    errors: list[object] = []
    items: asyncio.Queue[ModelConsulKVEntry | None] = asyncio.Queue()

    async def sleep(delay: float) -> None:
        delays.append(delay)
        errors.append(type(watch.last_error))
        if len(delays) == 5:
            task.cancel()
        await asyncio.sleep(0)

    watch = ConsulKVWatch(
        client,
        "svc/config",
        wait_seconds=1,
        base_delay_seconds=0.1,
        max_delay_seconds=0.4,
        sleep=sleep,
        rng=random.Random(7),  # noqa: S311
    )
    try:
        await client.kv_put("svc/config", b"before")
        task = asyncio.create_task(_follow(watch, items))
        before = await _next(items)
        assert before is not None
        assert before.value == b"before"
        agent.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        assert task.cancelled()
        assert len(delays) == 5
        ceilings = [0.1, 0.2, 0.4, 0.4, 0.4]
        assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
        assert len(set(delays)) > 1  # jittered
        # Typed errors: a connection failure (with the earlier success: a 50 % failure
        # rate over the window of 2), then the open breaker refusing calls.
        assert errors[0] is InfraConnectionError
        assert set(errors[1:]) == {CircuitOpenError}
        assert watch.consecutive_errors == 5
    finally:
        await client.close()
        agent.stop()


async def test_watch_ends_on_an_error_that_is_not_transient(prefix: str) -> None:
    class Denied(ConsulClient):
        async def kv_wait(self, *args: object, **kwargs: object) -> tuple[int, None]:
            raise InfraPermissionError(
                "denied", transport=EnumTransport.CONSUL, operation="kv_wait"
            )

    watch = ConsulKVWatch(Denied(ModelConsulConfig()), f"{prefix}/k")
    with pytest.raises(InfraPermissionError):
        await anext(aiter(watch))


async def test_an_index_going_backwards_restarts_from_zero() -> None:
    def entry(version: int) -> ModelConsulKVEntry:
        return ModelConsulKVEntry(key="k", value=b"v", create_index=1, modify_index=version)

    answers = [(100, entry(90)), (5, entry(3)), (6, entry(3)), (7, entry(4))]
    asked: list[int] = []

    class Scripted(ConsulClient):  # the read's results only: the watch logic is pure
        async def kv_wait(
            self, key: str, *, index: int, wait_seconds: float, correlation_id: object = None
        ) -> tuple[int, ModelConsulKVEntry | None]:
            asked.append(index)
            return answers.pop(0)

    watch = ConsulKVWatch(Scripted(ModelConsulConfig()), "k")
    items = aiter(watch)
    seen = [await anext(items), await anext(items), await anext(items)]
    assert [e.modify_index if e else None for e in seen] == [90, 3, 4]
    assert asked == [0, 100, 0, 6]
