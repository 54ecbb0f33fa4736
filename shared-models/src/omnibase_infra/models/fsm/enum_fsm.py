"""Enums of the FSM models: what an intent stands for and what became of an event."""

from enum import StrEnum

__all__ = ["EnumFSMIntentKind", "EnumFSMOutcome"]


class EnumFSMIntentKind(StrEnum):
    """Which action of the FSM contract planned an intent (core's order: exit,
    transition, entry)."""

    EXIT_ACTION = "exit_action"
    TRANSITION_ACTION = "transition_action"
    ENTRY_ACTION = "entry_action"


class EnumFSMOutcome(StrEnum):
    """What applying one event did."""

    APPLIED = "applied"
    """The transition ran: a new snapshot (version + 1) and its intents."""
    GUARD_REJECTED = "guard_rejected"
    """The trigger is valid but a guard failed: snapshot unchanged, no intents."""
    DUPLICATE = "duplicate"
    """The event is the snapshot's last applied event: snapshot unchanged, no intents."""
