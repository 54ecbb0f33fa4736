"""What each operation does on one connection: one object per operation.

The node validates a request and builds its operation object (:class:`PgOperation`) before
any connection is taken; the object knows which pool it needs (``read_only``), whether
running it twice is safe (``idempotent``), its statement for spans and records, and
runs itself on a connection (``run``), returning the response fields.

Every statement goes through the extended query protocol (``Parse``/``Bind``/``Execute``),
in which the server itself refuses more than one statement: a second line of defence
behind the validator. Migrations are the one exception (see :mod:`.migrations`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError
from omnibase_infra.models.postgres import (
    EnumPostgresIsolation,
    ModelPostgresCopyRecordsRequest,
    ModelPostgresExecuteManyRequest,
    ModelPostgresExecuteRequest,
    ModelPostgresFetchOneRequest,
    ModelPostgresFetchRequest,
    ModelPostgresFetchValueRequest,
    ModelPostgresStatementResult,
    ModelPostgresTransactionRequest,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.driver import (
    PgConnection,
    PgRecord,
    driver_errors,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.errors import (
    CommitOutcomeUnknownError,
)

__all__ = [
    "CopyRecords",
    "Execute",
    "ExecuteMany",
    "Fetch",
    "FetchOne",
    "FetchValue",
    "OperationContext",
    "PgOperation",
    "Transaction",
    "copy_records",
    "execute",
    "execute_many",
    "fetch",
    "fetch_one",
    "fetch_value",
    "row_count_of",
    "transaction",
]

type Fields = dict[str, Any]
type Run = Coroutine[Any, Any, Fields]


@dataclass(slots=True)
class OperationContext:
    """Who runs what where: the data every error of an operation needs."""

    operation: str
    target: str
    correlation_id: UUID
    timeout_seconds: float

    def invalid(self, message: str, **context: object) -> InfraValidationError:
        """A validation error of this operation (``reason`` and details in ``context``)."""
        factory: Callable[..., InfraValidationError] = InfraValidationError
        return factory(
            f"{self.operation}: {message}",
            transport=EnumTransport.POSTGRES,
            operation=self.operation,
            target=self.target,
            correlation_id=self.correlation_id,
            **context,
        )


def row_count_of(status: str) -> int | None:
    """The row count of a command tag (``INSERT 0 3`` -> 3; ``CREATE TABLE`` -> None)."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else None


async def _rows(
    conn: PgConnection, sql: str, params: Sequence[Any], max_rows: int, ctx: OperationContext
) -> tuple[list[PgRecord], str]:
    # Execute with a row limit of max_rows + 1: the server stops there, so an oversized
    # result is detected without loading it.
    records, status, _completed = await conn._execute(
        sql, params, max_rows + 1, None, return_status=True
    )
    if len(records) > max_rows:
        raise ctx.invalid(
            f"the statement returns more than max_rows={max_rows} rows",
            reason="max_rows_exceeded",
            max_rows=max_rows,
        )
    return records, status.decode()


async def fetch(
    conn: PgConnection, req: ModelPostgresFetchRequest, ctx: OperationContext
) -> Fields:
    """All rows (at most ``max_rows``, else an error)."""
    records, _status = await _rows(conn, req.sql, req.params, req.max_rows, ctx)
    return {
        "rows": [dict(r.items()) for r in records],
        "columns": tuple(records[0].keys()) if records else (),
        "row_count": len(records),
    }


async def fetch_one(
    conn: PgConnection, req: ModelPostgresFetchOneRequest, ctx: OperationContext
) -> Fields:
    """The first row or None."""
    record = await conn.fetchrow(req.sql, *req.params)
    return {"row": None if record is None else dict(record.items())}


async def fetch_value(
    conn: PgConnection, req: ModelPostgresFetchValueRequest, ctx: OperationContext
) -> Fields:
    """One value of the first row; ``found`` is False when there is no row."""
    records = await conn._execute(req.sql, req.params, 1, None)
    if not records:
        return {"value": None, "found": False}
    try:
        value = records[0][req.column]
    except (IndexError, KeyError):
        raise ctx.invalid(
            f"the result has no column {req.column!r}", reason="no_such_column"
        ) from None
    return {"value": value, "found": True}


async def execute(
    conn: PgConnection, req: ModelPostgresExecuteRequest, ctx: OperationContext
) -> Fields:
    """One statement; its command tag and row count."""
    _records, status, _completed = await conn._execute(
        req.sql, req.params, 0, None, return_status=True
    )
    text = status.decode()
    return {"status": text, "row_count": row_count_of(text)}


async def execute_many(
    conn: PgConnection, req: ModelPostgresExecuteManyRequest, ctx: OperationContext
) -> Fields:
    """The statement once per argument row, pipelined and atomic (asyncpg >= 0.22)."""
    await conn.executemany(req.sql, req.args)
    return {"batch_size": len(req.args)}


async def copy_records(
    conn: PgConnection, req: ModelPostgresCopyRecordsRequest, ctx: OperationContext
) -> Fields:
    """``COPY table (columns) FROM STDIN (FORMAT binary)``; asyncpg quotes the identifiers."""
    status = await conn.copy_records_to_table(
        req.table, records=req.records, columns=req.columns, schema_name=req.schema_name
    )
    return {"status": status, "row_count": row_count_of(status) or 0}


def _needs_commit(req: ModelPostgresTransactionRequest) -> bool:
    """A read-only SERIALIZABLE transaction that is not DEFERRABLE must commit for its
    reads to be known valid (PostgreSQL's documentation, "Serializable Isolation Level")."""
    return req.isolation is EnumPostgresIsolation.SERIALIZABLE and not req.deferrable


