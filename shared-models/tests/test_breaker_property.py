"""Property tests: the engine against a straightforward reference model of the same rules.

The reference keeps every outcome in a plain list, recomputes the window and the rates
from scratch with exact fractions, and numbers permits by generation; the engine uses ring
buffers, time buckets, cached permit objects and running totals. Over random sequences of
admissions, outcomes (fast, slow, failed, ignored, cancelled, in any order), clock steps
and commands, both must agree on every observable value after every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnibase_infra.enums import EnumTransport
from omnibase_infra.resilience.breaker import (
    BreakerKey,
    BreakerTransition,
    CircuitBreakerEngine,
    EnumCircuitState,
    ModelCircuitBreakerConfig,
    Permit,
    Rejection,
)

S = EnumCircuitState
KEY = BreakerKey(EnumTransport.HTTP, "api")
type Outcome = Literal["success", "failure", "ignored", "cancelled"]


@dataclass
class Call:
    generation: int
    probe: bool


@dataclass
class Reference:
    """The rules, written the obvious way."""

    config: ModelCircuitBreakerConfig
    state: S = S.CLOSED
    generation: int = 0
    open_until: float | None = None
    trips: int = 0
    probes: int = 0
    probe_successes: int = 0
    # (second, failed, slow) of every call recorded in the current closed generation
    outcomes: list[tuple[int, bool, bool]] = field(default_factory=list)
    newest_second: int | None = None

    def window(self) -> list[tuple[int, bool, bool]]:
        size = self.config.sliding_window_size
        if self.config.sliding_window_type == "count":
            return self.outcomes[-size:]
        newest = self.newest_second
        return [o for o in self.outcomes if newest is not None and o[0] > newest - size]

    def see(self, now: float) -> int:
        second = int(now)
        if self.newest_second is None or second > self.newest_second:
            self.newest_second = second
        return self.newest_second

    def transition(self, to: S, now: float) -> None:
        self.generation += 1
        self.state = to
        self.probes = 0
        self.probe_successes = 0
        self.open_until = None
        if to is S.CLOSED:
            self.trips = 0
            self.outcomes = []
            self.newest_second = None

    def trip(self, now: float) -> None:
        self.trips += 1
        cfg = self.config
        wait = min(
            cfg.max_wait_in_open_seconds,
            cfg.wait_in_open_seconds * cfg.wait_multiplier ** (self.trips - 1),
        )
        self.transition(S.OPEN, now)
        self.open_until = now + wait

    def acquire(self, now: float) -> Call | None:
        if self.state in (S.CLOSED, S.DISABLED):
            return Call(self.generation, probe=False)
        if self.state is S.FORCED_OPEN:
            return None
        if self.state is S.OPEN:
            assert self.open_until is not None
            if now < self.open_until:
                return None
            self.transition(S.HALF_OPEN, now)
        if self.probes < self.config.half_open_max_probes:
            self.probes += 1
            return Call(self.generation, probe=True)
        return None

    def finish(self, call: Call, outcome: Outcome, duration: float, now: float) -> None:
        if call.generation != self.generation:
            return
        slow_after = self.config.slow_call_duration_seconds
        slow = slow_after is not None and duration > slow_after
        if call.probe:
            self.probes -= 1
            if outcome == "failure" or (outcome == "success" and slow):
                self.trip(now)
            elif outcome == "success":
                self.probe_successes += 1
                if self.probe_successes >= self.config.half_open_successes_to_close:
                    self.transition(S.CLOSED, now)
            return
        if self.state is not S.CLOSED or outcome in ("ignored", "cancelled"):
            return
        self.outcomes.append((self.see(now), outcome == "failure", slow))
        window = self.window()
        calls = len(window)
        if calls < self.config.minimum_calls:
            return
        failure_rate = Fraction(sum(o[1] for o in window), calls) * 100
        slow_rate = Fraction(sum(o[2] for o in window), calls) * 100
        if failure_rate >= Fraction(self.config.failure_rate_threshold) or slow_rate >= Fraction(
            self.config.slow_call_rate_threshold
        ):
            self.trip(now)


WINDOW_TYPES: list[Literal["count", "time"]] = ["count", "time"]


@st.composite
def configs(draw: st.DrawFn) -> ModelCircuitBreakerConfig:
    window_type = draw(st.sampled_from(WINDOW_TYPES))
    size = draw(st.integers(1, 8))
    minimum = draw(st.integers(1, size if window_type == "count" else 12))
    wait = draw(st.sampled_from([0.0, 1.0, 2.5, 5.0]))
    return ModelCircuitBreakerConfig(
        sliding_window_type=window_type,
        sliding_window_size=size,
        minimum_calls=minimum,
        failure_rate_threshold=draw(st.integers(1, 100)),
        slow_call_rate_threshold=draw(st.integers(1, 100)),
        slow_call_duration_seconds=draw(st.sampled_from([None, 0.5, 2.0])),
        wait_in_open_seconds=wait,
        wait_multiplier=draw(st.sampled_from([1.0, 2.0, 3.0])),
        max_wait_in_open_seconds=wait * draw(st.sampled_from([1, 2, 10])),
        half_open_max_probes=draw(st.integers(1, 3)),
        half_open_successes_to_close=draw(st.integers(1, 3)),
    )


# Weighted so that trips, half-open bursts and stale outcomes happen often: "call" admits
# and finishes at once, "acquire" holds a permit that a later "finish" completes.
operations = st.tuples(
    st.sampled_from(
        ["call"] * 8
        + ["acquire"] * 3
        + ["finish"] * 3
        + ["advance"] * 3
        + ["isolate", "reset", "disable", "snapshot"]
    ),
    st.integers(0, 50),
    st.sampled_from(["success", "failure", "failure", "ignored", "cancelled", "success"]),
    st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    st.sampled_from([0.3, 1.0, 2.5, 7.0, 30.0]),
)


def _check(engine: CircuitBreakerEngine, model: Reference, now: float) -> None:
    assert engine.state is model.state
    assert engine.generation == model.generation
    assert engine.open_until == model.open_until
    assert engine.trip_count == model.trips
    assert engine.probes_in_flight == model.probes
    assert engine.probes_in_flight <= model.config.half_open_max_probes


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs(), ops=st.lists(operations, min_size=10, max_size=150))
def test_engine_matches_the_reference_model(  # noqa: PLR0912 - a branch per operation
    config: ModelCircuitBreakerConfig, ops: list[tuple[str, int, Outcome, float, float]]
) -> None:
    transitions: list[BreakerTransition] = []
    engine = CircuitBreakerEngine(config, key=KEY, on_transition=transitions.append)
    model = Reference(config)
    now = 1000.0
    held: list[tuple[Permit, Call, float]] = []  # admitted and not yet finished
    for kind, index, outcome, duration, step in ops:
        expected: Call | None = None
        if kind in ("call", "acquire"):
            result = engine.try_acquire(now)
            expected = model.acquire(now)
            if expected is None:
                assert isinstance(result, Rejection)
                assert result.state is model.state
                expected_retry = model.open_until if model.state is S.OPEN else None
                assert result.retry_at == expected_retry
            else:
                assert isinstance(result, Permit)
                assert (result.generation, result.probe) == (expected.generation, expected.probe)
                held.append((result, expected, now))
        if (kind == "finish" and held) or (kind == "call" and expected is not None):
            permit, call, _started = held.pop(index % len(held) if kind == "finish" else -1)
            if outcome == "success":
                engine.on_success(permit, duration, now)
            elif outcome == "failure":
                engine.on_failure(permit, duration, now)
            elif outcome == "ignored":
                engine.on_ignored(permit)
            else:
                engine.release(permit)
            model.finish(call, outcome, duration, now)
        if kind == "advance":
            now += step
        elif kind == "isolate":
            engine.isolate(now)
            model.transition(S.FORCED_OPEN, now)
        elif kind == "disable":
            engine.disable(now)
            model.transition(S.DISABLED, now)
        elif kind == "reset":
            engine.reset(now)
            model.transition(S.CLOSED, now)
        elif kind == "snapshot":
            snapshot = engine.snapshot(now)
            if model.state is S.CLOSED:
                model.see(now)
                window = model.window()
                assert snapshot.window_calls == len(window)
                assert snapshot.window_failures == sum(o[1] for o in window)
                assert snapshot.window_slow_calls == sum(o[2] for o in window)
        _check(engine, model, now)
        # Probes of the current generation held by callers never exceed the limit.
        current_probes = [c for _, c, _ in held if c.probe and c.generation == model.generation]
        assert len(current_probes) <= config.half_open_max_probes

    for event in transitions:
        if event.reason in ("failure_rate", "slow_call_rate"):
            assert event.from_state is S.CLOSED
            assert event.window_calls >= config.minimum_calls  # never before minimum_calls


@settings(max_examples=100, deadline=None)
@given(config=configs(), outcomes=st.lists(st.booleans(), max_size=60))
def test_never_opens_before_minimum_calls(
    config: ModelCircuitBreakerConfig, outcomes: list[bool]
) -> None:
    engine = CircuitBreakerEngine(config, key=KEY)
    for count, failed in enumerate(outcomes, start=1):
        permit = engine.try_acquire(1.0)
        assert isinstance(permit, Permit)
        if failed:
            engine.on_failure(permit, 0.0, 1.0)
        else:
            engine.on_success(permit, 0.0, 1.0)
        if engine.state is S.OPEN:
            assert count >= config.minimum_calls
            break
