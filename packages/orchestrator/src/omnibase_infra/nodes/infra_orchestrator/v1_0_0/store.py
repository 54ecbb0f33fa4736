"""Durable workflow progress: the store protocol, the default SQLite store and the
PostgreSQL store (through the Postgres node).

The runtime writes a step's record before calling its node (``running``) and after it
(``completed``/``failed``/...), so a crashed run can be resumed from the last completed
step. The infra_reducer snapshot of each resource is kept across runs, so a decommission
starts from the state the deployment left. Records hold JSON-safe data only; secrets are
never stored (see :func:`to_storable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import queue
import sqlite3
import threading
import typing
import weakref
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SecretBytes, SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError, InfraNotFoundError
from omnibase_infra.models.postgres import (
    ModelPostgresExecuteRequest,
    ModelPostgresFetchOneRequest,
    ModelPostgresFetchRequest,
    ModelPostgresStatement,
    ModelPostgresTransactionRequest,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.registry import NodeRegistry
from omnibase_infra.redaction import is_sensitive_key
from omnibase_infra.sql import quote_identifier

__all__ = [
    "SECRET_MARKER",
    "EnumRunStatus",
    "EnumStepStatus",
    "InMemoryWorkflowStore",
    "ModelRunRecord",
    "ModelStepRecord",
    "PostgresWorkflowStore",
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


_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


@functools.lru_cache(maxsize=4096)
def _sensitive_str_key(key: str) -> bool:
    # Outputs repeat the same few keys: the regex runs once per key, not once per record.
    return is_sensitive_key(key)


def _sensitive(key: object) -> bool:
    return _sensitive_str_key(key) if type(key) is str else is_sensitive_key(key)


def to_storable(value: Any) -> Any:  # noqa: PLR0911 - one return per kind of value
    """A JSON-safe copy of ``value`` with every secret replaced by :data:`SECRET_MARKER`:
    ``SecretStr``/``SecretBytes`` values and values under sensitive keys (password,
    token, ...)."""
    if type(value) in _PLAIN:  # the common case first, without an isinstance chain
        return value
    if isinstance(value, SecretStr | SecretBytes):
        return dict(SECRET_MARKER)
    if isinstance(value, BaseModel):
        return to_storable(value.model_dump(mode="python"))
    if isinstance(value, Mapping):
        return {
            str(k): dict(SECRET_MARKER) if v is not None and _sensitive(k) else to_storable(v)
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
    intents_pending: list[dict[str, Any]] = Field(default_factory=list)
    """Reducer intents recorded with the transition that planned them and not handled yet
    (``ModelFSMIntent`` as JSON): ``resume`` handles them, with the same idempotency key."""
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

    async def save_batch(
        self, steps: Sequence[ModelStepRecord], run: ModelRunRecord | None = None
    ) -> None:
        """Insert or replace ``steps`` (and ``run``) in one transaction: all or none.
        The runtime writes each step transition with one call (a step's outcome and the
        start of the steps it releases)."""
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


def _copy_json(value: Any) -> Any:
    """A copy of a JSON-safe value (what ``json.loads(json.dumps(value))`` gives, at a
    fraction of the cost)."""
    if type(value) is dict:
        return {k: _copy_json(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy_json(v) for v in value]
    return value


def _step_snapshot(step: ModelStepRecord) -> dict[str, Any]:
    """A step record as kept in memory: its fields, nested values copied (a record's
    fields are JSON-safe: outputs pass through :func:`to_storable`)."""
    fields = dict(step.__dict__)
    for name in ("output", "error", "compensation_error"):
        value = fields[name]
        if value is not None and type(value) is not str:
            fields[name] = _copy_json(value)
    return fields


class InMemoryWorkflowStore:
    """A non-durable store (tests, benchmarks, one-shot runs). It keeps copies: a saved
    record changed afterwards, or one read and changed, does not change what is stored.
    Runs are kept as JSON; step records (two per step) as a copy of their fields, which
    costs a fifth of a JSON round trip."""

    def __init__(self) -> None:
        self._runs: dict[str, str] = {}
        self._steps: dict[str, dict[str, dict[str, Any]]] = {}
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
        self._steps.setdefault(step.run_id, {})[step.step_id] = _step_snapshot(step)

    async def save_batch(
        self, steps: Sequence[ModelStepRecord], run: ModelRunRecord | None = None
    ) -> None:
        if run is not None:
            self._runs[run.run_id] = run.model_dump_json()
        for step in steps:
            self._steps.setdefault(step.run_id, {})[step.step_id] = _step_snapshot(step)

    async def get_steps(self, run_id: str) -> dict[str, ModelStepRecord]:
        return {
            sid: ModelStepRecord.model_validate(_copy_json(fields))
            for sid, fields in self._steps.get(run_id, {}).items()
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


_SAVE_RUN: Final = (
    "INSERT OR REPLACE INTO workflow_runs (run_id, created_at, status, record) VALUES (?, ?, ?, ?)"
)
_SAVE_STEP: Final = (
    "INSERT OR REPLACE INTO workflow_steps (run_id, step_id, status, record) VALUES (?, ?, ?, ?)"
)
_SAVE_RESOURCE: Final = (
    "INSERT OR REPLACE INTO workflow_resources (resource_id, updated_at, snapshot) VALUES (?, ?, ?)"
)

type _Write = tuple[str, tuple[object, ...]]
type _Queued = tuple[list[_Write], asyncio.AbstractEventLoop, asyncio.Future[None]] | None
"""One caller's transaction, its loop and the future it awaits; None stops the writer."""