async def transaction(
    conn: PgConnection, req: ModelPostgresTransactionRequest, ctx: OperationContext
) -> Fields:
    """Every statement in order inside one transaction, then COMMIT.

    A failure before COMMIT rolls everything back (and the whole transaction may be
    retried); a connection lost during COMMIT raises :class:`CommitOutcomeUnknownError`.

    A read-only transaction ends with ROLLBACK instead: it has nothing to commit, and what
    PostgreSQL allows in a READ ONLY transaction and sends at commit (a NOTIFY from a
    function, a large object on servers before 18) is then discarded. The exception is a
    SERIALIZABLE one that is not DEFERRABLE: its reads are known valid only once it
    commits, so it commits.
    """
    tx = conn.transaction(
        isolation=req.isolation.value, readonly=req.read_only, deferrable=req.deferrable
    )
    await tx.start()
    results: list[ModelPostgresStatementResult] = []
    try:
        for statement in req.statements:
            if statement.fetch:
                records, status = await _rows(
                    conn, statement.sql, statement.params, req.max_rows, ctx
                )
                rows: list[dict[str, Any]] | None = [dict(r.items()) for r in records]
            else:
                _records, raw, _completed = await conn._execute(
                    statement.sql, statement.params, 0, None, return_status=True
                )
                status, rows = raw.decode(), None
            results.append(
                ModelPostgresStatementResult.model_construct(
                    status=status, row_count=row_count_of(status), rows=rows
                )
            )
    except Exception:
        # Best effort: on a broken connection the server rolls back by itself, and the
        # pool's reset on release rolls back whatever is left.
        with contextlib.suppress(Exception):  # the statement's error is the one to report
            await tx.rollback()
        raise
    if req.read_only and not _needs_commit(req):
        await tx.rollback()
        return {"results": tuple(results), "isolation": req.isolation, "read_only": True}
    try:
        await tx.commit()
    except (driver_errors().connection_lost, OSError) as exc:
        raise CommitOutcomeUnknownError(ctx.operation) from exc
    return {
        "results": tuple(results),
        "isolation": req.isolation,
        "read_only": req.read_only,
    }


class PgOperation[R]:
    """One call of one operation, validated, ready to run on a connection.

    ``R`` is the request model. Subclasses implement :meth:`run`;
    ``read_only`` (runs on the reader pool) defaults to False; ``idempotent`` (safe to run
    twice) to None: the contract's policy for the operation decides.
    """

    __slots__ = ("ctx", "request", "statement")

    def __init__(self, request: R, ctx: OperationContext, statement: str | None) -> None:
        self.request = request
        self.ctx = ctx
        self.statement = statement
        """The statement(s) with literals replaced (spans, records); never parameters."""

    @property
    def read_only(self) -> bool:
        """Runs on the reader pool, whose sessions the server keeps read-only."""
        return False

    @property
    def idempotent(self) -> bool | None:
        """Running it twice is safe (None: as the contract says for the operation)."""
        return None

    def run(self, conn: PgConnection) -> Run:
        """Run on ``conn``: a coroutine giving the response's own fields (driver errors
        raised as they are). A plain method returning the operation function's coroutine,
        so running adds no coroutine frame of its own."""
        raise NotImplementedError


class _Read[
    R: (
        ModelPostgresFetchRequest,
        ModelPostgresFetchOneRequest,
        ModelPostgresFetchValueRequest,
    )
](PgOperation[R]):
    __slots__ = ()

    @property
    def read_only(self) -> bool:
        return self.request.read_only

    @property
    def idempotent(self) -> bool:
        # A read-only read changes nothing; one that may write (read_only=False) is not.
        return self.request.read_only


class Fetch(_Read[ModelPostgresFetchRequest]):
    """``fetch``: every row (at most ``max_rows``)."""

    __slots__ = ()

    def run(self, conn: PgConnection) -> Run:
        return fetch(conn, self.request, self.ctx)


class FetchOne(_Read[ModelPostgresFetchOneRequest]):
    """``fetch_one``: the first row or None."""

    __slots__ = ()

    def run(self, conn: PgConnection) -> Run:
        return fetch_one(conn, self.request, self.ctx)


class FetchValue(_Read[ModelPostgresFetchValueRequest]):
    """``fetch_value``: one value of the first row."""

    __slots__ = ()

    def run(self, conn: PgConnection) -> Run:
        return fetch_value(conn, self.request, self.ctx)


class Execute(PgOperation[ModelPostgresExecuteRequest]):
    """``execute``: one statement; idempotent only when the request says so."""

    __slots__ = ()

    @property
    def idempotent(self) -> bool:
        return self.request.idempotent

    def run(self, conn: PgConnection) -> Run:
        return execute(conn, self.request, self.ctx)


class ExecuteMany(PgOperation[ModelPostgresExecuteManyRequest]):
    """``execute_many``: the statement per argument row, atomic."""

    __slots__ = ()

    @property
    def idempotent(self) -> bool:
        return self.request.idempotent

    def run(self, conn: PgConnection) -> Run:
        return execute_many(conn, self.request, self.ctx)


class CopyRecords(PgOperation[ModelPostgresCopyRecordsRequest]):
    """``copy_records``: binary COPY (it appends: the contract says not idempotent)."""

    __slots__ = ()

    def run(self, conn: PgConnection) -> Run:
        return copy_records(conn, self.request, self.ctx)


class Transaction(PgOperation[ModelPostgresTransactionRequest]):
    """``transaction``: nothing commits before COMMIT, so the body is safe to run again
    (the contract marks it idempotent; a COMMIT whose outcome is unknown is never retried:
    see :mod:`.errors`)."""

    __slots__ = ()

    @property
    def read_only(self) -> bool:
        return self.request.read_only

    def run(self, conn: PgConnection) -> Run:
        return transaction(conn, self.request, self.ctx)
