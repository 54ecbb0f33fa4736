"""``NodeCircuitBreakerCompute``: the circuit-breaker engine as an ONEX COMPUTE node.

Style B (``process()`` overridden): the node is stateful, so omnibase-core's result cache
(on by default, keyed on the input) is never consulted and ``cache_hit`` is always False.
Breakers live in a :class:`BreakerRegistry` keyed by (transport, target); pass the
registry the effect nodes use to share their breakers in-process, or a store (e.g.
:class:`RedisBreakerStore`) to share them between replicas.
"""

from __future__ import annotations

import asyncio
import time
from functools import cache
from typing import Any

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.models.contracts.model_contract_compute import ModelContractCompute
from omnibase_core.nodes import ModelComputeInput, ModelComputeOutput, NodeCompute
from pydantic import ValidationError

from omnibase_infra.contracts import load_node_contract
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraTimeoutError, InfraValidationError
from omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0.models import (
    EnumBreakerCommand,
    EnumBreakerDecision,
    ModelBreakerCommandEvent,
    ModelBreakerQueryEvent,
    ModelBreakerRequest,
    ModelBreakerResult,
)
from omnibase_infra.resilience.breaker import (
    Admission,
    BreakerRegistry,
    CircuitBreaker,
    Clock,
    ModelCircuitBreakerConfig,
    ProtocolBreakerStore,
)

__all__ = ["COMPUTATION_TYPE", "NodeCircuitBreakerCompute", "load_contract"]

COMPUTATION_TYPE = "circuit_breaker"
_PACKAGE = "omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0"
_CONTRACT = "contracts/compute_contract.yaml"


@cache
def load_contract() -> ModelContractCompute:
    """The node's contract (package data), validated once per process."""
    return load_node_contract(_PACKAGE, _CONTRACT, ModelContractCompute)


class NodeCircuitBreakerCompute(NodeCompute):
    """Records call outcomes, answers admission queries and applies manual commands.

    ``process()`` takes a ``ModelComputeInput`` whose ``data`` is a
    :class:`ModelBreakerRequest` (or a mapping of one) and returns a
    ``ModelComputeOutput`` whose ``result`` is a :class:`ModelBreakerResult`;
    :meth:`handle` does the same with the typed models directly. Transitions are published
    on the registry's event bus and written to its store; decisions use the registry's
    clock (``clock`` is the clock of the registry the node creates when given none).
    """

    def __init__(
        self,
        container: ModelONEXContainer,
        *,
        registry: BreakerRegistry | None = None,
        store: ProtocolBreakerStore | None = None,
        config: ModelCircuitBreakerConfig | None = None,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(container)
        if registry is not None and (store is not None or config is not None):
            raise InfraValidationError(
                "pass either a registry or a store/config for a new one, not both",
                transport=EnumTransport.INTERNAL,
                operation="node_circuit_breaker_init",
            )
        self.contract = load_contract()
        self.registry = (
            registry if registry is not None else BreakerRegistry(config, clock=clock, store=store)
        )

    async def process(self, input_data: ModelComputeInput[Any]) -> ModelComputeOutput[Any]:
        """Apply one event to its breaker (see :meth:`handle`); never cached."""
        result = await self.handle(_request(input_data))
        return ModelComputeOutput[ModelBreakerResult](
            result=result,
            operation_id=input_data.operation_id,
            computation_type=COMPUTATION_TYPE,
            processing_time_ms=result.duration_ms,
            cache_hit=False,
            metadata={"correlation_id": str(result.correlation_id)},
        )

    async def handle(self, request: ModelBreakerRequest) -> ModelBreakerResult:
        """The typed entry point: the decision for ``request`` and the breaker's state.

        Raises ``InfraTimeoutError`` when ``request.timeout_seconds`` passes first.
        """
        started = time.perf_counter()
        breaker = self.registry.get(request.transport, request.target)
        try:
            async with asyncio.timeout(request.timeout_seconds):
                decision, probe, retry_at = await self._apply(breaker, request)
        except TimeoutError as exc:
            raise InfraTimeoutError(
                f"circuit breaker {breaker.key} did not answer in time",
                transport=breaker.key.transport,
                operation=request.operation,
                target=breaker.key.target,
                correlation_id=request.correlation_id,
                timeout_seconds=request.timeout_seconds,
            ) from exc
        return ModelBreakerResult(
            operation=request.operation,
            correlation_id=request.correlation_id,
            success=True,
            duration_ms=(time.perf_counter() - started) * 1000,
            transport=breaker.key.transport,
            target=breaker.key.target,
            event=request.event.kind,
            decision=decision,
            probe=probe,
            retry_at=retry_at,
            store_version=breaker.store_version,
            snapshot=breaker.snapshot(),
        )

    async def _apply(
        self, breaker: CircuitBreaker, request: ModelBreakerRequest
    ) -> tuple[EnumBreakerDecision, bool, float | None]:
        event = request.event
        if isinstance(event, ModelBreakerCommandEvent):
            await _COMMANDS[event.command](breaker)
            return EnumBreakerDecision.APPLIED, False, None
        await breaker.sync()  # decide on what the other replicas decided
        if isinstance(event, ModelBreakerQueryEvent):
            return _decision(breaker.peek(), EnumBreakerDecision.ALLOW)
        admission = await breaker.record(event.outcome, event.duration_seconds)
        return _decision(admission, EnumBreakerDecision.RECORDED)


def _request(input_data: ModelComputeInput[Any]) -> ModelBreakerRequest:
    data = input_data.data
    if isinstance(data, ModelBreakerRequest):
        return data
    try:
        return ModelBreakerRequest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(data)'}: {e['msg']}" for e in exc.errors()
        )
        raise InfraValidationError(
            f"invalid circuit-breaker request: {problems}",
            transport=EnumTransport.INTERNAL,
            operation="node_circuit_breaker_process",
        ) from None


async def _isolate(breaker: CircuitBreaker) -> None:
    await breaker.isolate()


async def _reset(breaker: CircuitBreaker) -> None:
    await breaker.reset()


async def _disable(breaker: CircuitBreaker) -> None:
    await breaker.disable()


_COMMANDS = {
    EnumBreakerCommand.ISOLATE: _isolate,
    EnumBreakerCommand.RESET: _reset,
    EnumBreakerCommand.DISABLE: _disable,
}


def _decision(
    admission: Admission, admitted: EnumBreakerDecision
) -> tuple[EnumBreakerDecision, bool, float | None]:
    if admission.admitted:
        return admitted, admission.probe, None
    return EnumBreakerDecision.REJECT, False, admission.retry_at