def _run_row(run: ModelRunRecord) -> _Write:
    return _SAVE_RUN, (
        run.run_id,
        run.created_at.isoformat(),
        run.status.value,
        run.model_dump_json(),
    )


def _step_row(step: ModelStepRecord) -> _Write:
    return _SAVE_STEP, (step.run_id, step.step_id, step.status.value, step.model_dump_json())


class SqliteWorkflowStore:
    """The default durable store: one SQLite file in WAL mode with ``synchronous=FULL``:
    the WAL is fsynced at every commit, so a save that returned survives a process kill
    and a power loss (``"NORMAL"`` still survives a process kill, but a power loss may roll
    back the last commits; it saves an fsync per commit).

    Writes are **group-committed** by one writer thread (started on the first save, ended
    by :meth:`close`): the saves requested while a commit is in flight are written
    together in the next transaction (one fsync for all of them), so the event loop never
    waits on the disk. Every save still returns only once its own transaction is
    committed, and a :meth:`save_batch` is never split. A save whose caller is cancelled
    is committed all the same."""

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
        """Held by whoever uses the connection: the writer thread and the readers."""
        self._queue: queue.SimpleQueue[_Queued] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    def _commit(self, groups: list[list[_Write]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for writes in groups:
                    for sql, params in writes:
                        self._db.execute(sql, params)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _start_writer(self) -> None:
        with self._start_lock:
            if self._writer is not None:
                return
            # The thread holds the queue and a weak reference to the store: a store dropped
            # without close() ends its thread (the finalizer's None).
            writer = threading.Thread(
                target=_write_loop,
                args=(self._queue, weakref.ref(self)),
                name=f"workflow-store-writer:{self.path.name}",
                daemon=True,
            )
            weakref.finalize(self, self._queue.put, None)
            writer.start()
            self._writer = writer

    def _read(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    async def _write(self, writes: list[_Write]) -> None:
        """Queue ``writes`` (one transaction's worth) and wait until they are committed."""
        if self._writer is None:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            self._start_writer()
        elif self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put((writes, loop, done))
        await done

    async def save_run(self, run: ModelRunRecord) -> None:
        await self._write([_run_row(run)])

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
        await self._write([_step_row(step)])

    async def save_batch(
        self, steps: Sequence[ModelStepRecord], run: ModelRunRecord | None = None
    ) -> None:
        writes = [_step_row(step) for step in steps]
        if run is not None:
            writes.append(_run_row(run))
        await self._write(writes)

    async def get_steps(self, run_id: str) -> dict[str, ModelStepRecord]:
        rows = await asyncio.to_thread(
            self._read, "SELECT step_id, record FROM workflow_steps WHERE run_id = ?", (run_id,)
        )
        return {sid: ModelStepRecord.model_validate_json(raw) for sid, raw in rows}

    async def save_resource_snapshot(self, resource_id: str, snapshot: dict[str, Any]) -> None:
        await self._write(
            [(_SAVE_RESOURCE, (resource_id, _now().isoformat(), json.dumps(snapshot)))]
        )

    async def get_resource_snapshot(self, resource_id: str) -> dict[str, Any] | None:
        rows = await asyncio.to_thread(
            self._read,
            "SELECT snapshot FROM workflow_resources WHERE resource_id = ?",
            (resource_id,),
        )
        return dict(json.loads(rows[0][0])) if rows else None

    async def close(self) -> None:
        """Commit what is queued, end the writer thread, close the connection."""
        self._closed = True
        writer = self._writer
        if writer is not None and writer.is_alive():
            self._queue.put(None)
            await asyncio.to_thread(writer.join)
        with self._lock:
            self._db.close()


def _write_loop(
    pending: queue.SimpleQueue[_Queued], store_ref: weakref.ref[SqliteWorkflowStore]
) -> None:
    """The writer thread: take every queued transaction, commit them together, wake each
    caller; until None."""
    while True:
        first = pending.get()
        if first is None:
            return
        group = [first]
        stop = False
        while True:
            try:
                item = pending.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            group.append(item)
        store = store_ref()
        if store is None:
            return
        _commit_group(store._commit, group)
        del store
        if stop:
            return


def _commit_group(
    commit: typing.Callable[[list[list[_Write]]], None],
    group: list[tuple[list[_Write], asyncio.AbstractEventLoop, asyncio.Future[None]]],
) -> None:
    outcomes: list[tuple[asyncio.Future[None], BaseException | None]]
    # Any error goes to its callers: the writer thread must outlive it (a caller whose
    # future is never settled would wait forever).
    try:
        commit([writes for writes, _, _ in group])
    except Exception as exc:
        if len(group) == 1:
            outcomes = [(group[0][2], exc)]
        else:
            # One caller's rows must not fail the others: commit them one by one.
            outcomes = []
            for writes, _, done in group:
                try:
                    commit([writes])
                except Exception as error:
                    outcomes.append((done, error))
                else:
                    outcomes.append((done, None))
    else:
        outcomes = [(done, None) for _, _, done in group]
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], Any]]] = {}
    for (_, loop, _), outcome in zip(group, outcomes, strict=True):
        by_loop.setdefault(loop, []).append(outcome)
    for loop, settled in by_loop.items():  # one wake-up per loop for the whole group
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_settle_all, settled)


