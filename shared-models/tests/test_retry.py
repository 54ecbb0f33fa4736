"""Tests for omnibase_infra.resilience: the policy and the tenacity-backed runners.

A fake clock and sleep make every test deterministic and instant.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError
from tenacity import RetryError

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    EnumInfraErrorCode,
    InfraAuthenticationError,
    InfraConnectionError,
    InfraRateLimitedError,
    InfraTimeoutError,
)
from omnibase_infra.resilience import (
    ModelRetryPolicy,
    is_transient,
    run_with_retry,
    run_with_retry_sync,
)


class FakeTime:
    """A monotonic clock that only moves when slept on or told to."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleep_sync(seconds)

    def sleep_sync(self, seconds: float) -> None:
        self.sleeps.append(float(seconds))
        self.now += seconds


class Flaky:
    """Fails with the given errors in order, then returns "ok"; each attempt takes `cost` s."""

    def __init__(self, time: FakeTime, errors: list[BaseException], cost: float = 0.0) -> None:
        self.time = time
        self.errors = list(errors)
        self.cost = cost
        self.calls = 0
        self.raised: list[BaseException] = []

    def __call__(self) -> str:
        self.calls += 1
        self.time.now += self.cost
        if self.errors:
            error = self.errors.pop(0)
            self.raised.append(error)
            raise error
        return "ok"

    async def run(self) -> str:
        return self()


def conn_error(n: int = 0, **kwargs: Any) -> InfraConnectionError:
    return InfraConnectionError(
        f"down {n}", transport=EnumTransport.POSTGRES, operation="execute", **kwargs
    )


def seeded(seed: int) -> random.Random:
    # Deterministic jitter for the assertions; nothing cryptographic here.
    return random.Random(seed)  # noqa: S311


NO_JITTER = ModelRetryPolicy(
    max_attempts=4, base_delay_seconds=1.0, max_delay_seconds=3.0, jitter="none"
)


# --- the policy ----------------------------------------------------------------------------


def test_compute_delay_without_jitter_is_capped_exponential() -> None:
    assert [NO_JITTER.compute_delay(n) for n in range(1, 6)] == [1.0, 2.0, 3.0, 3.0, 3.0]
    assert NO_JITTER.compute_delay(0) == 1.0
    assert NO_JITTER.compute_delay(100_000) == 3.0  # no OverflowError
    zero = ModelRetryPolicy(base_delay_seconds=0.0, max_delay_seconds=0.0, jitter="none")
    assert zero.compute_delay(100_000) == 0.0


def test_compute_delay_full_jitter_is_uniform_below_the_cap() -> None:
    policy = ModelRetryPolicy(base_delay_seconds=0.5, max_delay_seconds=4.0, multiplier=3.0)
    expected_rng = seeded(7)
    rng = seeded(7)
    for attempt in range(1, 6):
        cap = min(4.0, 0.5 * 3.0 ** (attempt - 1))
        assert policy.compute_delay(attempt, rng) == expected_rng.uniform(0.0, cap)
    delays = [policy.compute_delay(2, seeded(seed)) for seed in range(200)]
    assert all(0.0 <= delay <= 1.5 for delay in delays)
    assert max(delays) - min(delays) > 1.0  # really jittered
    assert 0.0 <= policy.compute_delay(1) <= 0.5  # module RNG


def test_policy_defaults_and_validation() -> None:
    policy = ModelRetryPolicy()
    assert (policy.max_attempts, policy.multiplier, policy.jitter, policy.deadline_seconds) == (
        3,
        2.0,
        "full",
        None,
    )
    with pytest.raises(ValidationError):
        policy.max_attempts = 5  # frozen
    bad: list[dict[str, Any]] = [
        {"max_attempts": 0},
        {"base_delay_seconds": -1.0},
        {"base_delay_seconds": 5.0, "max_delay_seconds": 1.0},
        {"multiplier": 0.5},
        {"jitter": "equal"},
        {"deadline_seconds": 0.0},
        {"unknown": 1},
    ]
    for kwargs in bad:
        with pytest.raises(ValidationError):
            ModelRetryPolicy(**kwargs)


def test_is_transient_default_classifier() -> None:
    assert is_transient(conn_error())
    assert not is_transient(conn_error(retryable=False))
    assert not is_transient(
        InfraAuthenticationError("no", transport=EnumTransport.VAULT, operation="login")
    )
    assert not is_transient(ConnectionError("not ours"))


# --- async runner --------------------------------------------------------------------------


async def test_success_first_time_does_not_sleep() -> None:
    time = FakeTime()
    flaky = Flaky(time, [])
    result = await run_with_retry(NO_JITTER, flaky.run, sleep=time.sleep, clock=time.clock)
    assert result == "ok"
    assert (flaky.calls, time.sleeps) == (1, [])


