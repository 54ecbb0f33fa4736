"""Version 1.0.0 of the circuit-breaker COMPUTE node, its models and the Redis breaker store."""

from omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0.compute import (
    COMPUTATION_TYPE,
    NodeCircuitBreakerCompute,
    load_contract,
)
from omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0.models import (
    EnumBreakerCommand,
    EnumBreakerDecision,
    EnumCallOutcome,
    ModelBreakerCommandEvent,
    ModelBreakerEvent,
    ModelBreakerQueryEvent,
    ModelBreakerRequest,
    ModelBreakerResult,
    ModelCallOutcomeEvent,
)
from omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0.redis_store import (
    DEFAULT_PREFIX,
    RedisBreakerStore,
)

__all__ = [
    "COMPUTATION_TYPE",
    "DEFAULT_PREFIX",
    "EnumBreakerCommand",
    "EnumBreakerDecision",
    "EnumCallOutcome",
    "ModelBreakerCommandEvent",
    "ModelBreakerEvent",
    "ModelBreakerQueryEvent",
    "ModelBreakerRequest",
    "ModelBreakerResult",
    "ModelCallOutcomeEvent",
    "NodeCircuitBreakerCompute",
    "RedisBreakerStore",
    "load_contract",
]
