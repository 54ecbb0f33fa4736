"""The operation runner: one semantics for every effect node's calls.

``await runner.run(policy, call, correlation=...)`` runs ``call(attempt)`` so that:

* **Deadline.** The operation has one overall deadline (``timeout_seconds``, else the
  policy's): every attempt is bounded by what remains of it, backoff sleeps included. When
  it passes during an attempt, the attempt is cancelled and ``InfraTimeoutError`` is
  raised (code ``TIMEOUT`` on the first attempt, ``DEADLINE_EXCEEDED`` after retries; not
  retryable: the budget is spent).
* **Errors.** Whatever ``call`` raises that is not an ``InfraError`` goes through the
  node's error mapper, so the breaker, the retry decision and the caller see typed errors
  carrying the caller's correlation id.
* **Retries.** An error is retried when it is ``retryable``, the operation is idempotent
  or the error says the request was never sent (``not_sent``), attempts remain, and the
  backoff (exponential with jitter; at least the server's ``Retry-After``) ends before the
  deadline. Otherwise the last error is raised as it is. A breaker refusal is never
  retried; if the breaker opens between retries, the last real failure is raised.
* **Breaker.** Each attempt of a guarded operation asks the target's breaker for
  admission and reports its outcome (the breaker's classifier decides what counts).
* **Telemetry.** One CLIENT span per operation, current while it runs (a child of the
  caller's span, or of the correlation's remote trace when it names one); each retry is
  a span event; the duration histogram, the outcome and retry counters, the operation
  record and one log line on failure.

The first attempt is the fast path: no retry machinery is built unless it fails.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span

from omnibase_infra.effect.deadline import Deadline
from omnibase_infra.effect.policy import ModelOperationPolicy
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    EnumInfraErrorCode,
    InfraConnectionError,
    InfraError,
    InfraProtocolError,
    InfraRateLimitedError,
    InfraTimeoutError,
)
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability import semconv
from omnibase_infra.observability.model_operation_record import RecordAttributeValue
from omnibase_infra.observability.telemetry import OperationRecordEmitter, OperationTelemetry
from omnibase_infra.resilience.breaker import CircuitBreaker, CircuitOpenError
from omnibase_infra.resilience.model_retry_policy import ModelRetryPolicy

__all__ = ["Attempt", "ErrorMapper", "OperationOutcome", "OperationRunner", "map_generic_error"]

type ErrorMapper = Callable[[Exception, Attempt], InfraError]
"""Turns what an attempt raised (not an ``InfraError``) into the taxonomy's error."""

_RNG: Final = random.Random()  # noqa: S311 - jitter needs no cryptographic randomness


@dataclass(slots=True)
class Attempt:
    """What one attempt knows about its operation; ``number`` counts from 1."""

    operation: str
    target: str
    correlation_id: UUID
    idempotent: bool
    timeout_seconds: float
    deadline: float
    """The operation's deadline on the event loop's clock (``loop.time()``)."""
    number: int = 1

    def remaining(self) -> float:
        """Seconds left before the operation's deadline (may be negative)."""
        return self.deadline - asyncio.get_running_loop().time()


@dataclass(slots=True)
class OperationOutcome[T]:
    """A finished operation: what ``call`` returned, the attempts it took, its duration."""

    value: T
    attempts: int
    duration_seconds: float


def map_generic_error(
    exc: Exception, attempt: Attempt, *, transport: EnumTransport = EnumTransport.INTERNAL
) -> InfraError:
    """The fallback mapper: timeouts, OS-level connection errors, anything else a protocol
    error (the node's own mapper should know better)."""
    common: dict[str, Any] = {
        "transport": transport,
        "operation": attempt.operation,
        "target": attempt.target,
        "correlation_id": attempt.correlation_id,
    }
    if isinstance(exc, TimeoutError):
        return InfraTimeoutError(
            f"{attempt.operation}: timed out", timeout_seconds=attempt.timeout_seconds, **common
        )
    if isinstance(exc, OSError):
        return InfraConnectionError(
            f"{attempt.operation}: {type(exc).__name__}",
            not_sent=isinstance(exc, ConnectionRefusedError),
            **common,
        )
    return InfraProtocolError(f"{attempt.operation}: {type(exc).__name__}", **common)


def _in_current_trace(correlation: ModelCorrelationContext) -> ModelCorrelationContext:
    caller = trace.get_current_span().get_span_context()
    if not caller.is_valid:
        return correlation
    return ModelCorrelationContext.from_span_context(
        caller, correlation_id=correlation.correlation_id, causation_id=correlation.causation_id
    )


