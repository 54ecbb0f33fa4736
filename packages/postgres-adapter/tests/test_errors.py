"""The mapping of driver failures to the taxonomy and to retry/breaker decisions (pure
logic: asyncpg's own exception classes, no server)."""

from __future__ import annotations

import uuid

import asyncpg.exceptions as pg
import pytest

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConfigurationError,
    InfraConflictError,
    InfraConnectionError,
    InfraError,
    InfraPermissionError,
    InfraReadOnlyError,
    InfraTimeoutError,
    InfraUnavailableError,
    InfraValidationError,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.errors import (
    CommitOutcomeUnknownError,
    EnumPhase,
    MigrationStepError,
    PoolClosedError,
    is_connection_level,
    is_postgres_breaker_failure,
    to_infra_error,
)
from omnibase_infra.resilience.breaker import BreakerKey

CID = uuid.uuid4()
KEY = BreakerKey(EnumTransport.POSTGRES, "db:5432")


def _map(
    exc: BaseException, *, phase: EnumPhase = EnumPhase.EXECUTE, idempotent: bool = False
) -> InfraError:
    return to_infra_error(
        exc,
        operation="op",
        target="db:5432",
        correlation_id=CID,
        phase=phase,
        idempotent=idempotent,
        timeout_seconds=1.5,
    )


@pytest.mark.parametrize(
    ("exc", "kind", "retryable"),
    [
        (
            pg.InvalidPasswordError("password authentication failed"),
            InfraAuthenticationError,
            False,
        ),
        (pg.InsufficientPrivilegeError("permission denied"), InfraPermissionError, False),
        (pg.ReadOnlySQLTransactionError("read-only"), InfraReadOnlyError, False),
        (pg.InvalidCatalogNameError("database does not exist"), InfraConfigurationError, False),
        (pg.LockNotAvailableError("could not obtain lock"), InfraConflictError, False),
        (pg.CheckViolationError("violates check constraint"), InfraConflictError, False),
        (pg.FeatureNotSupportedError("not supported"), InfraValidationError, False),
        (pg.InternalServerError("internal"), InfraError, False),
        (pg.QueryCanceledError("canceling statement"), InfraTimeoutError, False),
        (pg.TooManyConnectionsError("too many clients"), InfraUnavailableError, True),
        (pg.CannotConnectNowError("starting up"), InfraConnectionError, True),
        (pg.ConnectionFailureError("connection failure"), InfraConnectionError, True),
        (pg.SerializationError("could not serialize"), InfraConflictError, False),
    ],
)
def test_server_errors(exc: pg.PostgresError, kind: type[InfraError], retryable: bool) -> None:
    err = _map(exc)
    assert type(err) is kind
    assert err.retryable is retryable
    assert err.details["sqlstate"] == exc.sqlstate
    assert (err.transport, err.operation, err.target) == (EnumTransport.POSTGRES, "op", "db:5432")
    assert err.correlation_id == CID
    assert f"SQLSTATE {exc.sqlstate}" in err.message


def test_rollback_states_retry_only_idempotent_work() -> None:
    assert _map(pg.DeadlockDetectedError("deadlock"), idempotent=True).retryable
    assert not _map(pg.DeadlockDetectedError("deadlock"), idempotent=False).retryable


def test_lost_connections_depend_on_the_phase() -> None:
    lost = pg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    assert _map(lost, phase=EnumPhase.ACQUIRE).retryable
    assert _map(lost, idempotent=True).retryable
    ambiguous = _map(lost, idempotent=False)
    assert isinstance(ambiguous, InfraConnectionError)
    assert not ambiguous.retryable
    assert "outcome is unknown" in ambiguous.message
    try:
        raise lost from BrokenPipeError(32, "Broken pipe")
    except pg.ConnectionDoesNotExistError as chained:
        never_sent = _map(chained, idempotent=False)
    assert never_sent.retryable
    assert "before the statement was sent" in never_sent.message
    refused = _map(ConnectionRefusedError(111, "refused"), phase=EnumPhase.ACQUIRE)
    assert (type(refused), refused.retryable) == (InfraConnectionError, True)
    closed = _map(pg.InterfaceError("cannot perform operation: connection is closed"))
    assert (type(closed), closed.retryable) == (InfraConnectionError, True)


