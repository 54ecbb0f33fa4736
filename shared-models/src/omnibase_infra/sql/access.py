"""The kinds of access a statement needs."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

__all__ = ["MODIFYING_ACCESS", "EnumSqlAccess", "ModelSqlAccessNeed"]


class EnumSqlAccess(StrEnum):
    """What running a statement does, as far as its text shows."""

    READ = "read"  # SELECT, VALUES, TABLE, SHOW, EXPLAIN of a read, COPY ... TO STDOUT
    WRITE = "write"  # INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY FROM STDIN, LOCK,
    # REFRESH; data-modifying CTEs and sub-statements; row locks (SELECT ... FOR UPDATE);
    # nextval, setval, large-object functions
    DDL = "ddl"  # CREATE, ALTER, DROP, COMMENT, GRANT, REVOKE, ...; SELECT ... INTO
    ROUTINE = "routine"  # CALL, DO, EXECUTE: server code whose effects are unknown here;
    # dblink and the functions that run SQL given as text
    TRANSACTION = "transaction"  # BEGIN, COMMIT, ROLLBACK, SAVEPOINT, SET TRANSACTION, ...
    SESSION = "session"  # SET, RESET, DISCARD, LISTEN, NOTIFY, PREPARE, cursors, ...;
    # set_config, session-level advisory locks, pg_notify
    ADMIN = "admin"  # VACUUM, ANALYZE, CLUSTER, REINDEX, CHECKPOINT, ALTER SYSTEM, LOAD,
    # COPY to or from a server file or program; functions that signal other sessions or the
    # server or reach its files (see omnibase_infra.sql.functions)
    UNKNOWN = "unknown"  # a statement this analysis does not recognize


# Access that may change stored data, schema or server state (UNKNOWN: it might).
MODIFYING_ACCESS = frozenset(
    {
        EnumSqlAccess.WRITE,
        EnumSqlAccess.DDL,
        EnumSqlAccess.ROUTINE,
        EnumSqlAccess.ADMIN,
        EnumSqlAccess.UNKNOWN,
    }
)


class ModelSqlAccessNeed(BaseModel):
    """One kind of access a statement needs, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    access: EnumSqlAccess
    reason: str
