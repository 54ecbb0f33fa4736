"""The circuit-breaker engine: sliding-window failure and slow-call rates, bounded
half-open probing, a per-target registry, an asyncio guard and a shared-state store.
"""

from omnibase_infra.resilience.breaker.breaker import BreakerGuard, CircuitBreaker, Clock, Protector
from omnibase_infra.resilience.breaker.classifier import BreakerClassifier, is_breaker_failure
from omnibase_infra.resilience.breaker.config import (
    MAX_TIME_WINDOW_SECONDS,
    ModelCircuitBreakerConfig,
)
from omnibase_infra.resilience.breaker.engine import (
    Admission,
    BreakerTransition,
    CircuitBreakerEngine,
    ModelCircuitBreakerSnapshot,
    Permit,
    Rejection,
)
from omnibase_infra.resilience.breaker.errors import CircuitOpenError
from omnibase_infra.resilience.breaker.events import (
    STATE_CHANGED_EVENT_TYPE,
    STATE_CHANGED_TOPIC,
    ModelCircuitBreakerStateChanged,
)
from omnibase_infra.resilience.breaker.registry import BreakerRegistry, ConfigFactory
from omnibase_infra.resilience.breaker.state import EnumCallOutcome, EnumCircuitState
from omnibase_infra.resilience.breaker.store import (
    BreakerKey,
    BreakerStoreRecord,
    InMemoryBreakerStore,
    ProtocolBreakerStore,
)

__all__ = [
    "MAX_TIME_WINDOW_SECONDS",
    "STATE_CHANGED_EVENT_TYPE",
    "STATE_CHANGED_TOPIC",
    "Admission",
    "BreakerClassifier",
    "BreakerGuard",
    "BreakerKey",
    "BreakerRegistry",
    "BreakerStoreRecord",
    "BreakerTransition",
    "CircuitBreaker",
    "CircuitBreakerEngine",
    "CircuitOpenError",
    "Clock",
    "ConfigFactory",
    "EnumCallOutcome",
    "EnumCircuitState",
    "InMemoryBreakerStore",
    "ModelCircuitBreakerConfig",
    "ModelCircuitBreakerSnapshot",
    "ModelCircuitBreakerStateChanged",
    "Permit",
    "Protector",
    "ProtocolBreakerStore",
    "Rejection",
    "is_breaker_failure",
]
