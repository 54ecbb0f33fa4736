"""The run queue of the scale-out mode: runs submitted to the PostgreSQL store, claimed by
workers with a lease, and the **fence** that keeps a worker which lost its lease from
recording anything.

Tables (in the PostgreSQL store's schema, created on first use next to the store's own):

- ``workflow_queue``: one row per submitted run: its workflow and (non-secret) inputs, its
  ``state`` (``queued``, ``running``, ``finished``, ``error``), the ``worker_id`` holding it,
  the lease's ``generation`` (the fencing token, incremented by every claim) and
  ``lease_expires_at``.
- ``workflow_writes``: an append-only log of every fenced write (run, generation, worker,
  the database's clock): the claim itself and every store transaction of a run. It makes
  the fence checkable: a run's generations never go down in time.

A worker claims with ``SELECT ... FOR UPDATE SKIP LOCKED`` (queued runs, and running runs
whose lease expired: their worker died or stopped), renews its leases while it runs, and
writes through a :class:`FencedWorkflowStore`: every write of the run is one transaction
that starts with ``onex_fence(run, generation, worker, ...)``, a function that locks the
queue row ``FOR SHARE`` and raises (SQLSTATE ``OXL01``) unless the row still holds this
generation, this worker and an unexpired lease. A claim by another worker updates the same
row (it skips a run while a fenced transaction of it is in flight), and every fenced
transaction after the claim fails: the old worker can neither record a step's outcome nor
the ``running`` record that precedes every call, so it starts no further step.
"""

from __future__ import annotations

