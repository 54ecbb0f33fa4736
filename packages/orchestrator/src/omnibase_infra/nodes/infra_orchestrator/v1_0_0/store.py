"""Durable workflow progress: the store protocol and the default SQLite store.

The runtime writes a step's record before calling its node (``running``) and after it
(``completed``/``failed``/...), so a crashed run can be resumed from the last completed
step. The infra_reducer snapshot of each resource is kept across runs, so a decommission
starts from the state the deployment left. Records hold JSON-safe data only; secrets are
never stored (see :func:`to_storable`).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SecretBytes, SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError, InfraNotFoundError
from omnibase_infra.redaction import is_sensitive_key

__all__ = [
    "SECRET_MARKER",
    "EnumRunStatus",
    "EnumStepStatus",
    "InMemoryWorkflowStore",
    "ModelRunRecord",
    "ModelStepRecord",
    "SqliteWorkflowStore",
    "WorkflowStore",
    "is_secret_marker",
    "to_storable",
]

SECRET_MARKER: Final = {"$secret": "**********"}
"""What a secret value becomes in the store, in events and in ``--json`` output."""


def is_secret_marker(value: object) -> bool:
    """True for the stored stand-in of a secret."""
    return isinstance(value, dict) and value.keys() == SECRET_MARKER.keys()


def to_storable(value: Any) -> Any:  # noqa: PLR0911 - one return per kind of value
    """A JSON-safe copy of ``value`` with every secret replaced by :data:`SECRET_MARKER`:
    ``SecretStr``/``SecretBytes`` values and values under sensitive keys (password,
    token, ...)."""
    if isinstance(value, SecretStr | SecretBytes):
        return dict(SECRET_MARKER)
    if isinstance(value, BaseModel):
        return to_storable(value.model_dump(mode="python"))
    if isinstance(value, Mapping):
        return {
            str(k): dict(SECRET_MARKER) if is_sensitive_key(k) and v is not None else to_storable(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [to_storable(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, bytes):
        return {"$bytes": len(value)}
    return str(value)


class EnumRunStatus(StrEnum):
    """Where a run stands."""

    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    FAILED = "failed"
    """A step failed and every compensation ran."""
    COMPENSATION_FAILED = "compensation_failed"
    """A step failed and at least one compensation failed too: residue may be left."""

    @property
    def finished(self) -> bool:
        """True when nothing is left to do."""
        return self in {
            EnumRunStatus.COMPLETED,
            EnumRunStatus.FAILED,
            EnumRunStatus.COMPENSATION_FAILED,
        }


class EnumStepStatus(StrEnum):
    """Where a step stands."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    FAILED = "failed"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"


def _now() -> datetime:
    return datetime.now(UTC)


class ModelRunRecord(BaseModel):
    """One workflow run."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    workflow_name: str
    workflow: dict[str, Any]
    """The validated workflow (``model_dump``), so resume needs no file."""
    inputs: dict[str, Any]
    """Inputs with secret inputs replaced by :data:`SECRET_MARKER`."""
    secret_inputs: list[str] = Field(default_factory=list)
    status: EnumRunStatus = EnumRunStatus.RUNNING
    correlation_id: str
    traceparent: str | None = None
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    error: dict[str, Any] | None = None
    failed_step: str | None = None
    reducer_snapshot: dict[str, Any] | None = None
    reducer_fed: list[str] = Field(default_factory=list)
    """Reducer event keys already applied (``start``, ``<step_id>``, ``failure``)."""
    intents_done: list[str] = Field(default_factory=list)
    """Reducer intent ids already handled."""
    notes: list[str] = Field(default_factory=list)


class ModelStepRecord(BaseModel):
    """One step of one run."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    step_id: str
    status: EnumStepStatus = EnumStepStatus.PENDING
    attempts: int = 0
    output: Any = None
    error: dict[str, Any] | None = None
    sequence: int | None = None
    """Completion order (compensation runs in reverse)."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    compensation_error: dict[str, Any] | None = None


@runtime_checkable
class WorkflowStore(Protocol):
    """Durable run/step records; every write is durable when the call returns."""

    async def save_run(self, run: ModelRunRecord) -> None:
        """Insert or replace a run."""
        ...

    async def get_run(self, run_id: str) -> ModelRunRecord:
        """The run (``InfraNotFoundError`` when unknown)."""
        ...

    async def list_runs(self, limit: int = 50) -> list[ModelRunRecord]:
        """The latest runs first."""
        ...

    async def save_step(self, step: ModelStepRecord) -> None:
        """Insert or replace a step record."""
        ...

    async def get_steps(self, run_id: str) -> dict[str, ModelStepRecord]:
        """A run's step records by step id."""
        ...

    async def save_resource_snapshot(self, resource_id: str, snapshot: dict[str, Any]) -> None:
        """Keep the infra_reducer snapshot of ``resource_id`` (across runs)."""
        ...

    async def get_resource_snapshot(self, resource_id: str) -> dict[str, Any] | None:
        """The last infra_reducer snapshot of ``resource_id`` (None: never seen)."""
        ...

    async def close(self) -> None:
        """Release the store."""
        ...


def _not_found(run_id: str) -> InfraNotFoundError:
    return InfraNotFoundError(
        f"no workflow run {run_id!r} in the store",
        transport=EnumTransport.INTERNAL,
        operation="get_run",
        target=run_id,
    )


