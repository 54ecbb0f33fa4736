"""Run a call under a :class:`ModelRetryPolicy`, on tenacity, with injectable sleep and clock."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal, NoReturn, cast

if TYPE_CHECKING:
    from tenacity import RetryCallState

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    EnumInfraErrorCode,
    InfraError,
    InfraRateLimitedError,
    InfraTimeoutError,
)
from omnibase_infra.resilience.model_retry_policy import ModelRetryPolicy

__all__ = [
    "Classifier",
    "OnRetry",
    "is_transient",
    "run_with_retry",
    "run_with_retry_sync",
]

type Classifier = Callable[[BaseException], bool]
"""Decides whether an error is transient (worth another attempt)."""
type OnRetry = Callable[[int, BaseException, float], None]
"""Called before each sleep with (failed attempt number, its error, seconds to sleep)."""

type _Outcome = tuple[Literal["retry", "exhausted", "deadline"], float]


def is_transient(exc: BaseException) -> bool:
    """The default classifier: retry iff ``exc`` is an InfraError with ``retryable=True``."""
    return isinstance(exc, InfraError) and exc.retryable


def _failure(state: RetryCallState) -> BaseException:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    if error is None:  # pragma: no cover - tenacity only asks after a failed attempt
        msg = "retry decision requested without a failed attempt"
        raise RuntimeError(msg)
    return error


class _Plan:
    """The per-attempt decision, shared by tenacity's stop, wait and give-up hooks.

    Computed once per attempt so it does not depend on the order tenacity calls them in
    (which changed between tenacity 8 and 9).
    """

    def __init__(
        self,
        policy: ModelRetryPolicy,
        *,
        classifier: Classifier,
        on_retry: OnRetry | None,
        clock: Callable[[], float],
        rng: random.Random | None,
        operation: str | None,
        started: float | None = None,
    ) -> None:
        self.policy = policy
        self.classifier = classifier
        self.on_retry = on_retry
        self.clock = clock
        self.rng = rng
        self.operation = operation
        self.started = clock() if started is None else started
        self._decisions: dict[int, _Outcome] = {}

    def should_retry(self, exc: BaseException) -> bool:
        # Never retry cancellation, KeyboardInterrupt or SystemExit, whatever the classifier says.
        return isinstance(exc, Exception) and self.classifier(exc)

    def decide(self, state: RetryCallState) -> _Outcome:
        attempt = state.attempt_number
        if attempt not in self._decisions:
            self._decisions[attempt] = self._decide(attempt, _failure(state))
        return self._decisions[attempt]

    def _decide(self, attempt: int, error: BaseException) -> _Outcome:
        if attempt >= self.policy.max_attempts:
            return ("exhausted", 0.0)
        delay = self.policy.compute_delay(attempt, self.rng)
        if isinstance(error, InfraRateLimitedError) and error.retry_after_seconds is not None:
            delay = max(delay, float(error.retry_after_seconds))
        deadline = self.policy.deadline_seconds
        if deadline is not None and delay >= deadline - (self.clock() - self.started):
            # No attempt could start before the deadline: give up now instead of sleeping.
            return ("deadline", 0.0)
        return ("retry", delay)

    def stop(self, state: RetryCallState) -> bool:
        return self.decide(state)[0] != "retry"

    def wait(self, state: RetryCallState) -> float:
        return self.decide(state)[1]

    def before_sleep(self, state: RetryCallState) -> None:
        if self.on_retry is not None:
            self.on_retry(state.attempt_number, _failure(state), self.decide(state)[1])

    def give_up(self, state: RetryCallState) -> NoReturn:
        error = _failure(state)
        if self.decide(state)[0] == "deadline":
            raise self._deadline_error(error, state.attempt_number) from error
        raise error

    def _deadline_error(self, last: BaseException, attempts: int) -> InfraTimeoutError:
        deadline = cast(float, self.policy.deadline_seconds)
        elapsed = self.clock() - self.started
        if isinstance(last, InfraError):
            transport, operation = last.transport, last.operation
            target, correlation_id = last.target, last.correlation_id
        else:
            transport, operation = EnumTransport.INTERNAL, self.operation or "retry"
            target, correlation_id = None, None
        return InfraTimeoutError(
            f"{operation}: retry deadline of {deadline:g}s exceeded after {attempts} "
            f"attempt(s); last error: {type(last).__name__}",
            transport=transport,
            operation=operation,
            target=target,
            correlation_id=correlation_id,
            timeout_seconds=deadline,
            # The caller's whole time budget is spent: retrying it again is the caller's call.
            retryable=False,
            error_code=EnumInfraErrorCode.DEADLINE_EXCEEDED,
            attempts=attempts,
            elapsed_seconds=round(elapsed, 6),
            last_error_type=type(last).__name__,
        )


async def run_with_retry[T](
    policy: ModelRetryPolicy,
    fn: Callable[[], Awaitable[T]],
    *,
    classifier: Classifier | None = None,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    operation: str | None = None,
) -> T:
    """Await ``fn()`` until it succeeds, a non-transient error occurs or the policy gives up.

    Raises the last error itself when attempts are exhausted (or the error is not transient),
    and an :class:`InfraTimeoutError` (code DEADLINE_EXCEEDED, chained from the last error,
    keeping its transport/operation/target/correlation id) when the deadline is hit.
    ``operation`` names the call in that error when the last error is not an InfraError.
    """
    started = clock()
    # Fast path: the first attempt runs inline; tenacity is set up only after a transient
    # failure (it costs a quarter of a cheap call when it wraps every call).
    try:
        return await fn()
    except Exception as exc:
        if not (classifier or is_transient)(exc):
            raise
        first_failure: Exception = exc
    plan = _Plan(
        policy,
        classifier=classifier or is_transient,
        on_retry=on_retry,
        clock=clock,
        rng=rng,
        operation=operation,
        started=started,
    )
    replayed = False

    async def attempt() -> T:
        # The first attempt already ran: hand its failure to tenacity, then call fn again.
        nonlocal replayed
        if not replayed:
            replayed = True
            raise first_failure
        # tenacity calls a plain callable (e.g. a lambda) without awaiting what it returns.
        return await fn()

    # Imported here: tenacity costs import time, and only a failed first attempt needs it.
    from tenacity import AsyncRetrying, retry_if_exception  # noqa: PLC0415

    retrying = AsyncRetrying(
        sleep=sleep,
        stop=plan.stop,
        wait=plan.wait,
        retry=retry_if_exception(plan.should_retry),
        before_sleep=plan.before_sleep,
        retry_error_callback=plan.give_up,
    )
    return cast(T, await retrying(attempt))


def run_with_retry_sync[T](
    policy: ModelRetryPolicy,
    fn: Callable[[], T],
    *,
    classifier: Classifier | None = None,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    operation: str | None = None,
) -> T:
    """The blocking twin of :func:`run_with_retry`, for synchronous callables."""
    plan = _Plan(
        policy,
        classifier=classifier or is_transient,
        on_retry=on_retry,
        clock=clock,
        rng=rng,
        operation=operation,
    )
    from tenacity import Retrying, retry_if_exception  # noqa: PLC0415

    retrying = Retrying(
        sleep=sleep,
        stop=plan.stop,
        wait=plan.wait,
        retry=retry_if_exception(plan.should_retry),
        before_sleep=plan.before_sleep,
        retry_error_callback=plan.give_up,
    )
    return retrying(fn)
