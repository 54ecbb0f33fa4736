"""``ConsulClient``: the node's operations on one Consul agent, each one

1. under an enforced deadline (``timeout_seconds``, retries included);
2. through the agent's circuit breaker (one per agent; only transient failures count);
3. retried with the shared policy only when repeating it is safe (reads, registrations,
   TTL updates, unconditional writes; never a check-and-set);
4. failing with the taxonomy's error carrying the caller's correlation id;
5. traced and measured by the shared ``OperationTelemetry``: a CLIENT span
   ``consul.<operation>`` (a child of the caller's trace when the node's ``process()`` was
   given one), the histogram ``omnibase.consul.operation.duration`` and the counters
   ``omnibase.consul.operations`` / ``omnibase.consul.retries``; attributes name the
   operation and the agent, never a key's value or the token. With ``record_sink`` a
   ``ModelOperationRecord`` per operation too.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from consul.base import CB  # type: ignore[import-untyped]
from opentelemetry import metrics, trace

from omnibase_infra.errors import (
    InfraConflictError,
    InfraError,
    InfraTimeoutError,
    InfraValidationError,
)
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.consul import (
    EnumConsulCheckStatus,
    EnumConsulSessionBehavior,
    KVValue,
    ModelConsulConfig,
    ModelConsulKVEntry,
    ModelConsulServiceInstance,
    ModelConsulServiceRegistration,
    validate_consul_key,
)
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.transport import (
    TRANSPORT,
    AioConsul,
    CallContext,
    current_call,
)
from omnibase_infra.observability.telemetry import (
    AttributeValue,
    OperationRecordEmitter,
    OperationTelemetry,
    RecordSink,
    split_target,
)
from omnibase_infra.resilience import ModelRetryPolicy, run_with_retry
from omnibase_infra.resilience.breaker import BreakerRegistry, CircuitBreaker

__all__ = ["ConsulClient", "KVValue", "consul_telemetry", "request_correlation"]

logger = logging.getLogger("omnibase_infra.nodes.node_consul_adapter_effect")

# Spans and records of calls made without a correlation id carry the nil UUID.
_NO_CORRELATION = ModelCorrelationContext(correlation_id=UUID(int=0))
_CONTEXT_CACHE_SIZE = 1024

# The full correlation (trace ids) of the request the node's process() is running: the
# client's methods take only its id, the span is made a child of the caller's trace.
request_correlation: contextvars.ContextVar[ModelCorrelationContext | None] = (
    contextvars.ContextVar("consul_request_correlation", default=None)
)


def consul_telemetry(
    target: str,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> OperationTelemetry:
    """Spans ``consul.<operation>`` and metrics ``omnibase.consul.*`` of one agent."""
    address, port = split_target(target)
    base: dict[str, AttributeValue] = {"rpc.system": "consul", "server.address": address}
    if port is not None:
        base["server.port"] = port
    return OperationTelemetry(
        scope=logger.name,
        span_prefix="consul",
        duration_metric="omnibase.consul.operation.duration",
        counter_prefix="omnibase.consul",
        operation_attributes=("consul.operation",),
        span_attributes=base,
        metric_attributes={"rpc.system": "consul"},
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )


def encode_value(value: KVValue) -> bytes | None:
    """Bytes are stored as given, ``None`` as a key without a value, anything else as JSON."""
    if value is None or isinstance(value, bytes):
        return value
    return json.dumps(value, separators=(",", ":")).encode()


class ConsulClient:
    """Typed, non-blocking operations on one agent (see the module docstring)."""

    def __init__(
        self,
        config: ModelConsulConfig,
        *,
        retry_policy: ModelRetryPolicy | None = None,
        breakers: BreakerRegistry | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        record_sink: RecordSink | None = None,
    ) -> None:
        self.config = config
        self._api = AioConsul(config)
        self._retry = retry_policy if retry_policy is not None else ModelRetryPolicy()
        registry = breakers if breakers is not None else BreakerRegistry()
        self.breaker: CircuitBreaker = registry.get(TRANSPORT, config.target)
        self._telemetry = consul_telemetry(
            config.target, tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        self._contexts: dict[UUID, ModelCorrelationContext] = {}
        self._records = (
            OperationRecordEmitter(record_sink, transport=TRANSPORT, logger=logger)
            if record_sink is not None
            else None
        )

    async def close(self) -> None:
        """Close the HTTP connections (the client reopens them if used again)."""
        await self._api.http.close()

    def _key(
        self, key: str, operation: str, correlation_id: UUID | None, *, prefix: bool = False
    ) -> str:
        """``key`` if it is safe (see ``validate_consul_key``), else ``InfraValidationError``:
        an HTTP client would collapse ``a/../b`` or ``a//b`` into another key."""
        try:
            return validate_consul_key(key, prefix=prefix)
        except ValueError as exc:
            raise InfraValidationError(
                f"invalid consul key: {exc}",
                transport=TRANSPORT,
                operation=operation,
                target=self.config.target,
                correlation_id=correlation_id,
            ) from None

    async def _blocking[T](
        self,
        operation: str,
        send: Callable[[str], Awaitable[tuple[str, T]]],
        *,
        wait_seconds: float,
        correlation_id: UUID | None,
        allow_404: bool = False,
    ) -> tuple[int, T]:
        """One blocking query: ``send(wait)`` carries the caller's index; its deadline is
        ``wait + wait/16`` (Consul's jitter) plus the configured timeout."""
        wait = f"{max(1, round(wait_seconds))}s"
        index, result = await self._call(
            operation,
            lambda: send(wait),
            idempotent=True,
            correlation_id=correlation_id,
            timeout_seconds=wait_seconds * 17 / 16 + self.config.timeout_seconds,
            allow_404=allow_404,
        )
        return int(index), result

    async def _call[T](
        self,
        operation: str,
        send: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
        correlation_id: UUID | None,
        timeout_seconds: float | None,
        allow_404: bool = False,
    ) -> T:
        timeout = timeout_seconds if timeout_seconds is not None else self.config.timeout_seconds
        token = current_call.set(CallContext(operation, correlation_id, allow_404))
        attempts = 0

        async def attempt() -> T:
            nonlocal attempts
            attempts += 1
            async with self.breaker.guard(operation=operation, correlation_id=correlation_id):
                return await send()

        correlation = request_correlation.get()
        if correlation is None or correlation.correlation_id != correlation_id:
            correlation = self._correlation(correlation_id)
        started = time.perf_counter()
        span = self._telemetry.start(operation, correlation)
        error: InfraError | None = None
        cancelled = False
        try:
            async with asyncio.timeout(timeout):
                if idempotent:
                    return await run_with_retry(self._retry, attempt, operation=operation)
                return await attempt()
        except TimeoutError as exc:
            error = InfraTimeoutError(
                f"consul {operation} did not finish within {timeout:g}s",
                transport=TRANSPORT,
                operation=operation,
                target=self.config.target,
                correlation_id=correlation_id,
                timeout_seconds=timeout,
            )
            raise error from exc
        except InfraError as exc:
            error = exc
            raise
        except asyncio.CancelledError:
            cancelled = True  # a watch going away: no outcome to count
            span.end()
            raise
        finally:
            current_call.reset(token)
            if not cancelled:
                self._finish(
                    operation, correlation, span, started, attempts=max(attempts, 1), error=error
                )

    def _correlation(self, correlation_id: UUID | None) -> ModelCorrelationContext:
        """A context without a caller trace (a root span) for a bare correlation id: built
        once per id (a blocking-read loop reuses one), the nil UUID when there is none."""
        if correlation_id is None:
            return _NO_CORRELATION
        context = self._contexts.get(correlation_id)
        if context is None:
            if len(self._contexts) >= _CONTEXT_CACHE_SIZE:
                self._contexts.clear()
            context = self._contexts[correlation_id] = ModelCorrelationContext(
                correlation_id=correlation_id
            )
        return context

    def _finish(
        self,
        operation: str,
        correlation: ModelCorrelationContext,
        span: trace.Span,
        started: float,
        *,
        attempts: int,
        error: InfraError | None,
    ) -> None:
        duration = time.perf_counter() - started
        self._telemetry.finish(span, operation, duration, attempts=attempts, error=error)
        if self._records is not None:
            self._records.emit(
                operation=operation,
                correlation=correlation,
                duration_seconds=duration,
                error=error,
                target=self.config.target,
                attributes={"consul.operation": operation},
            )

    # -- services ---------------------------------------------------------------------

    async def register_service(
        self,
        registration: ModelConsulServiceRegistration,
        *,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        """Register (or replace) a service instance and its checks with the agent."""
        # python-consul 1.1 cannot send Meta or several checks: its transport can.
        body = json.dumps(registration.to_api())
        await self._call(
            "register_service",
            lambda: self._api.http.put(CB.bool(), "/v1/agent/service/register", data=body),
            idempotent=True,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
        )

    async def deregister_service(
        self,
        service_id: str,
        *,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        """Remove a service instance. Consul 1.8 accepts an unknown id (later versions
        answer 404, raised as ``InfraNotFoundError``)."""
        await self._call(
            "deregister_service",
            lambda: self._api.agent.service.deregister(service_id),
            idempotent=True,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
        )

    async def update_ttl(
        self,
        check_id: str,
        status: EnumConsulCheckStatus,
        *,
        note: str | None = None,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        """Set a TTL check to passing, warning or critical (and restart its TTL)."""
        update = {
            EnumConsulCheckStatus.PASSING: self._api.agent.check.ttl_pass,
            EnumConsulCheckStatus.WARNING: self._api.agent.check.ttl_warn,
            EnumConsulCheckStatus.CRITICAL: self._api.agent.check.ttl_fail,
        }[status]
        await self._call(
            "update_ttl",
            lambda: update(check_id, note),
            idempotent=True,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
        )

    async def healthy_instances(
        self,
        service: str,
        *,
        tag: str | None = None,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
    ) -> list[ModelConsulServiceInstance]:
        """Instances of ``service`` whose checks all pass (an unknown service has none)."""
        _, entries = await self._call(
            "healthy_instances",
            lambda: self._api.health.service(service, passing=True, tag=tag),
            idempotent=True,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
        )
        return [ModelConsulServiceInstance.from_health_entry(entry) for entry in entries]

    async def catalog_services(
        self, *, correlation_id: UUID | None = None, timeout_seconds: float | None = None
    ) -> dict[str, list[str]]:
        """Every service name of the datacenter with the union of its tags."""
        _, services = await self._call(
            "catalog_services",
            self._api.catalog.services,
            idempotent=True,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
        )
        return {name: list(tags or ()) for name, tags in services.items()}

    async def catalog_nodes(
        self, *, correlation_id: UUID | None = None, timeout_seconds: float | None = None
    ) -> dict[str, str]:
        """Every node of the datacenter: name to address."""
        _, nodes = await self._call(
            "catalog_nodes",
            self._api.catalog.nodes,
            idempotent=True,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
        )
        return {node["Node"]: node["Address"] for node in nodes}

    # -- sessions -------------------------------------------------------------------

    async def session_create(
        self,
        *,
        name: str | None = None,
        ttl_seconds: float | None = None,
        lock_delay_seconds: float = 15,
        behavior: EnumConsulSessionBehavior = EnumConsulSessionBehavior.RELEASE,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
    ) -> str:
        """Create a session (tied to the agent's node health) and return its id.

        Consul accepts a TTL from 10 s to 24 h; ``lock_delay_seconds=0`` lets another
        session take a released lock at once. Never retried: a lost answer would leak a
        session.
        """
        body: dict[str, Any] = {"LockDelay": f"{lock_delay_seconds:g}s", "Behavior": behavior.value}
        if name is not None:
            body["Name"] = name
        if ttl_seconds is not None:
            body["TTL"] = f"{ttl_seconds:g}s"
        data = json.dumps(body)
        session_id: str = await self._call(
            "session_create",
            lambda: self._api.http.put(CB.json(is_id=True), "/v1/session/create", data=data),
            idempotent=False,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
        )
        return session_id

    async def session_renew(
        self,
        session_id: str,
        *,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        """Restart a session's TTL; ``InfraNotFoundError`` when the session is gone."""
        await self._call(
            "session_renew",
            lambda: self._api.session.renew(session_id),
            idempotent=True,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
        )

    async def session_destroy(
        self,
        session_id: str,
        *,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        """Destroy a session: its locks are released (or their keys deleted)."""
        await self._call(
            "session_destroy",
            lambda: self._api.session.destroy(session_id),
            idempotent=True,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
        )

    async def kv_acquire(
        self,
        key: str,
        session_id: str,
        value: KVValue = None,
        *,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
    ) -> bool:
        """Try to take the lock on ``key`` for ``session_id``; ``False`` if another holds it."""
        key = self._key(key, "kv_acquire", correlation_id)
        data = encode_value(value)
        acquired: bool = await self._call(
            "kv_acquire",
            lambda: self._api.kv.put(key, data, acquire=session_id),
            idempotent=True,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
        )
        return acquired

    async def kv_release(
        self,
        key: str,
        session_id: str,
        *,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
    ) -> bool:
        """Release ``session_id``'s lock on ``key``; ``False`` if it did not hold it."""
        key = self._key(key, "kv_release", correlation_id)
        released: bool = await self._call(
            "kv_release",
            lambda: self._api.kv.put(key, None, release=session_id),
            idempotent=True,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
        )
        return released

    async def kv_wait(
        self,
        key: str,
        *,
        index: int,
        wait_seconds: float,
        correlation_id: UUID | None = None,
    ) -> tuple[int, ModelConsulKVEntry | None]:
        """A blocking read: returns when ``key`` changes after ``index`` or ``wait_seconds``
        pass, with the new index. The deadline is ``wait + wait/16`` (Consul's jitter) plus
        the configured timeout."""
        key = self._key(key, "kv_wait", correlation_id)
        new_index, item = await self._blocking(
            "kv_wait",
            lambda wait: self._api.kv.get(key, index=index, wait=wait),
            wait_seconds=wait_seconds,
            correlation_id=correlation_id,
            allow_404=True,
        )
        return new_index, None if item is None else ModelConsulKVEntry.from_api(item)

    async def health_wait(
        self,
        service: str,
        *,
        index: int,
        wait_seconds: float,
        tag: str | None = None,
        correlation_id: UUID | None = None,
    ) -> tuple[int, list[ModelConsulServiceInstance]]:
        """A blocking read of ``/v1/health/service/<service>`` (passing instances only):
        returns when the service's health changes after ``index`` or ``wait_seconds`` pass."""
        new_index, entries = await self._blocking(
            "health_wait",
            lambda wait: self._api.health.service(
                service, index=index, wait=wait, passing=True, tag=tag
            ),
            wait_seconds=wait_seconds,
            correlation_id=correlation_id,
        )
        return new_index, [ModelConsulServiceInstance.from_health_entry(e) for e in entries]

    async def catalog_wait(
        self,
        *,
        index: int,
        wait_seconds: float,
        correlation_id: UUID | None = None,
    ) -> tuple[int, dict[str, list[str]]]:
        """A blocking read of ``/v1/catalog/services``: returns when a service is added,
        removed or its tags change after ``index``, or ``wait_seconds`` pass."""
        new_index, services = await self._blocking(
            "catalog_wait",
            lambda wait: self._api.catalog.services(index=index, wait=wait),
            wait_seconds=wait_seconds,
            correlation_id=correlation_id,
        )
        return new_index, {name: list(tags or ()) for name, tags in services.items()}

    # -- KV ---------------------------------------------------------------------------

    async def kv_get(
        self,
        key: str,
        *,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
    ) -> ModelConsulKVEntry | None:
        """One key, or ``None`` when it does not exist."""
        key = self._key(key, "kv_get", correlation_id)
        _, item = await self._call(
            "kv_get",
            lambda: self._api.kv.get(key),
            idempotent=True,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
            allow_404=True,
        )
        return None if item is None else ModelConsulKVEntry.from_api(item)

    async def kv_get_tree(
        self,
        prefix: str,
        *,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
    ) -> list[ModelConsulKVEntry]:
        """Every key under ``prefix`` with its value, sorted by key."""
        prefix = self._key(prefix, "kv_get_tree", correlation_id, prefix=True)
        _, items = await self._call(
            "kv_get_tree",
            lambda: self._api.kv.get(prefix, recurse=True),
            idempotent=True,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
            allow_404=True,
        )
        return [ModelConsulKVEntry.from_api(item) for item in items or ()]

    async def kv_keys(
        self,
        prefix: str,
        *,
        separator: str | None = None,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
    ) -> list[str]:
        """The key names under ``prefix`` (up to ``separator`` when given)."""
        prefix = self._key(prefix, "kv_keys", correlation_id, prefix=True)
        _, keys = await self._call(
            "kv_keys",
            lambda: self._api.kv.get(prefix, keys=True, separator=separator),
            idempotent=True,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
            allow_404=True,
        )
        return list(keys or ())

    async def kv_put(
        self,
        key: str,
        value: KVValue,
        *,
        cas: int | None = None,
        flags: int | None = None,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        """Write a key. With ``cas`` the write happens only if the key's ``modify_index`` is
        ``cas`` (``0``: only if the key does not exist); otherwise ``InfraConflictError``."""
        key = self._key(key, "kv_put", correlation_id)
        data = encode_value(value)

        async def put() -> None:
            if not await self._api.kv.put(key, data, cas=cas, flags=flags):
                raise self._conflict(key, cas, "kv_put", correlation_id)

        await self._call(
            "kv_put",
            put,
            idempotent=cas is None,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
        )

    async def kv_delete(
        self,
        key: str,
        *,
        recurse: bool = False,
        cas: int | None = None,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        """Delete a key (or every key under it with ``recurse``). With ``cas`` only if the
        key's ``modify_index`` is ``cas``; otherwise ``InfraConflictError``."""
        key = self._key(key, "kv_delete", correlation_id, prefix=recurse)

        async def delete() -> None:
            if not await self._api.kv.delete(key, recurse=recurse or None, cas=cas):
                raise self._conflict(key, cas, "kv_delete", correlation_id)

        await self._call(
            "kv_delete",
            delete,
            idempotent=cas is None,
            correlation_id=correlation_id,
            timeout_seconds=timeout_seconds,
        )

    def _conflict(
        self, key: str, cas: int | None, operation: str, cid: UUID | None
    ) -> InfraConflictError:
        return InfraConflictError(
            f"check-and-set on {key!r} failed: the key changed since index {cas}",
            transport=TRANSPORT,
            operation=operation,
            target=self.config.target,
            correlation_id=cid,
            index=cas,
        )
