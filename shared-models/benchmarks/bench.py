"""The operation runner's own cost: a no-op operation through it against awaiting it directly.

Run by ``nox -s "bench(shared-models)"`` (``python benchmarks/bench.py --output
.bench/shared-models.json`` with ``tools/`` on PYTHONPATH). One process, one event loop.
Both loops await the same no-op coroutine ``--calls`` times: directly, and through
``OperationRunner.run`` as every effect node calls it (a guarded, idempotent operation with
the target's breaker, its deadline, the telemetry of the OpenTelemetry API without an SDK,
as an application without tracing runs it). The rounds rotate the order
(``benchlib.interleaved_medians``); the report keeps the medians in µs of CPU time per call
(``time.process_time_ns``: the figure a quiet machine gives, where the wall clock on a
loaded one counts the time other processes hold the core) and a record of the added cost
against the 10 µs budget (issue 17).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import time
from pathlib import Path

import benchlib

from omnibase_infra.effect import Attempt, ModelOperationPolicy, OperationRunner
from omnibase_infra.enums import EnumTransport
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability.telemetry import OperationTelemetry
from omnibase_infra.resilience.breaker import BreakerRegistry, ModelCircuitBreakerConfig

BUDGET_US = 10.0


async def noop(attempt: Attempt) -> int:
    return 1


def _runner() -> OperationRunner:
    breaker = BreakerRegistry(ModelCircuitBreakerConfig()).get(EnumTransport.HTTP, "bench:1")
    return OperationRunner(
        transport=EnumTransport.HTTP,
        target="bench:1",
        telemetry=OperationTelemetry(
            scope="bench", span_prefix="bench", duration_metric="d", counter_prefix="bench"
        ),
        logger=logging.getLogger("bench"),
        breaker=breaker,
    )


async def main(calls: int, rounds: int) -> list[benchlib.BenchRecord]:
    runner = _runner()
    policy = ModelOperationPolicy(operation="noop", idempotent=True)
    correlation = ModelCorrelationContext.fresh()
    attempt = Attempt("noop", "bench:1", correlation.correlation_id, True, 30.0, 0.0)

    async def direct() -> float:
        start = time.process_time_ns()
        for _ in range(calls):
            await noop(attempt)
        return (time.process_time_ns() - start) / calls / 1000

    async def through_runner() -> float:
        start = time.process_time_ns()
        for _ in range(calls):
            await runner.run(policy, noop, correlation=correlation)
        return (time.process_time_ns() - start) / calls / 1000

    await direct()  # warm-up of both paths before timing
    await through_runner()
    samples: dict[str, list[float]] = {"direct": [], "runner": []}
    gc.collect()
    for index in range(rounds):
        order = [("direct", direct), ("runner", through_runner)]
        for name, loop in order if index % 2 == 0 else order[::-1]:
            samples[name].append(await loop())
    direct_us = sorted(samples["direct"])[rounds // 2]
    runner_us = sorted(samples["runner"])[rounds // 2]
    added = runner_us - direct_us
    return [
        *benchlib.records_from_medians(
            "no-op operation through the runner",
            "us CPU/call",
            {benchlib.OURS: runner_us, "awaiting the coroutine directly": direct_us},
            higher_is_better=False,
        ),
        *benchlib.records_from_medians(
            "runner cost added to a no-op operation",
            "us CPU/call",
            {benchlib.OURS: added, f"budget {BUDGET_US:g} us": BUDGET_US},
            higher_is_better=False,
            targets=1.0,
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    benchlib.write_report(args.output, asyncio.run(main(args.calls, args.rounds)))
