"""Typed requests of every PostgreSQL adapter operation.

Values travel only as ``$n`` parameters (``params``); SQL text is never built from them.
Each request names its ``operation`` (the discriminator of :data:`PostgresRequest`), carries
the caller's correlation context and a ``timeout_seconds`` budget (retries included) that
the node enforces.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.resilience import ModelRetryPolicy

__all__ = [
    "DEFAULT_MAX_ROWS",
    "DEFAULT_MIGRATIONS_TABLE",
    "EnumPostgresIsolation",
    "EnumPostgresOperation",
    "ModelPostgresCopyRecordsRequest",
    "ModelPostgresExecuteManyRequest",
    "ModelPostgresExecuteRequest",
    "ModelPostgresFetchOneRequest",
    "ModelPostgresFetchRequest",
    "ModelPostgresFetchValueRequest",
    "ModelPostgresHealthRequest",
    "ModelPostgresMigrateRequest",
    "ModelPostgresMigrationSource",
    "ModelPostgresRequestBase",
    "ModelPostgresStatement",
    "ModelPostgresStatementRequest",
    "ModelPostgresTransactionRequest",
    "PostgresRequest",
    "parse_postgres_request",
]

DEFAULT_MAX_ROWS = 10_000
DEFAULT_MIGRATIONS_TABLE = "omnibase_schema_migrations"
MAX_SQL_LENGTH = 1_000_000


class EnumPostgresOperation(StrEnum):
    """The operations of the PostgreSQL adapter (the ``operation`` of each request)."""

    FETCH = "fetch"
    FETCH_ONE = "fetch_one"
    FETCH_VALUE = "fetch_value"
    EXECUTE = "execute"
    EXECUTE_MANY = "execute_many"
    COPY_RECORDS = "copy_records"
    TRANSACTION = "transaction"
    MIGRATE = "migrate"
    HEALTH = "health"


class EnumPostgresIsolation(StrEnum):
    """Transaction isolation levels (PostgreSQL runs read uncommitted as read committed)."""

    READ_COMMITTED = "read_committed"
    REPEATABLE_READ = "repeatable_read"
    SERIALIZABLE = "serializable"


def _rows(value: object, name: str) -> Sequence[Any]:
    """A list/tuple of rows, checked without iterating (bulk inputs can be huge)."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"{name} must be a list of rows (each a list or tuple of values)")
    if value and not isinstance(value[0], list | tuple):
        raise ValueError(f"each row of {name} must be a list or tuple of values")
    return value


class ModelPostgresRequestBase(ModelInfraRequest):
    """What every PostgreSQL request carries beyond the envelope.

    ``retry_policy`` replaces the node's policy for this call; only transient failures are
    retried either way.
    """

    retry_policy: ModelRetryPolicy | None = None


class ModelPostgresStatementRequest(ModelPostgresRequestBase):
    """One SQL statement with ``$n`` parameters (exactly one statement: several are refused)."""

    sql: str = Field(min_length=1, max_length=MAX_SQL_LENGTH)
    params: tuple[Any, ...] = ()


class ModelPostgresFetchRequest(ModelPostgresStatementRequest):
    """Rows as dicts. More than ``max_rows`` rows is an error, never a silent truncation.

    ``read_only`` (default) refuses data-modifying statements, including data-modifying CTEs
    and ``SELECT ... INTO``; set it to False for e.g. ``INSERT ... RETURNING``.
    """

    operation: Literal["fetch"] = "fetch"
    max_rows: int = Field(default=DEFAULT_MAX_ROWS, ge=1, le=100_000_000)
    read_only: bool = True


class ModelPostgresFetchOneRequest(ModelPostgresStatementRequest):
    """The first row as a dict, or None when there is none."""

    operation: Literal["fetch_one"] = "fetch_one"
    read_only: bool = True


