"""A scripted effect node for the worker tests (``--node node_chaos_effect=
tests.worker_nodes:EffectNode`` in each worker process).

Every call is logged to ``$ONEX_TEST_EFFECTS_DIR/calls.txt`` **first** (``call <key>
<pid> <time>``), then the step sleeps ``sleep_ms`` (an I/O-bound step), then applies its
effect once per idempotency key, across processes: the effect is the exclusive creation of
``effects/<key>`` (``O_EXCL``), logged as ``effect <key> <pid>`` in ``effects.txt``. The
test counts both: calls per key (a takeover calls a step in flight again, with the same
key), effects per key (exactly one)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from omnibase_infra.models.model_infra_envelope import ModelInfraRequest

EFFECTS_ENV = "ONEX_TEST_EFFECTS_DIR"


def append(path: Path, line: str) -> None:
    """One ``write`` of one line in append mode: whole lines even across processes."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


class ModelEffectRequest(ModelInfraRequest):
    """A scripted step: how long it takes and a value it echoes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: str = "effect"
    value: Any = None
    sleep_ms: int = 50


class ModelEffectResponse(BaseModel):
    """The echoed value and whether this call applied the effect."""

    value: Any = None
    applied: bool


class EffectNode:
    """The node (one per worker process)."""

    def __init__(self) -> None:
        folder = os.environ.get(EFFECTS_ENV)
        self.folder = Path(folder) if folder else None

    async def effect(self, request: ModelEffectRequest) -> ModelEffectResponse:
        key = request.metadata.get("idempotency-key", "")
        if self.folder is not None:
            append(self.folder / "calls.txt", f"call {key} {os.getpid()} {time.time():.6f}")
        await asyncio.sleep(request.sleep_ms / 1000)
        applied = True
        if self.folder is not None:
            try:
                fd = os.open(self.folder / "effects" / key, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                applied = False  # the same key again: the effect is not repeated
            else:
                os.close(fd)
                append(self.folder / "effects.txt", f"effect {key} {os.getpid()}")
        return ModelEffectResponse(value=request.value, applied=applied)

    async def close(self) -> None:
        return None


def chain_workflow(name: str, sleep_ms: int) -> dict[str, Any]:
    """Four scripted steps: ``a``, then ``b`` and ``c`` side by side, then ``d``."""

    def step(sid: str, *after: str) -> dict[str, Any]:
        return {
            "id": sid,
            "node": "node_chaos_effect",
            "operation": "effect",
            "depends_on": list(after),
            "inputs": {"value": f"${{input.tag}}:{sid}", "sleep_ms": sleep_ms},
            "timeout_ms": 60_000,
        }

    return {
        "workflow": {"name": name, "version": "1.0.0", "timeout_ms": 600_000},
        "inputs": {"tag": {}},
        "steps": [step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c")],
    }
