"""Transitions per second through ``InfraReducer.apply()`` against core's ``fsm_executor``.

Run by ``nox -s "bench(reducer)"`` (``python benchmarks/bench.py --output
.bench/reducer.json`` with ``tools/`` on PYTHONPATH). One process, one event loop.

The workload is one resource's lifecycle on the shipped contract, 13 events: provision,
the five provisioning outcomes, a health failure under the guard's threshold (rejected),
one over it, health restored, a breaker opening and closing, decommission and
deregistration. Both contenders run the same events ``--lifecycles`` times per sample:

* ours: ``result = await reducer.apply(snapshot, event)``, then ``result.snapshot`` and
  ``result.intents`` are used; after each lifecycle ``reducer.forget(resource_id)`` (a new
  lifecycle restarts from version 0);
* baseline: ``result = await execute_transition(fsm, state, trigger, context)`` from
  ``omnibase_core.utils.fsm_executor`` on the same ``ModelFSMSubcontract`` with the very
  contexts the reducer builds (snapshot context and accepted event data), then
  ``result.new_state`` and ``result.intents``. This is core's cheapest documented use:
  the pure function, no per-call mixin instance, and the contract's
  ``persistence_enabled: false`` (no ``persist_state`` intent).

What ours adds is the work of a usable reducer: checking the snapshot and the event,
filtering the event data to declared keys, required-context checks, the new versioned
snapshot, typed intents with deterministic ids, the result, and stale-snapshot detection.
Both contenders run once before timing (warm-up); the rounds rotate their order
(``benchlib.interleaved_medians``) and the report keeps the medians. Short samples and
many rounds keep both contenders of a round close in time on a loaded machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import benchlib  # type: ignore[import-not-found]
from omnibase_core.utils.fsm_executor import execute_transition

from omnibase_infra.models.fsm import FsmContextValue, ModelFSMEvent
from omnibase_infra.nodes.infra_reducer.v1_0_0 import InfraReducer

RESOURCE = "payments/prod"
TARGET = 0.8
LIFECYCLE: list[tuple[str, dict[str, FsmContextValue]]] = [
    (
        "provision",
        {"service_name": "payments", "database_name": "payments_db", "environment": "prod"},
    ),
    ("credentials_issued", {}),
    ("database_ready", {}),
    ("service_registered", {}),
    ("token_verified", {}),
    ("notified", {}),
    ("health_check_failed", {"consecutive_failures": 1}),
    ("health_check_failed", {"consecutive_failures": 3}),
    ("health_check_passed", {}),
    ("breaker_opened", {"breaker_target": "db.internal:5432"}),
    ("breaker_closed", {}),
    ("decommission", {"requested_by": "ops"}),
    ("service_deregistered", {}),
]

type Sample = Callable[[], Coroutine[Any, Any, float]]


def _events() -> list[ModelFSMEvent]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        ModelFSMEvent(
            resource_id=RESOURCE,
            trigger=trigger,
            data=data,
            occurred_at=start + timedelta(seconds=i),
        )
        for i, (trigger, data) in enumerate(LIFECYCLE)
    ]


async def _core_steps(
    reducer: InfraReducer, events: list[ModelFSMEvent]
) -> list[tuple[str, str, dict[str, Any]]]:
    """(state, trigger, context) exactly as the reducer passes them to core."""
    steps = []
    snapshot = reducer.initial_snapshot(RESOURCE)
    declared = reducer.definition.declared_keys
    for event in events:
        accepted = {k: v for k, v in event.data.items() if k in declared}
        steps.append((snapshot.state, event.trigger, {**snapshot.context, **accepted}))
        snapshot = (await reducer.apply(snapshot, event)).snapshot
    reducer.forget(RESOURCE)
    return steps


def _check(final_state: str, planned: int) -> None:
    """Both contenders must really have run the lifecycle."""
    if final_state != "decommissioned" or not planned:
        raise RuntimeError(f"lifecycle ended in {final_state!r} with {planned} intents")


def _ours(reducer: InfraReducer, events: list[ModelFSMEvent], lifecycles: int) -> Sample:
    async def sample() -> float:
        planned = 0
        gc.collect()
        started = time.perf_counter()
        for _ in range(lifecycles):
            snapshot = reducer.initial_snapshot(RESOURCE)
            for event in events:
                result = await reducer.apply(snapshot, event)
                snapshot = result.snapshot
                planned += len(result.intents)
            reducer.forget(RESOURCE)
        elapsed = time.perf_counter() - started
        _check(snapshot.state, planned)
        return lifecycles * len(events) / elapsed

    return sample


def _core(
    reducer: InfraReducer, steps: list[tuple[str, str, dict[str, Any]]], lifecycles: int
) -> Sample:
    fsm = reducer.definition.fsm

    async def sample() -> float:
        planned = 0
        gc.collect()
        started = time.perf_counter()
        for _ in range(lifecycles):
            state = fsm.initial_state
            for _expected, trigger, context in steps:
                result = await execute_transition(fsm, state, trigger, context)
                state = result.new_state
                planned += len(result.intents)
        elapsed = time.perf_counter() - started
        _check(state, planned)
        return lifecycles * len(steps) / elapsed

    return sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--lifecycles", type=int, default=150, help="per sample")
    args = parser.parse_args()

    reducer = InfraReducer()
    events = _events()
    with asyncio.Runner() as runner:
        steps = runner.run(_core_steps(reducer, events))
        ours = _ours(reducer, events, args.lifecycles)
        core = _core(reducer, steps, args.lifecycles)
        runner.run(ours())  # warm up both paths
        runner.run(core())
        records = benchlib.compare(
            "fsm transitions: InfraReducer.apply vs core execute_transition",
            "transitions/s",
            lambda: runner.run(ours()),
            {"omnibase_core.utils.fsm_executor.execute_transition": lambda: runner.run(core())},
            higher_is_better=True,
            targets=TARGET,
            rounds=args.rounds,
        )
    benchlib.write_report(args.output, records)


if __name__ == "__main__":
    main()