import json
import os
import socket
import typing
import uuid
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConflictError, InfraError, InfraValidationError
from omnibase_infra.models.postgres import (
    ModelPostgresFetchRequest,
    ModelPostgresStatement,
    ModelPostgresTransactionRequest,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import (
    ModelRunRecord,
    ModelStepRecord,
    PostgresWorkflowStore,
)
from omnibase_infra.sql import quote_identifier

__all__ = [
    "FENCE_SQLSTATE",
    "FencedWorkflowStore",
    "ModelLease",
    "ModelQueuedRun",
    "PostgresRunQueue",
    "new_worker_id",
]

FENCE_SQLSTATE: Final = "OXL01"
"""The SQLSTATE ``onex_fence`` raises: the writer no longer holds the run's lease."""

_QUEUE_STATES: Final = ("queued", "running", "finished", "error")


def new_worker_id() -> str:
    """``<host>:<pid>:<random>``: unique per worker process start."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ModelLease(BaseModel):
    """A run held by a worker: ``generation`` is the fencing token of every write."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    generation: int
    worker_id: str
    workflow: dict[str, Any]
    inputs: dict[str, Any]
    correlation_id: str | None = None
    lease_seconds: float = 15.0
    """The lease's length: also how long a fenced transaction may sit idle (a paused
    writer's open transaction must not hold a takeover off for longer)."""


class ModelQueuedRun(BaseModel):
    """One row of ``onex-infra status`` in the scale-out mode."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    workflow_name: str
    state: str
    run_status: str | None
    worker_id: str | None
    generation: int
    lease_expires_at: datetime | None
    lease_seconds_left: float | None
    submitted_at: datetime
    attempts: int
    last_error: str | None


class _Node(typing.Protocol):
    async def process(self, request: Any) -> Any: ...


class PostgresRunQueue:
    """Submit, claim, renew and finish runs of a :class:`PostgresWorkflowStore`'s schema
    (through the same Postgres node)."""

    def __init__(self, store: PostgresWorkflowStore) -> None:
        self.store = store
        quoted = quote_identifier(store.schema)
        self._queue = f"{quoted}.workflow_queue"
        self._writes = f"{quoted}.workflow_writes"
        self._fence = f"{quoted}.onex_fence"
        self._ready = False

    async def _node(self) -> _Node:
        node: _Node = await self.store._ensure()
        if not self._ready:
            await node.process(self._schema_request())
            self._ready = True
        return node

    def _schema_request(self) -> ModelPostgresTransactionRequest:
        key = zlib.crc32(f"{self.store.schema}:queue".encode())
        states = ", ".join(f"'{s}'" for s in _QUEUE_STATES)
        ddl = (
            "SELECT pg_advisory_xact_lock($1)",
            f"CREATE TABLE IF NOT EXISTS {self._queue} ("
            "run_id text PRIMARY KEY, workflow_name text NOT NULL, workflow jsonb NOT NULL, "
            "inputs jsonb NOT NULL, correlation_id text, "
            f"state text NOT NULL DEFAULT 'queued' CHECK (state IN ({states})), "
            "worker_id text, generation bigint NOT NULL DEFAULT 0, "
            "lease_expires_at timestamptz, submitted_at timestamptz NOT NULL "
            "DEFAULT clock_timestamp(), claimed_at timestamptz, finished_at timestamptz, "
            "attempts integer NOT NULL DEFAULT 0, last_error text)",
            f"CREATE INDEX IF NOT EXISTS workflow_queue_claimable ON {self._queue} "
            "(submitted_at) WHERE state IN ('queued', 'running')",
            f"CREATE TABLE IF NOT EXISTS {self._writes} (id bigserial PRIMARY KEY, "
            "run_id text NOT NULL, generation bigint NOT NULL, worker_id text NOT NULL, "
            "what text NOT NULL, written_at timestamptz NOT NULL DEFAULT clock_timestamp())",
            f"CREATE OR REPLACE FUNCTION {self._fence}(p_run text, p_generation bigint, "  # noqa: S608
            "p_worker text, p_what text, p_idle_ms integer) RETURNS void LANGUAGE plpgsql "
            "AS $fence$ BEGIN "
            "PERFORM set_config('idle_in_transaction_session_timeout', p_idle_ms::text, true); "
            f"PERFORM 1 FROM {self._queue} WHERE run_id = p_run "
            "AND generation = p_generation AND worker_id = p_worker AND state = 'running' "
            "AND lease_expires_at > clock_timestamp() FOR SHARE; "
            "IF NOT FOUND THEN RAISE EXCEPTION 'lease of run % generation % lost', "
            f"p_run, p_generation USING ERRCODE = '{FENCE_SQLSTATE}'; END IF; "
            f"INSERT INTO {self._writes} (run_id, generation, worker_id, what) "
            "VALUES (p_run, p_generation, p_worker, p_what); END $fence$",
        )
        return ModelPostgresTransactionRequest(
            statements=tuple(
                ModelPostgresStatement(sql=sql, params=(key,) if i == 0 else ())
                for i, sql in enumerate(ddl)
            ),
            timeout_seconds=self.store._timeout,
        )

    async def _fetch(self, sql: str, *params: object, max_rows: int = 10_000) -> list[Any]:
        node = await self._node()
        response = await node.process(
            ModelPostgresFetchRequest(
                sql=sql,
                params=params,
                max_rows=max_rows,
                read_only=False,
                timeout_seconds=self.store._timeout,
            )
        )
        return [dict(row) for row in response.rows]

    # -- submitting ----------------------------------------------------------------------

    async def submit(
        self,
        workflow: Mapping[str, Any],
        inputs: Mapping[str, Any],
        *,
        run_id: str | None = None,
        correlation_id: str | None = None,
    ) -> tuple[str, bool]:
        """Queue a run of ``workflow`` (its validated ``model_dump``) with stored-form
        ``inputs`` (no secret: workers take secret inputs from their environment). The
        same ``run_id`` twice queues it once (a redelivered command message): returns the
        run id and whether it was new."""
        rid = run_id or str(uuid.uuid4())
        name = str(workflow.get("workflow", {}).get("name", "")) or "workflow"
        rows = await self._fetch(
            f"INSERT INTO {self._queue} (run_id, workflow_name, workflow, inputs, "  # noqa: S608
            "correlation_id) VALUES ($1, $2, $3::jsonb, $4::jsonb, $5) "
            "ON CONFLICT (run_id) DO NOTHING RETURNING run_id",
            rid,
            name,
            json.dumps(dict(workflow)),
            json.dumps(dict(inputs)),
            correlation_id,
        )
        return rid, bool(rows)

    # -- leases --------------------------------------------------------------------------

    async def claim(self, worker_id: str, limit: int, lease_seconds: float) -> list[ModelLease]:
        """Take up to ``limit`` runs: queued ones, and running ones whose lease expired
        (oldest first; rows another worker is claiming are skipped). Each claim increments
        the run's generation and is logged as a fenced write."""
        if limit <= 0:
            return []
        rows = await self._fetch(
            f"WITH claimed AS (UPDATE {self._queue} q SET state = 'running', "  # noqa: S608
            "worker_id = $1, generation = q.generation + 1, "
            "lease_expires_at = clock_timestamp() + make_interval(secs => $2), "
            "claimed_at = clock_timestamp(), attempts = q.attempts + 1 "
            f"WHERE q.run_id IN (SELECT run_id FROM {self._queue} "
            "WHERE state = 'queued' OR (state = 'running' "
            "AND lease_expires_at < clock_timestamp()) "
            "ORDER BY submitted_at FOR UPDATE SKIP LOCKED LIMIT $3) "
            "RETURNING q.run_id, q.generation, q.workflow::text AS workflow, "
            "q.inputs::text AS inputs, q.correlation_id), "
            f"logged AS (INSERT INTO {self._writes} (run_id, generation, worker_id, what) "
            "SELECT run_id, generation, $1, 'claim' FROM claimed) "
            "SELECT * FROM claimed",
            worker_id,
            float(lease_seconds),
            limit,
        )
        return [
            ModelLease(
                run_id=row["run_id"],
                generation=int(row["generation"]),
                worker_id=worker_id,
                workflow=json.loads(row["workflow"]),
                inputs=json.loads(row["inputs"]),
                correlation_id=row["correlation_id"],
                lease_seconds=float(lease_seconds),
            )
            for row in rows
        ]

    async def renew(
        self, worker_id: str, leases: Sequence[ModelLease], lease_seconds: float
    ) -> set[str]:
        """Extend the leases this worker still holds; returns the run ids renewed (a run
        missing from it is lost: taken over, or expired and no longer this worker's)."""
        if not leases:
            return set()
        rows = await self._fetch(
            f"UPDATE {self._queue} SET lease_expires_at = clock_timestamp() "  # noqa: S608
            "+ make_interval(secs => $2) WHERE worker_id = $1 AND state = 'running' "
            "AND lease_expires_at > clock_timestamp() AND (run_id, generation) IN "
            "(SELECT * FROM unnest($3::text[], $4::bigint[])) RETURNING run_id",
            worker_id,
            float(lease_seconds),
            [lease.run_id for lease in leases],
            [lease.generation for lease in leases],
        )
        return {row["run_id"] for row in rows}

    async def finish(self, lease: ModelLease, *, error: str | None = None) -> None:
        """Mark the run done (``error``: it could not be run; kept for ``status``), fenced."""
        state = "finished" if error is None else "error"
        await self.fenced_transaction(
            lease,
            "finish",
            [
                ModelPostgresStatement(
                    sql=f"UPDATE {self._queue} SET state = $2, worker_id = NULL, "  # noqa: S608
                    "lease_expires_at = NULL, finished_at = clock_timestamp(), "
                    "last_error = $3 WHERE run_id = $1",
                    params=(lease.run_id, state, error),
                )
            ],
        )

    async def release(self, lease: ModelLease, error: str) -> None:
        """Give the run back to the queue (another worker, or this one, claims it again),
        fenced; ``error`` says why (shown by ``status``)."""
        await self.fenced_transaction(
            lease,
            "release",
            [
                ModelPostgresStatement(
                    sql=f"UPDATE {self._queue} SET state = 'queued', worker_id = NULL, "  # noqa: S608
                    "lease_expires_at = NULL, last_error = $2 WHERE run_id = $1",
                    params=(lease.run_id, error),
                )
            ],
        )

    async def fenced_transaction(
        self, lease: ModelLease, what: str, statements: Sequence[ModelPostgresStatement]
    ) -> None:
        """Run ``statements`` in one transaction that first checks ``lease`` (and logs the
        write). ``InfraConflictError`` (``reason="lease_lost"``) when it is no longer held:
        nothing was written."""
        node = await self._node()
        timeout = self.store._timeout
        # A fenced transaction holds the queue row FOR SHARE: a writer paused inside one
        # (SIGSTOP) must not hold a takeover off for longer than a lease, so the fence also
        # bounds how long the transaction may sit idle (one statement, one round trip).
        idle_ms = int(max(min(timeout, lease.lease_seconds), 1.0) * 1000)
        fence = ModelPostgresStatement(
            sql=f"SELECT {self._fence}($1, $2, $3, $4, $5)",
            params=(lease.run_id, lease.generation, lease.worker_id, what, idle_ms),
        )
        try:
            await node.process(
                ModelPostgresTransactionRequest(
                    statements=(fence, *statements), timeout_seconds=timeout
                )
            )
        except InfraError as exc:
            if exc.details.get("sqlstate") == FENCE_SQLSTATE:
                raise lease_lost(lease, what) from None
            raise

    # -- reading -------------------------------------------------------------------------

    async def list(self, limit: int = 50) -> list[ModelQueuedRun]:
        """The latest submitted runs first, with their worker and lease."""
        runs = f"{quote_identifier(self.store.schema)}.workflow_runs"
        rows = await self._fetch(
            "SELECT q.run_id, q.workflow_name, q.state, r.status AS run_status, "  # noqa: S608
            "q.worker_id, q.generation, q.lease_expires_at, "
            "EXTRACT(EPOCH FROM (q.lease_expires_at - clock_timestamp()))::float8 AS left_s, "
            "q.submitted_at, q.attempts, q.last_error "
            f"FROM {self._queue} q LEFT JOIN {runs} r ON r.run_id = q.run_id "
            "ORDER BY q.submitted_at DESC LIMIT $1",
            max(limit, 0),
            max_rows=max(limit, 1),
        )
        return [
            ModelQueuedRun(
                run_id=row["run_id"],
                workflow_name=row["workflow_name"],
                state=row["state"],
                run_status=row["run_status"],
                worker_id=row["worker_id"],
                generation=int(row["generation"]),
                lease_expires_at=row["lease_expires_at"],
                lease_seconds_left=row["left_s"],
                submitted_at=row["submitted_at"],
                attempts=int(row["attempts"]),
                last_error=row["last_error"],
            )
            for row in rows
        ]

    async def counts(self) -> dict[str, int]:
        """How many runs are in each queue state."""
        rows = await self._fetch(
            f"SELECT state, count(*)::int AS n FROM {self._queue} GROUP BY state"  # noqa: S608
        )
        return {row["state"]: int(row["n"]) for row in rows}

    def fenced(self, lease: ModelLease) -> FencedWorkflowStore:
        """The store a worker runs ``lease``'s run with: every write fenced by it."""
        return FencedWorkflowStore(self, lease)


def lease_lost(lease: ModelLease, what: str) -> InfraConflictError:
    """The typed error of a write refused by the fence."""
    return InfraConflictError(
        f"worker {lease.worker_id} no longer holds the lease of run {lease.run_id} "
        f"(generation {lease.generation}): {what} refused",
        transport=EnumTransport.INTERNAL,
        operation="fenced_write",
        target=lease.run_id,
        current_version=lease.generation,
        retryable=False,
        reason="lease_lost",
    )


def is_lease_lost(exc: BaseException) -> bool:
    """True for the error of a write the fence refused."""
    return isinstance(exc, InfraConflictError) and exc.details.get("reason") == "lease_lost"


class FencedWorkflowStore:
    """A :class:`~.store.WorkflowStore` for one leased run: reads go to the PostgreSQL
    store, every write is a fenced transaction (all or none, refused once the lease is
    lost, and then every later write is refused without a round trip)."""

    def __init__(self, queue: PostgresRunQueue, lease: ModelLease) -> None:
        self.queue = queue
        self.lease = lease
        self.lost = False
        store = queue.store
        self._store = store
        self._resources = f"{quote_identifier(store.schema)}.workflow_resources"

    async def _write(self, what: str, statements: Sequence[ModelPostgresStatement]) -> None:
        if self.lost:
            raise lease_lost(self.lease, what)
        try:
            await self.queue.fenced_transaction(self.lease, what, statements)
        except InfraConflictError as exc:
            if is_lease_lost(exc):
                self.lost = True
            raise

    def _check(self, run_id: str) -> None:
        if run_id != self.lease.run_id:
            raise InfraValidationError(
                f"a store fenced by the lease of run {self.lease.run_id} cannot write run {run_id}",
                transport=EnumTransport.INTERNAL,
                operation="fenced_write",
                target=run_id,
            )

    async def save_run(self, run: ModelRunRecord) -> None:
        self._check(run.run_id)
        await self._write("run", [self._store._run_statement(run)])

    async def get_run(self, run_id: str) -> ModelRunRecord:
        return await self._store.get_run(run_id)

    async def list_runs(self, limit: int = 50) -> list[ModelRunRecord]:
        return await self._store.list_runs(limit)

    async def save_step(self, step: ModelStepRecord) -> None:
        self._check(step.run_id)
        await self._write("step", [self._store._step_statement(step)])

    async def save_batch(
        self, steps: Sequence[ModelStepRecord], run: ModelRunRecord | None = None
    ) -> None:
        for step in steps:
            self._check(step.run_id)
        statements = [self._store._step_statement(step) for step in steps]
        if run is not None:
            self._check(run.run_id)
            statements.append(self._store._run_statement(run))
        if statements:
            # The audit log keeps each transition: which steps went where.
            what = " ".join(f"{step.step_id}:{step.status.value}" for step in steps)
            await self._write(f"batch {what}"[:500], statements)

    async def get_steps(self, run_id: str) -> dict[str, ModelStepRecord]:
        return await self._store.get_steps(run_id)

    async def has_run(self, run_id: str) -> bool:
        """Whether the run was recorded (a claimed run never started has no record)."""
        runs = f"{quote_identifier(self._store.schema)}.workflow_runs"
        row = await self._store._fetch_one(
            f"SELECT 1 AS one FROM {runs} WHERE run_id = $1",  # noqa: S608
            run_id,
        )
        return row is not None

    async def save_resource_snapshot(self, resource_id: str, snapshot: dict[str, Any]) -> None:
        await self._write(
            "resource",
            [
                ModelPostgresStatement(
                    sql=f"INSERT INTO {self._resources} (resource_id, updated_at, snapshot) "  # noqa: S608
                    "VALUES ($1, clock_timestamp(), $2::jsonb) ON CONFLICT (resource_id) "
                    "DO UPDATE SET updated_at = EXCLUDED.updated_at, "
                    "snapshot = EXCLUDED.snapshot",
                    params=(resource_id, json.dumps(snapshot)),
                )
            ],
        )

    async def get_resource_snapshot(self, resource_id: str) -> dict[str, Any] | None:
        return await self._store.get_resource_snapshot(resource_id)

    async def close(self) -> None:
        """The PostgreSQL store is the worker's: nothing to release per run."""
        return
