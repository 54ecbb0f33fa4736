"""Caller-timed outcomes (``record``), side-effect-free admission (``peek``) and the
decorator's call-time admission and fallback. A fake clock drives time; nothing sleeps.
"""

from __future__ import annotations

import inspect
from uuid import UUID, uuid4

import pytest

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConnectionError, InfraValidationError
from omnibase_infra.resilience.breaker import (
    Admission,
    BreakerKey,
    CircuitBreaker,
    CircuitBreakerEngine,
    CircuitOpenError,
    EnumCallOutcome,
    EnumCircuitState,
    InMemoryBreakerStore,
    ModelCircuitBreakerConfig,
)

PG = EnumTransport.POSTGRES
KEY = BreakerKey(PG, "db:5432")
S = EnumCircuitState
OUT = EnumCallOutcome
T0 = 1_700_000_000.0
CONFIG = ModelCircuitBreakerConfig(
    sliding_window_size=10,
    minimum_calls=2,
    failure_rate_threshold=50.0,
    slow_call_duration_seconds=2.0,
    wait_in_open_seconds=30.0,
    half_open_max_probes=1,
    half_open_successes_to_close=1,
    store_sync_interval_seconds=1.0,
)


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def refused() -> InfraConnectionError:
    return InfraConnectionError("refused", transport=PG, operation="query")


def test_peek_in_every_state_changes_nothing() -> None:
    engine = CircuitBreakerEngine(CONFIG, key=KEY)
    assert engine.peek(T0) == Admission(admitted=True, probe=False, retry_at=None, state=S.CLOSED)
    engine.record(OUT.FAILURE, 0.1, T0)
    engine.record(OUT.FAILURE, 0.1, T0)
    assert engine.state is S.OPEN
    before = engine.snapshot(T0)
    assert engine.peek(T0 + 1) == Admission(
        admitted=False, probe=False, retry_at=T0 + 30, state=S.OPEN
    )
    assert engine.peek(T0 + 30) == Admission(
        admitted=True, probe=True, retry_at=None, state=S.HALF_OPEN
    )
    assert engine.snapshot(T0) == before  # no transition, no rejection counted
    engine.try_acquire(T0 + 30)  # half-open, its only probe slot taken
    assert engine.peek(T0 + 30) == Admission(
        admitted=False, probe=False, retry_at=None, state=S.HALF_OPEN
    )
    engine.isolate(T0 + 31)
    assert not engine.peek(T0 + 31).admitted
    engine.disable(T0 + 32)
    assert engine.peek(T0 + 32) == Admission(
        admitted=True, probe=False, retry_at=None, state=S.DISABLED
    )


def test_engine_record_counts_each_outcome_and_classifies_exceptions() -> None:
    engine = CircuitBreakerEngine(CONFIG, key=KEY)
    assert engine.record(OUT.SUCCESS, 3.0, T0).admitted  # slow success
    engine.record("ignored", 0.1, T0)  # type: ignore[arg-type] # a plain str value works
    engine.record(InfraValidationError("bad", transport=PG, operation="q"), 0.1, T0)
    snapshot = engine.snapshot(T0)
    assert (snapshot.successes, snapshot.slow_calls, snapshot.ignored) == (1, 1, 2)
    assert snapshot.window_calls == 1
    engine.record(refused(), 0.1, T0)  # 1 of 2 failed: trips
    assert engine.state is S.OPEN
    refusal = engine.record(OUT.SUCCESS, 0.1, T0 + 1)
    assert (refusal.admitted, refusal.retry_at) == (False, T0 + 30)
    assert engine.snapshot(T0 + 1).successes == 1  # not counted, not even as a rejection
    assert engine.snapshot(T0 + 1).rejected == 0
    probe = engine.record(OUT.SUCCESS, 0.1, T0 + 30)
    assert (probe.admitted, probe.probe) == (True, True)
    assert engine.snapshot(T0 + 30).state is S.CLOSED
    assert engine.probes_in_flight == 0


async def test_record_saves_transitions_and_reads_the_store_when_due() -> None:
    clock = FakeClock()
    store = InMemoryBreakerStore()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    other = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    await breaker.record(OUT.FAILURE, 0.1)
    assert await store.load(KEY) is None  # no transition yet: nothing written
    admission = await breaker.record(OUT.FAILURE, 0.1)
    assert admission.admitted
    record = await store.load(KEY)
    assert record is not None
    assert (record.state, record.reason) == (S.OPEN, "failure_rate")
    # The other replica reads the store on its first record and does not count the call.
    refusal = await other.record(OUT.SUCCESS, 0.1)
    assert (refusal.admitted, refusal.state, refusal.retry_at) == (False, S.OPEN, T0 + 30)
    assert other.peek() == refusal
    assert other.snapshot().successes == 0
    clock.now += 30
    assert (await other.record(OUT.SUCCESS, 0.1)).probe
    record = await store.load(KEY)
    assert record is not None
    assert record.state is S.CLOSED
    await breaker.sync()
    assert breaker.state is S.CLOSED


async def test_decorator_is_a_coroutine_function_that_refuses_at_call_time() -> None:
    breaker = CircuitBreaker(KEY, CONFIG, clock=FakeClock())
    started: list[int] = []

    @breaker.protect("query")
    async def query(value: int, *, correlation_id: UUID | None = None) -> int:
        started.append(value)
        return value

    assert inspect.iscoroutinefunction(query)
    assert await query(1) == 1  # first call: slow path (store sync)
    await breaker.isolate()
    with pytest.raises(CircuitOpenError) as caught:
        query(2).close()  # raised by the call itself: no coroutine was created
    assert isinstance(caught.value.correlation_id, UUID)  # generated: the call had none
    assert caught.value.breaker_state == "forced_open"
    correlation_id = uuid4()
    with pytest.raises(CircuitOpenError) as caught:
        query(3, correlation_id=correlation_id).close()
    assert caught.value.correlation_id == correlation_id
    assert started == [1]


async def test_decorator_fallback_replaces_the_rejection() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock)

    async def cached(value: int) -> int:
        return -value

    @breaker.protect("query", fallback=cached)
    async def query(value: int) -> int:
        if value == 0:
            raise refused()
        return value

    assert await query(1) == 1
    with pytest.raises(InfraConnectionError):
        await query(0)  # the fallback is not for failures; 1 of 2 failed: trips
    assert breaker.state is S.OPEN
    assert await query(5) == -5  # fast path: refused without an exception
    clock.now += 30  # half-open, through the guard's slow path: one probe slot
    await breaker.sync()
    breaker.engine.try_acquire(clock.now)  # another call holds the only probe slot
    assert await query(6) == -6  # slow path refusal
    assert breaker.snapshot().rejected == 2


async def test_decorator_refusal_on_the_slow_path_raises_when_awaited() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock)
    await breaker.isolate()

    @breaker.protect("query")
    async def query(*, correlation_id: UUID | None = None) -> None:
        raise AssertionError("never called")

    clock.now += 5  # a store sync is due: admission needs an await
    call = query(correlation_id=(correlation_id := uuid4()))
    with pytest.raises(CircuitOpenError) as caught:
        await call
    assert caught.value.correlation_id == correlation_id
