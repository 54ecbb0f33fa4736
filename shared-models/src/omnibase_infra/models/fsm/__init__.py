"""Models of a declarative FSM driven by events, shared by the reducer that plans
transitions and the runtime that executes their intents and stores their snapshots."""

from omnibase_infra.models.fsm.context import (
    CONTEXT_KEY_PATTERN,
    MAX_CONTEXT_KEYS,
    MAX_CONTEXT_LIST_ITEMS,
    MAX_CONTEXT_TEXT_LENGTH,
    FsmContext,
    FsmContextValue,
    find_secret_like_keys,
    is_secret_like_value,
)
from omnibase_infra.models.fsm.enum_fsm import EnumFSMIntentKind, EnumFSMOutcome
from omnibase_infra.models.fsm.model_fsm_event import ModelFSMEvent
from omnibase_infra.models.fsm.model_fsm_intent import ModelFSMIntent
from omnibase_infra.models.fsm.model_fsm_result import ModelFSMResult
from omnibase_infra.models.fsm.model_fsm_snapshot import (
    NAME_PATTERN,
    RESOURCE_ID_PATTERN,
    ModelFSMSnapshot,
)

__all__ = [
    "CONTEXT_KEY_PATTERN",
    "MAX_CONTEXT_KEYS",
    "MAX_CONTEXT_LIST_ITEMS",
    "MAX_CONTEXT_TEXT_LENGTH",
    "NAME_PATTERN",
    "RESOURCE_ID_PATTERN",
    "EnumFSMIntentKind",
    "EnumFSMOutcome",
    "FsmContext",
    "FsmContextValue",
    "ModelFSMEvent",
    "ModelFSMIntent",
    "ModelFSMResult",
    "ModelFSMSnapshot",
    "find_secret_like_keys",
    "is_secret_like_value",
]
