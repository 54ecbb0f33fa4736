"""The workflow contract: our own strict schema on top of core's workflow definition.

Core's ``ModelWorkflowStep`` ignores unknown keys and has no field for a step's target,
operation or inputs, so workflows are written in this schema and the planner hands core
only what core understands (ids, names, dependencies). Every model forbids unknown keys;
:func:`load_workflow` and :func:`parse_workflow` validate strictly and check the graph
(duplicate ids, dangling dependencies and references, cycles, undeclared inputs, and,
given a :class:`~.registry.NodeRegistry`, unknown nodes and operations). Every error is
one ``InfraConfigurationError`` naming the file and the step.

Bindings: a string value may hold ``${input.<name>}``, ``${steps.<id>.output[.<key>...]}``,
``${run.run_id}`` / ``${run.correlation_id}`` (and ``${intent.<field>...}`` in reducer
intent bindings). A string that is exactly one reference keeps the referenced value's
type; otherwise references are interpolated as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from omnibase_infra.contracts import (
    ContractProblem,
    load_yaml_file,
    load_yaml_resource,
    parse_yaml_text,
    validate_strict,
)
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.resilience import ModelRetryPolicy

if TYPE_CHECKING:
    from omnibase_infra.nodes.infra_orchestrator.v1_0_0.registry import NodeRegistry

__all__ = [
    "CONTRACTS_PACKAGE",
    "REFERENCE",
    "ModelCall",
    "ModelCondition",
    "ModelInputSpec",
    "ModelIntentBinding",
    "ModelReducerBinding",
    "ModelReducerEvent",
    "ModelStep",
    "ModelWorkflow",
    "ModelWorkflowInfo",
    "Reference",
    "check_workflow",
    "iter_references",
    "load_builtin_workflow",
    "load_workflow",
    "parse_workflow",
    "parse_workflow_text",
    "topological_levels",
    "workflow_error",
]

CONTRACTS_PACKAGE: Final = "omnibase_infra.nodes.infra_orchestrator.v1_0_0"
BUILTIN_WORKFLOWS: Final = {
    "deployment": "contracts/workflow_deployment.yaml",
    "decommission": "contracts/workflow_decommission.yaml",
}
REFERENCE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+)*)\}")
_NAME: Final = r"^[a-z][a-z0-9_]{0,62}$"
_NODE: Final = r"^(node|infra)_[a-z0-9_]+$"
_OPERATION: Final = "load_workflow"

_Name = Annotated[str, Field(pattern=_NAME)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelWorkflowInfo(_Strict):
    """Name, version and overall budget of a workflow."""

    name: _Name
    version: str = Field(default="1.0.0", pattern=r"^\d+\.\d+\.\d+$")
    description: str = ""
    timeout_ms: int = Field(default=600_000, ge=1_000, le=86_400_000)


class ModelInputSpec(_Strict):
    """One workflow input. ``secret`` inputs are kept as ``SecretStr`` by the runtime, never
    stored in clear (the durable store keeps ``**********``) and must be given again on
    resume."""

    description: str = ""
    required: bool = True
    default: Any = None
    secret: bool = False
    pattern: str | None = None
    """A regular expression the whole value must match (e.g. an SQL identifier)."""


class ModelCondition(_Strict):
    """A structured condition (no expression evaluation): exactly one operator.

    ``equals``/``not_equals``: two operands; ``in``/``not_in``: a value and a list;
    ``exists``: an operand that is not None; ``truthy``: an operand that is truthy;
    ``all``/``any``: lists of conditions; ``not``: one condition. Operands may be bindings.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    equals: tuple[Any, Any] | None = None
    not_equals: tuple[Any, Any] | None = None
    in_: tuple[Any, list[Any]] | None = Field(default=None, alias="in")
    not_in: tuple[Any, list[Any]] | None = None
    exists: Any = None
    truthy: Any = None
    all: list[ModelCondition] | None = None
    any: list[ModelCondition] | None = None
    not_: ModelCondition | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            operators = "equals, not_equals, in, not_in, exists, truthy, all, any, not"
            raise ValueError(f"a condition has exactly one operator of: {operators}")
        return self


class ModelCall(_Strict):
    """One node call: ``node`` (its entry-point name), ``operation``, bound ``inputs``."""

    node: str = Field(pattern=_NODE)
    operation: str = Field(pattern=_NAME)
    inputs: dict[str, Any] = Field(default_factory=dict)
    timeout_ms: int = Field(default=30_000, ge=10, le=3_600_000)
    retry: ModelRetryPolicy | None = None