async def test_transient_errors_are_retried_with_backoff_and_reported() -> None:
    time = FakeTime()
    flaky = Flaky(time, [conn_error(1), conn_error(2)])
    seen: list[tuple[int, str, float]] = []
    result = await run_with_retry(
        NO_JITTER,
        flaky.run,
        sleep=time.sleep,
        clock=time.clock,
        on_retry=lambda attempt, exc, delay: seen.append((attempt, str(exc), delay)),
    )
    assert result == "ok"
    assert flaky.calls == 3
    assert time.sleeps == [1.0, 2.0]
    assert seen == [
        (1, "[ONEX_INFRA_002_CONNECTION_FAILED] down 1", 1.0),
        (2, "[ONEX_INFRA_002_CONNECTION_FAILED] down 2", 2.0),
    ]


async def test_exhaustion_raises_the_last_error_itself() -> None:
    time = FakeTime()
    flaky = Flaky(time, [conn_error(n) for n in range(10)])
    with pytest.raises(InfraConnectionError) as caught:
        await run_with_retry(NO_JITTER, flaky.run, sleep=time.sleep, clock=time.clock)
    assert caught.value is flaky.raised[-1]
    assert str(caught.value).endswith("down 3")
    assert flaky.calls == NO_JITTER.max_attempts
    assert time.sleeps == [1.0, 2.0, 3.0]
    assert not isinstance(caught.value, RetryError)


@pytest.mark.parametrize(
    "error",
    [
        conn_error(retryable=False),
        InfraAuthenticationError("bad creds", transport=EnumTransport.VAULT, operation="login"),
        ValueError("not an infra error"),
    ],
)
async def test_non_retryable_errors_are_raised_at_once(error: Exception) -> None:
    time = FakeTime()
    flaky = Flaky(time, [error])
    with pytest.raises(type(error)) as caught:
        await run_with_retry(NO_JITTER, flaky.run, sleep=time.sleep, clock=time.clock)
    assert caught.value is error
    assert (flaky.calls, time.sleeps) == (1, [])


async def test_custom_classifier_decides_what_is_transient() -> None:
    time = FakeTime()
    flaky = Flaky(time, [KeyError("a"), KeyError("b"), conn_error()])
    with pytest.raises(InfraConnectionError):
        await run_with_retry(
            NO_JITTER,
            flaky.run,
            classifier=lambda exc: isinstance(exc, KeyError),
            sleep=time.sleep,
            clock=time.clock,
        )
    assert flaky.calls == 3


async def test_cancellation_is_never_retried_even_if_classifier_says_so() -> None:
    time = FakeTime()
    flaky = Flaky(time, [asyncio.CancelledError()])
    with pytest.raises(asyncio.CancelledError):
        await run_with_retry(
            NO_JITTER, flaky.run, classifier=lambda exc: True, sleep=time.sleep, clock=time.clock
        )
    assert flaky.calls == 1


async def test_plain_callable_returning_awaitable_is_awaited() -> None:
    time = FakeTime()
    flaky = Flaky(time, [conn_error()])

    def start() -> Awaitable[str]:  # not a coroutine function: tenacity would not await it
        return flaky.run()

    result = await run_with_retry(NO_JITTER, start, sleep=time.sleep, clock=time.clock)
    assert result == "ok"


async def test_retry_after_is_the_minimum_wait() -> None:
    time = FakeTime()
    limited = InfraRateLimitedError(
        "429", transport=EnumTransport.HTTP, operation="post", retry_after_seconds=2.5
    )
    quick = InfraRateLimitedError(
        "429", transport=EnumTransport.HTTP, operation="post", retry_after_seconds=0.1
    )
    unknown = InfraRateLimitedError("429", transport=EnumTransport.HTTP, operation="post")
    flaky = Flaky(time, [limited, quick, unknown])
    assert await run_with_retry(NO_JITTER, flaky.run, sleep=time.sleep, clock=time.clock) == "ok"
    assert time.sleeps == [2.5, 2.0, 3.0]


async def test_retry_after_beyond_the_deadline_gives_up_without_sleeping() -> None:
    time = FakeTime()
    policy = NO_JITTER.model_copy(update={"deadline_seconds": 10.0})
    cid = uuid4()
    limited = InfraRateLimitedError(
        "429",
        transport=EnumTransport.HTTP,
        operation="post",
        target="hooks.example:443",
        correlation_id=cid,
        retry_after_seconds=60.0,
    )
    flaky = Flaky(time, [limited])
    with pytest.raises(InfraTimeoutError) as caught:
        await run_with_retry(policy, flaky.run, sleep=time.sleep, clock=time.clock)
    err = caught.value
    assert time.sleeps == []
    assert err.__cause__ is limited
    assert err.infra_error_code is EnumInfraErrorCode.DEADLINE_EXCEEDED
    assert (err.transport, err.operation, err.target, err.correlation_id) == (
        EnumTransport.HTTP,
        "post",
        "hooks.example:443",
        cid,
    )


