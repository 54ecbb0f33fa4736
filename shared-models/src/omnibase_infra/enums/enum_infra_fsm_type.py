"""The FSMs of the infrastructure reducer: each keys one FSM contract it ships."""

from enum import StrEnum


class EnumInfraFSMType(StrEnum):
    """Which FSM contract the reducer runs (``infra_reducer`` keys its contracts by it).

    Only FSMs that ship a contract are members: asking for one is never a missing file.
    """

    INFRASTRUCTURE_STATE = "infrastructure_state"
    """A service's infrastructure across deploy and decommission (credentials, database,
    registration, health): ``contracts/fsm_infrastructure_state.yaml``."""