class ModelStep(ModelCall):
    """One workflow step: a node call, its dependencies, timeout (the call's overall
    deadline, retries included), retry policy (retryable errors only), optional condition
    and compensation."""

    id: _Name
    description: str = ""
    depends_on: list[_Name] = Field(default_factory=list)
    condition: ModelCondition | None = None
    compensation: ModelCall | None = None
    reducer_trigger: Annotated[str, Field(pattern=_NAME)] | None = None
    """The infra_reducer trigger fed when the step completes (in plan order)."""
    rerun_on_resume: StrictBool = False
    """The step's effect is safe to repeat: when a run is resumed and a pending step
    references this completed step's output that held secrets (never stored), the step is
    called again to obtain them (e.g. an OAuth client-credentials token)."""
    marker: str | None = None
    """Free-form note (e.g. "operation name not final") shown by ``validate``."""


class ModelReducerEvent(_Strict):
    """An event for the infra_reducer: a trigger and data (bindings allowed)."""

    trigger: _Name
    data: dict[str, Any] = Field(default_factory=dict)


class ModelIntentBinding(_Strict):
    """How the runtime honours one kind of reducer intent (``<node>.<operation>``, or
    ``<node>.<operation>@<state>`` for the intents planned on entering/leaving one state,
    which wins over the plain key):
    ``satisfied_by`` a workflow step (recorded, nothing called), or a ``call``
    (bindings may use ``${intent.payload.<key>}``)."""

    satisfied_by: _Name | None = None
    call: ModelCall | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.satisfied_by is None) == (self.call is None):
            raise ValueError("give exactly one of satisfied_by, call")
        return self


class ModelReducerBinding(_Strict):
    """Feeds the run's outcomes to the infra_reducer (node ``node``)."""

    node: str = Field(default="infra_reducer", pattern=_NODE)
    resource_id: str
    start: ModelReducerEvent
    failure: ModelReducerEvent | None = None
    intents: dict[str, ModelIntentBinding] = Field(default_factory=dict)