class _Unguarded:
    """The guard of an operation the breaker does not guard: admits, records nothing."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        return None


_UNGUARDED: Final = _Unguarded()


def _is_refusal(exc: BaseException) -> bool:
    return type(exc) is CircuitOpenError


class OperationRunner:
    """Runs one node's operations against one target (see the module docstring).

    ``breaker`` guards every attempt of a guarded operation (``None``: no breaker).
    ``map_error`` turns a non-``InfraError`` raised by an attempt into a typed error
    (default :func:`map_generic_error`). ``records`` receives an operation record per
    finished operation. ``on_finish(operation, error)`` is called once per operation
    (the node base counts core's metrics with it). ``sleep`` and ``rng`` are injectable
    for tests.
    """

    __slots__ = (
        "_breaker",
        "_logger",
        "_map_error",
        "_on_finish",
        "_records",
        "_rng",
        "_sleep",
        "_telemetry",
        "_transport",
        "target",
    )

    def __init__(
        self,
        *,
        transport: EnumTransport,
        target: str,
        telemetry: OperationTelemetry,
        logger: logging.Logger,
        breaker: CircuitBreaker | None = None,
        map_error: ErrorMapper | None = None,
        records: OperationRecordEmitter | None = None,
        on_finish: Callable[[str, InfraError | None], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._transport = transport
        self.target = target
        self._telemetry = telemetry
        self._logger = logger
        self._breaker = breaker
        self._map_error = map_error
        self._records = records
        self._on_finish = on_finish
        self._sleep = sleep
        self._rng = rng or _RNG

    @property
    def breaker(self) -> CircuitBreaker | None:
        """The target's breaker (``None``: calls are not guarded)."""
        return self._breaker

    @property
    def telemetry(self) -> OperationTelemetry:
        """The spans and metrics of this node and target."""
        return self._telemetry

    async def run[T](
        self,
        policy: ModelOperationPolicy,
        call: Callable[[Attempt], Awaitable[T]],
        *,
        correlation: ModelCorrelationContext,
        timeout_seconds: float | None = None,
        retry: ModelRetryPolicy | None = None,
        idempotent: bool | None = None,
        statement: str | None = None,
        record_attributes: Mapping[str, RecordAttributeValue] | None = None,
    ) -> OperationOutcome[T]:
        """Run ``call`` as the operation ``policy`` describes; ``timeout_seconds``,
        ``retry`` and ``idempotent`` replace the policy's for this call. ``statement``
        (already free of literals) and ``record_attributes`` go to the operation record."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        timeout = policy.timeout_seconds if timeout_seconds is None else timeout_seconds
        operation = policy.operation
        attempt = Attempt(
            operation,
            self.target,
            correlation.correlation_id,
            policy.idempotent if idempotent is None else idempotent,
            timeout,
            loop.time() + timeout,
        )
        record_correlation = correlation
        if self._records is not None and correlation.trace_id is None:
            # The record joins the caller's trace as the span does (its parent: the caller's
            # current span), instead of starting a trace of its own.
            record_correlation = _in_current_trace(correlation)
        span = self._telemetry.start(operation, correlation)
        token = (
            otel_context.attach(trace.set_span_in_context(span)) if span.is_recording() else None
        )
        guarded = policy.guarded
        try:
            try:
                # The first attempt: _attempt() spelt out (one coroutine fewer per operation).
                breaker = self._breaker
                guard = (
                    breaker.guard(operation=operation, correlation_id=attempt.correlation_id)
                    if guarded and breaker is not None
                    else _UNGUARDED
                )
                async with guard:
                    deadline = Deadline(attempt.deadline)
                    try:
                        deadline.enter()
                        try:
                            value = await call(attempt)
                        except BaseException as exc:
                            deadline.leave(type(exc), exc)
                            raise
                        deadline.leave(None, None)
                    except InfraError:
                        raise
                    except TimeoutError as exc:
                        if deadline.expired():
                            raise self._deadline_error(attempt) from exc
                        raise self._mapped(exc, attempt) from exc
                    except Exception as exc:
                        raise self._mapped(exc, attempt) from exc
            except InfraError as first:
                value = await self._retry(
                    first,
                    call=call,
                    attempt=attempt,
                    guarded=guarded,
                    retry=retry or policy.retry,
                    span=span,
                )
        except InfraError as error:
            self._finish(
                span,
                attempt=attempt,
                started=started,
                correlation=record_correlation,
                error=error,
                statement=statement,
                record_attributes=record_attributes,
            )
            raise
        except BaseException:  # cancelled by the caller: no outcome to count
            span.end()
            raise
        finally:
            if token is not None:
                otel_context.detach(token)
        duration = self._finish(
            span,
            attempt=attempt,
            started=started,
            correlation=record_correlation,
            error=None,
            statement=statement,
            record_attributes=record_attributes,
        )
        return OperationOutcome(value, attempt.number, duration)

    async def _attempt[T](
        self, call: Callable[[Attempt], Awaitable[T]], attempt: Attempt, guarded: bool
    ) -> T:
        breaker = self._breaker
        guard = (
            breaker.guard(operation=attempt.operation, correlation_id=attempt.correlation_id)
            if guarded and breaker is not None
            else _UNGUARDED
        )
        # The error is mapped inside the guard: the breaker classifies typed errors.
        async with guard:
            deadline = Deadline(attempt.deadline)
            try:
                # ``async with deadline`` spelt out: two coroutines fewer per attempt.
                deadline.enter()
                try:
                    value = await call(attempt)
                except BaseException as exc:
                    deadline.leave(type(exc), exc)  # TimeoutError when the deadline cancelled
                    raise
                deadline.leave(None, None)
                return value
            except InfraError:
                raise
            except TimeoutError as exc:
                if deadline.expired():
                    raise self._deadline_error(attempt) from exc
                raise self._mapped(exc, attempt) from exc
            except Exception as exc:
                raise self._mapped(exc, attempt) from exc

    def _mapped(self, exc: Exception, attempt: Attempt) -> InfraError:
        if self._map_error is not None:
            return self._map_error(exc, attempt)
        return map_generic_error(exc, attempt, transport=self._transport)

    def _deadline_error(self, attempt: Attempt) -> InfraTimeoutError:
        retried = attempt.number > 1
        return InfraTimeoutError(
            f"{attempt.operation}: did not finish within {attempt.timeout_seconds:g} s"
            + (f" ({attempt.number} attempts)" if retried else ""),
            transport=self._transport,
            operation=attempt.operation,
            target=attempt.target,
            correlation_id=attempt.correlation_id,
            timeout_seconds=attempt.timeout_seconds,
            retryable=False,
            error_code=EnumInfraErrorCode.DEADLINE_EXCEEDED if retried else None,
            attempts=attempt.number,
        )

    def _delay(self, error: InfraError, attempt: Attempt, retry: ModelRetryPolicy) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` when none may follow."""
        if (
            not error.retryable
            or _is_refusal(error)
            or not (attempt.idempotent or error.not_sent)
            or attempt.number >= retry.max_attempts
        ):
            return None
        delay = retry.compute_delay(attempt.number, self._rng)
        if isinstance(error, InfraRateLimitedError) and error.retry_after_seconds is not None:
            delay = max(delay, error.retry_after_seconds)
        if delay >= attempt.remaining():
            return None  # no attempt could start before the deadline
        return delay

    async def _retry[T](
        self,
        first: InfraError,
        *,
        call: Callable[[Attempt], Awaitable[T]],
        attempt: Attempt,
        guarded: bool,
        retry: ModelRetryPolicy,
        span: Span,
    ) -> T:
        last = first
        while True:
            delay = self._delay(last, attempt, retry)
            if delay is None:
                raise last
            if span.is_recording():
                span.add_event(
                    "retry",
                    {
                        semconv.ATTEMPT: attempt.number,
                        semconv.ERROR_TYPE: type(last).__name__,
                        semconv.RETRY_DELAY: round(delay, 6),
                    },
                )
            self._logger.warning(
                "%s %s attempt %d failed (%s); retrying in %.3f s",
                self._transport.value,
                attempt.operation,
                attempt.number,
                type(last).__name__,
                delay,
                extra={
                    "correlation_id": str(attempt.correlation_id),
                    "operation": attempt.operation,
                    "target": attempt.target,
                },
            )
            await self._sleep(delay)
            attempt.number += 1
            try:
                return await self._attempt(call, attempt, guarded)
            except InfraError as exc:
                if _is_refusal(exc):
                    # The breaker opened meanwhile: what happened to this call is the last
                    # real failure, raised with its own cause (the refusal is its context).
                    raise last from last.__cause__
                last = exc

    def _finish(
        self,
        span: Span,
        *,
        attempt: Attempt,
        started: float,
        correlation: ModelCorrelationContext,
        error: InfraError | None,
        statement: str | None,
        record_attributes: Mapping[str, RecordAttributeValue] | None,
    ) -> float:
        duration = time.perf_counter() - started
        operation = attempt.operation
        self._telemetry.finish(span, operation, duration, attempts=attempt.number, error=error)
        if error is not None:
            self._logger.warning(
                "%s %s failed after %d attempt(s): %s",
                self._transport.value,
                operation,
                attempt.number,
                error,
                extra={
                    "correlation_id": str(attempt.correlation_id),
                    "operation": operation,
                    "target": attempt.target,
                    "error_code": error.infra_error_code.value,
                },
            )
        if self._records is not None:
            self._records.emit(
                operation=operation,
                correlation=correlation,
                duration_seconds=duration,
                error=error,
                target=attempt.target,
                statement=statement,
                attributes=record_attributes,
            )
        if self._on_finish is not None:
            self._on_finish(operation, error)
        return duration
