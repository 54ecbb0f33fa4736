"""The operation runner: deadline, retries, breaker, error mapping and telemetry."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from omnibase_infra.effect import (
    Attempt,
    ModelOperationPolicy,
    OperationRunner,
    map_generic_error,
)
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    EnumInfraErrorCode,
    InfraConnectionError,
    InfraError,
    InfraProtocolError,
    InfraRateLimitedError,
    InfraTimeoutError,
    InfraValidationError,
)
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability import ModelOperationRecord
from omnibase_infra.observability.telemetry import OperationRecordEmitter, OperationTelemetry
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra.resilience.breaker import (
    BreakerKey,
    CircuitBreaker,
    CircuitOpenError,
    ModelCircuitBreakerConfig,
)

TRANSPORT = EnumTransport.HTTP
TARGET = "example:80"
logger = logging.getLogger("test.effect.runner")


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def _telemetry(provider: trace.TracerProvider | None = None) -> OperationTelemetry:
    return OperationTelemetry(
        scope="test.effect",
        span_prefix="demo",
        duration_metric="demo.duration",
        counter_prefix="demo",
        tracer_provider=provider or trace.NoOpTracerProvider(),
    )


class Sleeps:
    """An injected sleep that records the delays and does not wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def _runner(
    *,
    sleeps: Sleeps | None = None,
    breaker: CircuitBreaker | None = None,
    provider: trace.TracerProvider | None = None,
    records: list[ModelOperationRecord] | None = None,
    finished: list[tuple[str, InfraError | None]] | None = None,
    map_error: Any = None,
) -> OperationRunner:
    emitter = (
        OperationRecordEmitter(records.append, transport=TRANSPORT, logger=logger)
        if records is not None
        else None
    )
    return OperationRunner(
        transport=TRANSPORT,
        target=TARGET,
        telemetry=_telemetry(provider),
        logger=logger,
        breaker=breaker,
        map_error=map_error,
        records=emitter,
        on_finish=(lambda op, err: finished.append((op, err))) if finished is not None else None,
        sleep=sleeps or Sleeps(),
        rng=random.Random(7),  # noqa: S311 - reproducible jitter
    )


def _policy(**fields: Any) -> ModelOperationPolicy:
    retry = fields.pop("retry", ModelRetryPolicy(max_attempts=3, base_delay_seconds=0.01))
    return ModelOperationPolicy(operation="op", timeout_seconds=5, retry=retry, **fields)


def _transient(attempt: Attempt, **kw: Any) -> InfraConnectionError:
    return InfraConnectionError(
        "reset",
        transport=TRANSPORT,
        operation=attempt.operation,
        target=TARGET,
        correlation_id=attempt.correlation_id,
        **kw,
    )


class Script:
    """A call that fails with the given errors, then returns ``value``; counts calls."""

    def __init__(self, *failures: Any, value: object = "ok") -> None:
        self.failures = list(failures)
        self.value = value
        self.calls: list[int] = []

    async def __call__(self, attempt: Attempt) -> object:
        self.calls.append(attempt.number)
        if self.failures:
            failure = self.failures.pop(0)
            raise failure(attempt) if callable(failure) else failure
        return self.value


CORRELATION = ModelCorrelationContext.fresh()


async def test_first_attempt_success_is_the_whole_story() -> None:
    finished: list[tuple[str, InfraError | None]] = []
    call = Script()
    runner = _runner(finished=finished)
    assert runner.telemetry is not None
    assert runner.breaker is None
    outcome = await runner.run(_policy(), call, correlation=CORRELATION)
    assert (outcome.value, outcome.attempts, call.calls) == ("ok", 1, [1])
    assert outcome.duration_seconds >= 0
    assert finished == [("op", None)]


async def test_transient_errors_of_an_idempotent_operation_are_retried_with_backoff() -> None:
    sleeps = Sleeps()
    call = Script(_transient, _transient)
    outcome = await _runner(sleeps=sleeps).run(
        _policy(idempotent=True), call, correlation=CORRELATION
    )
    assert (outcome.value, outcome.attempts, call.calls) == ("ok", 3, [1, 2, 3])
    assert len(sleeps.delays) == 2
    assert all(0 <= d <= 0.02 for d in sleeps.delays)  # full jitter under the growing cap


