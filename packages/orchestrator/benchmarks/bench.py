"""The runtime's overhead per step, against calling the same nodes directly.

Run by ``nox -s "bench(orchestrator)"`` (``python benchmarks/bench.py --output
.bench/orchestrator.json`` with ``tools/`` on PYTHONPATH). One process, one event loop.

Workload: a workflow of ``--steps`` no-op steps in a chain (each step's input bound to the
previous step's output), on no-op nodes that answer at once.

* ours: ``WorkflowRuntime.run()`` (planning on core's declarative orchestrator, bindings,
  request models, per-attempt timeout, correlation/trace context, events to a listener,
  progress records) with the in-memory store, and again with the SQLite store (WAL,
  ``synchronous=FULL``: every commit fsynced; one transaction per step transition);
* baselines: the same node methods awaited directly in the same order with the same request
  models (what a hand-written script would do); for the SQLite store also that script
  saving each step's outcome durably as it goes (one ``INSERT`` and ``COMMIT`` per step on
  its own connection, WAL, ``synchronous=FULL``: the same guarantee, and the floor a
  durable runtime cannot go under, one fsync per step);
* the disk's floor, measured in the same rounds: one ``write`` of a 4 KiB page and one
  ``fsync`` per step on a file in the same folder (what ``synchronous=FULL`` must pay at
  least once per commit; a chain commits once per step, so a sequential chain cannot go
  under it);
* budgets: issue 20's targets per step, 0.1 ms in memory and 0.5 ms with the durable SQLite
  store (a record each, ``ratio`` = budget / ours, met at 1 or more), each naming its
  workload: one chain at a time (``sequential``), and for SQLite also ``--workflows``
  chains at once, the wall time of the whole batch divided by all their steps
  (``concurrent ... amortized``: group commit shares each fsync among the runs whose
  transitions wait for it; no single chain goes faster than one fsync per step).

Reported as milliseconds per step (lower is better; the ratio is baseline/ours, so below 1
means ours costs more). Then ``--workflows`` (50) workflows run concurrently through one
runtime against the same number of direct chains run concurrently (milliseconds per
workflow). ``--profile FILE`` writes a cProfile of ours (both stores) instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import gc
import json
import os
import pstats
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import benchlib  # type: ignore[import-not-found]
from pydantic import BaseModel, ConfigDict

from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import (
    InMemoryWorkflowStore,
    ModelWorkflow,
    NodeRegistry,
    SqliteWorkflowStore,
    WorkflowRuntime,
    parse_workflow,
)


class ModelNoopRequest(ModelInfraRequest):
    """The no-op node's request."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    operation: str = "noop"
    value: int = 0


class ModelNoopResponse(BaseModel):
    """The no-op node's answer."""

    value: int


class NoopNode:
    """Answers at once."""

    async def noop(self, request: ModelNoopRequest) -> ModelNoopResponse:
        return ModelNoopResponse(value=request.value + 1)


def chain(steps: int) -> ModelWorkflow:
    items: list[dict[str, Any]] = [
        {"id": "s0", "node": "node_noop_effect", "operation": "noop", "inputs": {"value": 0}}
    ]
    for index in range(1, steps):
        items.append(
            {
                "id": f"s{index}",
                "node": "node_noop_effect",
                "operation": "noop",
                "depends_on": [f"s{index - 1}"],
                "inputs": {"value": f"${{steps.s{index - 1}.output.value}}"},
            }
        )
    return parse_workflow({"workflow": {"name": "bench"}, "steps": items})


async def direct(node: NoopNode, steps: int) -> int:
    value = 0
    correlation = ModelCorrelationContext.new()
    for _ in range(steps):
        response = await node.noop(ModelNoopRequest(value=value, correlation=correlation.child()))
        value = response.value
    return value


BUDGET_MS_IN_MEMORY = 0.1
BUDGET_MS_SQLITE = 0.5


async def direct_durable(node: NoopNode, steps: int, db: sqlite3.Connection) -> int:
    """``direct`` that also commits each step's outcome (one fsynced transaction each)."""
    value = 0
    correlation = ModelCorrelationContext.new()
    for index in range(steps):
        response = await node.noop(ModelNoopRequest(value=value, correlation=correlation.child()))
        value = response.value
        db.execute("INSERT OR REPLACE INTO steps VALUES (?, ?)", (f"s{index}", str(value)))
        db.commit()
    return value


