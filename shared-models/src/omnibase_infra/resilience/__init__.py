"""Resilience helpers shared by every node: the retry/backoff policy and its runner, and
the circuit breaker (``omnibase_infra.resilience.breaker``).
"""

from typing import TYPE_CHECKING, Any, Final

from omnibase_infra.resilience.breaker import (
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    EnumCircuitState,
    ModelCircuitBreakerConfig,
)
from omnibase_infra.resilience.model_retry_policy import ModelRetryPolicy

if TYPE_CHECKING:
    from omnibase_infra.resilience.retry import (
        Classifier,
        OnRetry,
        is_transient,
        run_with_retry,
        run_with_retry_sync,
    )

# The retry runner needs tenacity, which costs import time that nodes on the effect
# platform (its runner retries) never need: loaded on first access.
_RETRY_NAMES: Final = frozenset(
    {"Classifier", "OnRetry", "is_transient", "run_with_retry", "run_with_retry_sync"}
)


def __getattr__(name: str) -> Any:
    if name in _RETRY_NAMES:
        from omnibase_infra.resilience import retry  # noqa: PLC0415

        return getattr(retry, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


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
