"""What a reducer returns for one event: the new snapshot and the intents to run."""

from __future__ import annotations

from typing import Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from omnibase_infra.models.fsm.enum_fsm import EnumFSMOutcome
from omnibase_infra.models.fsm.model_fsm_intent import ModelFSMIntent
from omnibase_infra.models.fsm.model_fsm_snapshot import ModelFSMSnapshot

__all__ = ["ModelFSMResult"]


class ModelFSMResult(BaseModel):
    """The outcome of applying one event to one snapshot.

    ``snapshot`` is the new snapshot when ``outcome`` is ``APPLIED`` and the input
    snapshot otherwise. ``dropped_keys`` names event-data keys the reducer did not accept
    (undeclared or secret-looking); values are never reported.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    outcome: EnumFSMOutcome
    snapshot: ModelFSMSnapshot
    previous_state: str
    trigger: str
    transition: str | None
    event_id: UUID
    intents: tuple[ModelFSMIntent, ...] = ()
    dropped_keys: tuple[str, ...] = Field(default=())

    @property
    def applied(self) -> bool:
        """True when the transition ran and ``snapshot`` is new."""
        return self.outcome is EnumFSMOutcome.APPLIED

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.outcome is not EnumFSMOutcome.APPLIED and self.intents:
            raise ValueError("only an applied transition plans intents")
        return self
