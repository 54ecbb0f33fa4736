"""The shared-state store protocol, the in-memory store, and replicas sharing a breaker.

Two registries on one ``InMemoryBreakerStore`` behave like two replicas of a service
sharing a Redis store: a trip in one is seen by the other after its sync interval.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConnectionError, InfraValidationError
from omnibase_infra.resilience.breaker import (
    BreakerKey,
    BreakerRegistry,
    BreakerStoreRecord,
    CircuitBreaker,
    CircuitOpenError,
    EnumCircuitState,
    InMemoryBreakerStore,
    ModelCircuitBreakerConfig,
    ProtocolBreakerStore,
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
    wait_in_open_seconds=30.0,
    wait_multiplier=2.0,
    max_wait_in_open_seconds=120.0,
    half_open_max_probes=1,
    half_open_successes_to_close=1,
    store_sync_interval_seconds=1.0,
)


def record(state: S, version: int, **extra: object) -> BreakerStoreRecord:
    return BreakerStoreRecord(state=state, version=version, **extra)  # type: ignore[arg-type]


async def trip(breaker: CircuitBreaker) -> None:
    while breaker.state is S.CLOSED:
        with pytest.raises(InfraConnectionError):
            async with breaker.guard(operation="query"):
                raise InfraConnectionError("refused", transport=PG, operation="query")
    assert breaker.state is S.OPEN


async def succeed(breaker: CircuitBreaker) -> None:
    async with breaker.guard(operation="query"):
        pass


# -- the in-memory store ---------------------------------------------------------------
async def test_in_memory_store_satisfies_the_protocol_and_does_compare_and_set() -> None:
    store = InMemoryBreakerStore()
    assert isinstance(store, ProtocolBreakerStore)
    assert await store.load(KEY) is None
    first = record(S.OPEN, 1, open_until=10.0, trip_count=1, reason="failure_rate")
    assert await store.compare_and_set(KEY, 0, first) == (True, first)
    assert await store.load(KEY) == first
    loser = record(S.CLOSED, 1)
    assert await store.compare_and_set(KEY, 0, loser) == (False, first)
    second = record(S.HALF_OPEN, 2)
    assert await store.compare_and_set(KEY, 1, second) == (True, second)
    other = BreakerKey(EnumTransport.VAULT, "db:5432")
    assert await store.compare_and_set(other, 4, record(S.OPEN, 5)) == (False, None)
    with pytest.raises(InfraValidationError, match="expected_version \\+ 1"):
        await store.compare_and_set(KEY, 2, record(S.OPEN, 7))


async def test_probe_permits_are_bounded_per_version_and_leased() -> None:
    store = InMemoryBreakerStore()
    assert (
        await store.try_acquire_probe(KEY, version=1, max_probes=2, now=0, lease_seconds=5) is None
    )
    await store.compare_and_set(KEY, 0, record(S.HALF_OPEN, 1))

    async def take(now: float, version: int = 1) -> str | None:
        return await store.try_acquire_probe(
            KEY, version=version, max_probes=2, now=now, lease_seconds=5.0
        )

    first, second = await take(0.0), await take(1.0)
    assert first is not None
    assert second not in (None, first)
    assert await take(2.0) is None  # both held
    assert await take(2.0, version=2) is None  # not the stored version
    await store.release_probe(KEY, first)
    await store.release_probe(KEY, first)  # idempotent
    third = await take(2.0)
    assert third is not None
    assert await take(6.5) is not None  # the lease of the second (taken at 1.0) expired
    assert store.probes_held(KEY) == 2
    await store.compare_and_set(KEY, 1, record(S.CLOSED, 2))
    assert store.probes_held(KEY) == 0  # a new version drops old permits
    assert await take(7.0, version=2) is None  # closed: no probes
    await store.release_probe(BreakerKey(PG, "elsewhere"), "x")
    assert store.probes_held(BreakerKey(PG, "elsewhere")) == 0


# -- replicas sharing a store ----------------------------------------------------------
async def test_a_trip_in_one_replica_is_seen_by_the_other() -> None:
    clock = FakeClock()
    store = InMemoryBreakerStore()
    replica_a = BreakerRegistry(CONFIG, clock=clock, store=store).get(PG, "db:5432")
    replica_b = BreakerRegistry(CONFIG, clock=clock, store=store).get(PG, "db:5432")
    await succeed(replica_b)  # b has synced once
    await trip(replica_a)
    await succeed(replica_b)  # within b's sync interval: b still closed locally
    assert replica_b.state is S.CLOSED
    clock.now += 1.0
    with pytest.raises(CircuitOpenError) as caught:
        await succeed(replica_b)
    assert caught.value.retry_at == replica_a.engine.open_until
    assert replica_b.snapshot().state is S.OPEN
    assert replica_b.engine.trip_count == 1
    assert replica_b.store_version == replica_a.store_version == 1

    # Half-open: one probe across both replicas; a's success closes both.
    clock.now += 30.0
    probing = asyncio.Event()
    release = asyncio.Event()

    async def probe_a() -> None:
        async with replica_a.guard(operation="query"):
            probing.set()
            await release.wait()

    task = asyncio.create_task(probe_a())
    await probing.wait()
    with pytest.raises(CircuitOpenError) as busy:
        await succeed(replica_b)  # b syncs to half-open; the store's only permit is taken
    assert busy.value.breaker_state == "half_open"
    assert replica_b.snapshot().state is S.HALF_OPEN
    assert replica_b.engine.probes_in_flight == 0  # b gave its local permit back
    release.set()
    await task
    assert replica_a.state is S.CLOSED
    clock.now += 1.0
    await succeed(replica_b)
    assert replica_b.snapshot().state is S.CLOSED
    assert store.probes_held(KEY) == 0


async def test_a_lost_race_adopts_the_winner() -> None:
    clock = FakeClock()
    store = InMemoryBreakerStore()
    replica_a = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    replica_b = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    await succeed(replica_a)
    await succeed(replica_b)
    await trip(replica_a)
    clock.now += 0.5  # b trips on its own before its next sync
    await trip(replica_b)
    assert replica_b.store_version == 1  # its write lost; it took a's record
    assert replica_b.engine.open_until == replica_a.engine.open_until
    stored = await store.load(KEY)
    assert stored is not None
    assert (stored.version, stored.updated_at) == (1, clock.now - 0.5)


async def test_operator_commands_win_over_a_newer_stored_state() -> None:
    clock = FakeClock()
    store = InMemoryBreakerStore()
    replica_a = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    replica_b = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    await succeed(replica_b)
    await replica_a.isolate()
    await replica_b.disable()  # b had not seen the isolation: its command is written on top
    stored = await store.load(KEY)
    assert stored is not None
    assert (stored.state, stored.version, stored.reason) == (S.DISABLED, 2, "disable")
    clock.now += 1.0
    await succeed(replica_a)
    assert replica_a.state is S.DISABLED
    await replica_a.reset()
    await replica_b.sync()
    assert replica_b.state is S.CLOSED


async def test_a_record_the_store_lost_is_written_again() -> None:
    clock = FakeClock()
    store = InMemoryBreakerStore()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    await trip(breaker)
    store._entries.clear()  # e.g. Redis restarted without persistence
    await breaker.sync()
    stored = await store.load(KEY)
    assert stored is not None
    assert (stored.state, stored.version) == (S.OPEN, 1)


class FlakyStore(InMemoryBreakerStore):
    """Fails every call while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.refuse_probes = False

    def _check(self) -> None:
        if self.down:
            raise InfraConnectionError(
                "redis down: password=hunter2", transport=EnumTransport.REDIS, operation="store"
            )

    async def load(self, key: BreakerKey) -> BreakerStoreRecord | None:
        self._check()
        return await super().load(key)

    async def compare_and_set(
        self, key: BreakerKey, expected_version: int, record: BreakerStoreRecord
    ) -> tuple[bool, BreakerStoreRecord | None]:
        self._check()
        return await super().compare_and_set(key, expected_version, record)

    async def try_acquire_probe(
        self, key: BreakerKey, *, version: int, max_probes: int, now: float, lease_seconds: float
    ) -> str | None:
        self._check()
        if self.refuse_probes:
            return None
        return await super().try_acquire_probe(
            key, version=version, max_probes=max_probes, now=now, lease_seconds=lease_seconds
        )

    async def release_probe(self, key: BreakerKey, token: str) -> None:
        self._check()
        await super().release_probe(key, token)


