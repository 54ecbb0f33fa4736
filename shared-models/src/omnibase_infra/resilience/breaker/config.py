"""The configuration of one circuit breaker."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from omnibase_infra.resilience.breaker.classifier import BreakerClassifier, is_breaker_failure

__all__ = ["MAX_TIME_WINDOW_SECONDS", "ModelCircuitBreakerConfig"]

MAX_TIME_WINDOW_SECONDS = 3600


class ModelCircuitBreakerConfig(BaseModel):
    """Sliding-window breaker settings, named after resilience4j's.

    Validated once; the engine copies the values into plain attributes for its hot path.
    Rates are percentages of the calls in the window. A call is slow when it takes longer
    than ``slow_call_duration_seconds``. The wait in open after the n-th consecutive trip is
    ``min(max_wait_in_open_seconds, wait_in_open_seconds * wait_multiplier**(n-1))``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    sliding_window_type: Literal["count", "time"] = Field(
        default="count", description="count: the last N calls; time: the last N seconds"
    )
    sliding_window_size: int = Field(
        default=100, ge=1, le=100_000, description="Calls (count) or whole seconds (time)"
    )
    minimum_calls: int = Field(
        default=20, ge=1, description="Calls in the window before any rate is evaluated"
    )
    failure_rate_threshold: float = Field(
        default=50.0, gt=0.0, le=100.0, description="Open when failures reach this % of calls"
    )
    slow_call_duration_seconds: float | None = Field(
        default=60.0, gt=0.0, description="Longer than this is slow; None disables slow calls"
    )
    slow_call_rate_threshold: float = Field(
        default=100.0, gt=0.0, le=100.0, description="Open when slow calls reach this % of calls"
    )
    wait_in_open_seconds: float = Field(
        default=30.0, ge=0.0, description="Wait in open after the first trip"
    )
    wait_multiplier: float = Field(
        default=2.0, ge=1.0, description="Growth of the wait per consecutive trip (1: constant)"
    )
    max_wait_in_open_seconds: float = Field(
        default=300.0, ge=0.0, description="Cap of the grown wait"
    )
    half_open_max_probes: int = Field(
        default=3, ge=1, description="Probe calls allowed at the same time in half-open"
    )
    half_open_successes_to_close: int = Field(
        default=3, ge=1, description="Successful probes that close the breaker"
    )
    probe_lease_seconds: float = Field(
        default=60.0, gt=0.0, description="A shared-store probe permit expires after this"
    )
    store_sync_interval_seconds: float = Field(
        default=1.0, gt=0.0, description="At most one store read per interval, on a call"
    )
    classifier: BreakerClassifier = Field(
        default=is_breaker_failure, description="(error, key) -> counts as a failure"
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.sliding_window_type == "count" and self.minimum_calls > self.sliding_window_size:
            msg = "minimum_calls must be <= sliding_window_size for a count window"
            raise ValueError(msg)
        if (
            self.sliding_window_type == "time"
            and self.sliding_window_size > MAX_TIME_WINDOW_SECONDS
        ):
            msg = f"a time window is at most {MAX_TIME_WINDOW_SECONDS} seconds"
            raise ValueError(msg)
        if self.max_wait_in_open_seconds < self.wait_in_open_seconds:
            msg = "max_wait_in_open_seconds must be >= wait_in_open_seconds"
            raise ValueError(msg)
        return self

    def wait_for_trip(self, trip_count: int) -> float:
        """Seconds to stay open after the ``trip_count``-th consecutive trip (1-based)."""
        exponent = max(trip_count, 1) - 1
        try:
            grown = self.wait_in_open_seconds * self.wait_multiplier**exponent
        except OverflowError:
            return self.max_wait_in_open_seconds
        return min(self.max_wait_in_open_seconds, grown)