def fsync_floor(path: Path, count: int) -> Callable[[], float]:
    """Milliseconds per (4 KiB ``write`` + ``fsync``) on ``path``, ``count`` of them per
    sample: the disk's cost of one durable commit, whatever does it."""
    page = b"x" * 4096

    def run() -> float:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            started = time.perf_counter()
            for index in range(count):
                os.pwrite(fd, page, (index % 64) * 4096)
                os.fsync(fd)
            return (time.perf_counter() - started) * 1000 / count
        finally:
            os.close(fd)

    return run


def open_baseline_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS steps (step_id TEXT PRIMARY KEY, output TEXT)")
    db.commit()
    return db


def budget_record(
    name: str, ours_ms: float, budget_ms: float, unit: str = "ms/step"
) -> benchlib.BenchRecord:
    """Ours against an absolute budget: the ratio is budget / ours (met at >= 1)."""
    ratio = budget_ms / ours_ms if ours_ms else float("inf")
    return benchlib.BenchRecord(
        benchmark=name,
        unit=unit,
        ours=ours_ms,
        baseline="budget",
        baseline_value=budget_ms,
        ratio=ratio,
        target=1.0,
        strict=False,
        met=ratio >= 1.0,
    )


def timed(
    loop: asyncio.AbstractEventLoop,
    make: Callable[[], Coroutine[Any, Any, Any]],
    per: int,
    cpu: list[float] | None = None,
) -> Callable[[], float]:
    """Wall milliseconds per ``per`` of one run of ``make()``; with ``cpu``, also this
    process's CPU milliseconds per ``per`` (appended): on a shared, loaded machine the
    wall clock also counts the time other processes held the CPU."""

    def run() -> float:
        gc.collect()
        started, cpu_started = time.perf_counter(), time.process_time()
        loop.run_until_complete(make())
        if cpu is not None:
            cpu.append((time.process_time() - cpu_started) * 1000 / per)
        return (time.perf_counter() - started) * 1000 / per

    return run


def cpu_record(name: str, cpu: list[float], budget_ms: float) -> benchlib.BenchRecord:
    """Ours in CPU time of this process (the warm-up sample dropped) against the budget,
    for reading a run on a loaded machine; the wall-clock record is the one that counts."""
    ours = statistics.median(cpu[1:] or cpu)
    ratio = budget_ms / ours if ours else float("inf")
    return benchlib.BenchRecord(
        benchmark=name,
        unit="cpu ms/step",
        ours=ours,
        baseline="budget",
        baseline_value=budget_ms,
        ratio=ratio,
        target=None,
        strict=False,
        met=None,
    )


