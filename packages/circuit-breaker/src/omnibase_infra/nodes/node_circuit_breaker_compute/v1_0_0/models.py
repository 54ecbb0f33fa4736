"""Input and output of the circuit-breaker COMPUTE node."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.enums import EnumTransport
from omnibase_infra.models import ModelInfraRequest, ModelInfraResponse
from omnibase_infra.resilience.breaker import EnumCallOutcome, ModelCircuitBreakerSnapshot

__all__ = [
    "EnumBreakerCommand",
    "EnumBreakerDecision",
    "EnumCallOutcome",
    "ModelBreakerCommandEvent",
    "ModelBreakerEvent",
    "ModelBreakerQueryEvent",
    "ModelBreakerRequest",
    "ModelBreakerResult",
    "ModelCallOutcomeEvent",
]


class EnumBreakerCommand(StrEnum):
    """Manual commands; on a shared store they reach every replica."""

    ISOLATE = "isolate"  # force open until reset
    RESET = "reset"  # closed, empty window, no trip history
    DISABLE = "disable"  # let everything through and never trip, until reset


class EnumBreakerDecision(StrEnum):
    """What the node decided for one event."""

    ALLOW = "allow"  # query: a call now would be admitted (``probe``: as a half-open probe)
    REJECT = "reject"  # query: refused; outcome: not counted, the breaker is not admitting
    RECORDED = "recorded"  # outcome: counted in the window (or as a probe)
    APPLIED = "applied"  # command: done


class ModelCallOutcomeEvent(BaseModel):
    """A call to the target finished: count it (success, failure or ignored) and its time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["outcome"] = "outcome"
    outcome: EnumCallOutcome
    duration_seconds: float = Field(ge=0.0, allow_inf_nan=False)


class ModelBreakerQueryEvent(BaseModel):
    """Would a call to the target be admitted now? Changes nothing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["query"] = "query"


class ModelBreakerCommandEvent(BaseModel):
    """A manual command: isolate, reset or disable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["command"] = "command"
    command: EnumBreakerCommand


type ModelBreakerEvent = Annotated[
    ModelCallOutcomeEvent | ModelBreakerQueryEvent | ModelBreakerCommandEvent,
    Field(discriminator="kind"),
]


class ModelBreakerRequest(ModelInfraRequest):
    """One event for the breaker of ``(transport, target)``.

    ``target`` is host:port or a name; any ``user:password@`` is dropped before it is used.
    ``operation`` names the guarded operation in errors and logs. ``timeout_seconds`` bounds
    the node's work (shared-store round trips included).
    """

    operation: str = Field(default="circuit_breaker", min_length=1, max_length=200)
    transport: EnumTransport
    target: str = Field(min_length=1, max_length=512)
    event: ModelBreakerEvent


class ModelBreakerResult(ModelInfraResponse):
    """The decision for one event and the breaker's state right after it."""

    transport: EnumTransport
    target: str
    event: Literal["outcome", "query", "command"]
    decision: EnumBreakerDecision
    probe: bool = False
    retry_at: float | None = None
    store_version: int = Field(ge=0)
    snapshot: ModelCircuitBreakerSnapshot
