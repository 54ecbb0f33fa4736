"""The base every effect node derives from: what a node does not write again.

A node declares its operations as typed methods marked with :func:`operation`, builds its
transport and its :class:`~omnibase_infra.observability.telemetry.OperationTelemetry`, and
calls ``super().__init__``; the base gives it:

* **policies** from the node's contract YAML (``load_effect_policies``), with the caller's
  overrides, and the **runner** (:class:`~omnibase_infra.effect.runner.OperationRunner`)
  that every operation goes through (``self.run(request, call)``);
* the target's **breaker** (from a shared registry, configured by the contract); a node
  that talks to many servers (webhook delivery) runs an operation against another target
  with ``self.run(..., target=...)``: that target's breaker, the same telemetry;
* **dispatch**: ``process(request)`` finds the operation by the request's type in one
  table (``operations`` by name, for the orchestrator); ``process(ModelEffectInput)``
  takes core's envelope once for every node (below);
* **lifecycle**: ``async with node``, ``await node.aclose()`` (idempotent; ``close`` is the
  same), core's ``_initialize_node_resources`` / ``_cleanup_node_resources``;
* core's ``metrics`` counters, ``record_sink``, ``target``, ``breaker``, ``policies``.

Core's envelope: ``operation_data`` is the request as a dict; ``metadata`` carries the
caller's correlation and trace context (``omnibase_infra.observability.inject`` keys; the
envelope's ``operation_id`` is the correlation id when none is given; with a ``traceparent``
the operation's span is a child of the sender's span, without one it joins the current
OpenTelemetry span). Fields the caller set
are honoured: ``timeout_ms`` is the request's deadline; ``retry_enabled`` / ``max_retries`` /
``retry_delay_ms`` become the request's retry policy; ``circuit_breaker_enabled=False``
is refused (the breaker protects the target, not the caller). Fields left at core's defaults
change nothing: the contract decides. The output's ``result`` is the response as JSON
(secret values masked) and ``retry_count`` the retries the operation took.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self, overload

from omnibase_core.enums.enum_effect_types import EnumEffectType, EnumTransactionState
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.nodes import ModelEffectInput, ModelEffectOutput, NodeEffect
from pydantic import BaseModel, ValidationError

from omnibase_infra.effect.policy import (
    ModelEffectPolicies,
    ModelOperationPolicy,
    load_effect_policies,
)
from omnibase_infra.effect.runner import (
    Attempt,
    ErrorMapper,
    OperationOutcome,
    OperationRunner,
)
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraError,
    InfraValidationError,
    summarize_validation_error,
)
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.observability import CORRELATION_ID, caller_context
from omnibase_infra.observability.telemetry import (
    OperationRecordEmitter,
    OperationTelemetry,
    RecordSink,
)
from omnibase_infra.resilience.breaker import BreakerRegistry, CircuitBreaker
from omnibase_infra.resilience.model_retry_policy import ModelRetryPolicy

__all__ = ["EffectOperation", "InfraEffectNode", "operation"]

_MARK: Final = "__omnibase_effect_operation__"
# Runners kept for other targets (``run(..., target=...)``) before the cache starts again.
_MAX_TARGET_RUNNERS: Final = 1024
# Set while core's envelope runs an operation, so that its output can report the retries.
_ENVELOPE_ATTEMPTS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "omnibase_infra_envelope_attempts", default=None
)


async def _collect_attempts[T](
    outcome: Coroutine[Any, Any, OperationOutcome[T]], collector: list[int]
) -> OperationOutcome[T]:
    finished = await outcome
    collector.append(finished.attempts)
    return finished


@dataclass(frozen=True, slots=True)
class EffectOperation:
    """One operation of a node class: its name, its request model, the method running it."""

    name: str
    request: type[ModelInfraRequest]
    method: str


def operation[F: Callable[..., Awaitable[Any]]](
    request: type[ModelInfraRequest], *names: str
) -> Callable[[F], F]:
    """Mark an ``async def method(self, request)`` as the node's operation(s) for
    ``request``; ``names`` default to the method's name (one request model may serve
    several operations, e.g. ``kv_delete`` / ``kv_undelete`` / ``kv_destroy``)."""

    def mark(method: F) -> F:
        setattr(method, _MARK, (request, names or (method.__name__,)))
        return method

    return mark


class InfraEffectNode(NodeEffect):
    """Base of the effect nodes (see the module docstring).

    Subclasses set the class attributes and call ``super().__init__`` once they know their
    target. ``policy_overrides`` change operations' policies (strictly validated);
    ``policies`` replaces the contract's altogether. ``breakers`` shares breakers between
    nodes (a private registry otherwise); ``breaker_defaults`` are the node's code defaults
    for its breaker (e.g. its classifier) under what the contract says.
    """

    node_name: ClassVar[str]
    """The node's name (``node_postgres_adapter_effect``)."""
    env_name: ClassVar[str]
    """Its part of ``OMNIBASE_INFRA_<NODE>_<FIELD>`` (``POSTGRES``)."""
    transport: ClassVar[EnumTransport]
    contract_package: ClassVar[str]
    """The package holding ``contracts/effect_contract.yaml``."""
    effect_type: ClassVar[EnumEffectType] = EnumEffectType.API_CALL
    operations: ClassVar[Mapping[str, EffectOperation]] = {}
    """Every operation by name (one lookup for the orchestrator)."""
    _by_request: ClassVar[dict[type[ModelInfraRequest], EffectOperation]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        by_name: dict[str, EffectOperation] = dict(cls.operations)
        by_request = dict(cls._by_request)
        for attribute, value in vars(cls).items():
            marked = getattr(value, _MARK, None)
            if marked is None:
                continue
            request, names = marked
            for name in names:
                entry = EffectOperation(name, request, attribute)
                by_name[name] = entry
                by_request.setdefault(request, entry)
        cls.operations = by_name
        cls._by_request = by_request

    def __init__(
        self,
        container: ModelONEXContainer | None,
        *,
        target: str,
        telemetry: OperationTelemetry,
        logger: logging.Logger,
        map_error: ErrorMapper | None = None,
        policies: ModelEffectPolicies | None = None,
        policy_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        breakers: BreakerRegistry | None = None,
        breaker_defaults: Mapping[str, Any] | None = None,
        record_sink: RecordSink | None = None,
    ) -> None:
        super().__init__(container if container is not None else ModelONEXContainer())
        base = policies if policies is not None else load_effect_policies(self.contract_package)
        self._policies = base.with_overrides(policy_overrides) if policy_overrides else base
        missing = sorted(set(self.operations) - set(self._policies.operations))
        if missing:
            raise InfraConfigurationError(
                f"{self.node_name}: the contract ({self._policies.node}) has no policy for: "
                + ", ".join(missing),
                transport=EnumTransport.INTERNAL,
                operation="configure",
                target=self.node_name,
            )
        self._target = target
        self._logger = logger
        if self._policies.breaker_enabled and breakers is None:
            breakers = BreakerRegistry(
                self._policies.breaker_config(**dict(breaker_defaults or {}))
            )
        self._breakers = breakers if self._policies.breaker_enabled else None
        self._telemetry = telemetry
        self._map_error = map_error
        self._records = (
            OperationRecordEmitter(record_sink, transport=self.transport, logger=logger)
            if record_sink is not None
            else None
        )
        self._runner = self._new_runner(target)
        self._breaker = self._runner.breaker
        self._target_runners: dict[str, OperationRunner] = {target: self._runner}
        self._handlers: dict[type[ModelInfraRequest], Callable[[Any], Awaitable[BaseModel]]] = {
            request: getattr(self, entry.method) for request, entry in self._by_request.items()
        }
        self._closed = False

    def _new_runner(self, target: str) -> OperationRunner:
        return OperationRunner(
            transport=self.transport,
            target=target,
            telemetry=self._telemetry,
            logger=self._logger,
            breaker=None if self._breakers is None else self._breakers.get(self.transport, target),
            map_error=self._map_error,
            records=self._records,
            on_finish=self._count,
        )

    # -- views ---------------------------------------------------------------------------

    @property
    def target(self) -> str:
        """What this node talks to (``host:port`` or a name; never credentials)."""
        return self._target

    @property
    def breaker(self) -> CircuitBreaker | None:
        """The target's circuit breaker (``None`` when the contract turns it off)."""
        return self._breaker

    @property
    def policies(self) -> ModelEffectPolicies:
        """Every operation's policy, from the contract and the overrides."""
        return self._policies

    @property
    def runner(self) -> OperationRunner:
        """The runner every operation of this node goes through."""
        return self._runner

    @property
    def breakers(self) -> BreakerRegistry | None:
        """The registry the node's breakers come from (``None`` when the contract turns the
        breaker off)."""
        return self._breakers

    def runner_for(self, target: str) -> OperationRunner:
        """The runner of ``target``: this node's telemetry, error mapper, records and
        metrics with ``target``'s breaker from the node's registry (built once per target;
        the node's own target gives :attr:`runner`)."""
        runner = self._target_runners.get(target)
        if runner is None:
            if len(self._target_runners) >= _MAX_TARGET_RUNNERS:
                self._target_runners = {self._target: self._runner}
            runner = self._target_runners[target] = self._new_runner(target)
        return runner

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has run."""
        return self._closed

    # -- running operations ----------------------------------------------------------------

    def policy(self, operation: str) -> ModelOperationPolicy:
        """The policy of one operation (a clear error for one the contract lacks)."""
        return self._policies.get(operation)

    def run[T](
        self,
        request: ModelInfraRequest,
        call: Callable[[Attempt], Awaitable[T]],
        *,
        operation: str | None = None,
        idempotent: bool | None = None,
        statement: str | None = None,
        record_attributes: Mapping[str, str | bool | int | float] | None = None,
        target: str | None = None,
        timeout_seconds: float | None = None,
        retry: ModelRetryPolicy | None = None,
    ) -> Coroutine[Any, Any, OperationOutcome[T]]:
        """Run ``call`` as ``request``'s operation through the runner: the contract's policy,
        with the request's own ``timeout_seconds`` and ``retry_policy`` when it set them
        (else ``timeout_seconds`` and ``retry`` when given: the node's own defaults for this
        call). ``target``: another server than the node's (:meth:`runner_for`).

        Await it at once (``await self.run(...)``): it returns the runner's coroutine
        itself, a frame fewer per call, unless core's envelope is collecting attempts."""
        policy = self._policies.get(operation or request.operation)
        runner = self._runner if target is None else self.runner_for(target)
        outcome = runner.run(
            policy,
            call,
            correlation=request.correlation,
            timeout_seconds=(
                request.timeout_seconds
                if "timeout_seconds" in request.model_fields_set
                else timeout_seconds
            ),
            retry=request.retry_policy or retry,
            idempotent=idempotent,
            statement=statement,
            record_attributes=record_attributes,
        )
        collector = _ENVELOPE_ATTEMPTS.get()
        if collector is None:
            return outcome
        return _collect_attempts(outcome, collector)

    def _count(self, _operation: str, error: InfraError | None) -> None:
        metrics = self.metrics
        metrics["total_operations"] = metrics.get("total_operations", 0) + 1
        key = "success_count" if error is None else "error_count"
        metrics[key] = metrics.get(key, 0) + 1

    # -- dispatch ----------------------------------------------------------------------

    if TYPE_CHECKING:

        @overload
        async def process(self, input_data: ModelEffectInput) -> ModelEffectOutput: ...
        @overload
        async def process(self, input_data: ModelInfraRequest) -> BaseModel: ...
        async def process(
            self, input_data: ModelEffectInput | ModelInfraRequest
        ) -> ModelEffectOutput | BaseModel:
            """Run a typed request (its operation found by its type), or core's envelope."""
            raise NotImplementedError

    else:

        @inspect.markcoroutinefunction
        def process(self, input_data):
            """Run a typed request (its operation found by its type), or core's envelope.

            A plain method returning the operation's coroutine (a frame fewer per call),
            marked so that ``inspect.iscoroutinefunction`` still says True."""
            handler = self._handlers.get(type(input_data))
            if handler is not None:
                return handler(input_data)
            return self._process_other(input_data)

    async def _process_other(self, input_data: object) -> ModelEffectOutput:
        if isinstance(input_data, ModelEffectInput):
            return await self._process_envelope(input_data)
        raise InfraValidationError(
            f"{self.node_name} has no operation for {type(input_data).__name__}",
            transport=self.transport,
            operation="process",
            target=self._target,
        )

    def parse_request(self, data: Mapping[str, Any]) -> ModelInfraRequest:
        """A typed request from a dict naming its ``operation`` (core's envelope, the CLI)."""
        name = data.get("operation")
        entry = self.operations.get(name) if isinstance(name, str) else None
        if entry is None:
            known = ", ".join(sorted(self.operations))
            msg = f"unknown operation {name!r} (known: {known})"
            raise InfraValidationError(
                f"invalid request: {msg}",
                transport=self.transport,
                operation=str(name or "process"),
                target=self._target,
                reason="unknown_operation",
            )
        try:
            return entry.request.model_validate(dict(data))
        except ValidationError as exc:
            raise InfraValidationError(
                f"invalid request: {summarize_validation_error(exc, root='request')}",
                transport=self.transport,
                operation=entry.name,
                target=self._target,
                reason="invalid_request",
            ) from None

    async def _process_envelope(self, envelope: ModelEffectInput) -> ModelEffectOutput:
        metadata = {k: v for k, v in envelope.metadata.items() if isinstance(v, str)}
        metadata.setdefault(CORRELATION_ID, str(envelope.operation_id))
        correlation = caller_context(metadata)
        given = envelope.model_fields_set

        def refuse(message: str) -> InfraValidationError:
            return InfraValidationError(
                message,
                transport=self.transport,
                operation=str(envelope.operation_data.get("operation", "process")),
                target=self._target,
                correlation_id=correlation.correlation_id,
                reason="invalid_envelope",
            )

        if envelope.effect_type is not self.effect_type:
            raise refuse(
                f"effect_type must be {self.effect_type.value}, not {envelope.effect_type.value}"
            )
        if "circuit_breaker_enabled" in given and not envelope.circuit_breaker_enabled:
            raise refuse(
                "circuit_breaker_enabled=False is refused: the breaker protects the target "
                "(turn it off in the node's contract, retry_policies.circuit_breaker_enabled)"
            )
        data: dict[str, Any] = {"correlation": correlation, **envelope.operation_data}
        if "timeout_ms" in given:
            data["timeout_seconds"] = envelope.timeout_ms / 1000
        if given & {"retry_enabled", "max_retries", "retry_delay_ms"}:
            delay = envelope.retry_delay_ms / 1000
            data["retry_policy"] = ModelRetryPolicy(
                max_attempts=envelope.max_retries + 1 if envelope.retry_enabled else 1,
                base_delay_seconds=delay,
                max_delay_seconds=max(delay, ModelRetryPolicy().max_delay_seconds),
            )
        request = self.parse_request(data)
        attempts: list[int] = []
        token = _ENVELOPE_ATTEMPTS.set(attempts)
        started = time.perf_counter()
        try:
            response = await self.process(request)
        finally:
            _ENVELOPE_ATTEMPTS.reset(token)
        return ModelEffectOutput(
            result=response.model_dump(mode="json", fallback=str),
            operation_id=envelope.operation_id,
            effect_type=self.effect_type,
            transaction_state=EnumTransactionState.COMMITTED,
            processing_time_ms=(time.perf_counter() - started) * 1000,
            retry_count=sum(attempts) - len(attempts),
            metadata={
                "operation": request.operation,
                "target": self._target,
                "correlation_id": str(correlation.correlation_id),
            },
        )

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Connect now instead of on first use (nodes with connections override it)."""

    async def _close_resources(self) -> None:
        """Release the node's transport (thread pools, sessions, pools); called once."""

    async def aclose(self) -> None:
        """Release everything the node holds; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._close_resources()

    async def close(self) -> None:
        """The same as :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _initialize_node_resources(self) -> None:
        # Replaces NodeEffect's, which looks a config provider up through the container
        # (impossible inside a running loop); connections open lazily or with open().
        self.state["target"] = self._target

    async def _cleanup_node_resources(self) -> None:
        await super()._cleanup_node_resources()
        await self.aclose()
