"""Result of a health check against one target."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from omnibase_infra.enums import EnumServiceStatus

HealthDetailValue = str | int | float | bool


class ModelHealthStatus(BaseModel):
    """Health of ``target`` (``host:port`` or a logical name) at ``checked_at`` (UTC)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    status: EnumServiceStatus
    target: str = Field(min_length=1)
    latency_ms: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    checked_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    details: dict[str, HealthDetailValue] = Field(default_factory=dict)
    message: str | None = None

    @field_validator("checked_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @property
    def is_healthy(self) -> bool:
        """True only for ``HEALTHY`` (``DEGRADED`` still serves but is not healthy)."""
        return self.status is EnumServiceStatus.HEALTHY