async def test_a_non_idempotent_operation_is_not_retried_unless_nothing_was_sent() -> None:
    call = Script(_transient)
    with pytest.raises(InfraConnectionError):
        await _runner().run(_policy(idempotent=False), call, correlation=CORRELATION)
    assert call.calls == [1]

    unsent = Script(lambda a: _transient(a, not_sent=True))
    outcome = await _runner().run(_policy(idempotent=False), unsent, correlation=CORRELATION)
    assert outcome.attempts == 2


async def test_the_call_may_override_idempotency_and_the_retry_policy() -> None:
    call = Script(_transient, _transient, _transient)
    with pytest.raises(InfraConnectionError):
        await _runner().run(
            _policy(idempotent=False),
            call,
            correlation=CORRELATION,
            idempotent=True,
            retry=ModelRetryPolicy(max_attempts=2, base_delay_seconds=0),
        )
    assert call.calls == [1, 2]


async def test_non_retryable_errors_and_exhausted_attempts_raise_the_last_error() -> None:
    invalid = InfraValidationError("bad", transport=TRANSPORT, operation="op")
    call = Script(invalid)
    with pytest.raises(InfraValidationError) as info:
        await _runner().run(_policy(idempotent=True), call, correlation=CORRELATION)
    assert info.value is invalid
    assert call.calls == [1]

    always = Script(*([_transient] * 5))
    with pytest.raises(InfraConnectionError):
        await _runner().run(_policy(idempotent=True), always, correlation=CORRELATION)
    assert always.calls == [1, 2, 3]


async def test_the_deadline_bounds_the_operation_and_is_not_retried() -> None:
    async def hang(attempt: Attempt) -> None:
        await asyncio.sleep(30)

    with pytest.raises(InfraTimeoutError) as info:
        await _runner().run(
            _policy(idempotent=True), hang, correlation=CORRELATION, timeout_seconds=0.05
        )
    error = info.value
    assert error.infra_error_code is EnumInfraErrorCode.TIMEOUT
    assert not error.retryable
    assert error.correlation_id == CORRELATION.correlation_id
    assert "0.05 s" in error.message


async def test_a_deadline_passing_after_retries_is_deadline_exceeded() -> None:
    calls: list[int] = []

    async def fail_then_hang(attempt: Attempt) -> None:
        calls.append(attempt.number)
        if attempt.number == 1:
            raise _transient(attempt)
        await asyncio.sleep(30)

    runner = OperationRunner(
        transport=TRANSPORT,
        target=TARGET,
        telemetry=_telemetry(),
        logger=logger,
        rng=random.Random(1),  # noqa: S311 - reproducible jitter
    )
    with pytest.raises(InfraTimeoutError) as info:
        await runner.run(
            _policy(idempotent=True, retry=ModelRetryPolicy(base_delay_seconds=0)),
            fail_then_hang,
            correlation=CORRELATION,
            timeout_seconds=0.1,
        )
    assert calls == [1, 2]
    assert info.value.infra_error_code is EnumInfraErrorCode.DEADLINE_EXCEEDED
    assert info.value.details["attempts"] == 2


async def test_each_attempt_is_bounded_by_what_remains() -> None:
    remaining: list[float] = []

    async def slow_failure(attempt: Attempt) -> None:
        remaining.append(attempt.remaining())
        await asyncio.sleep(0.05)
        raise _transient(attempt)

    with pytest.raises(InfraError):
        await _runner().run(
            _policy(idempotent=True, retry=ModelRetryPolicy(base_delay_seconds=0)),
            slow_failure,
            correlation=CORRELATION,
            timeout_seconds=1.0,
        )
    assert len(remaining) == 3
    assert remaining[0] > remaining[1] > remaining[2]


