"""``NodePostgresAdapterEffect``: PostgreSQL through asyncpg, as an ONEX EFFECT node.

``process()`` is overridden. omnibase-core's version retries every exception (validation
and constraint errors included), enforces no timeout, keeps one breaker per effect type and
re-raises everything as ``OPERATION_FAILED`` with a new correlation id. Here each operation:

1. validates its statements (one statement, allowed access) before anything is sent;
2. runs under an enforced deadline (``timeout_seconds``: acquire, statement and retries);
3. goes through this target's circuit breaker, which counts only connection, resource and
   timeout failures;
4. is retried with the shared policy only when retrying is safe (see :mod:`.errors`);
5. raises the taxonomy's error with the caller's correlation id, or returns a typed
   response; spans, metrics and log records carry the correlation id.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Self, cast, overload

from omnibase_core.enums.enum_effect_types import EnumEffectType, EnumTransactionState
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.nodes import ModelEffectInput, ModelEffectOutput, NodeEffect
from opentelemetry import metrics, trace
from pydantic import SecretStr, ValidationError

from omnibase_infra.enums import EnumHealthStatus, EnumTransport
from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraError,
    InfraTimeoutError,
    InfraUnavailableError,
    InfraValidationError,
    summarize_validation_error,
)
from omnibase_infra.models import ModelCorrelationContext
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
    PostgresRequest,
    PostgresResponse,
    parse_postgres_request,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0 import operations as ops
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.driver import PgConnection
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.errors import (
    EnumPhase,
    is_postgres_breaker_failure,
    to_infra_error,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.migrations import (
    apply_migrations,
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
    StatementChecker,
    quote_identifier,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.telemetry import (
    log_extra,
    postgres_telemetry,
)
from omnibase_infra.observability import CORRELATION_ID, extract
from omnibase_infra.observability.telemetry import OperationRecordEmitter, RecordSink
from omnibase_infra.resilience import ModelRetryPolicy, run_with_retry
from omnibase_infra.resilience.breaker import (
    BreakerRegistry,
    CircuitBreaker,
    EnumCircuitState,
    ModelCircuitBreakerConfig,
)

__all__ = ["DSN_ENV", "NodePostgresAdapterEffect", "postgres_breaker_config"]

DSN_ENV: Final = "OMNIBASE_INFRA_POSTGRES_DSN"
_TRANSPORT = EnumTransport.POSTGRES
_HEALTH_SQL = "SELECT version() AS version, current_setting('server_version_num')::int AS num"
_CLOSED_STATES = frozenset({EnumCircuitState.CLOSED, EnumCircuitState.DISABLED})

logger = logging.getLogger("omnibase_infra.nodes.node_postgres_adapter_effect")

type Fields = dict[str, Any]


def postgres_breaker_config(**overrides: Any) -> ModelCircuitBreakerConfig:
    """Breaker settings for PostgreSQL targets: the shared defaults with the classifier
    that counts only connection, resource and timeout failures."""
    return ModelCircuitBreakerConfig(classifier=is_postgres_breaker_failure, **overrides)


type _Runner = Callable[[PgConnection, Any, ops.OperationContext], Awaitable[Fields]]


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    response: type[ModelPostgresResponseBase]
    # Validates before anything is sent; returns the sanitized statement for the span
    # (never parameter values) and may leave what the runner needs in ctx.state.
    prepare: Callable[[NodePostgresAdapterEffect, Any, ops.OperationContext], str | None]
    run: _Runner
    idempotent: Callable[[Any], bool]
    # Runs on the reader pool, whose sessions the server keeps read-only.
    read_only: Callable[[Any], bool]


def _circuit_open(exc: BaseException) -> bool:
    return isinstance(exc, InfraUnavailableError) and exc.reason == "circuit_open"


def _env_config() -> ModelPostgresPoolConfig | None:
    dsn = os.environ.get(DSN_ENV, "").strip()
    return ModelPostgresPoolConfig(dsn=SecretStr(dsn)) if dsn else None


class NodePostgresAdapterEffect(NodeEffect):
    """PostgreSQL EFFECT node: typed operations on an asyncpg pool, safe by construction.

    ``process(request)`` takes a typed request from ``omnibase_infra.models.postgres`` and
    returns its typed response; ``process(ModelEffectInput)`` (``DATABASE_OPERATION``, the
    request as ``operation_data``) returns a ``ModelEffectOutput`` whose ``result`` is the
    response as JSON. Failures raise ``InfraError`` subclasses (never core's
    ``OPERATION_FAILED``).

    ``config`` defaults to the DSN in ``OMNIBASE_INFRA_POSTGRES_DSN``. ``manager`` shares
    pools between nodes (a private one otherwise, closed by :meth:`close`); ``breakers``
    shares breakers (use :func:`postgres_breaker_config` for their configuration).
    ``record_sink`` receives a ``ModelOperationRecord`` per finished operation.
    """

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
    ) -> None:
        super().__init__(container if container is not None else ModelONEXContainer())
        self._config = config if config is not None else _env_config()
        self._owns_manager = manager is None
        self._manager = manager if manager is not None else PostgresConnectionManager()
        self._pool: PostgresPool | None = None
        self._reader: PostgresPool | None = None
        if self._config is not None:
            self._pool = self._manager.pool(self._config)
            self._reader = self._manager.pool(self._config, read_only=True)
        self._target = self._config.target if self._config is not None else "unconfigured"
        database = self._config.database if self._config is not None else None
        self._retry_policy = retry_policy if retry_policy is not None else ModelRetryPolicy()
        # An empty registry is falsy (it has a length): compare with None.
        self._breakers = (
            breakers if breakers is not None else BreakerRegistry(postgres_breaker_config())
        )
        self._breaker: CircuitBreaker = self._breakers.get(_TRANSPORT, self._target)
        self._telemetry = postgres_telemetry(
            target=self._target,
            database=database,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
        self._records = (
            OperationRecordEmitter(record_sink, transport=_TRANSPORT, logger=logger)
            if record_sink is not None
            else None
        )
        self._checker = StatementChecker(self._target)
        self._specs: dict[type[ModelPostgresRequestBase], _Spec] = _SPECS

    def __repr__(self) -> str:
        return f"NodePostgresAdapterEffect(target={self._target!r}, node_id={self.node_id})"

    # -- properties --------------------------------------------------------------------

    @property
    def target(self) -> str:
        """``host:port`` of the server (no credentials)."""
        return self._target

    @property
    def pool(self) -> PostgresPool:
        """The node's connection pool (``InfraConfigurationError`` without a DSN)."""
        return self._require_pool(None)

    @property
    def reader_pool(self) -> PostgresPool:
        """The pool of read-only operations: sessions the server keeps read-only
        (``InfraConfigurationError`` without a DSN)."""
        return self._require_pool(None, read_only=True)

    @property
    def breaker(self) -> CircuitBreaker:
        """This target's circuit breaker."""
        return self._breaker

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Connect ``min_size`` connections of the read-write and the reader pool now
        instead of on first use."""
        pool = self._require_pool(None)
        try:
            await pool.open()
            await self._require_pool(None, read_only=True).open()
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
        if self._owns_manager:
            await self._manager.close(grace_seconds)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _initialize_node_resources(self) -> None:
        # Replaces NodeEffect's, which looks up a config provider through the container
        # (impossible inside a running loop); the pool opens lazily or with open().
        self.state["target"] = self._target

    async def _cleanup_node_resources(self) -> None:
        await super()._cleanup_node_resources()
        await self.close()

    # -- process -----------------------------------------------------------------------

    @overload
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

    async def process(
        self, input_data: ModelEffectInput | PostgresRequest
    ) -> ModelEffectOutput | PostgresResponse:
        """Run one operation (see the class docstring)."""
        spec = self._specs.get(type(input_data))  # type: ignore[arg-type]
        if spec is not None:
            request = cast(ModelPostgresRequestBase, input_data)
            return cast(PostgresResponse, await self._run(request, spec))
        if isinstance(input_data, ModelPostgresHealthRequest):
            return await self._health(input_data)
        if isinstance(input_data, ModelEffectInput):
            return await self._process_effect_input(input_data)
        raise InfraValidationError(
            f"unsupported input {type(input_data).__name__}",
            transport=_TRANSPORT,
            operation="process",
            target=self._target,
        )

    async def _process_effect_input(self, input_data: ModelEffectInput) -> ModelEffectOutput:
        """Core's envelope: ``operation_data`` is the request as a dict."""
        metadata = {k: v for k, v in input_data.metadata.items() if isinstance(v, str)}
        metadata.setdefault(CORRELATION_ID, str(input_data.operation_id))
        correlation = extract(metadata).correlation
        if input_data.effect_type is not EnumEffectType.DATABASE_OPERATION:
            raise InfraValidationError(
                f"effect_type must be {EnumEffectType.DATABASE_OPERATION.value}, "
                f"not {input_data.effect_type.value}",
                transport=_TRANSPORT,
                operation="process",
                target=self._target,
                correlation_id=correlation.correlation_id,
            )
        data: dict[str, Any] = {
            "correlation": correlation,
            "timeout_seconds": input_data.timeout_ms / 1000,
            "retry_policy": ModelRetryPolicy(
                max_attempts=input_data.max_retries + 1 if input_data.retry_enabled else 1,
                base_delay_seconds=input_data.retry_delay_ms / 1000,
                max_delay_seconds=max(input_data.retry_delay_ms / 1000, 10.0),
            ),
            **input_data.operation_data,
        }
        try:
            request = parse_postgres_request(data)
        except ValidationError as exc:
            raise InfraValidationError(
                f"invalid request: {summarize_validation_error(exc, root='request')}",
                transport=_TRANSPORT,
                operation=str(data.get("operation", "process")),
                target=self._target,
                correlation_id=correlation.correlation_id,
                reason="invalid_request",
            ) from None
        response: PostgresResponse = await self.process(request)
        return ModelEffectOutput(
            result=response.model_dump(mode="json", fallback=str),
            operation_id=input_data.operation_id,
            effect_type=EnumEffectType.DATABASE_OPERATION,
            transaction_state=EnumTransactionState.COMMITTED,
            processing_time_ms=response.duration_ms,
            retry_count=response.attempts - 1,
            metadata={
                "operation": response.operation,
                "target": response.target,
                "correlation_id": str(response.correlation_id),
            },
        )

    # -- the operation pipeline ----------------------------------------------------------

    def _require_pool(
        self, ctx: ops.OperationContext | None, *, read_only: bool = False
    ) -> PostgresPool:
        pool = self._reader if read_only else self._pool
        if pool is None:
            raise InfraConfigurationError(
                f"no PostgreSQL DSN: pass config= or set {DSN_ENV}",
                transport=_TRANSPORT,
                operation=ctx.operation if ctx is not None else "configure",
                target=self._target,
                correlation_id=ctx.correlation_id if ctx is not None else None,
            )
        return pool

    async def _run(
        self, request: ModelPostgresRequestBase, spec: _Spec
    ) -> ModelPostgresResponseBase:
        started = time.perf_counter()
        correlation = request.correlation
        ctx = ops.OperationContext(
            spec.name, self._target, correlation.correlation_id, request.timeout_seconds
        )
        span = self._telemetry.start(spec.name, correlation)
        attempts = 0
        statement: str | None = None
        try:
            statement = spec.prepare(self, request, ctx)
            if statement is not None and span.is_recording():
                span.set_attribute("db.query.text", statement)
            pool = self._require_pool(ctx, read_only=spec.read_only(request))
            deadline = asyncio.get_running_loop().time() + request.timeout_seconds
            idempotent = spec.idempotent(request)

            async def attempt() -> Fields:
                nonlocal attempts
                attempts += 1
                return await self._attempt(
                    pool=pool,
                    spec=spec,
                    request=request,
                    ctx=ctx,
                    deadline=deadline,
                    idempotent=idempotent,
                )

            try:
                fields = await attempt()
            except InfraError as first:
                fields = await self._retry(first, attempt, request, ctx, deadline)
        except InfraError as exc:
            self._finish(
                span=span,
                ctx=ctx,
                started=started,
                attempts=max(attempts, 1),
                statement=statement,
                error=exc,
                correlation=correlation,
            )
            raise
        except BaseException:
            span.end()
            raise
        duration = time.perf_counter() - started
        # Validated (cheaper than model_construct in pydantic 2); rows skip validation.
        response = spec.response(
            operation=spec.name,
            correlation_id=ctx.correlation_id,
            success=True,
            duration_ms=duration * 1000,
            target=self._target,
            attempts=attempts,
            **fields,
        )
        self._finish(
            span=span,
            ctx=ctx,
            started=started,
            attempts=attempts,
            statement=statement,
            error=None,
            correlation=correlation,
        )
        return response

    async def _attempt(
        self,
        *,
        pool: PostgresPool,
        spec: _Spec,
        request: ModelPostgresRequestBase,
        ctx: ops.OperationContext,
        deadline: float,
        idempotent: bool,
    ) -> Fields:
        cid = ctx.correlation_id
        async with self._breaker.guard(operation=spec.name, correlation_id=cid):
            conn: PgConnection | None = None
            failure: BaseException | None = None
            try:
                async with asyncio.timeout_at(deadline):
                    try:
                        conn = await pool.acquire(cid)
                    except Exception as exc:
                        raise self._error(exc, ctx, EnumPhase.ACQUIRE, idempotent) from exc
                    try:
                        return await spec.run(conn, request, ctx)
                    except Exception as exc:
                        failure = exc
                        raise self._error(exc, ctx, EnumPhase.EXECUTE, idempotent) from exc
            except TimeoutError as exc:
                failure = exc
                # The deadline spans every attempt: when it passes, nothing is left to retry.
                raise InfraTimeoutError(
                    f"{spec.name}: did not finish within {ctx.timeout_seconds:g} s; a running "
                    "statement was cancelled on the server",
                    transport=_TRANSPORT,
                    operation=spec.name,
                    target=self._target,
                    correlation_id=cid,
                    timeout_seconds=ctx.timeout_seconds,
                    retryable=False,
                ) from exc
            except BaseException as exc:  # cancelled by the caller
                failure = failure or exc
                raise
            finally:
                # Outside the deadline: a result obtained just in time is not lost to a
                # timeout during the reset; the pool bounds the release itself.
                if conn is not None:
                    await pool.release(conn, error=failure, correlation_id=cid)

    def _error(
        self, exc: Exception, ctx: ops.OperationContext, phase: EnumPhase, idempotent: bool
    ) -> InfraError:
        return to_infra_error(
            exc,
            operation=ctx.operation,
            target=ctx.target,
            correlation_id=ctx.correlation_id,
            phase=phase,
            idempotent=idempotent,
            timeout_seconds=ctx.timeout_seconds,
        )

    @staticmethod
    def _transient(exc: BaseException) -> bool:
        # An open breaker answers for the whole wait: retrying within it only adds load.
        return isinstance(exc, InfraError) and exc.retryable and not _circuit_open(exc)

    async def _retry(
        self,
        first: InfraError,
        attempt: Callable[[], Awaitable[Fields]],
        request: ModelPostgresRequestBase,
        ctx: ops.OperationContext,
        deadline: float,
    ) -> Fields:
        """Hand a failed first attempt to the shared retry runner (the fast path runs the
        first attempt without it); the runner replays that failure as its attempt 1."""
        policy = request.retry_policy if request.retry_policy is not None else self._retry_policy
        remaining = deadline - asyncio.get_running_loop().time()
        if policy.max_attempts <= 1 or remaining <= 0 or not self._transient(first):
            raise first
        if policy.deadline_seconds is None or policy.deadline_seconds > remaining:
            policy = policy.model_copy(update={"deadline_seconds": remaining})
        replay: list[InfraError] = [first]
        last = first

        async def again() -> Fields:
            nonlocal last
            if replay:
                raise replay.pop()
            try:
                return await attempt()
            except InfraError as exc:
                if not _circuit_open(exc):
                    last = exc
                raise

        def on_retry(number: int, error: BaseException, delay: float) -> None:
            logger.warning(
                "postgres %s attempt %d failed (%s); retrying in %.3f s",
                ctx.operation,
                number,
                type(error).__name__,
                delay,
                extra=log_extra(ctx.correlation_id, ctx.operation, ctx.target),
            )

        try:
            return await run_with_retry(
                policy,
                again,
                classifier=self._transient,
                on_retry=on_retry,
                operation=ctx.operation,
            )
        except InfraUnavailableError as exc:
            # The breaker opened while we retried: what happened to this call is the last
            # real failure (the rejection stays attached as its context).
            if _circuit_open(exc):
                raise last from None
            raise

    def _finish(
        self,
        *,
        span: trace.Span,
        ctx: ops.OperationContext,
        started: float,
        attempts: int,
        statement: str | None,
        error: InfraError | None,
        correlation: ModelCorrelationContext,
    ) -> None:
        duration = time.perf_counter() - started
        self._telemetry.finish(span, ctx.operation, duration, attempts=attempts, error=error)
        self.metrics["total_operations"] += 1
        if error is None:
            self.metrics["success_count"] += 1
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "postgres %s ok in %.3f ms (%d attempt(s))",
                    ctx.operation,
                    duration * 1000,
                    attempts,
                    extra=log_extra(ctx.correlation_id, ctx.operation, ctx.target),
                )
        else:
            self.metrics["error_count"] += 1
            logger.warning(
                "postgres %s failed after %d attempt(s): %s",
                ctx.operation,
                attempts,
                error,
                extra={
                    **log_extra(ctx.correlation_id, ctx.operation, ctx.target),
                    "error_code": error.infra_error_code.value,
                },
            )
        if self._records is not None:
            self._records.emit(
                operation=ctx.operation,
                correlation=correlation,
                duration_seconds=duration,
                error=error,
                target=ctx.target,
                statement=statement,
                attributes={"db.system": "postgresql", "db.operation": ctx.operation},
            )

    # -- health --------------------------------------------------------------------------

    async def _health(self, request: ModelPostgresHealthRequest) -> ModelPostgresHealthResponse:
        """Never raises for an unreachable server: it reports it. Bypasses the breaker."""
        started = time.perf_counter()
        ctx = ops.OperationContext(
            "health", self._target, request.correlation_id, request.timeout_seconds
        )
        span = self._telemetry.start("health", request.correlation)
        status, message = EnumHealthStatus.HEALTHY, None
        version: str | None = None
        version_num: int | None = None
        latency_ms: float | None = None
        error: InfraError | None = None
        try:
            pool = self._require_pool(ctx)
            async with asyncio.timeout(request.timeout_seconds):
                conn = await pool.acquire(ctx.correlation_id)
                failure: BaseException | None = None
                try:
                    sent = time.perf_counter()
                    row = await conn.fetchrow(_HEALTH_SQL)
                    latency_ms = round((time.perf_counter() - sent) * 1000, 3)
                    if row is not None:
                        version, version_num = str(row["version"]), int(row["num"])
                except BaseException as exc:
                    failure = exc
                    raise
                finally:
                    await pool.release(conn, error=failure, correlation_id=ctx.correlation_id)
        except TimeoutError:
            status = EnumHealthStatus.UNHEALTHY
            message = f"no answer within {request.timeout_seconds:g} s"
        except Exception as exc:
            error = self._error(exc, ctx, EnumPhase.ACQUIRE, idempotent=True)
            status, message = EnumHealthStatus.UNHEALTHY, error.message
        circuit = self._breaker.state
        if status is EnumHealthStatus.HEALTHY and circuit not in _CLOSED_STATES:
            status = EnumHealthStatus.DEGRADED
            message = f"the server answers but the circuit breaker is {circuit.value}"
        pool_stats = (
            self._pool.stats()
            if self._pool is not None
            else ModelPostgresPoolStats(target=self._target, open=False, min_size=0, max_size=1)
        )
        duration = time.perf_counter() - started
        self._telemetry.finish(span, "health", duration, attempts=1, error=error)
        return ModelPostgresHealthResponse(
            correlation_id=ctx.correlation_id,
            success=True,
            duration_ms=duration * 1000,
            target=self._target,
            status=status,
            server_version=version,
            server_version_num=version_num,
            latency_ms=latency_ms,
            pool=pool_stats,
            circuit_state=circuit.value,
            message=message,
        )

    # -- preparation (validation before anything is sent) --------------------------------

    def _check(self, sql: str, allow: frozenset[Any], ctx: ops.OperationContext) -> str:
        return self._checker.check(
            sql, allow, operation=ctx.operation, correlation_id=ctx.correlation_id
        )

    def _prepare_read(
        self,
        req: ModelPostgresFetchRequest
        | ModelPostgresFetchOneRequest
        | ModelPostgresFetchValueRequest,
        ctx: ops.OperationContext,
    ) -> str | None:
        return self._check(req.sql, READ if req.read_only else READ_WRITE, ctx)

    def _prepare_statement(
        self,
        req: ModelPostgresExecuteRequest | ModelPostgresExecuteManyRequest,
        ctx: ops.OperationContext,
    ) -> str | None:
        return self._check(req.sql, SINGLE_STATEMENT, ctx)

    def _prepare_transaction(
        self, req: ModelPostgresTransactionRequest, ctx: ops.OperationContext
    ) -> str | None:
        allow = READ if req.read_only else TRANSACTION_STATEMENT
        texts = [self._check(s.sql, allow, ctx) for s in req.statements]
        return "; ".join(texts)

    def _prepare_copy(
        self, req: ModelPostgresCopyRecordsRequest, ctx: ops.OperationContext
    ) -> str | None:
        try:
            names = [quote_identifier(n) for n in (req.schema_name, req.table) if n is not None]
            columns = [quote_identifier(c) for c in req.columns or ()]
        except InfraValidationError as exc:
            raise ctx.invalid(f"bad identifier: {exc.message}", reason="identifier") from None
        column_list = f" ({', '.join(columns)})" if columns else ""
        return f"COPY {'.'.join(names)}{column_list} FROM STDIN (FORMAT binary)"

    def _prepare_migrate(
        self, req: ModelPostgresMigrateRequest, ctx: ops.OperationContext
    ) -> str | None:
        try:
            quote_identifier(req.schema_name)
            quote_identifier(req.table)
        except InfraValidationError as exc:
            raise ctx.invalid(f"bad identifier: {exc.message}", reason="identifier") from None
        ctx.state = load_migrations(req.source)
        return None


