"""Added cost per guarded call: ours against pybreaker, aiobreaker, purgatory, circuitbreaker.

Run by ``nox -s "bench(circuit-breaker)"`` (``python benchmarks/bench.py --output
.bench/circuit-breaker.json`` with ``tools/`` on PYTHONPATH). One process, one event loop.
The workload is a no-op coroutine awaited ``--calls`` times in a loop, bare and guarded by
each library with its breaker closed. A contender's sample is its guarded loop minus a bare
loop run right before it, per call; the rounds rotate the order of the contenders
(``benchlib.interleaved_medians``) and the report keeps the medians.

How each library guards a coroutine (each one's documented asyncio form):

* ours: ``@breaker.protect(operation)`` on the ``async def`` (the engine's guard as a
  decorator; default config: count window of 100 calls, failure-rate and slow-call
  thresholds). ``async with breaker.guard(operation=...)`` is measured in the same rounds
  and reported as a second comparison, without a target;
* pybreaker: ``with breaker.calling(): await fn()`` (its README's context manager; it has
  no native asyncio support and ``call_async`` needs Tornado);
* aiobreaker: ``@breaker`` on the ``async def`` (awaits ``call_async``);
* purgatory: ``@AsyncCircuitBreakerFactory()(name)`` on the ``async def``;
* circuitbreaker: ``@circuit(...)`` on the ``async def`` (coroutine detection).

A last comparison, ours only: the cost of a call rejected by an open (isolated) breaker,
exception raised and caught, against a whole closed-state guarded call, both per call and
including the loop and the awaited no-op where it runs (decorator form for both). Raising
any exception out of a Python function costs CPython about what a whole closed-state call
costs here, so a second, informational comparison measures the non-raising rejection:
``protect(operation, fallback=noop)`` in the same loop, where a refused call awaits the
fallback instead.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiobreaker  # type: ignore[import-untyped]
import benchlib
import circuitbreaker  # type: ignore[import-untyped]
import pybreaker
from purgatory import AsyncCircuitBreakerFactory

from omnibase_infra.enums import EnumTransport
from omnibase_infra.resilience.breaker import BreakerRegistry, CircuitBreaker, CircuitOpenError

type Loop = Callable[[int], Coroutine[Any, Any, int]]

GUARD = "ours_async_with_guard"
FALLBACK = "ours_rejection_with_fallback"
CLOSED_CALL = "ours_closed_state_call"
FAIL_MAX = 5
RESET_SECONDS = 60


async def noop() -> None:
    """The guarded work: nothing, so only the breaker's cost is measured."""


async def bare(calls: int) -> int:
    start = time.perf_counter_ns()
    for _ in range(calls):
        await noop()
    return time.perf_counter_ns() - start