class ModelWorkflow(_Strict):
    """A workflow contract (see the module docstring)."""

    workflow: ModelWorkflowInfo
    inputs: dict[_Name, ModelInputSpec] = Field(default_factory=dict)
    steps: list[ModelStep] = Field(min_length=1, max_length=500)
    reducer: ModelReducerBinding | None = None

    @property
    def name(self) -> str:
        """The workflow's name."""
        return self.workflow.name

    def step(self, step_id: str) -> ModelStep:
        """The step with ``step_id`` (KeyError when there is none)."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    @property
    def step_ids(self) -> list[str]:
        """Step ids in declaration order."""
        return [step.id for step in self.steps]


# -- references ----------------------------------------------------------------------------


class Reference:
    """A parsed ``${...}`` reference: ``root`` (input, steps, run, intent) and the path."""

    __slots__ = ("parts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.parts = tuple(text.split("."))

    @property
    def root(self) -> str:
        """The first path element."""
        return self.parts[0]


def iter_references(value: object) -> Iterator[Reference]:
    """Every ``${...}`` reference in ``value`` (strings, lists, dicts, nested)."""
    if isinstance(value, str):
        for match in REFERENCE.finditer(value):
            yield Reference(match.group(1))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_references(key)
            yield from iter_references(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from iter_references(item)
    elif isinstance(value, BaseModel):
        yield from iter_references(value.model_dump(by_alias=True, exclude_none=True))


# -- graph ---------------------------------------------------------------------------------


def topological_levels(workflow: ModelWorkflow) -> list[list[str]]:
    """Steps grouped in levels: each level depends only on earlier levels; within a level
    steps keep declaration order. Assumes a validated (acyclic) workflow."""
    remaining = {step.id: set(step.depends_on) for step in workflow.steps}
    done: set[str] = set()
    levels: list[list[str]] = []
    while remaining:
        level = [sid for sid in workflow.step_ids if sid in remaining and remaining[sid] <= done]
        if not level:
            raise workflow_error("<workflow>", [ContractProblem("steps", "dependency cycle")])
        levels.append(level)
        done.update(level)
        for sid in level:
            del remaining[sid]
    return levels


def _ancestors(workflow: ModelWorkflow) -> dict[str, set[str]]:
    deps = {step.id: set(step.depends_on) for step in workflow.steps}
    result: dict[str, set[str]] = {}

    def visit(sid: str, trail: tuple[str, ...]) -> set[str]:
        if sid in result:
            return result[sid]
        found: set[str] = set()
        for dep in deps.get(sid, ()):
            if dep in trail:
                continue
            found |= {dep, *visit(dep, (*trail, dep))}
        result[sid] = found
        return found

    for sid in deps:
        visit(sid, (sid,))
    return result


def _find_cycle(workflow: ModelWorkflow) -> list[str] | None:
    deps = {step.id: list(step.depends_on) for step in workflow.steps}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(sid: str) -> list[str] | None:
        state[sid] = 1
        stack.append(sid)
        for dep in deps.get(sid, []):
            if dep not in deps:
                continue
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle:
                    return cycle
        stack.pop()
        state[sid] = 2
        return None

    for sid in deps:
        if sid not in state:
            cycle = visit(sid)
            if cycle:
                return cycle
    return None


# -- validation ----------------------------------------------------------------------------


def _where(index: int, step_id: str) -> str:
    return f"steps[{index}] (step {step_id!r})"


def _check_references(
    value: object,
    path: str,
    workflow: ModelWorkflow,
    allowed_steps: set[str],
    *,
    allow_intent: bool = False,
) -> list[ContractProblem]:
    problems: list[ContractProblem] = []
    step_ids = set(workflow.step_ids)
    for ref in iter_references(value):
        root, parts = ref.root, ref.parts
        if root == "input":
            if len(parts) < 2 or parts[1] not in workflow.inputs:
                problems.append(ContractProblem(path, f"${{{ref.text}}}: undeclared input"))
        elif root == "steps":
            if len(parts) < 3 or parts[2] != "output":
                problems.append(
                    ContractProblem(path, f"${{{ref.text}}}: use ${{steps.<id>.output[.key]}}")
                )
            elif parts[1] not in step_ids:
                problems.append(
                    ContractProblem(path, f"${{{ref.text}}}: dangling reference to an unknown step")
                )
            elif parts[1] not in allowed_steps:
                problems.append(
                    ContractProblem(
                        path,
                        f"${{{ref.text}}}: step {parts[1]!r} is not among this step's "
                        "dependencies (add it to depends_on)",
                    )
                )
        elif root == "run":
            if len(parts) != 2 or parts[1] not in {"run_id", "correlation_id", "workflow"}:
                problems.append(
                    ContractProblem(
                        path, f"${{{ref.text}}}: run has run_id, correlation_id, workflow"
                    )
                )
        elif root == "intent" and allow_intent:
            continue
        else:
            problems.append(ContractProblem(path, f"${{{ref.text}}}: unknown reference root"))
    return problems


def _check_call(call: ModelCall, path: str, registry: NodeRegistry | None) -> list[ContractProblem]:
    if registry is None:
        return []
    problem = registry.check_operation(call.node, call.operation)
    return [] if problem is None else [ContractProblem(path, problem)]


def check_workflow(
    workflow: ModelWorkflow, registry: NodeRegistry | None = None
) -> list[ContractProblem]:
    """Graph and reference problems of a schema-valid workflow (empty when valid)."""
    problems: list[ContractProblem] = []
    seen: dict[str, int] = {}
    for index, step in enumerate(workflow.steps):
        if step.id in seen:
            problems.append(
                ContractProblem(
                    _where(index, step.id), f"duplicate step id (also steps[{seen[step.id]}])"
                )
            )
        seen.setdefault(step.id, index)
    ancestors = _ancestors(workflow)
    for index, step in enumerate(workflow.steps):
        where = _where(index, step.id)
        for dep in step.depends_on:
            if dep == step.id:
                problems.append(
                    ContractProblem(f"{where}.depends_on", "a step cannot depend on itself")
                )
            elif dep not in seen:
                problems.append(
                    ContractProblem(
                        f"{where}.depends_on", f"dangling dependency on unknown step {dep!r}"
                    )
                )
        allowed = ancestors.get(step.id, set())
        problems += _check_references(step.inputs, f"{where}.inputs", workflow, allowed)
        if step.condition is not None:
            problems += _check_references(step.condition, f"{where}.condition", workflow, allowed)
        problems += _check_call(step, where, registry)
        if step.compensation is not None:
            comp_where = f"{where}.compensation"
            problems += _check_references(
                step.compensation.inputs, f"{comp_where}.inputs", workflow, allowed | {step.id}
            )
            problems += _check_call(step.compensation, comp_where, registry)
        if step.rerun_on_resume and step.compensation is not None:
            problems.append(
                ContractProblem(
                    f"{where}.rerun_on_resume",
                    "a step re-run on resume must be safe to repeat: it cannot have a "
                    "compensation (the first effect would never be undone)",
                )
            )
    cycle = _find_cycle(workflow)
    if cycle:
        index = seen[cycle[0]]
        problems.append(
            ContractProblem(
                f"{_where(index, cycle[0])}.depends_on",
                "dependency cycle: " + " -> ".join(cycle),
            )
        )
    if workflow.reducer is not None:
        problems += _check_reducer(workflow, workflow.reducer, registry)
    return problems


def _check_reducer(
    workflow: ModelWorkflow, binding: ModelReducerBinding, registry: NodeRegistry | None
) -> list[ContractProblem]:
    every = set(workflow.step_ids)
    problems = _check_references(binding.resource_id, "reducer.resource_id", workflow, set())
    problems += _check_references(binding.start.data, "reducer.start.data", workflow, set())
    if binding.failure is not None:
        problems += _check_references(binding.failure.data, "reducer.failure.data", workflow, set())
    if registry is not None:
        problem = registry.check_node(binding.node)
        if problem is not None:
            problems.append(ContractProblem("reducer.node", problem))
    for name, intent in binding.intents.items():
        path = f"reducer.intents[{name!r}]"
        if not re.fullmatch(r"(node|infra)_[a-z0-9_]+\.[a-z][a-z0-9_]*(@[a-z][a-z0-9_]*)?", name):
            problems.append(ContractProblem(path, "intent keys are '<node>.<operation>[@<state>]'"))
        if intent.satisfied_by is not None and intent.satisfied_by not in every:
            problems.append(
                ContractProblem(f"{path}.satisfied_by", f"unknown step {intent.satisfied_by!r}")
            )
        if intent.call is not None:
            problems += _check_references(
                intent.call.inputs, f"{path}.call.inputs", workflow, every, allow_intent=True
            )
            problems += _check_call(intent.call, f"{path}.call", registry)
    return problems


_STEP_INDEX: Final = re.compile(r"\bsteps\[(\d+)\](?! \(step)")


def _name_steps(message: str, data: object) -> str:
    """``steps[3]`` -> ``steps[3] (step 'x')`` in a schema error, from the raw data."""
    raw_steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(raw_steps, list):
        return message

    def label(match: re.Match[str]) -> str:
        index = int(match.group(1))
        item = raw_steps[index] if index < len(raw_steps) else None
        step_id = item.get("id") if isinstance(item, dict) else None
        return match.group(0) if step_id is None else f"{match.group(0)} (step {step_id!r})"

    return _STEP_INDEX.sub(label, message)


def workflow_error(source: str, problems: Sequence[ContractProblem]) -> InfraConfigurationError:
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return InfraConfigurationError(
        f"{source}: invalid workflow ({count}):\n  " + "\n  ".join(str(p) for p in problems),
        transport=EnumTransport.INTERNAL,
        operation=_OPERATION,
        target=source,
        field_paths=[p.path for p in problems],
    )


def parse_workflow(
    data: object, *, source: str = "<workflow>", registry: NodeRegistry | None = None
) -> ModelWorkflow:
    """Validate raw YAML data strictly (schema, graph, references, nodes/operations)."""
    try:
        workflow = validate_strict(data, ModelWorkflow, source=source, operation=_OPERATION)
    except InfraConfigurationError as exc:
        raise InfraConfigurationError(
            _name_steps(exc.message, data),
            transport=EnumTransport.INTERNAL,
            operation=_OPERATION,
            target=source,
            field_paths=exc.details.get("field_paths"),
        ) from None
    problems = check_workflow(workflow, registry)
    if problems:
        raise workflow_error(source, problems)
    return workflow


def load_workflow(path: str | Path, *, registry: NodeRegistry | None = None) -> ModelWorkflow:
    """Load and validate a workflow YAML file (errors name the file; a key given twice in
    one mapping is an error naming its line, as in :func:`parse_workflow_text`)."""
    data = load_yaml_file(path, operation=_OPERATION)
    return parse_workflow(data, source=str(path), registry=registry)


def parse_workflow_text(
    text: str | bytes, *, source: str = "<workflow>", registry: NodeRegistry | None = None
) -> ModelWorkflow:
    """Parse YAML text with the contracts' loader (a key given twice in one mapping is an
    error naming ``source``, the line and the key) and validate it (see
    :func:`parse_workflow`). Every failure is an ``InfraConfigurationError``."""
    data = parse_yaml_text(text, source, operation=_OPERATION)
    return parse_workflow(data, source=source, registry=registry)


def load_builtin_workflow(name: str, *, registry: NodeRegistry | None = None) -> ModelWorkflow:
    """One of the shipped workflows (``deployment``, ``decommission``), from package data."""
    if name not in BUILTIN_WORKFLOWS:
        raise workflow_error(
            name, [ContractProblem("", f"no built-in workflow; have {sorted(BUILTIN_WORKFLOWS)}")]
        )
    resource = BUILTIN_WORKFLOWS[name]
    data = load_yaml_resource(CONTRACTS_PACKAGE, resource)
    return parse_workflow(data, source=f"{CONTRACTS_PACKAGE}/{resource}", registry=registry)
