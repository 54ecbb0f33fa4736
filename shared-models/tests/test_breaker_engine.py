"""The pure circuit-breaker engine: every transition, windows, slow calls, permits.

Time is passed in explicitly, so every test is deterministic and instant.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraConnectionError,
    InfraTimeoutError,
    InfraValidationError,
)
from omnibase_infra.resilience.breaker import (
    BreakerKey,
    BreakerTransition,
    CircuitBreakerEngine,
    EnumCircuitState,
    ModelCircuitBreakerConfig,
    Permit,
    Rejection,
)
from omnibase_infra.resilience.breaker.window import FAILED, SLOW, CountWindow, TimeWindow

KEY = BreakerKey(EnumTransport.POSTGRES, "db:5432")
CLOSED = EnumCircuitState.CLOSED
OPEN = EnumCircuitState.OPEN
HALF_OPEN = EnumCircuitState.HALF_OPEN


def make(
    transitions: list[BreakerTransition] | None = None, **overrides: object
) -> CircuitBreakerEngine:
    settings: dict[str, object] = {
        "sliding_window_size": 10,
        "minimum_calls": 4,
        "failure_rate_threshold": 50.0,
        "slow_call_duration_seconds": 1.0,
        "slow_call_rate_threshold": 50.0,
        "wait_in_open_seconds": 10.0,
        "wait_multiplier": 2.0,
        "max_wait_in_open_seconds": 35.0,
        "half_open_max_probes": 2,
        "half_open_successes_to_close": 2,
    }
    settings.update(overrides)
    config = ModelCircuitBreakerConfig.model_validate(settings)
    listener = transitions.append if transitions is not None else None
    return CircuitBreakerEngine(config, key=KEY, on_transition=listener)


def admit(engine: CircuitBreakerEngine, now: float) -> Permit:
    result = engine.try_acquire(now)
    assert isinstance(result, Permit), result
    return result


def succeed(engine: CircuitBreakerEngine, now: float, duration: float = 0.01) -> None:
    engine.on_success(admit(engine, now), duration, now)


def fail(engine: CircuitBreakerEngine, now: float, duration: float = 0.01) -> None:
    engine.on_failure(admit(engine, now), duration, now)


def trip(engine: CircuitBreakerEngine, now: float) -> None:
    for _ in range(4):
        fail(engine, now)
    assert engine.state is OPEN


# -- configuration -------------------------------------------------------------------
def test_config_defaults_follow_resilience4j_names() -> None:
    config = ModelCircuitBreakerConfig()
    assert config.sliding_window_type == "count"
    assert config.sliding_window_size == 100
    assert config.minimum_calls == 20
    assert config.failure_rate_threshold == 50.0
    assert config.slow_call_rate_threshold == 100.0
    assert config.half_open_max_probes == 3


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sliding_window_size": 5, "minimum_calls": 6}, "minimum_calls must be <="),
        ({"sliding_window_type": "time", "sliding_window_size": 3601}, "at most 3600"),
        ({"wait_in_open_seconds": 10, "max_wait_in_open_seconds": 5}, "max_wait_in_open"),
        ({"failure_rate_threshold": 0}, "greater than 0"),
        ({"slow_call_rate_threshold": 101}, "less than or equal to 100"),
        ({"half_open_max_probes": 0}, "greater than or equal to 1"),
        ({"unknown": 1}, "Extra inputs"),
    ],
)
def test_config_rejects_contradictions(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelCircuitBreakerConfig.model_validate(settings)


def test_time_window_allows_minimum_above_its_size() -> None:
    config = ModelCircuitBreakerConfig(
        sliding_window_type="time", sliding_window_size=5, minimum_calls=50
    )
    assert config.minimum_calls == 50


def test_wait_grows_exponentially_and_is_capped() -> None:
    config = ModelCircuitBreakerConfig(
        wait_in_open_seconds=10, wait_multiplier=2, max_wait_in_open_seconds=35
    )
    assert [config.wait_for_trip(n) for n in (0, 1, 2, 3, 4)] == [10, 10, 20, 35, 35]
    huge = ModelCircuitBreakerConfig(wait_multiplier=1e300, max_wait_in_open_seconds=400)
    assert huge.wait_for_trip(5) == 400


# -- closed -> open ------------------------------------------------------------------
def test_failure_rate_trips_only_after_minimum_calls() -> None:
    transitions: list[BreakerTransition] = []
    engine = make(transitions)
    for _ in range(3):
        fail(engine, 100.0)
    assert engine.state is CLOSED  # 100% failures but only 3 < 4 calls
    fail(engine, 100.0)
    assert engine.state is OPEN
    assert engine.open_until == 110.0
    assert engine.trip_count == 1
    (event,) = transitions
    assert (event.from_state, event.to_state, event.reason) == (CLOSED, OPEN, "failure_rate")
    assert (event.window_calls, event.window_failures, event.open_until) == (4, 4, 110.0)
    assert event.key == KEY
    assert event.source == "local"


def test_a_success_reaching_minimum_calls_can_trip() -> None:
    engine = make()
    for _ in range(2):
        fail(engine, 1.0)
    succeed(engine, 1.0)
    assert engine.state is CLOSED
    succeed(engine, 1.0)  # 4 calls, 2 failures: 50% >= 50%
    assert engine.state is OPEN


def test_failure_rate_below_threshold_stays_closed() -> None:
    engine = make(failure_rate_threshold=60.0)
    for _ in range(10):
        succeed(engine, 1.0)
    for _ in range(5):
        fail(engine, 1.0)  # the last 10 calls: 5 failures = 50% < 60%
    assert engine.state is CLOSED
    fail(engine, 1.0)  # 6 of the last 10
    assert engine.state is OPEN


def test_count_window_evicts_the_oldest_outcome() -> None:
    engine = make(minimum_calls=4, sliding_window_size=4, failure_rate_threshold=75.0)
    fail(engine, 1.0)
    fail(engine, 1.0)
    for _ in range(4):
        succeed(engine, 1.0)  # both failures leave the window
    fail(engine, 1.0)
    fail(engine, 1.0)
    assert engine.state is CLOSED  # 2 of 4
    snapshot = engine.snapshot(1.0)
    assert (snapshot.window_calls, snapshot.window_failures) == (4, 2)
    assert snapshot.failure_rate == 50.0


def test_slow_successes_trip_on_slow_call_rate() -> None:
    transitions: list[BreakerTransition] = []
    engine = make(transitions, slow_call_rate_threshold=75.0)
    succeed(engine, 1.0, duration=1.0)  # exactly the threshold is not slow
    for _ in range(2):
        succeed(engine, 1.0, duration=1.5)
    assert engine.state is CLOSED
    succeed(engine, 1.0, duration=2.0)  # 3 slow of 4
    assert engine.state is OPEN
    assert transitions[-1].reason == "slow_call_rate"
    assert transitions[-1].window_slow_calls == 3
    assert engine.slow_calls == 3
    assert engine.successes == 4


def test_slow_failures_count_in_both_rates() -> None:
    engine = make(failure_rate_threshold=100.0, slow_call_rate_threshold=100.0)
    for _ in range(4):
        fail(engine, 1.0, duration=5.0)
    snapshot = engine.snapshot(1.0)
    assert snapshot.state is OPEN
    assert (snapshot.failures, snapshot.slow_calls) == (4, 4)


def test_slow_calls_can_be_disabled() -> None:
    engine = make(slow_call_duration_seconds=None)
    for _ in range(10):
        succeed(engine, 1.0, duration=1e9)
    assert engine.state is CLOSED
    assert engine.slow_calls == 0


def test_time_window_forgets_old_seconds() -> None:
    engine = make(sliding_window_type="time", sliding_window_size=3, minimum_calls=4)
    for now in (100.2, 100.9, 101.5):
        fail(engine, now)
    assert engine.state is CLOSED  # 3 < minimum_calls
    snapshot = engine.snapshot(103.0)  # the window is now seconds 101..103
    assert (snapshot.window_calls, snapshot.window_failures) == (1, 1)
    for now in (103.1, 103.2, 103.3):
        succeed(engine, now)
    fail(engine, 104.0)  # second 101 leaves: 3 successes + 1 failure
    assert engine.snapshot(104.0).window_failures == 1
    fail(engine, 104.5)
    assert engine.state is CLOSED  # 2 of 5
    fail(engine, 104.6)
    assert engine.state is OPEN  # 3 of 6


def test_time_window_after_a_long_gap_is_empty() -> None:
    engine = make(sliding_window_type="time", sliding_window_size=3, minimum_calls=1)
    succeed(engine, 10.0)
    assert engine.snapshot(1000.0).window_calls == 0
    assert engine.snapshot(1000.0).failure_rate is None


def test_time_window_records_a_clock_step_back_in_the_newest_second() -> None:
    window = TimeWindow(3, minimum_calls=1, failure_threshold=100.0, slow_threshold=100.0)
    window.record(0, 50.0)
    window.record(SLOW, 49.0)  # earlier than the newest second seen
    window.expire(52.9)
    assert (window.calls, window.slow) == (2, 1)
    window.expire(53.0)
    assert window.calls == 0


def test_time_window_buckets_are_cleared_for_reuse() -> None:
    window = TimeWindow(3, minimum_calls=1, failure_threshold=100.0, slow_threshold=100.0)
    window.record(FAILED | SLOW, 0.5)
    window.expire(5.0)
    assert (window.calls, window.failures, window.slow) == (0, 0, 0)
    window.record(0, 6.2)  # second 6 reuses the bucket of second 0 (and 3)
    assert (window.calls, window.failures, window.slow) == (1, 0, 0)
    window.expire(10.0)
    assert (window.calls, window.failures, window.slow) == (0, 0, 0)


def test_count_window_replaces_outcomes_of_every_kind() -> None:
    window = CountWindow(2, minimum_calls=2, failure_threshold=100.0, slow_threshold=100.0)
    window.record(FAILED, 0.0)
    window.record(FAILED | SLOW, 0.0)
    assert (window.calls, window.failures, window.slow) == (2, 2, 1)
    window.record(SLOW, 0.0)  # replaces FAILED
    assert (window.failures, window.slow) == (1, 2)
    window.record(0, 0.0)  # replaces FAILED | SLOW
    assert (window.failures, window.slow) == (0, 1)


def test_count_window_takes_successes_in_bulk() -> None:
    window = CountWindow(4, minimum_calls=1, failure_threshold=100.0, slow_threshold=100.0)
    for code in (FAILED, SLOW, FAILED | SLOW, 0):
        window.record(code, 0.0)
    window.add_successes(2)  # evicts FAILED and SLOW
    assert (window.calls, window.failures, window.slow) == (4, 1, 1)
    window.add_successes(1)  # evicts FAILED | SLOW
    assert (window.failures, window.slow) == (0, 0)
    window.record(FAILED, 0.0)  # replaces the old success at position 3
    window.add_successes(3)  # wraps around: positions 0, 1, 2
    assert (window.failures, window.slow) == (1, 0)
    window.add_successes(1)  # position 3: the failure leaves
    assert window.failures == 0
    for _ in range(4):
        window.record(FAILED, 0.0)
    window.add_successes(9)  # more than the window: all gone
    assert (window.calls, window.failures, window.slow) == (4, 0, 0)
    assert window.record(FAILED, 0.0) == 0  # 1 of 4 < 100%


def test_count_window_verdicts() -> None:
    window = CountWindow(3, minimum_calls=2, failure_threshold=50.0, slow_threshold=100.0)
    assert window.record(FAILED, 0.0) == 0  # below minimum_calls
    assert window.record(0, 0.0) == FAILED  # 1 of 2
    window.reset()
    assert window.record(SLOW, 0.0) == 0
    assert window.record(SLOW, 0.0) == SLOW
    assert window.record(0, 0.0) == 0  # 2 of 3 slow < 100%
    assert window.record(0, 0.0) == 0
    assert window.record(0, 0.0) == 0  # both slow calls evicted
    assert (window.calls, window.slow) == (3, 0)
    window.reset()
    for _ in range(3):
        assert window.record(0, 0.0) == 0
    assert window.record(0, 0.0) == 0  # a full window of successes stays quiet
    window.expire(1e9)  # count windows do not expire
    assert window.calls == 3


# -- open -> half-open -> closed / open ------------------------------------------------
def test_open_rejects_until_the_wait_elapses_then_admits_probes() -> None:
    transitions: list[BreakerTransition] = []
    engine = make(transitions)
    trip(engine, 100.0)
    rejection = engine.try_acquire(109.9)
    assert isinstance(rejection, Rejection)
    assert (rejection.state, rejection.retry_at) == (OPEN, 110.0)
    assert rejection.message == "circuit breaker postgres/db:5432 is open"
    assert engine.rejected == 1
    probe = engine.try_acquire(110.0)
    assert isinstance(probe, Permit)
    assert probe.probe
    assert engine.state is HALF_OPEN
    assert transitions[-1].reason == "wait_elapsed"
    assert transitions[-1].open_until is None


def test_half_open_admits_at_most_the_configured_probes() -> None:
    engine = make(half_open_max_probes=2)
    trip(engine, 0.0)
    first, second = admit(engine, 10.0), admit(engine, 10.0)
    busy = engine.try_acquire(10.0)
    assert isinstance(busy, Rejection)
    assert (busy.state, busy.retry_at) == (HALF_OPEN, None)
    assert engine.probes_in_flight == 2
    engine.on_ignored(first)  # ignored: the slot frees, nothing counts
    assert engine.probes_in_flight == 1
    engine.release(second)  # cancelled: the slot frees too
    assert engine.probes_in_flight == 0
    assert engine.state is HALF_OPEN
    assert (engine.ignored, engine.cancelled) == (1, 1)
    third = admit(engine, 10.0)
    assert third.probe


def test_half_open_closes_after_the_configured_successes() -> None:
    transitions: list[BreakerTransition] = []
    engine = make(transitions, half_open_successes_to_close=2)
    trip(engine, 0.0)
    probe = admit(engine, 10.0)
    engine.on_success(probe, 0.1, 10.0)
    assert engine.state is HALF_OPEN
    assert engine.snapshot(10.0).probe_successes == 1
    probe = admit(engine, 11.0)
    engine.on_success(probe, 0.1, 11.0)
    assert engine.state is CLOSED
    assert engine.trip_count == 0
    assert transitions[-1].reason == "probes_succeeded"
    assert engine.snapshot(11.0).window_calls == 0  # a fresh window


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        (lambda e, p, now: e.on_failure(p, 0.1, now), "probe_failed"),
        (lambda e, p, now: e.on_success(p, 5.0, now), "probe_slow"),
    ],
)
def test_a_failed_or_slow_probe_reopens_with_a_longer_wait(report: object, reason: str) -> None:
    transitions: list[BreakerTransition] = []
    engine = make(transitions)
    trip(engine, 0.0)
    probe = admit(engine, 10.0)
    report(engine, probe, 12.0)  # type: ignore[operator]
    assert engine.state is OPEN
    assert transitions[-1].reason == reason
    assert engine.trip_count == 2
    assert engine.open_until == 32.0  # 10 * 2 after the second consecutive trip
    probe = admit(engine, 32.0)
    engine.on_failure(probe, 0.1, 33.0)
    assert engine.open_until == 68.0  # capped at 35
    assert engine.trip_count == 3


def test_closing_resets_the_exponential_wait() -> None:
    engine = make(half_open_successes_to_close=1)
    trip(engine, 0.0)
    engine.on_failure(admit(engine, 10.0), 0.1, 10.0)  # second trip: wait 20
    engine.on_success(admit(engine, 30.0), 0.1, 30.0)
    assert engine.state is CLOSED
    trip(engine, 40.0)
    assert engine.open_until == 50.0  # back to the first wait


def test_zero_wait_goes_half_open_on_the_next_call() -> None:
    engine = make(wait_in_open_seconds=0.0, wait_multiplier=1.0, max_wait_in_open_seconds=0.0)
    trip(engine, 5.0)
    assert admit(engine, 5.0).probe


# -- stale permits ---------------------------------------------------------------------
def test_a_call_admitted_before_a_trip_does_not_touch_the_new_state() -> None:
    engine = make(half_open_successes_to_close=1)
    slow_call = admit(engine, 0.0)
    trip(engine, 0.0)
    probe = admit(engine, 10.0)
    engine.on_failure(slow_call, 10.0, 10.0)  # from the closed generation
    assert engine.state is HALF_OPEN
    assert engine.probes_in_flight == 1
    engine.on_success(probe, 0.1, 10.0)
    assert engine.state is CLOSED
    engine.on_failure(slow_call, 20.0, 20.0)  # still stale in the next closed generation
    snapshot = engine.snapshot(20.0)
    assert snapshot.window_calls == 0
    assert snapshot.failures == 6  # metrics count every outcome


def test_a_probe_from_an_earlier_half_open_does_not_free_a_slot() -> None:
    engine = make(half_open_max_probes=1)
    trip(engine, 0.0)
    old_probe = admit(engine, 10.0)
    engine.isolate(11.0)
    engine.reset(11.0)
    trip(engine, 11.0)
    new_probe = admit(engine, 21.0)
    engine.on_ignored(old_probe)
    engine.release(old_probe)
    assert engine.probes_in_flight == 1
    assert isinstance(engine.try_acquire(21.0), Rejection)
    engine.on_success(new_probe, 0.1, 21.0)
    assert engine.probes_in_flight == 0


# -- commands --------------------------------------------------------------------------
def test_isolate_rejects_everything_until_reset() -> None:
    transitions: list[BreakerTransition] = []
    engine = make(transitions)
    engine.isolate(1.0)
    rejection = engine.try_acquire(1e9)
    assert isinstance(rejection, Rejection)
    assert (rejection.state, rejection.retry_at) == (EnumCircuitState.FORCED_OPEN, None)
    assert engine.try_acquire_fast(1e9) is rejection
    engine.reset(2.0)
    assert engine.state is CLOSED
    assert [t.reason for t in transitions] == ["isolate", "reset"]


def test_disabled_admits_everything_and_never_trips() -> None:
    engine = make()
    engine.disable(0.0)
    for _ in range(20):
        fail(engine, 0.0)
    assert engine.state is EnumCircuitState.DISABLED
    assert engine.failures == 20
    assert engine.snapshot(0.0).window_calls == 0


def test_reset_clears_the_window_and_the_trip_history() -> None:
    engine = make()
    trip(engine, 0.0)
    engine.reset(1.0)
    assert (engine.state, engine.trip_count, engine.open_until) == (CLOSED, 0, None)
    for _ in range(3):
        fail(engine, 1.0)
    assert engine.state is CLOSED  # the earlier failures are gone


def test_generation_grows_with_every_transition() -> None:
    engine = make()
    assert engine.generation == 0
    engine.isolate(0.0)
    engine.disable(0.0)
    engine.reset(0.0)
    assert engine.generation == 3
    assert engine.transitions == 3


# -- errors and classification ---------------------------------------------------------
def test_on_error_classifies_failures_ignored_and_cancellation() -> None:
    engine = make(minimum_calls=1, failure_rate_threshold=100.0)
    permit = admit(engine, 0.0)
    validation = InfraValidationError("bad", transport=EnumTransport.POSTGRES, operation="q")
    assert engine.on_error(permit, validation, 0.1, 0.0) is False
    assert engine.on_error(permit, KeyboardInterrupt(), 0.1, 0.0) is False
    assert (engine.ignored, engine.cancelled, engine.state) == (1, 1, CLOSED)
    refused = InfraConnectionError("down", transport=EnumTransport.POSTGRES, operation="q")
    assert engine.on_error(permit, refused, 0.1, 0.0) is True
    assert engine.state is OPEN


def test_a_custom_classifier_decides() -> None:
    seen: list[BreakerKey] = []

    def only_timeouts(exc: BaseException, key: BreakerKey) -> bool:
        seen.append(key)
        return isinstance(exc, InfraTimeoutError)

    engine = make(classifier=only_timeouts, minimum_calls=1, failure_rate_threshold=100.0)
    permit = admit(engine, 0.0)
    refused = InfraConnectionError("down", transport=EnumTransport.POSTGRES, operation="q")
    assert engine.on_error(permit, refused, 0.1, 0.0) is False
    timeout = InfraTimeoutError(
        "slow", transport=EnumTransport.POSTGRES, operation="q", timeout_seconds=1.0
    )
    assert engine.on_error(permit, timeout, 0.1, 0.0) is True
    assert seen == [KEY, KEY]


def test_revoke_counts_a_rejection_and_frees_the_probe() -> None:
    engine = make(half_open_max_probes=1)
    trip(engine, 0.0)
    probe = admit(engine, 10.0)
    rejection = engine.revoke(probe)
    assert (rejection.state, engine.probes_in_flight, engine.rejected) == (HALF_OPEN, 0, 1)


# -- adopting a shared state -----------------------------------------------------------
def test_adopt_takes_over_a_remote_state_as_a_store_transition() -> None:
    transitions: list[BreakerTransition] = []
    engine = make(transitions)
    permit = admit(engine, 0.0)
    assert engine.adopt(OPEN, open_until=50.0, trip_count=3, now=1.0) is True
    assert (engine.state, engine.open_until, engine.trip_count) == (OPEN, 50.0, 3)
    assert transitions[-1].source == "store"
    assert transitions[-1].reason == "store_sync"
    engine.on_failure(permit, 0.1, 1.0)  # admitted before: stale
    assert engine.state is OPEN
    # The same state again changes nothing but the trip count.
    generation = engine.generation
    assert engine.adopt(OPEN, open_until=50.0, trip_count=4, now=2.0) is False
    assert (engine.generation, engine.trip_count) == (generation, 4)
    # A different open_until is a new open period.
    assert engine.adopt(OPEN, open_until=60.0, trip_count=4, now=2.0) is True
    assert engine.open_until == 60.0


def test_adopt_open_without_a_time_computes_the_wait() -> None:
    engine = make()
    engine.adopt(OPEN, open_until=None, trip_count=2, now=100.0)
    assert engine.open_until == 120.0


def test_adopting_closed_keeps_permits_of_an_unchanged_closed_state() -> None:
    engine = make()
    permit = admit(engine, 0.0)
    assert engine.adopt(CLOSED, open_until=None, trip_count=0, now=0.0) is False
    engine.on_failure(permit, 0.1, 0.0)
    assert engine.snapshot(0.0).window_failures == 1


def test_snapshot_reports_state_and_metrics() -> None:
    engine = make()
    succeed(engine, 0.0)
    fail(engine, 0.0, duration=3.0)
    engine.on_ignored(admit(engine, 0.0))
    engine.release(admit(engine, 0.0))
    snapshot = engine.snapshot(0.0)
    assert snapshot.model_dump() == {
        "transport": EnumTransport.POSTGRES,
        "target": "db:5432",
        "state": CLOSED,
        "generation": 0,
        "open_until": None,
        "trip_count": 0,
        "window_calls": 2,
        "window_failures": 1,
        "window_slow_calls": 1,
        "failure_rate": 50.0,
        "slow_call_rate": 50.0,
        "probes_in_flight": 0,
        "probe_successes": 0,
        "successes": 1,
        "failures": 1,
        "slow_calls": 1,
        "ignored": 1,
        "cancelled": 1,
        "rejected": 0,
        "transitions": 0,
    }


def test_engine_defaults_and_reprs() -> None:
    engine = CircuitBreakerEngine()
    assert engine.key == BreakerKey(EnumTransport.INTERNAL, "default")
    assert engine.config == ModelCircuitBreakerConfig()
    permit = admit(engine, 0.0)
    assert repr(permit) == "Permit(generation=0, probe=False)"
    engine.isolate(0.0)
    assert repr(engine.try_acquire(0.0)) == "Rejection(state=forced_open, retry_at=None)"
    assert str(KEY) == "postgres/db:5432"