class InMemoryWorkflowStore:
    """A non-durable store (tests, benchmarks, one-shot runs)."""

    def __init__(self) -> None:
        self._runs: dict[str, str] = {}
        self._steps: dict[str, dict[str, str]] = {}
        self._resources: dict[str, str] = {}

    async def save_run(self, run: ModelRunRecord) -> None:
        self._runs[run.run_id] = run.model_dump_json()

    async def get_run(self, run_id: str) -> ModelRunRecord:
        if run_id not in self._runs:
            raise _not_found(run_id)
        return ModelRunRecord.model_validate_json(self._runs[run_id])

    async def list_runs(self, limit: int = 50) -> list[ModelRunRecord]:
        runs = [ModelRunRecord.model_validate_json(r) for r in self._runs.values()]
        return sorted(runs, key=lambda r: r.created_at, reverse=True)[:limit]

    async def save_step(self, step: ModelStepRecord) -> None:
        self._steps.setdefault(step.run_id, {})[step.step_id] = step.model_dump_json()

    async def get_steps(self, run_id: str) -> dict[str, ModelStepRecord]:
        return {
            sid: ModelStepRecord.model_validate_json(raw)
            for sid, raw in self._steps.get(run_id, {}).items()
        }

    async def save_resource_snapshot(self, resource_id: str, snapshot: dict[str, Any]) -> None:
        self._resources[resource_id] = json.dumps(snapshot)

    async def get_resource_snapshot(self, resource_id: str) -> dict[str, Any] | None:
        raw = self._resources.get(resource_id)
        return None if raw is None else dict(json.loads(raw))

    async def close(self) -> None:
        return None


_SYNCHRONOUS: Final = {"FULL": "FULL", "NORMAL": "NORMAL"}
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS workflow_runs (
    run_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS workflow_steps (
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id)
);
CREATE TABLE IF NOT EXISTS workflow_resources (
    resource_id TEXT PRIMARY KEY,
    updated_at TEXT NOT NULL,
    snapshot TEXT NOT NULL
);
"""


class SqliteWorkflowStore:
    """The default durable store: one SQLite file in WAL mode, ``synchronous=FULL``
    (every commit survives a process kill and a power loss; ``"NORMAL"`` still survives a
    process kill, not a power loss, and saves an fsync per record). Calls run in a worker
    thread so the event loop never waits on the disk."""

    def __init__(
        self, path: str | Path, *, synchronous: Literal["FULL", "NORMAL"] = "FULL"
    ) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={_SYNCHRONOUS[synchronous]}")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise InfraConfigurationError(
                f"cannot open the workflow store {self.path}: {exc}",
                transport=EnumTransport.INTERNAL,
                operation="open_store",
                target=str(self.path),
            ) from exc
        self._lock = threading.Lock()

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        with self._lock:
            self._db.execute(sql, params)

    def _read(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    async def save_run(self, run: ModelRunRecord) -> None:
        await asyncio.to_thread(
            self._write,
            "INSERT OR REPLACE INTO workflow_runs (run_id, created_at, status, record) "
            "VALUES (?, ?, ?, ?)",
            (run.run_id, run.created_at.isoformat(), run.status.value, run.model_dump_json()),
        )

    async def get_run(self, run_id: str) -> ModelRunRecord:
        rows = await asyncio.to_thread(
            self._read, "SELECT record FROM workflow_runs WHERE run_id = ?", (run_id,)
        )
        if not rows:
            raise _not_found(run_id)
        return ModelRunRecord.model_validate_json(rows[0][0])

    async def list_runs(self, limit: int = 50) -> list[ModelRunRecord]:
        rows = await asyncio.to_thread(
            self._read,
            "SELECT record FROM workflow_runs ORDER BY created_at DESC LIMIT ?",
            (limit,),
        )
        return [ModelRunRecord.model_validate_json(row[0]) for row in rows]

    async def save_step(self, step: ModelStepRecord) -> None:
        await asyncio.to_thread(
            self._write,
            "INSERT OR REPLACE INTO workflow_steps (run_id, step_id, status, record) "
            "VALUES (?, ?, ?, ?)",
            (step.run_id, step.step_id, step.status.value, step.model_dump_json()),
        )

    async def get_steps(self, run_id: str) -> dict[str, ModelStepRecord]:
        rows = await asyncio.to_thread(
            self._read, "SELECT step_id, record FROM workflow_steps WHERE run_id = ?", (run_id,)
        )
        return {sid: ModelStepRecord.model_validate_json(raw) for sid, raw in rows}

    async def save_resource_snapshot(self, resource_id: str, snapshot: dict[str, Any]) -> None:
        await asyncio.to_thread(
            self._write,
            "INSERT OR REPLACE INTO workflow_resources (resource_id, updated_at, snapshot) "
            "VALUES (?, ?, ?)",
            (resource_id, _now().isoformat(), json.dumps(snapshot)),
        )

    async def get_resource_snapshot(self, resource_id: str) -> dict[str, Any] | None:
        rows = await asyncio.to_thread(
            self._read,
            "SELECT snapshot FROM workflow_resources WHERE resource_id = ?",
            (resource_id,),
        )
        return dict(json.loads(rows[0][0])) if rows else None

    async def close(self) -> None:
        with self._lock:
            self._db.close()


def dumps(value: object) -> str:
    """Compact JSON of a storable value."""
    return json.dumps(to_storable(value), separators=(",", ":"), sort_keys=True)
