"""Watches of a key, a service's health and the catalog: they fire on change and not
otherwise, back off on a stopped agent, resume when it is restarted on the same port (its
index going backwards) and see later changes, and cancel cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraConnectionError,
    InfraPermissionError,
    InfraUnavailableError,
)
from omnibase_infra.models.consul import (
    EnumConsulCheckKind,
    EnumConsulCheckStatus,
    ModelConsulCheck,
    ModelConsulConfig,
    ModelConsulKVDeleteRequest,
    ModelConsulKVEntry,
    ModelConsulKVWaitRequest,
    ModelConsulKVWaitResult,
    ModelConsulServiceInstance,
    ModelConsulServiceRegistration,
)
from omnibase_infra.nodes.node_consul_adapter_effect import (
    ConsulCatalogWatch,
    ConsulHealthWatch,
    ConsulKVWatch,
    ConsulWatch,
    NodeConsulAdapterEffect,
)
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra.resilience.breaker import (
    BreakerRegistry,
    CircuitOpenError,
    EnumCircuitState,
    ModelCircuitBreakerConfig,
)
from omnibase_infra_testing.services.consul import start_consul

from .conftest import deregister, kv_put, register, set_ttl

NO_RETRY = ModelRetryPolicy(max_attempts=1)


async def _next[T](items: asyncio.Queue[T], seconds: float = 5) -> T:
    return await asyncio.wait_for(items.get(), seconds)


async def _follow[T](watch: ConsulWatch[T], items: asyncio.Queue[T]) -> None:
    async for entry in watch:
        await items.put(entry)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_watch_fires_on_change_and_not_otherwise(
    node: NodeConsulAdapterEffect, prefix: str
) -> None:
    key = f"{prefix}/watched"
    items: asyncio.Queue[ModelConsulKVEntry | None] = asyncio.Queue()
    watch = ConsulKVWatch(node, key, wait_seconds=1)
    task = asyncio.create_task(_follow(watch, items))
    try:
        assert await _next(items) is None  # the current state: no such key
        await kv_put(node, key, b"one")
        first = await _next(items)
        assert first is not None
        assert first.value == b"one"
        await kv_put(node, f"{prefix}/other", b"x")  # wakes the read, is not a change
        await asyncio.sleep(1.3)  # and a wait that runs out is not one either
        assert items.empty()
        await kv_put(node, key, b"two")
        second = await _next(items)
        assert second is not None
        assert second.value == b"two"
        await node.kv_delete(ModelConsulKVDeleteRequest(key=key))
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
    node = NodeConsulAdapterEffect(
        config=ModelConsulConfig(host=agent.host, port=agent.port),
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
        node,
        "svc/config",
        wait_seconds=1,
        base_delay_seconds=0.1,
        max_delay_seconds=0.4,
        sleep=sleep,
        rng=random.Random(7),  # noqa: S311
    )
    try:
        await kv_put(node, "svc/config", b"before")
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
        # Typed errors: a connection failure (or the 500 of an agent shutting down, with the
        # earlier success: a 50 % failure rate over the window of 2), then the open breaker
        # refusing calls.
        assert errors[0] in {InfraConnectionError, InfraUnavailableError}
        assert set(errors[1:]) == {CircuitOpenError}
        assert watch.consecutive_errors == 5
    finally:
        await node.aclose()
        agent.stop()


async def test_watch_ends_on_an_error_that_is_not_transient(prefix: str) -> None:
    class Denied(NodeConsulAdapterEffect):
        async def kv_wait(self, request: ModelConsulKVWaitRequest) -> ModelConsulKVWaitResult:
            raise InfraPermissionError(
                "denied", transport=EnumTransport.CONSUL, operation="kv_wait"
            )

    watch = ConsulKVWatch(Denied(config=ModelConsulConfig()), f"{prefix}/k")
    with pytest.raises(InfraPermissionError):
        await anext(aiter(watch))


async def test_an_index_going_backwards_restarts_from_zero() -> None:
    def entry(version: int) -> ModelConsulKVEntry:
        return ModelConsulKVEntry(key="k", value=b"v", create_index=1, modify_index=version)

    answers = [(100, entry(90)), (5, entry(3)), (6, entry(3)), (7, entry(4))]
    asked: list[int] = []

    class Scripted(NodeConsulAdapterEffect):  # the read's results only: the logic is pure
        async def kv_wait(self, request: ModelConsulKVWaitRequest) -> ModelConsulKVWaitResult:
            asked.append(request.index)
            index, entry = answers.pop(0)
            return ModelConsulKVWaitResult(index=index, entry=entry)

    watch = ConsulKVWatch(Scripted(config=ModelConsulConfig()), "k")
    items = aiter(watch)
    seen = [await anext(items), await anext(items), await anext(items)]
    assert [e.modify_index if e else None for e in seen] == [90, 3, 4]
    assert asked == [0, 100, 0, 6]


async def test_health_watch_fires_when_the_passing_set_changes(
    node: NodeConsulAdapterEffect, prefix: str
) -> None:
    name, check = f"{prefix}-api", f"{prefix}-api-ttl"
    items: asyncio.Queue[list[ModelConsulServiceInstance]] = asyncio.Queue()
    watch = ConsulHealthWatch(node, name, wait_seconds=1)
    assert watch.subject == f"service {name}"
    task = asyncio.create_task(_follow(watch, items))
    try:
        assert await _next(items) == []  # no such service yet
        await register(
            node,
            ModelConsulServiceRegistration(
                name=name,
                service_id=f"{name}-1",
                port=8080,
                checks=(
                    ModelConsulCheck(
                        kind=EnumConsulCheckKind.TTL,
                        check_id=check,
                        ttl_seconds=60,
                        initial_status=EnumConsulCheckStatus.PASSING,
                    ),
                ),
            ),
        )
        assert [i.service_id for i in await _next(items)] == [f"{name}-1"]
        await set_ttl(node, check, EnumConsulCheckStatus.PASSING, note="still fine")
        await asyncio.sleep(1.3)  # a refresh of the same status is not a change
        assert items.empty()
        await set_ttl(node, check, EnumConsulCheckStatus.CRITICAL)
        assert await _next(items) == []  # passing only
        await set_ttl(node, check, EnumConsulCheckStatus.PASSING)
        back = await _next(items)
        assert [i.service_id for i in back] == [f"{name}-1"]
        await deregister(node, f"{name}-1")
        assert await _next(items) == []
    finally:
        await _stop(task)
        await deregister(node, f"{name}-1")


async def test_catalog_watch_fires_when_services_or_tags_change(
    node: NodeConsulAdapterEffect, prefix: str
) -> None:
    name = f"{prefix}-cat"
    items: asyncio.Queue[dict[str, list[str]]] = asyncio.Queue()
    watch = ConsulCatalogWatch(node, wait_seconds=1)
    assert watch.subject == "the service catalog"
    task = asyncio.create_task(_follow(watch, items))

    async def until(predicate: object) -> dict[str, list[str]]:
        while True:
            services = await _next(items)
            if callable(predicate) and predicate(services):
                return services

    try:
        first = await _next(items)
        assert "consul" in first
        assert name not in first
        await register(
            node, ModelConsulServiceRegistration(name=name, service_id=f"{name}-1", tags=("a",))
        )
        assert (await until(lambda s: name in s))[name] == ["a"]
        await register(
            node,
            ModelConsulServiceRegistration(name=name, service_id=f"{name}-1", tags=("b", "a")),
        )
        assert sorted((await until(lambda s: s.get(name) != ["a"]))[name]) == ["a", "b"]
        await deregister(node, f"{name}-1")
        await until(lambda s: name not in s)
    finally:
        await _stop(task)
        await deregister(node, f"{name}-1")


async def test_watch_resumes_after_the_agent_restarts_on_the_same_port() -> None:
    """The fault test: the agent stopped -> typed errors, the breaker opens, the watch backs
    off; the agent restarted on the same port -> the watch resumes (its index went
    backwards: a dev agent starts a new, empty cluster) and sees later changes."""
    agent = start_consul()  # a private agent: this test stops and restarts it
    config = ModelConsulConfig(host=agent.host, port=agent.port)
    breakers = BreakerRegistry(
        ModelCircuitBreakerConfig(
            minimum_calls=2,
            sliding_window_size=2,
            wait_in_open_seconds=0.3,
            max_wait_in_open_seconds=0.3,
            half_open_successes_to_close=1,
        )
    )
    node = NodeConsulAdapterEffect(config=config, retry_policy=NO_RETRY, breakers=breakers)
    writer = NodeConsulAdapterEffect(
        config=config, retry_policy=NO_RETRY, breakers=BreakerRegistry()
    )
    errors: list[type[object]] = []

    async def sleep(delay: float) -> None:
        errors.append(type(watch.last_error))
        await asyncio.sleep(delay)

    watch = ConsulKVWatch(
        node,
        "svc/config",
        wait_seconds=1,
        base_delay_seconds=0.05,
        max_delay_seconds=0.2,
        sleep=sleep,
    )
    items: asyncio.Queue[ModelConsulKVEntry | None] = asyncio.Queue()
    task: asyncio.Task[None] | None = None
    try:
        # Push the index well above where a fresh agent starts.
        await asyncio.gather(*(kv_put(writer, f"filler/{i}", b"x") for i in range(40)))
        await kv_put(writer, "svc/config", b"before")
        task = asyncio.create_task(_follow(watch, items))
        before = await _next(items)
        assert before is not None
        assert before.value == b"before"
        old_index = watch.index

        await asyncio.to_thread(agent.stop)
        async with asyncio.timeout(10):
            while CircuitOpenError not in errors:  # noqa: ASYNC110 (no event to wait on)
                await asyncio.sleep(0.05)
        assert errors[0] in {InfraConnectionError, InfraUnavailableError}
        assert watch.consecutive_errors >= 2
        assert items.empty()

        await asyncio.to_thread(agent.start)
        assert await _next(items, 15) is None  # the new cluster has no such key
        assert watch.resets >= 1
        assert watch.index < old_index
        assert watch.consecutive_errors == 0
        assert node.breaker is not None
        assert node.breaker.state is EnumCircuitState.CLOSED
        await kv_put(writer, "svc/config", b"after")
        after = await _next(items)
        assert after is not None
        assert after.value == b"after"
    finally:
        if task is not None:
            await _stop(task)
        await node.aclose()
        await writer.aclose()
        agent.stop()
