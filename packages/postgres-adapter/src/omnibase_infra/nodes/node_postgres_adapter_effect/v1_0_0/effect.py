"""``NodePostgresAdapterEffect``: PostgreSQL through asyncpg, on the effect platform.

The node derives from ``InfraEffectNode``: every operation is an ``@operation`` method
that validates its request, builds its operation object (:mod:`.operations`: which pool,
whether running it twice is safe, the statement for spans) and runs it through the
platform's runner (``self.run``): one deadline per operation covering every attempt,
retries only of failures that are safe to repeat, this target's breaker per attempt
(counting only connection, resource and timeout failures), span, metrics, operation
record. The policies (timeouts, retries, idempotency of the fixed operations, breaker)
come from ``contracts/effect_contract.yaml``; driver failures become the taxonomy's errors
in :mod:`.errors`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, overload

from omnibase_core.enums.enum_effect_types import EnumEffectType
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.nodes import ModelEffectInput, ModelEffectOutput
from opentelemetry import metrics, trace
from pydantic import BaseModel

from omnibase_infra.effect import (
    Attempt,
    InfraEffectNode,
    ModelEffectPolicies,
    operation,
    settings_from_env,
)
from omnibase_infra.enums import EnumHealthStatus, EnumTransport
from omnibase_infra.errors import InfraConfigurationError, InfraError, InfraValidationError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.models.postgres import (
    ModelPostgresCopyRecordsRequest,
    ModelPostgresCopyRecordsResponse,
    ModelPostgresExecuteManyRequest,
    ModelPostgresExecuteManyResponse,
    ModelPostgresExecuteRequest,
    ModelPostgresExecuteResponse,
    ModelPostgresFetchOneRequest,
    ModelPostgresFetchOneResponse,
    ModelPostgresFetchRequest,
    ModelPostgresFetchResponse,
    ModelPostgresFetchValueRequest,
    ModelPostgresFetchValueResponse,
    ModelPostgresHealthRequest,
    ModelPostgresHealthResponse,
    ModelPostgresMigrateRequest,
    ModelPostgresMigrateResponse,
    ModelPostgresPoolConfig,
    ModelPostgresPoolStats,
    ModelPostgresRequestBase,
    ModelPostgresResponseBase,
    ModelPostgresTransactionRequest,
    ModelPostgresTransactionResponse,
)
from omnibase_infra.models.trusted import construct_trusted
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0 import operations as ops
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.driver import PgConnection
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.errors import (
    EnumPhase,
    is_postgres_breaker_failure,
    to_infra_error,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.migrations import (
    Migrate,
    load_migrations,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.pool import (
    PostgresConnectionManager,
    PostgresPool,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.statements import (
    READ,
    READ_WRITE,
    SINGLE_STATEMENT,
    TRANSACTION_STATEMENT,
    Allowed,
    StatementChecker,
    quote_identifier,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.telemetry import (
    RECORD_ATTRIBUTES,
    SCOPE,
    postgres_telemetry,
)
from omnibase_infra.observability import semconv
from omnibase_infra.observability.telemetry import RecordSink
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra.resilience.breaker import (
    BreakerRegistry,
    CircuitBreaker,
    EnumCircuitState,
    ModelCircuitBreakerConfig,
)

__all__ = ["DSN_ENV", "NodePostgresAdapterEffect", "postgres_breaker_config"]

ENV_NAME: Final = "POSTGRES"
DSN_ENV: Final = "OMNIBASE_INFRA_POSTGRES_DSN"
_TRANSPORT = EnumTransport.POSTGRES
_HEALTH_SQL = "SELECT version() AS version, current_setting('server_version_num')::int AS num"
_CLOSED_STATES = frozenset({EnumCircuitState.CLOSED, EnumCircuitState.DISABLED})
_DB_QUERY_TEXT = semconv.DB_QUERY_TEXT

logger = logging.getLogger(SCOPE)

type Fields = dict[str, Any]


def postgres_breaker_config(**overrides: Any) -> ModelCircuitBreakerConfig:
    """Breaker settings for PostgreSQL targets: the shared defaults with the classifier
    that counts only connection, resource and timeout failures."""
    return ModelCircuitBreakerConfig(classifier=is_postgres_breaker_failure, **overrides)


def _env_config() -> ModelPostgresPoolConfig | None:
    """``OMNIBASE_INFRA_POSTGRES_<FIELD>`` (``_DSN`` and any other pool field), or None
    without a DSN there."""
    if not os.environ.get(DSN_ENV, "").strip():
        return None
    return settings_from_env(ModelPostgresPoolConfig, ENV_NAME)


class NodePostgresAdapterEffect(InfraEffectNode):
    """PostgreSQL EFFECT node: typed operations on an asyncpg pool, safe by construction.

    ``process(request)`` takes a request of ``omnibase_infra.models.postgres`` (or core's
    ``ModelEffectInput``, ``DATABASE_OPERATION``) and returns its response; the typed
    methods (``fetch``, ``fetch_one``, ..., ``health``) are the same operations. Failures
    raise ``InfraError`` subclasses with the caller's correlation id.

    ``config`` defaults to ``OMNIBASE_INFRA_POSTGRES_<FIELD>`` (``_DSN`` at least).
    ``manager`` shares pools between nodes (a private one otherwise, closed with the node).
    ``retry_policy`` replaces the contract's retry policy of every operation;
    ``policy_overrides`` / ``policies`` change the contract's policies (see
    ``omnibase_infra.effect.policy``). ``breakers`` shares breakers (build it with
    :func:`postgres_breaker_config`). ``record_sink`` receives a ``ModelOperationRecord``
    per finished operation.
    """

    node_name = "node_postgres_adapter_effect"
    env_name = ENV_NAME
    transport = _TRANSPORT
    contract_package = "omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0"
    effect_type = EnumEffectType.DATABASE_OPERATION

    def __init__(
        self,
        container: ModelONEXContainer | None = None,
        *,
        config: ModelPostgresPoolConfig | None = None,
        manager: PostgresConnectionManager | None = None,
        retry_policy: ModelRetryPolicy | None = None,
        breakers: BreakerRegistry | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        record_sink: RecordSink | None = None,
        policies: ModelEffectPolicies | None = None,
        policy_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._config = config if config is not None else _env_config()
        self._owns_manager = manager is None
        self._manager = manager if manager is not None else PostgresConnectionManager()
        self._pool: PostgresPool | None = None
        self._reader: PostgresPool | None = None
        if self._config is not None:
            self._pool = self._manager.pool(self._config)
            self._reader = self._manager.pool(self._config, read_only=True)
        target = self._config.target if self._config is not None else "unconfigured"
        self._checker = StatementChecker(target)
        super().__init__(
            container,
            target=target,
            telemetry=postgres_telemetry(
                target=target,
                database=self._config.database if self._config is not None else None,
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
            ),
            logger=logger,
            policies=policies,
            policy_overrides=_with_retry(retry_policy, policy_overrides, self.operations),
            breakers=breakers,
            breaker_defaults={"classifier": is_postgres_breaker_failure},
            record_sink=record_sink,
        )
        self._grace_seconds: float | None = None

    def __repr__(self) -> str:
        return f"NodePostgresAdapterEffect(target={self._target!r}, node_id={self.node_id})"

    # -- views -------------------------------------------------------------------------

    @property
    def pool(self) -> PostgresPool:
        """The read-write pool (``InfraConfigurationError`` without a DSN)."""
        return self._require_pool(None)

    @property
    def reader_pool(self) -> PostgresPool:
        """The pool of read-only operations: sessions the server keeps read-only
        (``InfraConfigurationError`` without a DSN)."""
        return self._require_pool(None, read_only=True)

    @property
    def breaker(self) -> CircuitBreaker:
        """This target's circuit breaker."""
        breaker = self._breaker
        if breaker is None:  # the contract turned it off
            msg = f"{self.node_name}: the contract disables the circuit breaker"
            raise InfraConfigurationError(
                msg, transport=_TRANSPORT, operation="breaker", target=self._target
            )
        return breaker

    def _require_pool(
        self, correlation_id: Any, *, read_only: bool = False, operation: str = "configure"
    ) -> PostgresPool:
        pool = self._reader if read_only else self._pool
        if pool is None:
            raise InfraConfigurationError(
                f"no PostgreSQL DSN: pass config= or set {DSN_ENV}",
                transport=_TRANSPORT,
                operation=operation,
                target=self._target,
                correlation_id=correlation_id,
            )
        return pool

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Connect ``min_size`` connections of the read-write and the reader pool now
        instead of on first use."""
        for read_only in (False, True):
            pool = self._require_pool(None, read_only=read_only)
            try:
                await pool.open()
            except Exception as exc:
                raise to_infra_error(
                    exc,
                    operation="open",
                    target=self._target,
                    correlation_id=ModelCorrelationContext.new(with_trace=False).correlation_id,
                    phase=EnumPhase.ACQUIRE,
                    idempotent=True,
                    timeout_seconds=pool.config.connect_timeout_seconds,
                ) from exc

    async def close(self, grace_seconds: float | None = None) -> None:
        """Close the pools of a private manager: connections in use get ``grace_seconds``
        (default: the pool's ``close_timeout_seconds``), then are terminated. Idempotent."""
        self._grace_seconds = grace_seconds
        await self.aclose()

    async def _close_resources(self) -> None:
        if self._owns_manager:
            await self._manager.close(self._grace_seconds)

    # -- process: the response type of each request (at run time the base's process()) --

    if TYPE_CHECKING:

        @overload  # type: ignore[override]  # the base's two, narrowed per request type
        async def process(self, input_data: ModelEffectInput) -> ModelEffectOutput: ...
        @overload
        async def process(
            self, input_data: ModelPostgresFetchRequest
        ) -> ModelPostgresFetchResponse: ...
        @overload
        async def process(
            self, input_data: ModelPostgresFetchOneRequest
        ) -> ModelPostgresFetchOneResponse: ...
        @overload
        async def process(
            self, input_data: ModelPostgresFetchValueRequest
        ) -> ModelPostgresFetchValueResponse: ...
        @overload
        async def process(
            self, input_data: ModelPostgresExecuteRequest
        ) -> ModelPostgresExecuteResponse: ...
        @overload
        async def process(
            self, input_data: ModelPostgresExecuteManyRequest
        ) -> ModelPostgresExecuteManyResponse: ...
        @overload
        async def process(
            self, input_data: ModelPostgresCopyRecordsRequest
        ) -> ModelPostgresCopyRecordsResponse: ...
        @overload
        async def process(
            self, input_data: ModelPostgresTransactionRequest
        ) -> ModelPostgresTransactionResponse: ...
        @overload
        async def process(
            self, input_data: ModelPostgresMigrateRequest
        ) -> ModelPostgresMigrateResponse: ...
        @overload
        async def process(
            self, input_data: ModelPostgresHealthRequest
        ) -> ModelPostgresHealthResponse: ...
        @overload
        async def process(self, input_data: ModelInfraRequest) -> BaseModel: ...

        async def process(
            self, input_data: ModelEffectInput | ModelInfraRequest
        ) -> ModelEffectOutput | BaseModel:
            """Run a request (its operation found by its type) or core's envelope."""

    # -- operations ----------------------------------------------------------------------

    @operation(ModelPostgresFetchRequest)
    async def fetch(self, request: ModelPostgresFetchRequest) -> ModelPostgresFetchResponse:
        """Rows as dicts (more than ``max_rows`` is an error)."""
        return await self._execute(
            request,
            ModelPostgresFetchResponse,
            lambda ctx: ops.Fetch(request, ctx, self._read(request, ctx)),
        )

    @operation(ModelPostgresFetchOneRequest)
    async def fetch_one(
        self, request: ModelPostgresFetchOneRequest
    ) -> ModelPostgresFetchOneResponse:
        """The first row, or None."""
        return await self._execute(
            request,
            ModelPostgresFetchOneResponse,
            lambda ctx: ops.FetchOne(request, ctx, self._read(request, ctx)),
        )

    @operation(ModelPostgresFetchValueRequest)
    async def fetch_value(
        self, request: ModelPostgresFetchValueRequest
    ) -> ModelPostgresFetchValueResponse:
        """One value of the first row (``found`` tells no row from NULL)."""
        return await self._execute(
            request,
            ModelPostgresFetchValueResponse,
            lambda ctx: ops.FetchValue(request, ctx, self._read(request, ctx)),
        )

    @operation(ModelPostgresExecuteRequest)
    async def execute(self, request: ModelPostgresExecuteRequest) -> ModelPostgresExecuteResponse:
        """One statement: its command tag and row count."""
        return await self._execute(
            request,
            ModelPostgresExecuteResponse,
            lambda ctx: ops.Execute(request, ctx, self._check(request.sql, SINGLE_STATEMENT, ctx)),
        )

    @operation(ModelPostgresExecuteManyRequest)
    async def execute_many(
        self, request: ModelPostgresExecuteManyRequest
    ) -> ModelPostgresExecuteManyResponse:
        """The statement once per argument row, pipelined and atomic."""
        return await self._execute(
            request,
            ModelPostgresExecuteManyResponse,
            lambda ctx: ops.ExecuteMany(
                request, ctx, self._check(request.sql, SINGLE_STATEMENT, ctx)
            ),
        )

    @operation(ModelPostgresCopyRecordsRequest)
    async def copy_records(
        self, request: ModelPostgresCopyRecordsRequest
    ) -> ModelPostgresCopyRecordsResponse:
        """``COPY ... FROM STDIN (FORMAT binary)``, atomic."""
        return await self._execute(
            request,
            ModelPostgresCopyRecordsResponse,
            lambda ctx: ops.CopyRecords(request, ctx, _copy_statement(request, ctx)),
        )

    @operation(ModelPostgresTransactionRequest)
    async def transaction(
        self, request: ModelPostgresTransactionRequest
    ) -> ModelPostgresTransactionResponse:
        """The statements in order in one transaction."""

        def build(ctx: ops.OperationContext) -> ops.Transaction:
            allow = READ if request.read_only else TRANSACTION_STATEMENT
            texts = [self._check(s.sql, allow, ctx) for s in request.statements]
            return ops.Transaction(request, ctx, "; ".join(texts))

        return await self._execute(request, ModelPostgresTransactionResponse, build)

    @operation(ModelPostgresMigrateRequest)
    async def migrate(self, request: ModelPostgresMigrateRequest) -> ModelPostgresMigrateResponse:
        """Versioned migrations (see :mod:`.migrations`)."""

        def build(ctx: ops.OperationContext) -> Migrate:
            try:
                quote_identifier(request.schema_name)
                quote_identifier(request.table)
            except InfraValidationError as exc:
                raise ctx.invalid(f"bad identifier: {exc.message}", reason="identifier") from None
            return Migrate(request, ctx, load_migrations(request.source))

        return await self._execute(request, ModelPostgresMigrateResponse, build)

    @operation(ModelPostgresHealthRequest)
    async def health(self, request: ModelPostgresHealthRequest) -> ModelPostgresHealthResponse:
        """Server version and latency; never raises for an unreachable server (the contract
        keeps the breaker out of it)."""
        started = time.perf_counter()
        status, message = EnumHealthStatus.HEALTHY, None
        found: dict[str, Any] = {}

        async def probe(attempt: Attempt) -> None:
            pool = self._require_pool(attempt.correlation_id, operation="health")
            conn = await self._acquire(pool, attempt)
            failure: BaseException | None = None
            try:
                sent = time.perf_counter()
                row = await conn.fetchrow(_HEALTH_SQL)
                found["latency_ms"] = round((time.perf_counter() - sent) * 1000, 3)
                if row is not None:
                    found["server_version"] = str(row["version"])
                    found["server_version_num"] = int(row["num"])
            except Exception as exc:
                failure = exc
                raise self._error(exc, attempt, EnumPhase.EXECUTE) from exc
            except BaseException as exc:
                failure = exc
                raise
            finally:
                await pool.release(conn, error=failure, correlation_id=attempt.correlation_id)

        try:
            await self.run(request, probe, record_attributes=RECORD_ATTRIBUTES)
        except InfraError as exc:
            status, message = EnumHealthStatus.UNHEALTHY, exc.message
        circuit = self._breaker.state if self._breaker is not None else EnumCircuitState.DISABLED
        if status is EnumHealthStatus.HEALTHY and circuit not in _CLOSED_STATES:
            status = EnumHealthStatus.DEGRADED
            message = f"the server answers but the circuit breaker is {circuit.value}"
        pool_stats = (
            self._pool.stats()
            if self._pool is not None
            else ModelPostgresPoolStats(target=self._target, open=False, min_size=0, max_size=1)
        )
        return ModelPostgresHealthResponse(
            correlation_id=request.correlation.correlation_id,
            success=True,
            duration_ms=(time.perf_counter() - started) * 1000,
            target=self._target,
            status=status,
            pool=pool_stats,
            circuit_state=circuit.value,
            message=message,
            **found,
        )

    # -- the one path every statement operation takes ------------------------------------

    async def _execute[R: ModelPostgresResponseBase](
        self,
        request: ModelPostgresRequestBase,
        response: type[R],
        build: Callable[[ops.OperationContext], ops.PgOperation[Any]],
    ) -> R:
        """Validate and build the operation object (nothing sent yet), then run it on a
        connection of its pool through the runner; the typed response."""
        ctx = ops.OperationContext(
            request.operation,
            self._target,
            request.correlation.correlation_id,
            request.timeout_seconds,
        )
        try:
            op = build(ctx)
            pool = self._require_pool(
                ctx.correlation_id, read_only=op.read_only, operation=ctx.operation
            )
        except InfraError as refused:
            # Refused before anything is sent; still one operation with its span, metrics,
            # record and log line, like any other failure.
            await self.run(request, _raising(refused), record_attributes=RECORD_ATTRIBUTES)
            raise  # pragma: no cover - run() raised ``refused``

        statement = op.statement
        tracing = self._telemetry.tracing

        async def attempt_on_connection(attempt: Attempt) -> Fields:
            if attempt.number == 1 and statement is not None and tracing():
                span = trace.get_current_span()  # the operation's span, when recording
                if span.is_recording():
                    span.set_attribute(_DB_QUERY_TEXT, statement)
            # PostgresPool.acquire() without a wrapper: one coroutine fewer per operation.
            try:
                conn = await pool.acquire(attempt.correlation_id)
            except Exception as exc:
                raise self._error(exc, attempt, EnumPhase.ACQUIRE) from exc
            failure: BaseException | None = None
            try:
                return await op.run(conn)
            except Exception as exc:
                failure = exc
                raise self._error(exc, attempt, EnumPhase.EXECUTE) from exc
            except BaseException as exc:  # the deadline passed, or the caller cancelled
                failure = exc
                raise
            finally:
                await pool.release(conn, error=failure, correlation_id=attempt.correlation_id)

        outcome = await self.run(
            request,
            attempt_on_connection,
            idempotent=op.idempotent,
            statement=op.statement,
            record_attributes=RECORD_ATTRIBUTES,
        )
        return _response(
            response,
            {
                "operation": ctx.operation,
                "correlation_id": ctx.correlation_id,
                "success": True,
                "duration_ms": outcome.duration_seconds * 1000,
                "completed_at": datetime.now(UTC),
                "error_code": None,
                "error_message": None,
                "metadata": {},
                "target": self._target,
                "attempts": outcome.attempts,
                **outcome.value,
            },
        )

    async def _acquire(self, pool: PostgresPool, attempt: Attempt) -> PgConnection:
        try:
            return await pool.acquire(attempt.correlation_id)
        except Exception as exc:
            raise self._error(exc, attempt, EnumPhase.ACQUIRE) from exc

    @staticmethod
    def _error(exc: Exception, attempt: Attempt, phase: EnumPhase) -> InfraError:
        return to_infra_error(
            exc,
            operation=attempt.operation,
            target=attempt.target,
            correlation_id=attempt.correlation_id,
            phase=phase,
            idempotent=attempt.idempotent,
            timeout_seconds=attempt.timeout_seconds,
        )

    # -- validation (before anything is sent) --------------------------------------------

    def _check(self, sql: str, allow: Allowed, ctx: ops.OperationContext) -> str:
        return self._checker.check(
            sql, allow, operation=ctx.operation, correlation_id=ctx.correlation_id
        )

    def _read(
        self,
        request: ModelPostgresFetchRequest
        | ModelPostgresFetchOneRequest
        | ModelPostgresFetchValueRequest,
        ctx: ops.OperationContext,
    ) -> str:
        return self._check(request.sql, READ if request.read_only else READ_WRITE, ctx)


_UNSET_BY_CALLER: Final = frozenset({"completed_at", "error_code", "error_message", "metadata"})
"""Response fields the node leaves at their defaults (not in ``model_fields_set``)."""
_FIELD_ORDER: dict[type[BaseModel], tuple[str, ...]] = {}


def _response[R: ModelPostgresResponseBase](response: type[R], values: dict[str, Any]) -> R:
    """The response from values this module produced: every field of ``response`` named, of
    its type (the operation functions' own fields, a fresh timestamp, the defaults), so it
    is built without validation (``construct_trusted``, the same ``model_fields_set`` as
    the validated model's). Anything else (a field missing, or not in declaration order)
    is validated instead."""
    names = _FIELD_ORDER.get(response)
    if names is None:
        names = _FIELD_ORDER[response] = tuple(response.model_fields)
    if tuple(values) != names:
        caller = {k: v for k, v in values.items() if k not in _UNSET_BY_CALLER}
        return response(**caller)
    return construct_trusted(response, values, values.keys() - _UNSET_BY_CALLER)


def _copy_statement(request: ModelPostgresCopyRecordsRequest, ctx: ops.OperationContext) -> str:
    try:
        names = [quote_identifier(n) for n in (request.schema_name, request.table) if n is not None]
        columns = [quote_identifier(c) for c in request.columns or ()]
    except InfraValidationError as exc:
        raise ctx.invalid(f"bad identifier: {exc.message}", reason="identifier") from None
    column_list = f" ({', '.join(columns)})" if columns else ""
    return f"COPY {'.'.join(names)}{column_list} FROM STDIN (FORMAT binary)"


def _raising(error: InfraError) -> Callable[[Attempt], Any]:
    async def refuse(_attempt: Attempt) -> None:
        raise error

    return refuse


def _with_retry(
    retry_policy: ModelRetryPolicy | None,
    overrides: Mapping[str, Mapping[str, Any]] | None,
    operations: Mapping[str, object],
) -> dict[str, dict[str, Any]] | None:
    """``retry_policy`` as a retry override of every operation, under ``overrides``."""
    if retry_policy is None:
        return {k: dict(v) for k, v in overrides.items()} if overrides else None
    retry = retry_policy.model_dump()
    merged: dict[str, dict[str, Any]] = {name: {"retry": retry} for name in operations}
    for name, fields in (overrides or {}).items():
        merged.setdefault(name, {}).update(fields)
    return merged
