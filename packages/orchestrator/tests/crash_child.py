"""Child process of test_crash.py: resume every unfinished run, then start the runs named
in ``argv[3]`` (comma-separated, ``-`` for none) that are not in the store yet,
concurrently, each after a random delay.

Nodes append ``<idempotency key>`` to the journal file (once per key: the key makes the
effect idempotent, as real nodes use it) and every call to the calls file.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import (
    NodeRegistry,
    SqliteWorkflowStore,
    WorkflowRuntime,
    parse_workflow,
)


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

    def _append(self, path: Path, line: str) -> None:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    async def append(self, request: ModelAppendRequest) -> ModelAppendResponse:
        key = request.metadata["idempotency-key"]
        self._append(self.calls, key)
        await asyncio.sleep(random.uniform(0.005, 0.04))  # noqa: S311
        done = self.journal.read_text(encoding="utf-8").split() if self.journal.exists() else []
        if key not in done:
            self._append(self.journal, key)
        return ModelAppendResponse(key=key)


WORKFLOW = {
    "workflow": {"name": "crashy"},
    "steps": [
        {"id": "s1", "node": "node_file_effect", "operation": "append"},
        {"id": "s2", "node": "node_file_effect", "operation": "append", "depends_on": ["s1"]},
        {"id": "s3", "node": "node_file_effect", "operation": "append", "depends_on": ["s1"]},
        {
            "id": "s4",
            "node": "node_file_effect",
            "operation": "append",
            "depends_on": ["s2", "s3"],
            "inputs": {"value": "${steps.s2.output.key}"},
        },
        {"id": "s5", "node": "node_file_effect", "operation": "append", "depends_on": ["s4"]},
        {"id": "s6", "node": "node_file_effect", "operation": "append", "depends_on": ["s4"]},
        {"id": "s7", "node": "node_file_effect", "operation": "append", "depends_on": ["s5", "s6"]},
        {"id": "s8", "node": "node_file_effect", "operation": "append", "depends_on": ["s7"]},
    ],
}


async def main(store_path: str, directory: str, run_ids: str) -> None:
    folder = Path(directory)
    node = FileNode(folder / "journal.txt", folder / "calls.txt")
    store = SqliteWorkflowStore(store_path)
    runtime = WorkflowRuntime(NodeRegistry({"node_file_effect": node}, entry_points=False), store)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    known = await store.list_runs(limit=1000)
    for run in known:
        if not run.status.finished:
            node._append(folder / "resumed.txt", run.run_id)
            await runtime.resume(run.run_id)
    workflow = parse_workflow(WORKFLOW)

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
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
