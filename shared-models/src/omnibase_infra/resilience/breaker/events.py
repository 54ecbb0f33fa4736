"""The ONEX event a breaker publishes when its state changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.enums import EnumTransport
from omnibase_infra.resilience.breaker.engine import BreakerTransition
from omnibase_infra.resilience.breaker.state import EnumCircuitState

__all__ = [
    "STATE_CHANGED_EVENT_TYPE",
    "STATE_CHANGED_TOPIC",
    "ModelCircuitBreakerStateChanged",
]

STATE_CHANGED_TOPIC: Final = "onex.infra.circuit_breaker.state_changed"
STATE_CHANGED_EVENT_TYPE: Final = "circuit_breaker.state_changed"


def _utc(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


class ModelCircuitBreakerStateChanged(BaseModel):
    """Payload of a state-change event (JSON in the message value; no secrets).

    Times are UTC datetimes converted from the breaker clock (epoch seconds by default).
    The window totals are those that led to the change (before a close resets them).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    event_type: Literal["circuit_breaker.state_changed"] = STATE_CHANGED_EVENT_TYPE
    transport: EnumTransport
    target: str
    from_state: EnumCircuitState
    to_state: EnumCircuitState
    reason: str
    source: Literal["local", "store"]
    occurred_at: datetime
    open_until: datetime | None
    trip_count: int = Field(ge=0)
    generation: int = Field(ge=0)
    window_calls: int = Field(ge=0)
    window_failures: int = Field(ge=0)
    window_slow_calls: int = Field(ge=0)

    @classmethod
    def from_transition(cls, transition: BreakerTransition) -> ModelCircuitBreakerStateChanged:
        """The event for one engine transition."""
        return cls(
            transport=transition.key.transport,
            target=transition.key.target,
            from_state=transition.from_state,
            to_state=transition.to_state,
            reason=transition.reason,
            source=transition.source,
            occurred_at=datetime.fromtimestamp(transition.at, UTC),
            open_until=_utc(transition.open_until),
            trip_count=transition.trip_count,
            generation=transition.generation,
            window_calls=transition.window_calls,
            window_failures=transition.window_failures,
            window_slow_calls=transition.window_slow_calls,
        )
