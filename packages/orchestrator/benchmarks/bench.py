"""The runtime's overhead per step, against calling the same nodes directly.

Run by ``nox -s "bench(orchestrator)"`` (``python benchmarks/bench.py --output
.bench/orchestrator.json`` with ``tools/`` on PYTHONPATH). One process, one event loop.

Workload: a workflow of ``--steps`` no-op steps in a chain (each step's input bound to the
previous step's output), on no-op nodes that answer at once.

* ours: ``WorkflowRuntime.run()`` (planning on core's declarative orchestrator, bindings,
  request models, per-attempt timeout, correlation/trace context, events to a listener,
  progress records) with the in-memory store, and again with the SQLite store (WAL,
  ``synchronous=FULL``: one fsync per record);
* baseline: the same node methods awaited directly in the same order with the same request
  models (what a hand-written script would do).

Reported as milliseconds per step (lower is better; the ratio is baseline/ours, so below 1
means ours costs more). Then ``--workflows`` (50) workflows run concurrently through one
runtime against the same number of direct chains run concurrently (milliseconds per
workflow).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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


def timed(
    loop: asyncio.AbstractEventLoop, make: Callable[[], Coroutine[Any, Any, Any]], per: int
) -> Callable[[], float]:
    def run() -> float:
        gc.collect()
        started = time.perf_counter()
        loop.run_until_complete(make())
        return (time.perf_counter() - started) * 1000 / per

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=10, help="workflows per sample")
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

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
    per_steps = args.steps * args.repeat

    async def ours(runtime: WorkflowRuntime) -> None:
        for _ in range(args.repeat):
            await runtime.run(workflow)
        events.clear()

    async def baseline() -> None:
        for _ in range(args.repeat):
            await direct(node, args.steps)

    loop.run_until_complete(ours(memory))  # warm up: imports, caches, first plan
    records = benchlib.compare(
        f"per_step_overhead_in_memory_store_{args.steps}_step_chain",
        "ms/step",
        timed(loop, lambda: ours(memory), per_steps),
        {"direct_node_calls": timed(loop, baseline, per_steps)},
        higher_is_better=False,
        rounds=args.rounds,
    )
    records += benchlib.compare(
        f"per_step_overhead_sqlite_store_{args.steps}_step_chain",
        "ms/step",
        timed(loop, lambda: ours(sqlite), per_steps),
        {"direct_node_calls": timed(loop, baseline, per_steps)},
        higher_is_better=False,
        rounds=args.rounds,
    )

    async def concurrent_ours() -> None:
        await asyncio.gather(*(memory.run(workflow) for _ in range(args.workflows)))
        events.clear()

    async def concurrent_direct() -> None:
        await asyncio.gather(*(direct(node, args.steps) for _ in range(args.workflows)))

    records += benchlib.compare(
        f"{args.workflows}_concurrent_workflows_{args.steps}_steps",
        "ms/workflow",
        timed(loop, concurrent_ours, args.workflows),
        {"direct_node_calls": timed(loop, concurrent_direct, args.workflows)},
        higher_is_better=False,
        rounds=args.rounds,
    )
    loop.run_until_complete(sqlite_store.close())
    loop.close()
    folder.cleanup()
    benchlib.write_report(args.output, records)


if __name__ == "__main__":
    main()
