"""One event for one resource's FSM: an effect outcome, a health result, a breaker
change or an operator command."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)

from omnibase_infra.models.fsm.context import FsmContext, FsmContextValue, find_secret_like_keys
from omnibase_infra.models.fsm.model_fsm_snapshot import NAME_PATTERN, RESOURCE_ID_PATTERN

__all__ = ["ModelFSMEvent"]


class ModelFSMEvent(BaseModel):
    """``trigger`` names the FSM transition; ``data`` feeds guards and the context.

    ``data`` is plain, non-secret data: a sensitive key name (``password``, ``token``,
    ...) or a secret-looking value fails validation, and error messages name keys only,
    never values (``model_construct()`` skips these checks: keep it for checked data).
    Events are what an event log stores and what replay folds.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    resource_id: str = Field(pattern=RESOURCE_ID_PATTERN)
    trigger: str = Field(pattern=NAME_PATTERN)
    data: FsmContext = Field(default_factory=dict)
    event_id: UUID = Field(default_factory=uuid4)
    correlation_id: UUID = Field(default_factory=uuid4)
    occurred_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator("data")
    @classmethod
    def _no_secrets(cls, value: dict[str, FsmContextValue]) -> dict[str, FsmContextValue]:
        # A field validator, not a model validator: it does not run again when the
        # instance is nested in another model (a result), so each value is scanned once.
        secret = find_secret_like_keys(value)
        if secret:
            raise ValueError(f"data holds secret-looking keys or values: {sorted(secret)}")
        return value
