"""A real crash test: subprocesses run workflows (four each, started at random offsets)
on the SQLite store and are SIGKILLed at random points; the next process resumes them.
Every run completes and no effect is applied twice (the journal holds each step's
idempotency key once)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import EnumRunStatus, SqliteWorkflowStore

CHILD = Path(__file__).with_name("crash_child.py")
RUNS = 20
PER_CHILD = 4
STEPS = [f"s{i}" for i in range(1, 9)]


def _child(store: Path, folder: Path, run_id: str) -> subprocess.Popen[str]:
    # Children share a bytecode cache: compiling omnibase-core again in each of them
    # would dominate the test's time.
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "PYTHONPATH": os.pathsep.join(sys.path),
        "PYTHONPYCACHEPREFIX": str(folder / "pycache"),
    }
    return subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(CHILD), str(store), str(folder), run_id],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _calls(folder: Path) -> int:
    path = folder / "calls.txt"
    return len(path.read_text().split()) if path.exists() else 0


@pytest.mark.slow
async def test_sigkill_at_random_points_then_resume_completes_every_run_once(
    tmp_path: Path,
) -> None:
    store = tmp_path / "runs.sqlite3"
    rng = random.Random(20261127)  # noqa: S311
    killed = 0
    for first in range(0, RUNS, PER_CHILD):
        run_ids = ",".join(f"run-{index:02d}" for index in range(first, first + PER_CHILD))
        child = _child(store, tmp_path, run_ids)
        assert child.stdout is not None
        try:
            assert child.stdout.readline().strip() == "ready"
            # Kill after a random number of node calls (and a random bit more), so the
            # kill lands mid-run however slow the machine is.
            target = _calls(tmp_path) + rng.randint(1, PER_CHILD * len(STEPS) - 2)
            for _ in range(6000):
                if _calls(tmp_path) >= target or child.poll() is not None:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(rng.uniform(0.0, 0.03))
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                killed += 1
        finally:
            child.kill()
            child.wait(timeout=30)
            child.stdout.close()
    # The last process resumes what was interrupted and starts what was killed too early.
    final = _child(store, tmp_path, ",".join(f"run-{index:02d}" for index in range(RUNS)))
    out, _ = final.communicate(timeout=120)
    assert final.returncode == 0, out
    assert killed >= 3, "the kills should interrupt most children"

    sqlite = SqliteWorkflowStore(store)
    runs = await sqlite.list_runs(limit=100)
    await sqlite.close()
    assert sorted(run.run_id for run in runs) == [f"run-{index:02d}" for index in range(RUNS)]
    assert all(run.status is EnumRunStatus.COMPLETED for run in runs), [
        (r.run_id, r.status) for r in runs
    ]
    applied = Counter((tmp_path / "journal.txt").read_text().split())
    assert [key for key, count in applied.items() if count > 1] == []
    assert set(applied) == {f"{run.run_id}:{sid}" for run in runs for sid in STEPS}
    # The kills really interrupted runs half-way (these were resumed, not restarted).
    resumed = set((tmp_path / "resumed.txt").read_text().split())
    assert len(resumed) >= 3, resumed
