"""Request/response envelope bases that every node operation subclasses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from omnibase_infra.models.model_correlation_context import ModelCorrelationContext
from omnibase_infra.resilience.model_retry_policy import ModelRetryPolicy

DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_TIMEOUT_SECONDS = 3600.0


class ModelInfraRequest(BaseModel):
    """Base request: which operation, for whom (correlation) and how long it may take.

    Nodes subclass it with a typed payload field. ``timeout_seconds`` is the whole
    operation's budget (retries included) and is enforced by the node; when the caller
    does not set it, the operation's timeout from the node's contract applies (the field's
    default is only the fallback of nodes without a contract policy). ``retry_policy``
    replaces the contract's retry policy for this call; only transient failures are
    retried either way.

    ``correlation`` defaults to a fresh correlation id without a trace of its own: the
    node's span then joins the caller's current OpenTelemetry span. Pass a correlation
    with ``trace_id``/``span_id`` to continue a remote trace instead.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    operation: str = Field(min_length=1, max_length=200)
    correlation: ModelCorrelationContext = Field(default_factory=ModelCorrelationContext.fresh)
    timeout_seconds: float = Field(
        default=DEFAULT_TIMEOUT_SECONDS, gt=0, le=MAX_TIMEOUT_SECONDS, allow_inf_nan=False
    )
    retry_policy: ModelRetryPolicy | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    @property
    def correlation_id(self) -> UUID:
        """The caller's correlation id."""
        return self.correlation.correlation_id

    @property
    def timeout_ms(self) -> int:
        """``timeout_seconds`` in whole milliseconds (for core's ``timeout_ms`` fields)."""
        return max(1, round(self.timeout_seconds * 1000))


class ModelInfraResponse(BaseModel):
    """Base response: outcome of one operation, echoing the caller's correlation id.

    ``error_code``/``error_message`` are set only on failure and must be safe to log.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    operation: str = Field(min_length=1, max_length=200)
    correlation_id: UUID
    success: bool
    duration_ms: float = Field(ge=0, allow_inf_nan=False)
    completed_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    error_code: str | None = None
    error_message: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("completed_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _error_only_on_failure(self) -> Self:
        if self.success and (self.error_code is not None or self.error_message is not None):
            raise ValueError("a successful response carries no error_code/error_message")
        if not self.success and self.error_code is None:
            raise ValueError("a failed response needs an error_code")
        return self