async def test_a_failing_store_never_fails_a_call(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    store = FlakyStore()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    store.down = True
    with caplog.at_level(logging.WARNING):
        await succeed(breaker)  # the sync fails: local state
        await trip(breaker)  # the write fails: local state
        clock.now += 30.0
        await succeed(breaker)  # probe: store down, the local probe limit applies
    assert breaker.state is S.CLOSED
    assert "store load failed" in caplog.text
    assert "store compare_and_set failed" in caplog.text
    assert "store try_acquire_probe failed" in caplog.text
    assert "hunter2" not in caplog.text
    store.down = False
    clock.now += 1.0
    await succeed(breaker)  # the next sync writes the local state that never reached it
    stored = await store.load(KEY)
    assert stored is not None
    assert stored.state is S.CLOSED


async def test_a_probe_release_failure_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    store = FlakyStore()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    await trip(breaker)
    clock.now += 30.0
    with caplog.at_level(logging.WARNING):
        async with breaker.guard(operation="query"):
            store.down = True
    assert breaker.state is S.CLOSED
    assert "store release_probe failed" in caplog.text


async def test_a_probe_the_store_refuses_is_rejected_and_triggers_a_sync() -> None:
    clock = FakeClock()
    store = FlakyStore()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    await trip(breaker)
    clock.now += 30.0
    store.refuse_probes = True
    with pytest.raises(CircuitOpenError) as caught:
        await succeed(breaker)
    assert (caught.value.breaker_state, caught.value.retry_at) == ("half_open", None)
    snapshot = breaker.snapshot()
    assert (snapshot.probes_in_flight, snapshot.rejected) == (0, 1)
    store.refuse_probes = False
    await succeed(breaker)  # the forced sync finds nothing new; the probe goes through
    assert breaker.state is S.CLOSED


async def test_a_command_that_cannot_be_written_is_retried_at_the_next_sync() -> None:
    clock = FakeClock()
    store = FlakyStore()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    await succeed(breaker)
    store.down = True
    await breaker.isolate()
    store.down = False
    await breaker.sync()
    stored = await store.load(KEY)
    assert stored is not None
    assert (stored.state, stored.reason) == (S.FORCED_OPEN, "isolate")


async def test_contention_that_never_settles_gives_up_and_retries_later() -> None:
    clock = FakeClock()

    class AlwaysNewer(InMemoryBreakerStore):
        async def compare_and_set(
            self, key: BreakerKey, expected_version: int, record: BreakerStoreRecord
        ) -> tuple[bool, BreakerStoreRecord | None]:
            return False, BreakerStoreRecord(state=S.CLOSED, version=expected_version + 5)

    breaker = CircuitBreaker(KEY, CONFIG, clock=clock, store=AlwaysNewer())
    await breaker.isolate()  # an operator command keeps retrying on top, then gives up
    assert breaker.state is S.FORCED_OPEN
    assert breaker.store_version == 25


class GatedStore(InMemoryBreakerStore):
    """Holds ``load`` and ``compare_and_set`` until their gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.load_gate: asyncio.Event | None = None
        self.cas_gate: asyncio.Event | None = None
        self.waiting = asyncio.Event()

    async def load(self, key: BreakerKey) -> BreakerStoreRecord | None:
        result = await super().load(key)  # read now, answer late: a stale answer
        if self.load_gate is not None:
            self.waiting.set()
            await self.load_gate.wait()
        return result

    async def compare_and_set(
        self, key: BreakerKey, expected_version: int, record: BreakerStoreRecord
    ) -> tuple[bool, BreakerStoreRecord | None]:
        if self.cas_gate is not None:
            gate, self.cas_gate = self.cas_gate, None
            self.waiting.set()
            await gate.wait()
        return await super().compare_and_set(key, expected_version, record)


async def test_a_store_answer_older_than_a_local_write_is_discarded() -> None:
    clock = FakeClock()
    store = GatedStore()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    other = CircuitBreaker(KEY, CONFIG, clock=clock, store=InMemoryBreakerStore())
    store.load_gate = asyncio.Event()
    syncing = asyncio.create_task(breaker.sync())
    await store.waiting.wait()
    await breaker.isolate()  # written while the load is in flight
    store.load_gate.set()
    await syncing
    assert breaker.state is S.FORCED_OPEN  # the stale (empty) answer changed nothing
    assert breaker.store_version == 1
    assert other.state is S.CLOSED


async def test_pushes_are_single_flight_and_a_sync_waits_for_them() -> None:
    clock = FakeClock()
    store = GatedStore()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    await breaker.sync()
    gate = asyncio.Event()
    store.cas_gate = gate
    store.waiting.clear()
    isolating = asyncio.create_task(breaker.isolate())
    await store.waiting.wait()  # the first write is held
    await breaker.sync()  # a push is in flight: nothing to read
    await breaker.disable()  # joins the push in flight instead of writing concurrently
    # Meanwhile another replica wrote: the held write will lose the race.
    await store.compare_and_set(KEY, 0, record(S.OPEN, 1, open_until=clock.now + 9))
    gate.set()
    await isolating
    stored = await store.load(KEY)
    assert stored is not None
    assert (stored.state, stored.version) == (S.DISABLED, 2)  # the latest command won
    assert breaker.state is S.DISABLED


async def test_a_local_transition_racing_a_stored_one_is_written_on_top() -> None:
    clock = FakeClock()
    store = GatedStore()
    breaker = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    await breaker.sync()

    async def fail() -> None:
        with pytest.raises(InfraConnectionError):
            async with breaker.guard(operation="query"):
                raise InfraConnectionError("refused", transport=PG, operation="query")

    for _ in range(3):
        await fail()
    gate = asyncio.Event()
    store.cas_gate = gate
    store.waiting.clear()
    tripping = asyncio.create_task(fail())  # the 4th failure trips
    await store.waiting.wait()  # the trip's write is held
    await store.compare_and_set(KEY, 0, record(S.HALF_OPEN, 1))  # another replica wins
    breaker.engine.reset(clock.now)  # and a local change lands during the write
    gate.set()
    await tripping
    stored = await store.load(KEY)
    assert stored is not None
    assert (stored.state, stored.version) == (S.CLOSED, 2)
    assert breaker.state is S.CLOSED


async def test_an_answer_made_stale_by_adoption_is_asked_again() -> None:
    clock = FakeClock()
    store = InMemoryBreakerStore()
    replica_a = CircuitBreaker(KEY, CONFIG, clock=clock, store=store)
    lazy = CONFIG.model_copy(update={"store_sync_interval_seconds": 1000.0})
    replica_b = CircuitBreaker(KEY, lazy, clock=clock, store=store)
    await trip(replica_a)
    await replica_b.sync()
    assert replica_b.state is S.OPEN
    clock.now += 30.0
    await succeed(replica_a)  # a probes and closes: store version 3
    assert replica_a.state is S.CLOSED
    # b still thinks open; it goes half-open locally, loses the write and adopts closed.
    await succeed(replica_b)
    assert replica_b.snapshot().state is S.CLOSED
    assert replica_b.store_version == 3
    assert replica_b.snapshot().successes == 1


async def test_decorator_probes_when_no_sync_is_due() -> None:
    clock = FakeClock()
    lazy = CONFIG.model_copy(update={"store_sync_interval_seconds": 1000.0})
    breaker = CircuitBreaker(KEY, lazy, clock=clock)

    @breaker.protect("query")
    async def query() -> str:
        return "ok"

    await trip(breaker)
    clock.now += 30.0
    assert await query() == "ok"  # half-open probe through the guard's slow path
    assert breaker.state is S.CLOSED