def main() -> None:  # noqa: PLR0915 - one benchmark script, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=10, help="workflows per sample")
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", type=Path, help="write a cProfile of ours here instead")
    parser.add_argument(
        "--only",
        choices=("all", "runtime", "workers"),
        default="all",
        help="workers: only the scale-out benchmark (bench_workers.py), kept beside the "
        "records already in --output",
    )
    parser.add_argument("--worker-workflows", type=int, default=36)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--worker-rounds", type=int, default=5)
    args = parser.parse_args()
    if args.only == "workers":
        benchlib.write_report(args.output, with_worker_records(args, keep=args.output))
        return

    loop = asyncio.new_event_loop()
    node = NoopNode()
    workflow = chain(args.steps)
    events: list[object] = []
    memory = WorkflowRuntime(
        NodeRegistry({"node_noop_effect": node}, entry_points=False),
        InMemoryWorkflowStore(),
        listeners=[events.append],
    )
    folder = tempfile.TemporaryDirectory(prefix="onex-infra-bench-")
    sqlite_store = SqliteWorkflowStore(Path(folder.name) / "runs.sqlite3")
    sqlite = WorkflowRuntime(
        NodeRegistry({"node_noop_effect": node}, entry_points=False), sqlite_store
    )
    baseline_db = open_baseline_db(Path(folder.name) / "baseline.sqlite3")
    per_steps = args.steps * args.repeat

    async def ours(runtime: WorkflowRuntime) -> None:
        for _ in range(args.repeat):
            await runtime.run(workflow)
        events.clear()

    async def baseline() -> None:
        for _ in range(args.repeat):
            await direct(node, args.steps)

    async def baseline_durable() -> None:
        for _ in range(args.repeat):
            await direct_durable(node, args.steps, baseline_db)

    loop.run_until_complete(ours(memory))  # warm up: imports, caches, first plan
    loop.run_until_complete(ours(sqlite))
    if args.profile is not None:
        profiler = cProfile.Profile()
        profiler.enable()
        loop.run_until_complete(ours(memory))
        loop.run_until_complete(ours(sqlite))
        profiler.disable()
        profiler.dump_stats(args.profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return

    cpu: list[float] = []
    samples = benchlib.interleaved_samples(
        {
            benchlib.OURS: timed(loop, lambda: ours(memory), per_steps, cpu),
            "direct_node_calls": timed(loop, baseline, per_steps),
        },
        rounds=args.rounds,
    )
    name = f"per_step_overhead_in_memory_store_{args.steps}_step_chain"
    records = benchlib.records_from_samples(name, "ms/step", samples, higher_is_better=False)
    records.append(
        budget_record(
            f"per_step_in_memory_store_sequential_{args.steps}_step_chain_budget",
            statistics.median(samples[benchlib.OURS]),
            BUDGET_MS_IN_MEMORY,
        )
    )
    records.append(cpu_record(f"{name}_cpu_time", cpu, BUDGET_MS_IN_MEMORY))
    cpu = []
    samples = benchlib.interleaved_samples(
        {
            benchlib.OURS: timed(loop, lambda: ours(sqlite), per_steps, cpu),
            "direct_node_calls": timed(loop, baseline, per_steps),
            "direct_node_calls_one_durable_sqlite_commit_per_step": timed(
                loop, baseline_durable, per_steps
            ),
            "fsync_floor_one_4k_write_and_fsync_per_step": fsync_floor(
                Path(folder.name) / "floor.bin", per_steps
            ),
        },
        rounds=args.rounds,
    )
    name = f"per_step_overhead_sqlite_store_full_sync_{args.steps}_step_chain"
    records += benchlib.records_from_samples(name, "ms/step", samples, higher_is_better=False)
    records.append(
        budget_record(
            f"per_step_sqlite_store_full_sync_sequential_{args.steps}_step_chain_budget",
            statistics.median(samples[benchlib.OURS]),
            BUDGET_MS_SQLITE,
        )
    )
    records.append(cpu_record(f"{name}_cpu_time", cpu, BUDGET_MS_SQLITE))

    async def concurrent(runtime: WorkflowRuntime) -> None:
        await asyncio.gather(*(runtime.run(workflow) for _ in range(args.workflows)))
        events.clear()

    async def concurrent_direct() -> None:
        await asyncio.gather(*(direct(node, args.steps) for _ in range(args.workflows)))

    for label, runtime in (("in_memory", memory), ("sqlite_full_sync", sqlite)):
        records += benchlib.compare(
            f"{args.workflows}_concurrent_workflows_{args.steps}_steps_{label}_store",
            "ms/workflow",
            timed(loop, functools.partial(concurrent, runtime), args.workflows),
            {"direct_node_calls": timed(loop, concurrent_direct, args.workflows)},
            higher_is_better=False,
            rounds=args.rounds,
        )
    # The durable budget on the other workload it can be read on: many runs at once, the
    # batch's wall time over all its steps, beside the disk's floor per fsync.
    cpu = []
    all_steps = args.workflows * args.steps
    samples = benchlib.interleaved_samples(
        {
            benchlib.OURS: timed(loop, functools.partial(concurrent, sqlite), all_steps, cpu),
            "fsync_floor_one_4k_write_and_fsync": fsync_floor(
                Path(folder.name) / "floor.bin", all_steps
            ),
        },
        rounds=args.rounds,
    )
    name = (
        f"per_step_sqlite_store_full_sync_{args.workflows}_concurrent_{args.steps}"
        "_step_chains_amortized"
    )
    records += benchlib.records_from_samples(name, "ms/step", samples, higher_is_better=False)
    records.append(
        budget_record(f"{name}_budget", statistics.median(samples[benchlib.OURS]), BUDGET_MS_SQLITE)
    )
    records.append(cpu_record(f"{name}_cpu_time", cpu, BUDGET_MS_SQLITE))
    loop.run_until_complete(sqlite_store.close())
    loop.close()
    baseline_db.close()
    folder.cleanup()
    if args.only == "all":
        records += with_worker_records(args)
    benchlib.write_report(args.output, records)


def with_worker_records(args: argparse.Namespace, keep: Path | None = None) -> list[Any]:
    """The scale-out records (``bench_workers.py``), after the records of ``keep`` (a
    previous report) that are not scale-out records."""
    import bench_workers  # noqa: PLC0415 - beside this script; starts PostgreSQL

    kept: list[Any] = []
    if keep is not None and keep.exists():
        kept = [
            benchlib.BenchRecord(**r)
            for r in json.loads(keep.read_text())
            if not str(r["benchmark"]).startswith("worker_scale_out")
        ]
    return kept + bench_workers.worker_records(
        args.worker_workflows, args.worker_concurrency, args.worker_rounds
    )


if __name__ == "__main__":
    main()
