"""Scripted fake nodes for the runtime's pure-logic tests (real nodes are exercised by the
end-to-end suite in tests-integration)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, SecretStr

from omnibase_infra.models.model_infra_envelope import ModelInfraRequest


class ModelFakeRequest(ModelInfraRequest):
    """What every fake operation takes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: str = "fake"
    value: Any = None
    secret: SecretStr | None = None


class ModelFakeResponse(BaseModel):
    """What every fake operation returns (echoing what the runtime passed)."""

    value: Any = None
    token: SecretStr | None = None
    idempotency_key: str = ""
    correlation_id: UUID
    traceparent: str | None = None


@dataclass
class Call:
    node: str
    operation: str
    request: ModelFakeRequest


@dataclass
class Journal:
    """Every call of every fake node, in order, and the concurrency seen."""

    calls: list[Call] = field(default_factory=list)
    active: int = 0
    max_active: int = 0

    def ops(self) -> list[str]:
        return [f"{c.node}.{c.operation}" for c in self.calls]


class ScriptedNode:
    """A fake effect node: operations ``create``, ``delete``, ``issue``, ``use``.

    ``script[operation]`` is a list consumed one entry per call: an exception is raised,
    a float is slept (seconds) before answering.
    """

    def __init__(
        self, name: str, journal: Journal, script: dict[str, list[object]] | None = None
    ) -> None:
        self.name = name
        self.journal = journal
        self.script = script or {}
        self.closed = False

    async def _do(self, operation: str, request: ModelFakeRequest) -> ModelFakeResponse:
        self.journal.calls.append(Call(self.name, operation, request))
        self.journal.active += 1
        self.journal.max_active = max(self.journal.max_active, self.journal.active)
        try:
            steps = self.script.get(operation)
            if steps:
                item = steps.pop(0)
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, float | int):
                    await asyncio.sleep(float(item))
            return ModelFakeResponse(
                value=request.value,
                token=SecretStr(f"tok-{self.name}-{operation}") if operation == "issue" else None,
                idempotency_key=request.metadata.get("idempotency-key", ""),
                correlation_id=request.correlation_id,
                traceparent=request.metadata.get("traceparent"),
            )
        finally:
            self.journal.active -= 1

    async def create(self, request: ModelFakeRequest) -> ModelFakeResponse:
        return await self._do("create", request)

    async def delete(self, request: ModelFakeRequest) -> ModelFakeResponse:
        return await self._do("delete", request)

    async def issue(self, request: ModelFakeRequest) -> ModelFakeResponse:
        return await self._do("issue", request)

    async def use(self, request: ModelFakeRequest) -> ModelFakeResponse:
        return await self._do("use", request)

    async def close(self) -> None:
        self.closed = True


async def until(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll ``predicate`` until it holds (a test helper; fails after ``seconds``)."""
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


CLI_JOURNAL = Journal()


def cli_node() -> ScriptedNode:
    """A factory for ``onex-infra --node NAME=orchestrator_fakes:cli_node``."""
    return ScriptedNode("cli", CLI_JOURNAL)


def failing_cli_node() -> ScriptedNode:
    """A node whose ``create`` fails once, permanently."""
    from omnibase_infra.enums import EnumTransport
    from omnibase_infra.errors import InfraValidationError

    error = InfraValidationError("refused", transport=EnumTransport.HTTP, operation="create")
    return ScriptedNode("cli", CLI_JOURNAL, {"create": [error]})