async def test_deadline_is_never_exceeded_and_raises_a_chained_timeout() -> None:
    time = FakeTime()
    policy = ModelRetryPolicy(
        max_attempts=50,
        base_delay_seconds=1.0,
        max_delay_seconds=8.0,
        jitter="none",
        deadline_seconds=10.0,
    )
    cid = uuid4()
    flaky = Flaky(
        time, [conn_error(n, target="db:5432", correlation_id=cid) for n in range(50)], cost=0.5
    )
    with pytest.raises(InfraTimeoutError) as caught:
        await run_with_retry(policy, flaky.run, sleep=time.sleep, clock=time.clock)
    err = caught.value
    # attempts at 0, 1.5, 4, 8.5 (each 0.5 s); the next 8 s sleep would pass 10 s: skipped.
    assert time.sleeps == [1.0, 2.0, 4.0]
    assert time.now == 9.0
    assert time.now <= policy.deadline_seconds  # type: ignore[operator]
    assert flaky.calls == 4
    assert err.__cause__ is flaky.raised[-1]
    assert err.timeout_seconds == 10.0
    assert err.retryable is False
    assert (err.transport, err.operation, err.target, err.correlation_id) == (
        EnumTransport.POSTGRES,
        "execute",
        "db:5432",
        cid,
    )
    assert err.details == {
        "attempts": 4,
        "elapsed_seconds": 9.0,
        "last_error_type": "InfraConnectionError",
    }


async def test_deadline_spent_by_a_slow_first_attempt() -> None:
    time = FakeTime()
    policy = NO_JITTER.model_copy(update={"deadline_seconds": 1.0})
    flaky = Flaky(time, [conn_error()], cost=5.0)
    with pytest.raises(InfraTimeoutError) as caught:
        await run_with_retry(policy, flaky.run, sleep=time.sleep, clock=time.clock)
    assert flaky.calls == 1
    assert time.sleeps == []
    assert caught.value.details["attempts"] == 1


async def test_deadline_with_a_foreign_last_error_uses_the_operation_name() -> None:
    time = FakeTime()
    policy = NO_JITTER.model_copy(update={"deadline_seconds": 1.5})
    flaky = Flaky(time, [OSError("reset"), OSError("reset")])
    with pytest.raises(InfraTimeoutError) as caught:
        await run_with_retry(
            policy,
            flaky.run,
            classifier=lambda exc: isinstance(exc, OSError),
            sleep=time.sleep,
            clock=time.clock,
            operation="publish_event",
        )
    err = caught.value
    assert (err.transport, err.operation, err.target) == (
        EnumTransport.INTERNAL,
        "publish_event",
        None,
    )
    assert isinstance(err.__cause__, OSError)
    assert time.sleeps == [1.0]


async def test_attempts_exhausted_before_the_deadline_raise_the_last_error() -> None:
    time = FakeTime()
    policy = NO_JITTER.model_copy(update={"max_attempts": 2, "deadline_seconds": 100.0})
    flaky = Flaky(time, [conn_error(1), conn_error(2)])
    with pytest.raises(InfraConnectionError) as caught:
        await run_with_retry(policy, flaky.run, sleep=time.sleep, clock=time.clock)
    assert caught.value is flaky.raised[-1]


async def test_default_sleep_and_clock_work() -> None:
    policy = ModelRetryPolicy(max_attempts=3, base_delay_seconds=0.0, max_delay_seconds=0.0)
    flaky = Flaky(FakeTime(), [conn_error()])
    assert await run_with_retry(policy, flaky.run) == "ok"
    assert flaky.calls == 2


async def test_seeded_rng_makes_jittered_sleeps_reproducible() -> None:
    policy = ModelRetryPolicy(max_attempts=4, base_delay_seconds=1.0, max_delay_seconds=10.0)
    runs = []
    for _ in range(2):
        time = FakeTime()
        flaky = Flaky(time, [conn_error(), conn_error(), conn_error()])
        await run_with_retry(policy, flaky.run, sleep=time.sleep, clock=time.clock, rng=seeded(3))
        runs.append(time.sleeps)
    expected_rng = seeded(3)
    assert runs[0] == runs[1] == [expected_rng.uniform(0, cap) for cap in (1.0, 2.0, 4.0)]


# --- sync twin -----------------------------------------------------------------------------


def test_sync_retries_then_succeeds() -> None:
    time = FakeTime()
    flaky = Flaky(time, [conn_error(), conn_error()])
    result = run_with_retry_sync(NO_JITTER, flaky, sleep=time.sleep_sync, clock=time.clock)
    assert result == "ok"
    assert time.sleeps == [1.0, 2.0]


def test_sync_exhaustion_and_deadline() -> None:
    time = FakeTime()
    flaky = Flaky(time, [conn_error(n) for n in range(5)])
    with pytest.raises(InfraConnectionError) as exhausted:
        run_with_retry_sync(NO_JITTER, flaky, sleep=time.sleep_sync, clock=time.clock)
    assert exhausted.value is flaky.raised[-1]

    time = FakeTime()
    policy = NO_JITTER.model_copy(update={"deadline_seconds": 2.5})
    flaky = Flaky(time, [conn_error(n) for n in range(5)])
    with pytest.raises(InfraTimeoutError) as deadline:
        run_with_retry_sync(policy, flaky, sleep=time.sleep_sync, clock=time.clock)
    assert deadline.value.__cause__ is flaky.raised[-1]
    assert time.sleeps == [1.0]
    assert time.now <= 2.5
