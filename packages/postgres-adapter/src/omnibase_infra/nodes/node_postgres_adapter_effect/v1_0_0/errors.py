"""Driver failures as the infra error taxonomy, and which of them are transient.

Retrying is safe only when the statement certainly had no effect (the error then says
``not_sent``, so the runner retries it also for an operation that is not idempotent):

* the failure happened while getting a connection (nothing was sent): transient
  connection, resource and shutdown failures are retried;
* the server answered with an error: the statement (or transaction) was rolled back, so
  connection (08), resource (53) and shutdown (57P01-57P03) errors are retried, and
  serialization failures/deadlocks (40001/40P01) for transactions and idempotent
  statements;
* the connection dropped without an answer (or during COMMIT): the outcome is unknown,
  so only idempotent work is retried; a COMMIT whose outcome is unknown never is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

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
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.driver import (
    SessionNotReadOnlyError,
    driver_errors,
    sqlstate_of,
)
from omnibase_infra.resilience.breaker.store import BreakerKey

__all__ = [
    "CommitOutcomeUnknownError",
    "EnumPhase",
    "MigrationStepError",
    "PoolClosedError",
    "is_connection_level",
    "is_postgres_breaker_failure",
    "to_infra_error",
]

_TRANSPORT = EnumTransport.POSTGRES
SHUTDOWN_STATES = frozenset({"57P01", "57P02", "57P03"})
ROLLBACK_STATES = frozenset({"40001", "40P01"})
READ_ONLY_STATE = "25006"  # read_only_sql_transaction
_RESOURCES = "insufficient_resources"
# Server messages of these classes may quote parameter values ("invalid input syntax for
# type integer: ..."): the message keeps only the condition's name.
_VALUE_QUOTING_CLASSES = frozenset({"22"})
# Errors in the statement itself: data, syntax/access rule, feature, cardinality, ...
_STATEMENT_CLASSES = frozenset({"0A", "21", "22", "25", "26", "2B", "34", "3F", "42", "44"})


class EnumPhase(StrEnum):
    """Where an operation failed, which decides whether retrying it is safe."""

    ACQUIRE = "acquire"  # getting (or pinging) a connection: nothing sent yet
    EXECUTE = "execute"  # the statement (or transaction) was sent


class PoolClosedError(RuntimeError):
    """The pool was closed: no new operation may start."""


class CommitOutcomeUnknownError(RuntimeError):
    """The connection was lost while COMMIT was in flight; the driver error is the cause."""


class MigrationStepError(RuntimeError):
    """A migration's SQL failed; the driver error is the cause."""

    def __init__(self, version: int, name: str) -> None:
        super().__init__(f"migration {version} ({name}) failed")
        self.version = version
        self.name = name


def _is_lost_connection(exc: BaseException) -> bool:
    errors = driver_errors()
    if isinstance(exc, errors.connection_lost | OSError):
        return True
    # asyncpg raises InterfaceError("... connection is closed") before sending anything.
    return isinstance(exc, errors.interface) and "closed" in str(exc)


def _never_sent(exc: BaseException) -> bool:
    """The socket was already closed when the statement was written (EPIPE on send), so
    the server cannot have received it, let alone committed it."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, BrokenPipeError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def is_connection_level(exc: BaseException) -> bool:
    """The connection itself may be broken (lost, shut down, timed out): ping it next time."""
    code = sqlstate_of(exc)
    if code is not None and (code.startswith("08") or code in SHUTDOWN_STATES):
        return True
    return _is_lost_connection(exc) or isinstance(exc, (TimeoutError, *driver_errors().protocol))


def is_postgres_breaker_failure(exc: BaseException, key: BreakerKey) -> bool:
    """Breaker classifier: only connection, resource, shutdown and timeout failures of
    this target count; a constraint violation or bad SQL is the caller's fault."""
    if isinstance(exc, InfraError):
        if exc.transport is not key.transport:
            return False
        if isinstance(exc, InfraUnavailableError):
            return exc.reason == _RESOURCES
        return isinstance(exc, InfraConnectionError | InfraTimeoutError)
    return isinstance(exc, OSError)


def _server_message(exc: BaseException, code: str) -> str:
    if code[:2] in _VALUE_QUOTING_CLASSES:
        return f"invalid data value ({type(exc).__name__})"
    text = str(getattr(exc, "message", None) or exc).strip()
    return text or type(exc).__name__


def _server_context(exc: BaseException, code: str) -> dict[str, object]:
    context: dict[str, object] = {"sqlstate": code}
    for name in ("constraint_name", "table_name", "column_name", "schema_name"):
        value = getattr(exc, name, None)
        if isinstance(value, str) and value:
            context[name] = value  # identifiers, never values
    return context


@dataclass(frozen=True, slots=True)
class _Where:
    operation: str
    target: str
    correlation_id: UUID
    phase: EnumPhase
    context: Mapping[str, object]


def _make(cls: type[InfraError], message: str, where: _Where, **extra: object) -> InfraError:
    # Subclasses take different required keywords (reason, timeout_seconds); the calls
    # below pass what each needs.
    factory: Callable[..., InfraError] = cls
    return factory(
        message,
        transport=_TRANSPORT,
        operation=where.operation,
        target=where.target,
        correlation_id=where.correlation_id,
        phase=where.phase.value,
        **where.context,
        **extra,
    )