async def test_retry_after_is_honoured_and_a_wait_past_the_deadline_gives_up() -> None:
    def limited(seconds: float) -> Any:
        return lambda a: InfraRateLimitedError(
            "slow down", transport=TRANSPORT, operation="op", retry_after_seconds=seconds
        )

    sleeps = Sleeps()
    outcome = await _runner(sleeps=sleeps).run(
        _policy(idempotent=True), Script(limited(1.5)), correlation=CORRELATION
    )
    assert outcome.attempts == 2
    assert sleeps.delays == [1.5]

    sleeps = Sleeps()
    call = Script(limited(30.0))
    with pytest.raises(InfraRateLimitedError):
        await _runner(sleeps=sleeps).run(_policy(idempotent=True), call, correlation=CORRELATION)
    assert call.calls == [1]
    assert sleeps.delays == []


async def test_other_exceptions_go_through_the_node_mapper() -> None:
    seen: list[tuple[type[BaseException], int]] = []

    def mapper(exc: Exception, attempt: Attempt) -> InfraError:
        seen.append((type(exc), attempt.number))
        return InfraProtocolError("garbage", transport=TRANSPORT, operation=attempt.operation)

    with pytest.raises(InfraProtocolError) as info:
        await _runner(map_error=mapper).run(
            _policy(), Script(ValueError("boom")), correlation=CORRELATION
        )
    assert seen == [(ValueError, 1)]
    assert isinstance(info.value.__cause__, ValueError)


async def test_an_attempt_timing_out_on_its_own_is_mapped_not_a_deadline() -> None:
    call = Script(TimeoutError(), TimeoutError())
    outcome = await _runner().run(_policy(idempotent=True), call, correlation=CORRELATION)
    assert outcome.attempts == 3  # the generic mapper: a retryable InfraTimeoutError


def test_the_generic_mapper() -> None:
    attempt = Attempt("op", TARGET, CORRELATION.correlation_id, True, 2.0, 0.0)
    timeout = map_generic_error(TimeoutError(), attempt)
    assert isinstance(timeout, InfraTimeoutError)
    assert timeout.retryable
    refused = map_generic_error(ConnectionRefusedError(), attempt, transport=TRANSPORT)
    assert isinstance(refused, InfraConnectionError)
    assert refused.not_sent
    reset = map_generic_error(ConnectionResetError(), attempt)
    assert isinstance(reset, InfraConnectionError)
    assert not reset.not_sent
    other = map_generic_error(KeyError("x"), attempt)
    assert isinstance(other, InfraProtocolError)
    assert not other.retryable
    assert other.correlation_id == CORRELATION.correlation_id


def _breaker(**config: Any) -> CircuitBreaker:
    settings = {"minimum_calls": 2, "sliding_window_size": 2, "wait_in_open_seconds": 60}
    return CircuitBreaker(
        BreakerKey(TRANSPORT, TARGET), ModelCircuitBreakerConfig(**{**settings, **config})
    )


async def test_an_open_breaker_refuses_without_calling_and_is_not_retried() -> None:
    breaker = _breaker()
    await breaker.isolate()
    call = Script()
    with pytest.raises(CircuitOpenError):
        await _runner(breaker=breaker).run(_policy(idempotent=True), call, correlation=CORRELATION)
    assert call.calls == []


async def test_an_unguarded_operation_bypasses_the_breaker() -> None:
    breaker = _breaker()
    await breaker.isolate()
    call = Script()
    outcome = await _runner(breaker=breaker).run(
        _policy(guarded=False), call, correlation=CORRELATION
    )
    assert outcome.value == "ok"


async def test_a_breaker_opening_between_retries_raises_the_last_real_failure() -> None:
    breaker = _breaker()
    call = Script(*([_transient] * 5))
    with pytest.raises(InfraConnectionError) as info:
        await _runner(breaker=breaker).run(
            _policy(idempotent=True, retry=ModelRetryPolicy(max_attempts=5, base_delay_seconds=0)),
            call,
            correlation=CORRELATION,
        )
    assert call.calls == [1, 2]  # two failures open it; the third attempt is refused
    assert isinstance(info.value.__context__, CircuitOpenError)
    assert breaker.state.value == "open"


async def test_cancellation_is_not_an_outcome() -> None:
    finished: list[tuple[str, InfraError | None]] = []

    async def hang(attempt: Attempt) -> None:
        await asyncio.sleep(30)

    task = asyncio.create_task(
        _runner(finished=finished).run(_policy(), hang, correlation=CORRELATION)
    )
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == []


