"""An effect an FSM transition planned: which node runs which operation next."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.models.fsm.context import FsmContext
from omnibase_infra.models.fsm.enum_fsm import EnumFSMIntentKind
from omnibase_infra.models.fsm.model_fsm_snapshot import NAME_PATTERN, RESOURCE_ID_PATTERN

__all__ = ["ModelFSMIntent"]


class ModelFSMIntent(BaseModel):
    """Run ``operation`` on the node ``target_node`` for ``resource_id``.

    Nothing has run yet: the runtime executes intents in list order after it has stored
    the snapshot they were planned with (``snapshot_version``). ``intent_id`` is derived
    from the event and the intent's position, so planning the same event on the same
    snapshot again gives the same ids (an idempotency key for the effect). ``payload``
    is the resource's context after the transition: declared, non-secret keys only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    intent_id: UUID
    kind: EnumFSMIntentKind
    target_node: str = Field(pattern=r"^(node|infra)_[a-z0-9_]+$")
    operation: str = Field(pattern=NAME_PATTERN)
    resource_id: str = Field(pattern=RESOURCE_ID_PATTERN)
    state: str = Field(pattern=NAME_PATTERN, description="state entered or left, or the target")
    transition: str
    event_id: UUID
    correlation_id: UUID
    snapshot_version: int = Field(ge=1)
    payload: FsmContext = Field(default_factory=dict)
    is_critical: bool = False
    timeout_ms: int | None = Field(default=None, ge=1)
