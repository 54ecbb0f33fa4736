"""Typed responses of every PostgreSQL adapter operation.

Rows are dicts of column name to the driver's Python value, taken as they are
(``SkipValidation``: a large result is not copied row by row); JSON dumps turn bytes into
base64 (``ser_json_bytes``), datetimes into ISO 8601 and decimals into strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from omnibase_infra.enums import EnumServiceStatus
from omnibase_infra.models.model_infra_envelope import ModelInfraResponse
from omnibase_infra.models.postgres.model_postgres_requests import EnumPostgresIsolation

__all__ = [
    "ModelPostgresCopyRecordsResponse",
    "ModelPostgresExecuteManyResponse",
    "ModelPostgresExecuteResponse",
    "ModelPostgresFetchOneResponse",
    "ModelPostgresFetchResponse",
    "ModelPostgresFetchValueResponse",
    "ModelPostgresHealthResponse",
    "ModelPostgresMigrateResponse",
    "ModelPostgresMigrationRecord",
    "ModelPostgresPoolStats",
    "ModelPostgresResponseBase",
    "ModelPostgresStatementResult",
    "ModelPostgresTransactionResponse",
    "PostgresResponse",
]

type Row = dict[str, Any]


class ModelPostgresResponseBase(ModelInfraResponse):
    """What every PostgreSQL response carries beyond the envelope: the server's
    ``host:port`` (no credentials) and how many attempts the operation took."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", defer_build=True
    )

    target: str
    attempts: int = Field(default=1, ge=1)


class ModelPostgresFetchResponse(ModelPostgresResponseBase):
    """All rows of a ``fetch`` (never more than the request's ``max_rows``)."""

    operation: Literal["fetch"] = "fetch"
    rows: SkipValidation[list[Row]]
    columns: tuple[str, ...] = ()
    row_count: int = Field(ge=0)


class ModelPostgresFetchOneResponse(ModelPostgresResponseBase):
    """The first row, or None."""

    operation: Literal["fetch_one"] = "fetch_one"
    row: SkipValidation[Row | None]


class ModelPostgresFetchValueResponse(ModelPostgresResponseBase):
    """One value; ``found`` tells "no row" apart from a NULL value."""

    operation: Literal["fetch_value"] = "fetch_value"
    value: Any
    found: bool


class ModelPostgresExecuteResponse(ModelPostgresResponseBase):
    """The command tag (``INSERT 0 3``) and the row count it reports (None for DDL)."""

    operation: Literal["execute"] = "execute"
    status: str
    row_count: int | None = None


class ModelPostgresExecuteManyResponse(ModelPostgresResponseBase):
    """How many argument rows were executed (all of them: the batch is atomic)."""

    operation: Literal["execute_many"] = "execute_many"
    batch_size: int = Field(ge=0)


class ModelPostgresCopyRecordsResponse(ModelPostgresResponseBase):
    """The ``COPY n`` tag and ``n``."""

    operation: Literal["copy_records"] = "copy_records"
    status: str
    row_count: int = Field(ge=0)


class ModelPostgresStatementResult(BaseModel):
    """One statement of a transaction: its tag, row count and (if asked for) rows."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", defer_build=True
    )

    status: str
    row_count: int | None = None
    rows: SkipValidation[list[Row] | None] = None


class ModelPostgresTransactionResponse(ModelPostgresResponseBase):
    """Per-statement results of a committed transaction, in order."""

    operation: Literal["transaction"] = "transaction"
    results: tuple[ModelPostgresStatementResult, ...]
    isolation: EnumPostgresIsolation
    read_only: bool


class ModelPostgresMigrationRecord(BaseModel):
    """One migration: version, name, sha256 checksum and, once applied, when and how long."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    version: int = Field(ge=0)
    name: str
    checksum: str = Field(pattern=r"^[0-9a-f]{64}$")
    applied_at: datetime | None = None
    duration_ms: float | None = Field(default=None, ge=0)


class ModelPostgresMigrateResponse(ModelPostgresResponseBase):
    """What ``migrate`` did: ``applied`` now (``pending`` instead on a dry run)."""

    operation: Literal["migrate"] = "migrate"
    table: str
    applied: tuple[ModelPostgresMigrationRecord, ...] = ()
    pending: tuple[ModelPostgresMigrationRecord, ...] = ()
    already_applied: int = Field(default=0, ge=0)
    current_version: int | None = None
    dry_run: bool = False


class ModelPostgresPoolStats(BaseModel):
    """A pool's state and counters since it was opened (cf. psycopg_pool's ``get_stats``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    target: str
    open: bool
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=1)
    size: int = Field(default=0, ge=0, description="Open connections")
    idle: int = Field(default=0, ge=0)
    in_use: int = Field(default=0, ge=0)
    acquisitions: int = Field(default=0, ge=0)
    acquire_wait_ms_total: float = Field(default=0.0, ge=0)
    health_checks: int = Field(default=0, ge=0)
    connections_replaced: int = Field(default=0, ge=0, description="Failed a health check")
    connection_errors: int = Field(default=0, ge=0)
    timeouts: int = Field(default=0, ge=0)


class ModelPostgresHealthResponse(ModelPostgresResponseBase):
    """Health of the server behind the pool; ``message`` says why when not healthy."""

    operation: Literal["health"] = "health"
    status: EnumServiceStatus
    server_version: str | None = None
    server_version_num: int | None = None
    latency_ms: float | None = Field(default=None, ge=0)
    pool: ModelPostgresPoolStats
    circuit_state: str | None = None
    message: str | None = None


type PostgresResponse = (
    ModelPostgresFetchResponse
    | ModelPostgresFetchOneResponse
    | ModelPostgresFetchValueResponse
    | ModelPostgresExecuteResponse
    | ModelPostgresExecuteManyResponse
    | ModelPostgresCopyRecordsResponse
    | ModelPostgresTransactionResponse
    | ModelPostgresMigrateResponse
    | ModelPostgresHealthResponse
)
"""Any PostgreSQL response."""
