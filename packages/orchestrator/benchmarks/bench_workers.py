"""Scale-out: workflows per second with 3 worker processes against 1, on I/O-bound steps.

Part of ``nox -s "bench(orchestrator)"`` (``bench.py --only workers`` runs this alone).
A real PostgreSQL (the test harness's, or ``OMNIBASE_INFRA_TEST_POSTGRES_DSN``) holds the
store; each side has its own schema and its own ``onex-infra worker`` processes, all started
(and idle) before timing begins, so process start-up is not measured.

Workload: ``--worker-workflows`` (36) runs of a 4-step chain whose steps each sleep 50 ms
(the scripted I/O-bound step of issue 19), submitted at once; a sample is the time from the
first submit to the last run finished (workflows/s), with the other sides' workers paused
(SIGSTOP: idle workers poll the queue). Every worker runs with the same
``--concurrency`` (2): the comparison measures what more worker processes add, the
scale-out the issue asks for (3 workers at least 2.5 times 1 worker). A single worker given
3 times the concurrency is also reported (no target): on steps that only wait, one process's
concurrency goes as far, until its CPU, its connections or its machine run out; that record
says how far on this machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import benchlib  # type: ignore[import-not-found]
from pydantic import BaseModel, ConfigDict

from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import parse_workflow
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.leases import PostgresRunQueue
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import PostgresWorkflowStore
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.worker import submit

DSN_ENV = "OMNIBASE_INFRA_POSTGRES_DSN"
STEP_MS = 50
TARGET = 2.5


class ModelSleepRequest(ModelInfraRequest):
    """The sleeping node's request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: str = "sleep"
    value: Any = None
    sleep_ms: int = STEP_MS


class ModelSleepResponse(BaseModel):
    """What it answers."""

    value: Any = None


class SleepNode:
    """An I/O-bound step: waits ``sleep_ms``
    (``--node node_sleep_effect=bench_workers:SleepNode``)."""

    async def sleep(self, request: ModelSleepRequest) -> ModelSleepResponse:
        await asyncio.sleep(request.sleep_ms / 1000)
        return ModelSleepResponse(value=request.value)

    async def close(self) -> None:
        return None


def chain(steps: int = 4) -> dict[str, Any]:
    """``steps`` sleeping steps in a chain."""
    return {
        "workflow": {"name": "bench_chain", "version": "1.0.0"},
        "inputs": {"tag": {}},
        "steps": [
            {
                "id": f"s{i}",
                "node": "node_sleep_effect",
                "operation": "sleep",
                "depends_on": [f"s{i - 1}"] if i else [],
                "inputs": {"value": "${input.tag}", "sleep_ms": STEP_MS},
            }
            for i in range(steps)
        ],
    }


class Side:
    """Worker processes on one schema, started once and idle between samples."""

    def __init__(self, dsn: str, workers: int, concurrency: int, folder: Path) -> None:
        self.schema = f"bench_{uuid.uuid4().hex[:8]}"
        self.store = PostgresWorkflowStore(schema=self.schema)
        self.queue = PostgresRunQueue(self.store)
        here = str(Path(__file__).parent)
        env = {
            **os.environ,
            DSN_ENV: dsn,
            "OMNIBASE_INFRA_ORCHESTRATOR_STORE_SCHEMA": self.schema,
            "PYTHONPATH": os.pathsep.join([here, *sys.path]),
        }
        self.logs = [folder / f"{self.schema}-{i}.log" for i in range(workers)]
        self.procs = []
        for log in self.logs:
            with log.open("wb") as out:
                self.procs.append(
                    subprocess.Popen(  # noqa: S603 - our own CLI
                        [
                            sys.executable,
                            "-m",
                            "omnibase_infra.nodes.infra_orchestrator.v1_0_0",
                            "worker",
                            "--store",
                            "postgres",
                            "--concurrency",
                            str(concurrency),
                            "--poll-seconds",
                            "0.1",
                            "--node",
                            "node_sleep_effect=bench_workers:SleepNode",
                        ],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )

    def ready(self) -> bool:
        return all("started:" in log.read_text() for log in self.logs)

    def pause(self, paused: bool) -> None:
        """SIGSTOP (or SIGCONT) this side's workers: idle workers poll the queue, and a
        side is measured with the other sides' processes paused, not polling beside it."""
        for proc in self.procs:
            proc.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    async def sample(self, workflows: int) -> float:
        """Workflows per second for ``workflows`` runs submitted at once."""
        workflow = parse_workflow(chain(), source="bench")
        done_before = (await self.queue.counts()).get("finished", 0)
        started = time.perf_counter()
        for _ in range(workflows):
            await submit(self.queue, workflow, {"tag": "x"})
        # The workers are other processes: the store is polled.
        while (await self.queue.counts()).get("finished", 0) < done_before + workflows:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        return workflows / (time.perf_counter() - started)

    async def close(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=30)
        await self.store.close()


def worker_records(workflows: int, concurrency: int, rounds: int) -> list[benchlib.BenchRecord]:
    """Start a PostgreSQL, the worker processes of each side, and compare them."""
    from omnibase_infra_testing.services.postgres import start_postgres  # noqa: PLC0415

    service = start_postgres()
    database = f"bench_workers_{uuid.uuid4().hex[:8]}"
    dsn = service.create_database(database)
    previous = os.environ.get(DSN_ENV)
    os.environ[DSN_ENV] = dsn
    loop = asyncio.new_event_loop()
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"onex-bench-workers-{uuid.uuid4().hex[:6]}"  # noqa: S108
    folder.mkdir(parents=True)
    sides: list[Side] = []
    try:
        three = Side(dsn, 3, concurrency, folder)
        one = Side(dsn, 1, concurrency, folder)
        one_wide = Side(dsn, 1, 3 * concurrency, folder)
        sides = [three, one, one_wide]
        deadline = time.monotonic() + 180
        while not all(side.ready() for side in sides):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not start: see {folder}")
            time.sleep(0.2)

        def rate(side: Side) -> Any:
            def measure() -> float:
                for other in sides:
                    other.pause(other is not side)
                return loop.run_until_complete(side.sample(workflows))

            return measure

        name = f"worker_scale_out_{workflows}_workflows_4x{STEP_MS}ms_steps"
        records = benchlib.compare(
            f"{name}_3_workers_vs_1_concurrency_{concurrency}_each",
            "workflows/s",
            rate(three),
            {f"1_worker_concurrency_{concurrency}": rate(one)},
            higher_is_better=True,
            targets=TARGET,
            rounds=rounds,
        )
        records += benchlib.compare(
            f"{name}_3_workers_concurrency_{concurrency}_vs_1_worker_concurrency_{3 * concurrency}",
            "workflows/s",
            rate(three),
            {f"1_worker_concurrency_{3 * concurrency}": rate(one_wide)},
            higher_is_better=True,
            rounds=rounds,
        )
        return records
    finally:
        for side in sides:
            loop.run_until_complete(side.close())
        loop.close()
        if previous is None:
            os.environ.pop(DSN_ENV, None)
        else:
            os.environ[DSN_ENV] = previous
        service.drop_database(database)