def to_infra_error(
    exc: BaseException,
    *,
    operation: str,
    target: str,
    correlation_id: UUID,
    phase: EnumPhase,
    idempotent: bool,
    timeout_seconds: float,
    context: Mapping[str, object] | None = None,
) -> InfraError:
    """The taxonomy error for a driver failure, ``retryable`` only when retrying is safe.

    ``context`` is added to the error's details.
    """
    context = dict(context or {})
    if isinstance(exc, InfraError):
        return exc
    if isinstance(exc, MigrationStepError) and exc.__cause__ is not None:
        context = {**context, "migration_version": exc.version, "migration_name": exc.name}
        exc = exc.__cause__
    where = _Where(operation, target, correlation_id, phase, context)
    code = sqlstate_of(exc)
    if code is not None and not isinstance(exc, driver_errors().connection_lost):
        return _from_sqlstate(exc, code, where, idempotent=idempotent, timeout=timeout_seconds)
    return _from_client_error(exc, where, idempotent=idempotent, timeout=timeout_seconds)


def _from_client_error(  # noqa: PLR0911 - one branch per kind of client-side failure
    exc: BaseException, where: _Where, *, idempotent: bool, timeout: float
) -> InfraError:
    operation, phase, kind = where.operation, where.phase, type(exc).__name__
    errors = driver_errors()
    if isinstance(exc, CommitOutcomeUnknownError):
        return _make(
            InfraConnectionError,
            f"{operation}: connection lost during COMMIT; the transaction may or may not "
            "have been committed",
            where,
            retryable=False,
            commit_outcome="unknown",
        )
    if isinstance(exc, SessionNotReadOnlyError):
        return _make(
            InfraConfigurationError,
            f"{operation}: {exc}; read-only operations need sessions the server keeps "
            "read-only: a connection pooler between the node and PostgreSQL must pass the "
            "startup setting on, or connect the node to PostgreSQL directly",
            where,
            retryable=False,
        )
    if isinstance(exc, PoolClosedError):
        return _make(
            InfraUnavailableError,
            f"{operation}: the connection pool is closed",
            where,
            reason="closed",
            retryable=False,
        )
    if isinstance(exc, TimeoutError):
        doing = "connecting" if phase is EnumPhase.ACQUIRE else "waiting for the server"
        return _make(
            InfraTimeoutError,
            f"{operation}: timed out {doing}",
            where,
            timeout_seconds=timeout,
            retryable=phase is EnumPhase.ACQUIRE or idempotent,
            not_sent=phase is EnumPhase.ACQUIRE,
        )
    if _is_lost_connection(exc):
        sent = False
        if phase is EnumPhase.ACQUIRE:
            what, safe = "could not connect", True
        elif isinstance(exc, errors.interface) or _never_sent(exc):
            what, safe = "connection closed before the statement was sent", True
        else:
            what = "connection lost while the statement ran; its outcome is unknown"
            safe, sent = idempotent, True
        return _make(
            InfraConnectionError,
            f"{operation}: {what} ({kind}: {exc})",
            where,
            retryable=safe,
            not_sent=not sent,
        )
    if isinstance(exc, errors.client_data | TypeError | ValueError):
        # asyncpg's encoders raise these for a value of the wrong type; the text may quote
        # the value, so only the class is kept.
        return _make(
            InfraValidationError,
            f"{operation}: a parameter does not fit its column type ({kind})",
            where,
            reason="parameter_type",
        )
    if isinstance(exc, errors.interface):  # misuse, e.g. the wrong number of parameters
        return _make(InfraValidationError, f"{operation}: {exc}", where)
    if isinstance(exc, errors.protocol):
        # asyncpg checks its protocol state before sending: seen after the server dropped
        # the connection mid-operation. Nothing was sent; the connection is discarded.
        return _make(
            InfraConnectionError,
            f"{operation}: connection in an unusable state ({kind}: {exc})",
            where,
            retryable=True,
            not_sent=True,
        )
    return _make(InfraError, f"{operation}: unexpected {kind}: {exc}", where)


def _from_sqlstate(  # noqa: PLR0911 - one branch per SQLSTATE family
    exc: BaseException, code: str, where: _Where, *, idempotent: bool, timeout: float
) -> InfraError:
    """A server error: the statement failed and its transaction was rolled back."""
    message = f"{where.operation}: {_server_message(exc, code)} (SQLSTATE {code})"
    context = _server_context(exc, code)
    klass = code[:2]
    # The server refused or rolled back the statement: it had no effect, which makes it as
    # safe to run again as a request never sent (``not_sent``), idempotent or not.
    if klass == "08" or code in SHUTDOWN_STATES:
        return _make(InfraConnectionError, message, where, retryable=True, not_sent=True, **context)
    if klass == "53":
        return _make(
            InfraUnavailableError,
            message,
            where,
            reason=_RESOURCES,
            retryable=True,
            not_sent=True,
            **context,
        )
    if code in ROLLBACK_STATES:
        return _make(InfraConflictError, message, where, retryable=idempotent, **context)
    if code == "57014":  # statement_timeout, or a cancel request
        return _make(
            InfraTimeoutError, message, where, timeout_seconds=timeout, retryable=False, **context
        )
    if klass == "28":
        return _make(InfraAuthenticationError, message, where, **context)
    if code == READ_ONLY_STATE:
        # A read-only operation (reader session or READ ONLY transaction) tried to write:
        # the caller's statement or a function it called; never retried, not the breaker's.
        return _make(
            InfraReadOnlyError,
            f"{where.operation}: the operation is read-only and the server refused a write: "
            f"{_server_message(exc, code)} (SQLSTATE {code})",
            where,
            retryable=False,
            **context,
        )
    if code == "42501":  # insufficient privilege
        return _make(InfraPermissionError, message, where, **context)
    if klass == "23" or code in ("55P03", "55006"):  # integrity, lock not available, in use
        return _make(InfraConflictError, message, where, **context)
    if code == "3D000":  # the DSN names a database that does not exist
        return _make(InfraConfigurationError, message, where, **context)
    if klass in _STATEMENT_CLASSES:
        return _make(InfraValidationError, message, where, **context)
    return _make(InfraError, message, where, **context)