class ModelPostgresFetchValueRequest(ModelPostgresStatementRequest):
    """One value (``column`` by position or name) of the first row."""

    operation: Literal["fetch_value"] = "fetch_value"
    column: int | str = 0
    read_only: bool = True

    @field_validator("column")
    @classmethod
    def _check_column(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 0:
            raise ValueError("column index must be >= 0")
        return value


class ModelPostgresExecuteRequest(ModelPostgresStatementRequest):
    """One statement; the response has its status tag and row count.

    ``idempotent`` allows retrying after an ambiguous failure (the connection dropped while
    the statement ran) and after serialization failures/deadlocks.
    """

    operation: Literal["execute"] = "execute"
    idempotent: bool = False


class ModelPostgresExecuteManyRequest(ModelPostgresRequestBase):
    """One statement run once per argument row, atomically (all rows or none)."""

    operation: Literal["execute_many"] = "execute_many"
    sql: str = Field(min_length=1, max_length=MAX_SQL_LENGTH)
    args: Sequence[Sequence[Any]]
    idempotent: bool = False

    @field_validator("args", mode="plain")
    @classmethod
    def _check_args(cls, value: object) -> Sequence[Any]:
        rows = _rows(value, "args")
        if not rows:
            raise ValueError("args must hold at least one row")
        return rows


class ModelPostgresCopyRecordsRequest(ModelPostgresRequestBase):
    """Bulk insert of ``records`` into ``table`` through ``COPY ... FROM STDIN (BINARY)``.

    ``table``, ``schema_name`` and ``columns`` are identifiers: they are quoted, never
    interpolated. Atomic: all records or none.
    """

    operation: Literal["copy_records"] = "copy_records"
    table: str = Field(min_length=1)
    schema_name: str | None = Field(default=None, min_length=1)
    columns: tuple[str, ...] | None = None
    records: Sequence[Sequence[Any]]

    @field_validator("records", mode="plain")
    @classmethod
    def _check_records(cls, value: object) -> Sequence[Any]:
        return _rows(value, "records")

    @field_validator("columns")
    @classmethod
    def _check_columns(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or any(not c for c in value)):
            raise ValueError("columns must be None or non-empty names")
        return value


class ModelPostgresStatement(BaseModel):
    """One statement of a transaction; ``fetch`` returns its rows (up to the request's cap)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    sql: str = Field(min_length=1, max_length=MAX_SQL_LENGTH)
    params: tuple[Any, ...] = ()
    fetch: bool = False


class ModelPostgresTransactionRequest(ModelPostgresRequestBase):
    """Statements run in order in one transaction: all commit or none.

    ``read_only`` refuses data-modifying statements before anything is sent and also opens
    the transaction ``READ ONLY`` in the database. The whole transaction is retried on
    transient failures (connection loss before COMMIT, serialization failure, deadlock).
    """

    operation: Literal["transaction"] = "transaction"
    statements: tuple[ModelPostgresStatement, ...] = Field(min_length=1, max_length=10_000)
    isolation: EnumPostgresIsolation = EnumPostgresIsolation.READ_COMMITTED
    read_only: bool = False
    deferrable: bool = False
    max_rows: int = Field(default=DEFAULT_MAX_ROWS, ge=1, le=100_000_000)

    @model_validator(mode="after")
    def _deferrable_needs_serializable_read_only(self) -> Self:
        if self.deferrable and not (
            self.read_only and self.isolation is EnumPostgresIsolation.SERIALIZABLE
        ):
            raise ValueError("deferrable needs read_only=True and serializable isolation")
        return self


class ModelPostgresMigrationSource(BaseModel):
    """Where migrations live: a ``directory`` or a ``package`` resource folder.

    Files are ``<version>_<name>.sql`` (``V`` prefix and ``__`` separator accepted, e.g.
    ``V002__add_index.sql``), applied in ascending integer version.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    directory: str | None = Field(default=None, min_length=1)
    package: str | None = Field(default=None, min_length=1)
    resource: str = Field(default="migrations", min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.directory is None) == (self.package is None):
            raise ValueError("give exactly one of directory or package")
        return self

    @property
    def label(self) -> str:
        """Where the migrations come from, for messages."""
        return self.directory or f"{self.package}/{self.resource}"


class ModelPostgresMigrateRequest(ModelPostgresRequestBase):
    """Apply pending migrations in order under an advisory lock; re-running is a no-op.

    Applied versions are recorded with their checksum in ``schema_name.table``; a changed
    file of an applied version is an error. ``target_version`` stops after that version;
    ``dry_run`` reports what would be applied without applying it.
    """

    operation: Literal["migrate"] = "migrate"
    source: ModelPostgresMigrationSource
    table: str = Field(default=DEFAULT_MIGRATIONS_TABLE, min_length=1)
    schema_name: str = Field(default="public", min_length=1)
    lock_key: int | None = Field(default=None, ge=-(2**63), lt=2**63)
    target_version: int | None = Field(default=None, ge=0)
    dry_run: bool = False


class ModelPostgresHealthRequest(ModelPostgresRequestBase):
    """Server version, round-trip latency and pool statistics (never raises on a down server)."""

    operation: Literal["health"] = "health"


type PostgresRequest = Annotated[
    ModelPostgresFetchRequest
    | ModelPostgresFetchOneRequest
    | ModelPostgresFetchValueRequest
    | ModelPostgresExecuteRequest
    | ModelPostgresExecuteManyRequest
    | ModelPostgresCopyRecordsRequest
    | ModelPostgresTransactionRequest
    | ModelPostgresMigrateRequest
    | ModelPostgresHealthRequest,
    Field(discriminator="operation"),
]
"""Any PostgreSQL request, told apart by ``operation``."""

_REQUEST_ADAPTER: TypeAdapter[PostgresRequest] | None = None


def parse_postgres_request(data: object) -> PostgresRequest:
    """Validate a dict (e.g. ``ModelEffectInput.operation_data`` or CLI JSON) as a request."""
    global _REQUEST_ADAPTER  # noqa: PLW0603 - built on first use: it is not free
    if _REQUEST_ADAPTER is None:
        _REQUEST_ADAPTER = TypeAdapter(PostgresRequest)
    return _REQUEST_ADAPTER.validate_python(data)
