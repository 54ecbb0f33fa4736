"""Resilience helpers shared by every node: the retry/backoff policy and its runner, and
the circuit breaker (``omnibase_infra.resilience.breaker``).
"""

from omnibase_infra.resilience.breaker import (
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    EnumCircuitState,
    ModelCircuitBreakerConfig,
)
from omnibase_infra.resilience.model_retry_policy import ModelRetryPolicy
from omnibase_infra.resilience.retry import (
    Classifier,
    OnRetry,
    is_transient,
    run_with_retry,
    run_with_retry_sync,
)

__all__ = [
    "BreakerRegistry",
    "CircuitBreaker",
    "CircuitOpenError",
    "Classifier",
    "EnumCircuitState",
    "ModelCircuitBreakerConfig",
    "ModelRetryPolicy",
    "OnRetry",
    "is_transient",
    "run_with_retry",
    "run_with_retry_sync",
]