def guard_loop(breaker: CircuitBreaker) -> Loop:
    async def loop(calls: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(calls):
            async with breaker.guard(operation="noop"):
                await noop()
        return time.perf_counter_ns() - start

    return loop


def protected_loop(breaker: CircuitBreaker) -> Loop:
    return decorated_loop(breaker.protect("noop")(noop))


def rejected_loop(breaker: CircuitBreaker) -> Loop:
    guarded = breaker.protect("noop")(noop)

    async def loop(calls: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(calls):
            try:  # noqa: SIM105 - contextlib.suppress would add its own cost
                await guarded()
            except CircuitOpenError:
                pass
        return time.perf_counter_ns() - start

    return loop


def fallback_loop(breaker: CircuitBreaker) -> Loop:
    return decorated_loop(breaker.protect("noop", fallback=noop)(noop))


def decorated_loop(fn: Callable[[], Awaitable[None]]) -> Loop:
    async def loop(calls: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(calls):
            await fn()
        return time.perf_counter_ns() - start

    return loop


def pybreaker_loop() -> Loop:
    breaker = pybreaker.CircuitBreaker(fail_max=FAIL_MAX, reset_timeout=RESET_SECONDS)

    async def loop(calls: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(calls):
            with breaker.calling():
                await noop()
        return time.perf_counter_ns() - start

    return loop


def aiobreaker_loop() -> Loop:
    breaker = aiobreaker.CircuitBreaker(
        fail_max=FAIL_MAX, timeout_duration=timedelta(seconds=RESET_SECONDS)
    )
    return decorated_loop(breaker(noop))


def purgatory_loop() -> Loop:
    factory = AsyncCircuitBreakerFactory(default_threshold=FAIL_MAX, default_ttl=RESET_SECONDS)
    return decorated_loop(factory("bench")(noop))


def circuitbreaker_loop() -> Loop:
    guarded = circuitbreaker.circuit(failure_threshold=FAIL_MAX, recovery_timeout=RESET_SECONDS)
    return decorated_loop(guarded(noop))


class Runner:
    """Runs loops on one event loop, with the garbage collector off while timing."""

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        self.loop.close()

    def time_ns(self, loop: Loop) -> float:
        """ns per call of one run of ``loop``."""
        gc.collect()
        gc.disable()
        try:
            elapsed = self.loop.run_until_complete(loop(self.calls))
        finally:
            gc.enable()
        return elapsed / self.calls

    def overhead(self, loop: Loop) -> Callable[[], float]:
        """A contender: ns per call of ``loop`` minus a bare loop timed just before it."""
        return lambda: self.time_ns(loop) - self.time_ns(bare)

    def total(self, loop: Loop) -> Callable[[], float]:
        return lambda: self.time_ns(loop)

    def warm_up(self, *loops: Loop) -> None:
        for loop in loops:
            self.loop.run_until_complete(loop(min(self.calls, 2_000)))


def run(calls: int, rounds: int) -> list[benchlib.BenchRecord]:
    runner = Runner(calls)
    try:
        registry = BreakerRegistry()
        closed = registry.get(EnumTransport.HTTP, "bench.closed:443")
        isolated = registry.get(EnumTransport.HTTP, "bench.isolated:443")
        runner.loop.run_until_complete(isolated.isolate())
        baselines: dict[str, Loop] = {
            "pybreaker": pybreaker_loop(),
            "aiobreaker": aiobreaker_loop(),
            "purgatory": purgatory_loop(),
            "circuitbreaker": circuitbreaker_loop(),
        }
        loops = {
            benchlib.OURS: protected_loop(closed),
            GUARD: guard_loop(closed),
            **baselines,
        }
        runner.warm_up(bare, *loops.values(), rejected_loop(isolated), fallback_loop(isolated))
        overhead = benchlib.interleaved_medians(
            {name: runner.overhead(loop) for name, loop in loops.items()}, rounds=rounds
        )
        records = benchlib.records_from_medians(
            "closed_state_overhead_per_call",
            "ns/call",
            {name: overhead[name] for name in (benchlib.OURS, *baselines)},
            higher_is_better=False,
            targets=benchlib.BETTER_THAN,  # issue 3: the lowest of all five
        )
        records += benchlib.records_from_medians(
            "closed_state_overhead_per_call_async_with_guard",
            "ns/call",
            {benchlib.OURS: overhead[GUARD], **{name: overhead[name] for name in baselines}},
            higher_is_better=False,
        )
        rejection = benchlib.interleaved_medians(
            {
                benchlib.OURS: runner.total(rejected_loop(isolated)),
                FALLBACK: runner.total(fallback_loop(isolated)),
                CLOSED_CALL: runner.total(protected_loop(closed)),
            },
            rounds=rounds,
        )
        records += benchlib.records_from_medians(
            "open_state_rejection_vs_closed_state_call",
            "ns/call",
            {benchlib.OURS: rejection[benchlib.OURS], CLOSED_CALL: rejection[CLOSED_CALL]},
            higher_is_better=False,
            targets=1.0,
        )
        records += benchlib.records_from_medians(
            "open_state_rejection_with_fallback_vs_closed_state_call",
            "ns/call",
            {benchlib.OURS: rejection[FALLBACK], CLOSED_CALL: rejection[CLOSED_CALL]},
            higher_is_better=False,
        )
        if closed.snapshot().rejected or isolated.snapshot().successes:
            msg = "a breaker did not stay in the state the benchmark needs"
            raise RuntimeError(msg)
        return records
    finally:
        runner.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path(".bench/circuit-breaker.json"))
    parser.add_argument("--calls", type=int, default=30_000, help="calls per timed loop")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds")
    args = parser.parse_args()
    # aiobreaker calls datetime.utcnow(), deprecated since Python 3.12; not ours to fix.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="aiobreaker")
    started = time.perf_counter()
    records = run(args.calls, args.rounds)
    benchlib.write_report(args.output, records)
    print(f"{time.perf_counter() - started:.1f} s, {args.calls} calls x {args.rounds} rounds")  # noqa: T201


if __name__ == "__main__":
    main()