def test_client_side_failures() -> None:
    commit = CommitOutcomeUnknownError("transaction")
    unknown = _map(commit, idempotent=True)
    assert (type(unknown), unknown.retryable) == (InfraConnectionError, False)
    assert unknown.details["commit_outcome"] == "unknown"
    pool = _map(PoolClosedError("db"), phase=EnumPhase.ACQUIRE)
    assert isinstance(pool, InfraUnavailableError)
    assert (pool.reason, pool.retryable) == ("closed", False)
    connect = _map(TimeoutError(), phase=EnumPhase.ACQUIRE)
    assert isinstance(connect, InfraTimeoutError)
    assert connect.timeout_seconds == 1.5
    assert connect.retryable
    waiting = _map(TimeoutError())
    assert not waiting.retryable
    assert "waiting for the server" in waiting.message
    misuse = _map(pg.InterfaceError("the server expects 1 argument for this query, 2 were passed"))
    assert type(misuse) is InfraValidationError
    value = _map(pg._base.DataError("invalid input for query argument $1: 'secret-9' (bad)"))
    assert type(value) is InfraValidationError
    assert "secret-9" not in str(value)
    state = _map(pg._base.InternalClientError("cannot switch to state 12"))
    assert (type(state), state.retryable) == (InfraConnectionError, True)
    bug = _map(RuntimeError("boom"))
    assert type(bug) is InfraError
    assert not bug.retryable
    already = InfraValidationError("x", transport=EnumTransport.POSTGRES, operation="op")
    assert _map(already) is already


def test_migration_failures_name_the_migration() -> None:
    try:
        raise MigrationStepError(7, "add_index") from pg.UndefinedTableError("relation missing")
    except MigrationStepError as exc:
        err = _map(exc)
    assert type(err) is InfraValidationError
    assert (err.details["migration_version"], err.details["migration_name"]) == (7, "add_index")
    assert err.details["sqlstate"] == "42P01"


def test_connection_level_errors_make_a_connection_suspect() -> None:
    assert is_connection_level(pg.AdminShutdownError("terminating connection"))
    assert is_connection_level(pg.ConnectionFailureError("x"))
    assert is_connection_level(OSError())
    assert is_connection_level(TimeoutError())
    assert is_connection_level(pg._base.ProtocolError("x"))
    assert not is_connection_level(pg.UniqueViolationError("duplicate"))


def test_only_target_health_failures_count_for_the_breaker() -> None:
    def mapped(exc: BaseException) -> InfraError:
        return _map(exc, idempotent=True)

    assert is_postgres_breaker_failure(mapped(pg.ConnectionFailureError("x")), KEY)
    assert is_postgres_breaker_failure(mapped(pg.TooManyConnectionsError("x")), KEY)
    assert is_postgres_breaker_failure(mapped(TimeoutError()), KEY)
    assert is_postgres_breaker_failure(OSError(), KEY)
    # A connection lost mid-write is not retried, but still says the server is unhealthy.
    assert is_postgres_breaker_failure(
        _map(pg.ConnectionDoesNotExistError("lost"), idempotent=False), KEY
    )
    assert not is_postgres_breaker_failure(mapped(pg.UniqueViolationError("dup")), KEY)
    assert not is_postgres_breaker_failure(mapped(pg.SerializationError("x")), KEY)
    assert not is_postgres_breaker_failure(mapped(PoolClosedError("db")), KEY)
    assert not is_postgres_breaker_failure(ValueError(), KEY)
    other = InfraConnectionError("x", transport=EnumTransport.VAULT, operation="read")
    assert not is_postgres_breaker_failure(other, KEY)
