"""``InfraOrchestrator``: the planner node on core's ``NodeOrchestratorDeclarative``.

``plan(workflow)`` hands core the steps it understands (ids, names, types, dependencies,
timeouts, retry counts), takes core's actions (topological order), and returns them as a
:class:`ModelWorkflowPlan` carrying our step parameters and the levels of independent
steps. Deterministic (ids are derived from the workflow and step names) and free of side
effects: the :class:`~.runtime.WorkflowRuntime` executes the plan.
"""

from __future__ import annotations

from typing import Any, Final
from uuid import UUID, uuid5

from omnibase_core.enums.enum_workflow_execution import EnumExecutionMode
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.models.contracts.subcontracts.model_workflow_definition import (
    ModelWorkflowDefinition,
)
from omnibase_core.models.model_orchestrator_input import ModelOrchestratorInput
from omnibase_core.nodes.node_orchestrator_declarative import NodeOrchestratorDeclarative
from pydantic import BaseModel, ConfigDict

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraProtocolError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import (
    ModelWorkflow,
    check_workflow,
    topological_levels,
    workflow_error,
)

__all__ = ["InfraOrchestrator", "ModelPlannedStep", "ModelWorkflowPlan"]

_NAMESPACE: Final = UUID("6f1c1e4e-2b0c-5b9a-9d55-0a7c4f1e9b21")
_VERSION: Final = {"major": 1, "minor": 0, "patch": 0}
_MAX_CORE_TIMEOUT_MS: Final = 300_000
_MIN_CORE_TIMEOUT_MS: Final = 100
_MAX_CORE_RETRIES: Final = 10


class ModelPlannedStep(BaseModel):
    """One planned action: a step with its level and core's action id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step_id: str
    action_id: UUID
    node: str
    operation: str
    depends_on: tuple[str, ...]
    level: int
    timeout_ms: int
    max_attempts: int
    conditional: bool
    compensable: bool


class ModelWorkflowPlan(BaseModel):
    """The ordered actions of one workflow (core's topological order)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workflow_name: str
    workflow_id: UUID
    steps: tuple[ModelPlannedStep, ...]
    levels: tuple[tuple[str, ...], ...]

    @property
    def order(self) -> list[str]:
        """Step ids in execution order."""
        return [step.step_id for step in self.steps]


def _step_type(node: str) -> str:
    if node.endswith("_effect"):
        return "effect"
    if node.endswith("_compute"):
        return "compute"
    if node.endswith("_reducer") or node == "infra_reducer":
        return "reducer"
    return "custom"


class InfraOrchestrator(NodeOrchestratorDeclarative):
    """Plans workflows (see the module docstring); never calls a node."""

    def __init__(self, container: ModelONEXContainer | None = None) -> None:
        super().__init__(container if container is not None else ModelONEXContainer())

    @staticmethod
    def workflow_uuid(workflow: ModelWorkflow) -> UUID:
        """The workflow's id, derived from its name and version."""
        return uuid5(_NAMESPACE, f"{workflow.workflow.name}@{workflow.workflow.version}")

    def core_definition(self, workflow: ModelWorkflow) -> ModelWorkflowDefinition:
        """Core's view of the workflow (metadata only: core ignores the rest)."""
        return ModelWorkflowDefinition.model_validate(
            {
                "version": _VERSION,
                "workflow_metadata": {
                    "version": _VERSION,
                    "workflow_name": workflow.workflow.name,
                    "workflow_version": dict(
                        zip(
                            ("major", "minor", "patch"),
                            map(int, workflow.workflow.version.split(".")),
                            strict=True,
                        )
                    ),
                    "description": workflow.workflow.description or workflow.workflow.name,
                    "execution_mode": "parallel",
                    "timeout_ms": workflow.workflow.timeout_ms,
                },
                "execution_graph": {"version": _VERSION, "nodes": []},
                "coordination_rules": {
                    "version": _VERSION,
                    "parallel_execution_allowed": True,
                    "failure_recovery_strategy": "COMPENSATE",
                },
            }
        )

    def core_steps(self, workflow: ModelWorkflow) -> list[dict[str, Any]]:
        """The steps as core's ``ModelWorkflowStep`` dicts (deterministic UUIDs)."""
        wid = self.workflow_uuid(workflow)
        return [
            {
                "step_id": uuid5(wid, step.id),
                "step_name": step.id,
                "step_type": _step_type(step.node),
                "depends_on": [uuid5(wid, dep) for dep in step.depends_on],
                "timeout_ms": min(max(step.timeout_ms, _MIN_CORE_TIMEOUT_MS), _MAX_CORE_TIMEOUT_MS),
                "retry_count": min(
                    (step.retry.max_attempts - 1) if step.retry else 0, _MAX_CORE_RETRIES
                ),
            }
            for step in workflow.steps
        ]

    async def plan(self, workflow: ModelWorkflow) -> ModelWorkflowPlan:
        """The ordered actions of ``workflow`` (validated again: graph and references)."""
        problems = check_workflow(workflow)
        if problems:
            raise workflow_error(workflow.name, problems)
        self.workflow_definition = self.core_definition(workflow)
        wid = self.workflow_uuid(workflow)
        output = await self.process(
            ModelOrchestratorInput(
                workflow_id=wid,
                steps=self.core_steps(workflow),
                execution_mode=EnumExecutionMode.PARALLEL,
            )
        )
        by_name = {step.id: step for step in workflow.steps}
        levels = topological_levels(workflow)
        level_of = {sid: index for index, level in enumerate(levels) for sid in level}
        planned: list[ModelPlannedStep] = []
        for action in output.actions_emitted:
            name = str(action.payload.get("step_name"))
            step = by_name.get(name)
            if step is None:
                raise InfraProtocolError(
                    f"core planned an action for unknown step {name!r}",
                    transport=EnumTransport.INTERNAL,
                    operation="plan_workflow",
                    target=workflow.name,
                )
            planned.append(
                ModelPlannedStep(
                    step_id=step.id,
                    action_id=uuid5(wid, f"action:{step.id}"),
                    node=step.node,
                    operation=step.operation,
                    depends_on=tuple(step.depends_on),
                    level=level_of[step.id],
                    timeout_ms=step.timeout_ms,
                    max_attempts=step.retry.max_attempts if step.retry else 1,
                    conditional=step.condition is not None,
                    compensable=step.compensation is not None,
                )
            )
        if sorted(p.step_id for p in planned) != sorted(by_name):
            raise InfraProtocolError(
                "core's plan does not cover every step exactly once",
                transport=EnumTransport.INTERNAL,
                operation="plan_workflow",
                target=workflow.name,
            )
        # Core emits waves in dependency order; sort stably by level so the plan's order
        # is the same on every core version.
        planned.sort(key=lambda p: p.level)
        return ModelWorkflowPlan(
            workflow_name=workflow.name,
            workflow_id=wid,
            steps=tuple(planned),
            levels=tuple(tuple(level) for level in levels),
        )
