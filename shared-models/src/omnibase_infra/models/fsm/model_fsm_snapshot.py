"""The persisted state of one resource's FSM."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from omnibase_infra.models.fsm.context import FsmContext, FsmContextValue, find_secret_like_keys

__all__ = ["NAME_PATTERN", "RESOURCE_ID_PATTERN", "ModelFSMSnapshot"]

RESOURCE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,99}$"


class ModelFSMSnapshot(BaseModel):
    """One resource's FSM state: the source of truth a reducer reads and returns.

    ``version`` counts the events applied since the initial state (0) and is the
    optimistic-concurrency token: store a new snapshot only if the stored one still has
    ``version - 1``. ``context`` holds only declared, non-secret keys (secret-looking keys
    or values fail validation; ``model_construct()`` skips that, so keep it for checked
    data). ``updated_at`` is the last applied event's ``occurred_at``, so replaying the
    same events rebuilds an identical snapshot.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    resource_id: str = Field(pattern=RESOURCE_ID_PATTERN)
    fsm_name: str = Field(pattern=NAME_PATTERN)
    fsm_version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    state: str = Field(pattern=NAME_PATTERN)
    version: int = Field(default=0, ge=0)
    context: FsmContext = Field(default_factory=dict)
    last_event_id: UUID | None = None
    last_transition: str | None = None
    updated_at: AwareDatetime | None = None

    @field_validator("updated_at")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    @field_validator("context")
    @classmethod
    def _no_secrets(cls, value: dict[str, FsmContextValue]) -> dict[str, FsmContextValue]:
        # A field validator, not a model validator: it does not run again when the
        # instance is nested in another model (a result), so each value is scanned once.
        secret = find_secret_like_keys(value)
        if secret:
            raise ValueError(f"context holds secret-looking keys or values: {sorted(secret)}")
        return value

    @field_validator("last_event_id")
    @classmethod
    def _initial_has_no_event(cls, value: UUID | None, info: ValidationInfo) -> UUID | None:
        if value is not None and info.data.get("version") == 0:
            raise ValueError("version 0 is the initial snapshot: it has no last_event_id")
        return value
