"""infra_orchestrator v1.0.0: the planner node, the workflow schema and the runtime."""

from omnibase_infra.nodes.infra_orchestrator.v1_0_0.orchestrator import (
    InfraOrchestrator,
    ModelPlannedStep,
    ModelWorkflowPlan,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.registry import (
    IDEMPOTENCY_KEY,
    CallContext,
    NodeRegistry,
    package_for_node,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.runtime import (
    ModelRunResult,
    ModelWorkflowEvent,
    WorkflowRuntime,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import (
    EnumRunStatus,
    EnumStepStatus,
    InMemoryWorkflowStore,
    ModelRunRecord,
    ModelStepRecord,
    PostgresWorkflowStore,
    SqliteWorkflowStore,
    WorkflowStore,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import (
    ModelStep,
    ModelWorkflow,
    load_builtin_workflow,
    load_workflow,
    parse_workflow,
    parse_workflow_text,
)

__all__ = [
    "IDEMPOTENCY_KEY",
    "CallContext",
    "EnumRunStatus",
    "EnumStepStatus",
    "InMemoryWorkflowStore",
    "InfraOrchestrator",
    "ModelPlannedStep",
    "ModelRunRecord",
    "ModelRunResult",
    "ModelStep",
    "ModelStepRecord",
    "ModelWorkflow",
    "ModelWorkflowEvent",
    "ModelWorkflowPlan",
    "NodeRegistry",
    "PostgresWorkflowStore",
    "SqliteWorkflowStore",
    "WorkflowRuntime",
    "WorkflowStore",
    "load_builtin_workflow",
    "load_workflow",
    "package_for_node",
    "parse_workflow",
    "parse_workflow_text",
]