async def test_one_span_current_while_it_runs_child_of_the_callers_span(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    seen: list[trace.Span] = []

    async def call(attempt: Attempt) -> str:
        seen.append(trace.get_current_span())
        if attempt.number == 1:
            raise _transient(attempt)
        return "ok"

    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("caller") as caller:
        await _runner(provider=provider).run(
            _policy(idempotent=True), call, correlation=ModelCorrelationContext.fresh()
        )
        assert trace.get_current_span() is caller  # detached afterwards
    finished = {s.name: s for s in exporter.get_finished_spans()}
    span = finished["demo.op"]
    assert span.parent is not None
    assert span.parent.span_id == caller.get_span_context().span_id
    assert span.context.trace_id == caller.get_span_context().trace_id
    assert all(s.get_span_context().span_id == span.context.span_id for s in seen)
    assert [e.name for e in span.events] == ["retry"]
    attributes = span.events[0].attributes
    assert attributes is not None
    assert attributes["omnibase.attempt"] == 1


async def test_a_correlation_with_a_trace_continues_that_remote_trace(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    remote = ModelCorrelationContext.new()
    await _runner(provider=provider).run(_policy(), Script(), correlation=remote)
    (span,) = exporter.get_finished_spans()
    assert span.parent is not None
    assert span.parent.is_remote
    assert f"{span.context.trace_id:032x}" == remote.trace_id


async def test_tracestate_is_kept_through_a_remote_parent(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    remote = ModelCorrelationContext.new().model_copy(
        update={"tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"}
    )
    sent: list[dict[str, str]] = []

    async def call(attempt: Attempt) -> str:
        headers: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(headers)  # what an instrumented client sends
        sent.append(headers)
        return "ok"

    await _runner(provider=provider).run(_policy(), call, correlation=remote)
    (span,) = exporter.get_finished_spans()
    assert span.parent is not None
    assert span.parent.trace_state.to_header() == remote.tracestate
    assert span.context.trace_state.to_header() == remote.tracestate
    (headers,) = sent
    assert headers["traceparent"].split("-")[1:3] == [
        remote.trace_id,
        f"{span.context.span_id:016x}",
    ]
    assert headers["tracestate"] == remote.tracestate


async def test_records_describe_each_finished_operation() -> None:
    records: list[ModelOperationRecord] = []
    await _runner(records=records).run(
        _policy(),
        Script(),
        correlation=CORRELATION,
        statement="SELECT ?",
        record_attributes={"db.system": "x"},
    )
    with pytest.raises(InfraValidationError):
        await _runner(records=records).run(
            _policy(),
            Script(InfraValidationError("bad", transport=TRANSPORT, operation="op")),
            correlation=CORRELATION,
        )
    assert [r.outcome.value for r in records] == ["success", "error"]
    assert records[0].statement == "SELECT ?"
    assert records[0].attributes == {"db.system": "x"}


async def test_a_record_joins_the_callers_trace_like_the_span(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    records: list[ModelOperationRecord] = []
    runner = _runner(provider=provider, records=records)
    with provider.get_tracer("app").start_as_current_span("caller") as caller:
        await runner.run(_policy(), Script(), correlation=CORRELATION)
    await runner.run(_policy(), Script(), correlation=CORRELATION)  # no caller: no trace
    joined, alone = records
    context = caller.get_span_context()
    assert joined.correlation.trace_id == f"{context.trace_id:032x}"
    assert joined.correlation.parent_span_id == f"{context.span_id:016x}"
    assert joined.correlation.correlation_id == CORRELATION.correlation_id
    assert alone.correlation.trace_id is None
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "demo.op"][:1]
    assert span.context.trace_id == context.trace_id


async def test_a_target_that_never_answers_opens_its_breaker() -> None:
    breaker = _breaker()

    async def hang(attempt: Attempt) -> None:
        await asyncio.sleep(30)

    runner = _runner(breaker=breaker)
    for _ in range(2):
        with pytest.raises(InfraTimeoutError):
            await runner.run(_policy(), hang, correlation=CORRELATION, timeout_seconds=0.02)
    assert breaker.state.value == "open"