def _settle_all(settled: list[tuple[asyncio.Future[None], BaseException | None]]) -> None:
    for done, error in settled:
        if done.done():  # the caller was cancelled: its rows are committed all the same
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


POSTGRES_NODE: Final = "node_postgres_adapter_effect"
"""The entry point (group ``omnibase_infra.nodes``) of the Postgres node."""
DEFAULT_POSTGRES_SCHEMA: Final = "onex_orchestrator"


class _PostgresNode(Protocol):
    async def process(self, request: Any) -> Any: ...


class PostgresWorkflowStore:
    """A durable store in PostgreSQL, reached through the Postgres node (never a driver).

    ``node`` is a Postgres node instance (the caller closes it); without one, the node
    class is loaded from its ``omnibase_infra.nodes`` entry point on first use and built
    with no arguments, so it reads ``OMNIBASE_INFRA_POSTGRES_DSN``; that node is closed by
    :meth:`close`. The tables (same as the SQLite store's, records in ``jsonb``) are created
    in ``schema`` on first use; every save is an upsert, values are always ``$n``
    parameters and identifiers are quoted. ``timeout_seconds`` bounds each call (retries
    included).
    """

    def __init__(
        self,
        node: object | None = None,
        *,
        schema: str = DEFAULT_POSTGRES_SCHEMA,
        timeout_seconds: float = 30.0,
    ) -> None:
        self.schema = schema
        quoted = quote_identifier(schema)
        self._runs = f"{quoted}.workflow_runs"
        self._steps = f"{quoted}.workflow_steps"
        self._resources = f"{quoted}.workflow_resources"
        self._timeout = timeout_seconds
        self._node = _as_postgres_node(node) if node is not None else None
        self._owns_node = node is None
        self._ready = False
        self._lock = asyncio.Lock()

    async def _ensure(self) -> _PostgresNode:
        if self._node is not None and self._ready:
            return self._node
        async with self._lock:
            if self._node is None:
                self._node = _as_postgres_node(NodeRegistry().node_class(POSTGRES_NODE)())
            if not self._ready:
                await self._node.process(self._schema_request())
                self._ready = True
        return self._node

    def _schema_request(self) -> ModelPostgresTransactionRequest:
        # The advisory lock serializes concurrent first uses: CREATE ... IF NOT EXISTS
        # alone can still collide in the catalog.
        key = zlib.crc32(self.schema.encode())
        ddl = (
            "SELECT pg_advisory_xact_lock($1)",
            f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(self.schema)}",
            f"CREATE TABLE IF NOT EXISTS {self._runs} (run_id text PRIMARY KEY, "
            "created_at timestamptz NOT NULL, status text NOT NULL, record jsonb NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self._steps} (run_id text NOT NULL, "
            "step_id text NOT NULL, status text NOT NULL, record jsonb NOT NULL, "
            "PRIMARY KEY (run_id, step_id))",
            f"CREATE TABLE IF NOT EXISTS {self._resources} (resource_id text PRIMARY KEY, "
            "updated_at timestamptz NOT NULL, snapshot jsonb NOT NULL)",
        )
        return ModelPostgresTransactionRequest(
            statements=tuple(
                ModelPostgresStatement(sql=sql, params=(key,) if i == 0 else ())
                for i, sql in enumerate(ddl)
            ),
            timeout_seconds=self._timeout,
        )

    async def _execute(self, sql: str, *params: object) -> None:
        node = await self._ensure()
        await node.process(
            ModelPostgresExecuteRequest(
                sql=sql, params=params, idempotent=True, timeout_seconds=self._timeout
            )
        )

    async def _fetch(self, sql: str, *params: object, max_rows: int) -> list[dict[str, Any]]:
        node = await self._ensure()
        response = await node.process(
            ModelPostgresFetchRequest(
                sql=sql, params=params, max_rows=max_rows, timeout_seconds=self._timeout
            )
        )
        return list(response.rows)

    async def _fetch_one(self, sql: str, *params: object) -> dict[str, Any] | None:
        node = await self._ensure()
        response = await node.process(
            ModelPostgresFetchOneRequest(sql=sql, params=params, timeout_seconds=self._timeout)
        )
        return None if response.row is None else dict(response.row)

    def _run_statement(self, run: ModelRunRecord) -> ModelPostgresStatement:
        return ModelPostgresStatement(
            sql=f"INSERT INTO {self._runs} (run_id, created_at, status, record) "  # noqa: S608
            "VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (run_id) DO UPDATE SET "
            "created_at = EXCLUDED.created_at, status = EXCLUDED.status, "
            "record = EXCLUDED.record",
            params=(run.run_id, run.created_at, run.status.value, run.model_dump_json()),
        )

    def _step_statement(self, step: ModelStepRecord) -> ModelPostgresStatement:
        return ModelPostgresStatement(
            sql=f"INSERT INTO {self._steps} (run_id, step_id, status, record) "  # noqa: S608
            "VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (run_id, step_id) DO UPDATE SET "
            "status = EXCLUDED.status, record = EXCLUDED.record",
            params=(step.run_id, step.step_id, step.status.value, step.model_dump_json()),
        )

    async def _execute_statement(self, statement: ModelPostgresStatement) -> None:
        await self._execute(statement.sql, *statement.params)

    async def save_run(self, run: ModelRunRecord) -> None:
        await self._execute_statement(self._run_statement(run))

    async def get_run(self, run_id: str) -> ModelRunRecord:
        sql = f"SELECT record::text AS record FROM {self._runs} WHERE run_id = $1"  # noqa: S608
        row = await self._fetch_one(sql, run_id)
        if row is None:
            raise _not_found(run_id)
        return ModelRunRecord.model_validate_json(row["record"])

    async def list_runs(self, limit: int = 50) -> list[ModelRunRecord]:
        rows = await self._fetch(
            f"SELECT record::text AS record FROM {self._runs} ORDER BY created_at DESC LIMIT $1",  # noqa: S608
            max(limit, 0),
            max_rows=max(limit, 1),
        )
        return [ModelRunRecord.model_validate_json(row["record"]) for row in rows]

    async def save_step(self, step: ModelStepRecord) -> None:
        await self._execute_statement(self._step_statement(step))

    async def save_batch(
        self, steps: Sequence[ModelStepRecord], run: ModelRunRecord | None = None
    ) -> None:
        statements = [self._step_statement(step) for step in steps]
        if run is not None:
            statements.append(self._run_statement(run))
        if len(statements) <= 1:
            for statement in statements:
                await self._execute_statement(statement)
            return
        node = await self._ensure()
        await node.process(
            ModelPostgresTransactionRequest(
                statements=tuple(statements), timeout_seconds=self._timeout
            )
        )

    async def get_steps(self, run_id: str) -> dict[str, ModelStepRecord]:
        rows = await self._fetch(
            f"SELECT step_id, record::text AS record FROM {self._steps} WHERE run_id = $1",  # noqa: S608
            run_id,
            max_rows=100_000,
        )
        return {row["step_id"]: ModelStepRecord.model_validate_json(row["record"]) for row in rows}

    async def save_resource_snapshot(self, resource_id: str, snapshot: dict[str, Any]) -> None:
        await self._execute(
            f"INSERT INTO {self._resources} (resource_id, updated_at, snapshot) "  # noqa: S608
            "VALUES ($1, $2, $3::jsonb) ON CONFLICT (resource_id) DO UPDATE SET "
            "updated_at = EXCLUDED.updated_at, snapshot = EXCLUDED.snapshot",
            resource_id,
            _now(),
            json.dumps(snapshot),
        )

    async def get_resource_snapshot(self, resource_id: str) -> dict[str, Any] | None:
        row = await self._fetch_one(
            f"SELECT snapshot::text AS snapshot FROM {self._resources} WHERE resource_id = $1",  # noqa: S608
            resource_id,
        )
        return None if row is None else dict(json.loads(row["snapshot"]))

    async def close(self) -> None:
        self._ready = False
        if not self._owns_node or self._node is None:
            return  # a given node is the caller's to close
        node, self._node = self._node, None
        closer = getattr(node, "close", None)
        if closer is not None:
            await closer()


def _as_postgres_node(node: object) -> _PostgresNode:
    """``node`` as a Postgres node (anything with an async ``process(request)``)."""
    if not callable(getattr(node, "process", None)):
        raise InfraConfigurationError(
            f"{type(node).__name__} is not a Postgres node (it has no process())",
            transport=EnumTransport.INTERNAL,
            operation="open_store",
            target=POSTGRES_NODE,
        )
    return typing.cast(_PostgresNode, node)


def dumps(value: object) -> str:
    """Compact JSON of a storable value."""
    return json.dumps(to_storable(value), separators=(",", ":"), sort_keys=True)
