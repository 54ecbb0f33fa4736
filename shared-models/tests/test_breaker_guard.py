"""The asyncio face of the breaker: guard, decorator, registry, events, concurrency.

A fake clock drives every time-dependent behaviour; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from uuid import UUID, uuid4

import pytest

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraConnectionError,
    InfraUnavailableError,
    InfraValidationError,
)
from omnibase_infra.events import InMemoryEventBus
from omnibase_infra.resilience import BreakerRegistry as ExportedRegistry
from omnibase_infra.resilience.breaker import (
    STATE_CHANGED_TOPIC,
    BreakerKey,
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    EnumCircuitState,
    InMemoryBreakerStore,
    ModelCircuitBreakerConfig,
    ModelCircuitBreakerStateChanged,
)

PG = EnumTransport.POSTGRES
KEY = BreakerKey(PG, "db:5432")
S = EnumCircuitState


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


CONFIG = ModelCircuitBreakerConfig(
    sliding_window_size=10,
    minimum_calls=4,
    failure_rate_threshold=50.0,
    slow_call_duration_seconds=2.0,
    slow_call_rate_threshold=100.0,
    wait_in_open_seconds=30.0,
    wait_multiplier=2.0,
    max_wait_in_open_seconds=120.0,
    half_open_max_probes=2,
    half_open_successes_to_close=2,
    store_sync_interval_seconds=1.0,
)


def refused() -> InfraConnectionError:
    return InfraConnectionError("connection refused", transport=PG, operation="query")


async def fail_once(breaker: CircuitBreaker, operation: str = "query") -> None:
    with pytest.raises(InfraConnectionError):
        async with breaker.guard(operation=operation):
            raise refused()


async def trip(breaker: CircuitBreaker) -> None:
    for _ in range(4):
        await fail_once(breaker)
    assert breaker.state is S.OPEN


# -- the guard -------------------------------------------------------------------------
async def test_guard_records_success_failure_slow_and_ignored() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock)
    async with breaker.guard(operation="query") as guard:
        clock.now += 2.5  # slower than slow_call_duration_seconds
    assert guard is not None
    error = refused()
    with pytest.raises(InfraConnectionError) as caught:
        async with breaker.guard(operation="query"):
            raise error
    assert caught.value is error  # propagated untouched
    with pytest.raises(InfraValidationError):
        async with breaker.guard(operation="query"):
            raise InfraValidationError("bad row", transport=PG, operation="query")
    snapshot = breaker.snapshot()
    assert (snapshot.successes, snapshot.failures, snapshot.ignored) == (1, 1, 1)
    assert (snapshot.slow_calls, snapshot.window_calls, snapshot.window_failures) == (1, 2, 1)
    assert snapshot.transport is PG
    assert snapshot.target == "db:5432"


async def test_a_refused_call_raises_the_unavailable_error_with_the_half_open_time() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock)
    await trip(breaker)
    correlation_id = uuid4()
    with pytest.raises(InfraUnavailableError) as caught:
        breaker.guard(operation="fetch", correlation_id=correlation_id)  # refused at once
    error = caught.value
    assert isinstance(error, CircuitOpenError)
    assert error.reason == "circuit_open"
    assert (error.transport, error.target, error.operation) == (PG, "db:5432", "fetch")
    assert error.correlation_id == correlation_id
    assert error.retry_at == clock.now + 30.0
    assert error.breaker_state == "open"
    assert error.retryable is True
    assert breaker.snapshot().rejected == 1


async def test_half_open_probes_close_the_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock)
    await trip(breaker)
    clock.now += 30.0
    for _ in range(2):
        async with breaker.guard(operation="query"):
            assert breaker.state is S.HALF_OPEN
    assert breaker.state is S.CLOSED
    assert breaker.store_version == 3  # open, half_open, closed were all written


async def test_a_failed_probe_reopens_for_longer() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock)
    await trip(breaker)
    clock.now += 30.0
    await fail_once(breaker)
    assert breaker.state is S.OPEN
    assert breaker.engine.open_until == clock.now + 60.0


async def test_cancellation_releases_a_probe_without_counting_a_failure() -> None:
    clock = FakeClock()
    store = InMemoryBreakerStore()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    await trip(breaker)
    clock.now += 30.0
    entered = asyncio.Event()

    async def probe() -> None:
        async with breaker.guard(operation="query"):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(probe())
    await entered.wait()
    assert breaker.engine.probes_in_flight == 1
    assert store.probes_held(KEY) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await breaker.drain()
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.probes_in_flight, snapshot.cancelled) == (S.HALF_OPEN, 0, 1)
    assert snapshot.failures == 4  # only the trip
    assert store.probes_held(KEY) == 0


async def test_a_guard_never_entered_records_nothing() -> None:
    breaker = CircuitBreaker(KEY, CONFIG, clock=FakeClock())
    guard = breaker.guard(operation="query")  # a store sync is due: admitted on entry
    await guard.__aexit__(None, None, None)
    await breaker.sync()
    assert breaker.snapshot().successes == 0
    await breaker.isolate()
    with pytest.raises(CircuitOpenError):
        breaker.guard(operation="query")


# -- the decorator ---------------------------------------------------------------------
async def test_decorator_guards_every_call() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock)
    calls: list[int] = []

    @breaker.protect("query")
    async def query(value: int, *, correlation_id: UUID | None = None) -> int:
        calls.append(value)
        if value < 0:
            raise refused()
        if value == 0:
            raise InfraValidationError("bad", transport=PG, operation="query")
        clock.now += value
        return value * 2

    assert query.__name__ == "query"
    assert await query(1) == 2  # the first call syncs with the store (slow path)
    assert await query(3) == 6  # fast path, slow call
    with pytest.raises(InfraValidationError):
        await query(0)
    for _ in range(2):  # 2 of 4 calls in the window failed: 50%
        with pytest.raises(InfraConnectionError):
            await query(-1)
    assert breaker.state is S.OPEN
    correlation_id = uuid4()
    with pytest.raises(CircuitOpenError) as caught:
        await query(5, correlation_id=correlation_id)
    assert caught.value.correlation_id == correlation_id
    assert caught.value.operation == "query"
    clock.now += 30.0  # half-open: probes go through the guard's slow path
    assert await query(1) == 2
    with pytest.raises(InfraConnectionError):
        await query(-1)
    assert breaker.state is S.OPEN
    snapshot = breaker.snapshot()
    assert (snapshot.successes, snapshot.failures, snapshot.ignored) == (3, 3, 1)
    assert (snapshot.slow_calls, snapshot.rejected) == (1, 1)
    assert calls == [1, 3, 0, -1, -1, 1, -1]


async def test_decorator_trip_in_the_fast_path_is_saved_to_the_store() -> None:
    clock = FakeClock()
    store = InMemoryBreakerStore()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)

    @breaker.protect("query")
    async def query(ok: bool) -> None:
        if not ok:
            raise refused()

    await query(True)
    await query(True)
    await query(True)
    await query(True)
    for _ in range(4):
        with pytest.raises(InfraConnectionError):
            await query(False)
    record = await store.load(KEY)
    assert record is not None
    assert (record.state, record.reason, record.trip_count) == (S.OPEN, "failure_rate", 1)
    await breaker.reset()
    for _ in range(3):
        with pytest.raises(InfraConnectionError):
            await query(False)
    assert breaker.state is S.CLOSED  # 3 < minimum_calls
    await query(True)  # 3 of 4 failed: a success reaching minimum_calls trips
    record = await store.load(KEY)
    assert record is not None
    assert record.state is S.OPEN


async def test_decorator_cancellation_in_the_fast_path() -> None:
    breaker = CircuitBreaker(KEY, CONFIG, clock=FakeClock())
    await breaker.sync()
    started = asyncio.Event()

    @breaker.protect("query")
    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(hang())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.snapshot().cancelled == 1


# -- concurrency -----------------------------------------------------------------------
async def test_many_tasks_through_one_breaker_lose_and_double_count_nothing() -> None:
    clock = FakeClock()
    config = CONFIG.model_copy(
        update={"sliding_window_size": 1000, "minimum_calls": 1000, "failure_rate_threshold": 100.0}
    )
    breaker = CircuitBreaker(KEY, config, clock=clock)
    rng = random.Random(7)  # noqa: S311 - test data
    plan = [rng.choice(["ok", "slow", "fail", "ignored", "cancel"]) for _ in range(600)]

    async def one(kind: str) -> None:
        async with breaker.guard(operation="query"):
            for _ in range(rng.randint(0, 3)):
                await asyncio.sleep(0)  # interleave with the other tasks
            if kind == "slow":
                clock.now += 3.0
            elif kind == "fail":
                raise refused()
            elif kind == "ignored":
                raise InfraValidationError("bad", transport=PG, operation="query")
            elif kind == "cancel":
                raise asyncio.CancelledError

    results = await asyncio.gather(*(one(kind) for kind in plan), return_exceptions=True)
    assert len(results) == len(plan)
    snapshot = breaker.snapshot()
    expected = {kind: plan.count(kind) for kind in ("ok", "slow", "fail", "ignored", "cancel")}
    assert snapshot.successes == expected["ok"] + expected["slow"]
    assert snapshot.failures == expected["fail"]
    assert snapshot.ignored == expected["ignored"]
    assert snapshot.cancelled == expected["cancel"]
    assert snapshot.window_calls == expected["ok"] + expected["slow"] + expected["fail"]
    assert snapshot.window_failures == expected["fail"]
    assert snapshot.slow_calls >= expected["slow"]  # a slow step also slows tasks in flight
    assert snapshot.state is S.CLOSED


async def test_many_tasks_in_half_open_never_exceed_the_probe_limit() -> None:
    clock = FakeClock()
    config = CONFIG.model_copy(
        update={"half_open_max_probes": 3, "half_open_successes_to_close": 1000}
    )
    breaker = CircuitBreaker(KEY, config, clock=clock)
    await trip(breaker)
    clock.now += 30.0
    active = 0
    peak = 0
    admitted = 0

    async def probe() -> None:
        nonlocal active, peak, admitted
        async with breaker.guard(operation="query"):
            admitted += 1
            active += 1
            peak = max(peak, active)
            for _ in range(3):
                await asyncio.sleep(0)
            active -= 1

    results = await asyncio.gather(*(probe() for _ in range(200)), return_exceptions=True)
    rejected = [r for r in results if isinstance(r, CircuitOpenError)]
    assert all(r is None or isinstance(r, CircuitOpenError) for r in results)
    assert peak == 3
    assert admitted + len(rejected) == 200
    snapshot = breaker.snapshot()
    assert snapshot.rejected == len(rejected)
    assert snapshot.successes == admitted
    assert (snapshot.state, snapshot.probes_in_flight) == (S.HALF_OPEN, 0)


# -- events ----------------------------------------------------------------------------
async def test_state_changes_are_published_as_onex_events() -> None:
    clock = FakeClock()
    bus = InMemoryEventBus()
    registry = BreakerRegistry(CONFIG, clock=clock, event_bus=bus)
    received: list[bytes] = []

    async def on_message(message: object) -> None:
        received.append(message.value)  # type: ignore[attr-defined]

    await bus.subscribe(STATE_CHANGED_TOPIC, "test", on_message)
    breaker = registry.get(PG, "app:s3cret-pw@db:5432")
    await trip(breaker)
    await registry.drain()
    assert registry.event_bus is bus
    (history,) = await bus.get_event_history()
    assert history.topic == STATE_CHANGED_TOPIC
    assert history.key == b"postgres/db:5432"
    assert history.headers.content_type == "application/json"
    assert history.headers.event_type == "circuit_breaker.state_changed"
    event = ModelCircuitBreakerStateChanged.model_validate_json(received[0])
    assert (event.transport, event.target) == (PG, "db:5432")
    assert (event.from_state, event.to_state, event.reason) == (S.CLOSED, S.OPEN, "failure_rate")
    assert (event.window_calls, event.window_failures, event.trip_count) == (4, 4, 1)
    assert event.open_until is not None
    assert event.open_until.timestamp() == clock.now + 30.0
    assert event.occurred_at.timestamp() == clock.now
    assert event.source == "local"
    assert b"s3cret" not in received[0]
    assert json.loads(received[0])["event_type"] == "circuit_breaker.state_changed"


async def test_a_failing_event_bus_never_fails_the_call(caplog: pytest.LogCaptureFixture) -> None:
    bus = InMemoryEventBus()
    await bus.close()  # every publish now raises
    breaker = CircuitBreaker(KEY, CONFIG, clock=FakeClock(), event_bus=bus)
    with caplog.at_level(logging.WARNING):
        await trip(breaker)
        await breaker.drain()
    assert breaker.state is S.OPEN
    assert "publishing circuit_breaker.state_changed failed" in caplog.text
    assert "InfraUnavailableError" in caplog.text


def test_a_transition_outside_an_event_loop_drops_its_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    breaker = CircuitBreaker(KEY, CONFIG, clock=FakeClock(), event_bus=InMemoryEventBus())
    with caplog.at_level(logging.WARNING):
        breaker.engine.isolate(0.0)
    assert "no event loop, event dropped" in caplog.text
    assert breaker.state is S.FORCED_OPEN


# -- the registry ----------------------------------------------------------------------
async def test_registry_keeps_one_breaker_per_transport_and_target() -> None:
    seen: list[BreakerKey] = []

    def config_for(key: BreakerKey) -> ModelCircuitBreakerConfig:
        seen.append(key)
        size = 7 if key.transport is EnumTransport.VAULT else 9
        return ModelCircuitBreakerConfig(sliding_window_size=size, minimum_calls=1)

    registry = ExportedRegistry(config_factory=config_for)
    first = registry.get(PG, "db:5432")
    assert registry.get(PG, "db:5432") is first
    assert registry.get(PG, "user:pw@db:5432") is first  # credentials are not part of a key
    vault = registry.get(EnumTransport.VAULT, "db:5432")
    assert vault is not first
    assert vault.engine.config.sliding_window_size == 7
    assert first.key == KEY
    assert seen == [KEY, BreakerKey(EnumTransport.VAULT, "db:5432")]
    assert len(registry) == 2
    assert {b.key for b in registry} == {KEY, vault.key}
    assert [s.target for s in registry.snapshots()] == ["db:5432", "db:5432"]
    assert isinstance(registry.store, InMemoryBreakerStore)


async def test_registry_default_config() -> None:
    registry = BreakerRegistry()
    assert registry.get(PG, "db").engine.config == ModelCircuitBreakerConfig()
