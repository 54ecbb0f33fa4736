"""Child process of test_crash.py: resume every unfinished run, then start the runs named
in ``argv[3]`` (comma-separated, ``-`` for none) that are not in the store yet,
concurrently, each after a random delay.

``argv[1]`` is the store: ``sqlite:<path>`` or ``postgres:<schema>`` (the DSN in
``OMNIBASE_INFRA_POSTGRES_DSN``). With ``argv[4]`` = ``pause-writes``, every store
transaction pauses while it is open (after its rows are sent, before its commit) and says so
in ``writes.txt`` first, so the parent can SIGKILL the process while a store write is in
flight.

Every node call is logged to ``calls.txt`` **before anything else** (``<run>/<step>
<idempotency key>``): the parent counts calls, not effects. The effect itself goes to the
journal once per idempotency key (as real nodes use the key to make the effect
idempotent).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.models.postgres import ModelPostgresStatement, ModelPostgresTransactionRequest
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import (
    ModelRunRecord,
    ModelStepRecord,
    NodeRegistry,
    SqliteWorkflowStore,
    WorkflowRuntime,
    WorkflowStore,
    parse_workflow,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import PostgresWorkflowStore

PAUSE_SECONDS = 0.05


def append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


class ModelAppendRequest(ModelInfraRequest):
    model_config = ConfigDict(frozen=True, extra="forbid")
    operation: str = "append"
    value: str = ""


class ModelAppendResponse(BaseModel):
    key: str


class FileNode:
    def __init__(self, journal: Path, calls: Path) -> None:
        self.journal = journal
        self.calls = calls

    async def append(self, request: ModelAppendRequest) -> ModelAppendResponse:
        key = request.metadata["idempotency-key"]
        append(self.calls, f"{request.value} {key}")  # every call, before any de-duplication
        await asyncio.sleep(random.uniform(0.005, 0.04))  # noqa: S311
        done = self.journal.read_text(encoding="utf-8").split() if self.journal.exists() else []
        if key not in done:
            append(self.journal, key)
        return ModelAppendResponse(key=key)


def _step(sid: str, *depends_on: str) -> dict[str, object]:
    return {
        "id": sid,
        "node": "node_file_effect",
        "operation": "append",
        "depends_on": list(depends_on),
        "inputs": {"value": f"${{run.run_id}}/{sid}"},
    }


WORKFLOW = {
    "workflow": {"name": "crashy"},
    "steps": [
        _step("s1"),
        _step("s2", "s1"),
        _step("s3", "s1"),
        _step("s4", "s2", "s3"),
        _step("s5", "s4"),
        _step("s6", "s4"),
        _step("s7", "s5", "s6"),
        _step("s8", "s7"),
    ],
}


class PausingSqliteStore(SqliteWorkflowStore):
    """Each transaction pauses while open, after saying so in ``writes``."""

    def __init__(self, path: str, writes: Path) -> None:
        super().__init__(path)
        self._writes = writes

        def pause() -> int:
            append(self._writes, "sqlite")
            time.sleep(PAUSE_SECONDS)
            return 0

        self._db.create_function("onex_pause", 0, pause)

    def _commit(self, groups: list[list[tuple[str, tuple[object, ...]]]]) -> None:
        super()._commit([*groups, [("SELECT onex_pause()", ())]])


class PausingPostgresStore(PostgresWorkflowStore):
    """Each batch is a transaction that pauses while open (``pg_sleep``)."""

    def __init__(self, schema: str, writes: Path) -> None:
        super().__init__(schema=schema)
        self._writes = writes

    async def save_batch(
        self, steps: Sequence[ModelStepRecord], run: ModelRunRecord | None = None
    ) -> None:
        statements = [self._step_statement(step) for step in steps]
        if run is not None:
            statements.append(self._run_statement(run))
        statements.append(
            ModelPostgresStatement(sql="SELECT pg_sleep($1)", params=(PAUSE_SECONDS,))
        )
        node = await self._ensure()
        append(self._writes, "postgres")
        await node.process(ModelPostgresTransactionRequest(statements=tuple(statements)))


def open_store(spec: str, folder: Path, pause: bool) -> WorkflowStore:
    kind, _, where = spec.partition(":")
    writes = folder / "writes.txt"
    if kind == "sqlite":
        return PausingSqliteStore(where, writes) if pause else SqliteWorkflowStore(where)
    return PausingPostgresStore(where, writes) if pause else PostgresWorkflowStore(schema=where)


async def main(store_spec: str, directory: str, run_ids: str, mode: str) -> None:
    folder = Path(directory)
    node = FileNode(folder / "journal.txt", folder / "calls.txt")
    store = open_store(store_spec, folder, mode == "pause-writes")
    runtime = WorkflowRuntime(NodeRegistry({"node_file_effect": node}, entry_points=False), store)
    workflow = parse_workflow(WORKFLOW)
    known = await store.list_runs(limit=1000)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for run in known:
        if not run.status.finished:
            append(folder / "resumed.txt", run.run_id)
            await runtime.resume(run.run_id)

    async def start(run_id: str) -> None:
        await asyncio.sleep(random.uniform(0.0, 0.3))  # noqa: S311 - spread the kill points
        await runtime.run(workflow, run_id=run_id)

    existing = {run.run_id for run in known}
    wanted = [run_id for run_id in run_ids.split(",") if run_id not in existing | {"-"}]
    await asyncio.gather(*(start(run_id) for run_id in wanted))
    await store.close()
    sys.stdout.write("done\n")
    sys.stdout.flush()


if __name__ == "__main__":
    mode = sys.argv[4] if len(sys.argv) > 4 else "-"
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], mode))
