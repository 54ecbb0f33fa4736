"""The retry/backoff policy every node uses."""

from __future__ import annotations

import random
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ModelRetryPolicy"]

# Jitter spreads retries of many clients; it needs no cryptographic randomness.
_DEFAULT_RNG = random.Random()  # noqa: S311


class ModelRetryPolicy(BaseModel):
    """Exponential backoff with full jitter, bounded by attempts and an optional deadline.

    ``deadline_seconds`` bounds the whole call, attempts and sleeps included: a sleep that
    would reach the deadline is skipped and the deadline error raised at once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    max_attempts: int = Field(default=3, ge=1, description="Attempts in total, the first included")
    base_delay_seconds: float = Field(default=0.1, ge=0.0, description="Cap of the first delay")
    max_delay_seconds: float = Field(default=10.0, ge=0.0, description="Cap of every delay")
    multiplier: float = Field(default=2.0, ge=1.0, description="Growth of the cap per attempt")
    jitter: Literal["full", "none"] = Field(
        default="full", description="full: uniform(0, cap); none: exactly the cap"
    )
    deadline_seconds: float | None = Field(
        default=None, gt=0.0, description="Overall time budget across attempts and sleeps"
    )

    @model_validator(mode="after")
    def _check_delays(self) -> Self:
        if self.max_delay_seconds < self.base_delay_seconds:
            msg = "max_delay_seconds must be >= base_delay_seconds"
            raise ValueError(msg)
        return self

    def delay_cap(self, attempt: int) -> float:
        """``min(max, base * multiplier**(attempt-1))`` for the attempt that just failed."""
        exponent = max(attempt, 1) - 1
        if self.base_delay_seconds == 0.0:
            return 0.0
        try:
            raw = self.base_delay_seconds * self.multiplier**exponent
        except OverflowError:
            return self.max_delay_seconds
        return min(self.max_delay_seconds, raw)

    def compute_delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after attempt number ``attempt`` (1-based) failed.

        Full jitter draws uniformly from ``[0, cap]``; pass a seeded ``random.Random`` for
        determinism.
        """
        cap = self.delay_cap(attempt)
        if self.jitter == "none":
            return cap
        return (rng or _DEFAULT_RNG).uniform(0.0, cap)