async def _run_migrate(
    conn: PgConnection, req: ModelPostgresMigrateRequest, ctx: ops.OperationContext
) -> Fields:
    return await apply_migrations(conn, req, ctx, cast(list[Any], ctx.state))


def _always(_request: object) -> bool:
    return True


def _never(_request: object) -> bool:
    return False


_SPECS: dict[type[ModelPostgresRequestBase], _Spec] = {
    ModelPostgresFetchRequest: _Spec(
        "fetch",
        ModelPostgresFetchResponse,
        NodePostgresAdapterEffect._prepare_read,
        (ops.fetch),
        lambda req: bool(req.read_only),
        lambda req: bool(req.read_only),
    ),
    ModelPostgresFetchOneRequest: _Spec(
        "fetch_one",
        ModelPostgresFetchOneResponse,
        NodePostgresAdapterEffect._prepare_read,
        (ops.fetch_one),
        lambda req: bool(req.read_only),
        lambda req: bool(req.read_only),
    ),
    ModelPostgresFetchValueRequest: _Spec(
        "fetch_value",
        ModelPostgresFetchValueResponse,
        NodePostgresAdapterEffect._prepare_read,
        (ops.fetch_value),
        lambda req: bool(req.read_only),
        lambda req: bool(req.read_only),
    ),
    ModelPostgresExecuteRequest: _Spec(
        "execute",
        ModelPostgresExecuteResponse,
        NodePostgresAdapterEffect._prepare_statement,
        (ops.execute),
        lambda req: bool(req.idempotent),
        _never,
    ),
    ModelPostgresExecuteManyRequest: _Spec(
        "execute_many",
        ModelPostgresExecuteManyResponse,
        NodePostgresAdapterEffect._prepare_statement,
        (ops.execute_many),
        lambda req: bool(req.idempotent),
        _never,
    ),
    ModelPostgresCopyRecordsRequest: _Spec(
        "copy_records",
        ModelPostgresCopyRecordsResponse,
        NodePostgresAdapterEffect._prepare_copy,
        (ops.copy_records),
        _never,
        _never,
    ),
    # Nothing of a transaction commits before COMMIT, so its body is always safe to retry.
    ModelPostgresTransactionRequest: _Spec(
        "transaction",
        ModelPostgresTransactionResponse,
        NodePostgresAdapterEffect._prepare_transaction,
        (ops.transaction),
        _always,
        lambda req: bool(req.read_only),
    ),
    # Re-running migrate is a no-op for what was applied.
    ModelPostgresMigrateRequest: _Spec(
        "migrate",
        ModelPostgresMigrateResponse,
        NodePostgresAdapterEffect._prepare_migrate,
        _run_migrate,
        _always,
        _never,
    ),
}
