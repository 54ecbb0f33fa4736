"""The workflow runtime: executes an :class:`InfraOrchestrator` plan, durably.

- Independent steps run concurrently (a step starts as soon as its dependencies are done).
- Each step call goes through the effect nodes' operation runner
  (:class:`~omnibase_infra.effect.OperationRunner`), with its one semantics: the step's
  ``timeout_ms`` is the call's overall deadline (``InfraTimeoutError``), every attempt
  bounded by what remains of it, backoff included; the step's ``retry`` policy retries
  retryable errors only (a step call carries an idempotency key, so it may be repeated);
  one ``workflow.step.*`` span per call, each retry a span event.
- On a failure the runtime stops starting steps, lets running ones finish, then runs the
  compensations of the completed steps in reverse completion order (saga).
- Outcomes are fed to the infra_reducer (loaded like every node, by name) in plan order,
  and the reducer's intents are handled per the workflow's ``reducer.intents`` bindings.
- Every node call gets the run's correlation id, a child trace context (``traceparent``
  in the request metadata) and an idempotency key ``<run_id>:<step_id>``.
- Progress is written to a :class:`~.store.WorkflowStore` before and after every step;
  :meth:`WorkflowRuntime.resume` continues a crashed run and never calls a completed step
  again (a step that was running when the process died is called again with the same
  idempotency key), except a step marked ``rerun_on_resume`` whose secret output (never
  stored) a pending step needs: that one is called again, once, before the run continues.
- The infra_reducer snapshot of each resource is kept in the store across runs: a run
  starts from the state the resource's last run left it in.
- Workflow, step, reducer and intent events are published on the event bus.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol
from uuid import UUID, uuid4, uuid5

from opentelemetry import metrics, trace
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from omnibase_infra.effect.policy import ModelOperationPolicy
from omnibase_infra.effect.runner import Attempt, OperationRunner
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraError,
    InfraTimeoutError,
    InfraValidationError,
    error_to_safe_dict,
)
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.fsm import ModelFSMEvent, ModelFSMIntent, ModelFSMSnapshot
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.bindings import (
    BindingScope,
    evaluate_condition,
    resolve,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.orchestrator import (
    InfraOrchestrator,
    ModelWorkflowPlan,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.registry import CallContext, NodeRegistry
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import (
    SECRET_MARKER,
    EnumRunStatus,
    EnumStepStatus,
    InMemoryWorkflowStore,
    ModelRunRecord,
    ModelStepRecord,
    WorkflowStore,
    is_secret_marker,
    to_storable,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import (
    ModelCall,
    ModelStep,
    ModelWorkflow,
    iter_references,
    parse_workflow,
)
from omnibase_infra.observability import start_trace
from omnibase_infra.observability.telemetry import OperationTelemetry
from omnibase_infra.resilience import ModelRetryPolicy

__all__ = [
    "EventBus",
    "ModelRunResult",
    "ModelWorkflowEvent",
    "WorkflowRuntime",
    "workflow_telemetry",
]

logger = logging.getLogger(__name__)

_NAMESPACE: Final = UUID("0e0b3a57-61a4-5f0e-8f6c-2f2b8f3f6a10")
_OPERATION: Final = "run_workflow"
_PLAN_CACHE_SIZE: Final = 64
_NO_RETRY: Final = ModelRetryPolicy(max_attempts=1)
_STEP_CALL_CACHE_SIZE: Final = 4096
type _StepKey = tuple[str, str, int, ModelRetryPolicy | None]
_DONE: Final = frozenset({EnumStepStatus.COMPLETED, EnumStepStatus.SKIPPED})
_TO_COMPENSATE: Final = frozenset(
    {
        EnumStepStatus.COMPLETED,
        EnumStepStatus.COMPENSATING,
        EnumStepStatus.COMPENSATION_FAILED,
    }
)


class EventBus(Protocol):
    """What the runtime needs of an event bus (``InMemoryEventBus`` fits)."""

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Any = None
    ) -> None:
        """Publish one message."""
        ...


class ModelWorkflowEvent(BaseModel):
    """A workflow, step, reducer or intent event (secrets masked)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    run_id: str
    workflow: str
    step_id: str | None = None
    correlation_id: str
    traceparent: str | None = None
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    detail: dict[str, Any] = Field(default_factory=dict)


class ModelRunResult(BaseModel):
    """Where a run stands: its record and its steps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run: ModelRunRecord
    steps: dict[str, ModelStepRecord]
    order: list[str]

    @property
    def status(self) -> EnumRunStatus:
        """The run's status."""
        return self.run.status

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.run.run_id

    @property
    def reducer_state(self) -> str | None:
        """The infra_reducer state the run left the resource in, if any."""
        snapshot = self.run.reducer_snapshot
        return None if snapshot is None else str(snapshot.get("state"))

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-safe summary (secrets are already masked in records)."""
        return {
            "run_id": self.run.run_id,
            "workflow": self.run.workflow_name,
            "status": self.run.status.value,
            "correlation_id": self.run.correlation_id,
            "traceparent": self.run.traceparent,
            "failed_step": self.run.failed_step,
            "error": self.run.error,
            "reducer_state": self.reducer_state,
            "notes": list(self.run.notes),
            "steps": [
                self.steps[sid].model_dump(mode="json", exclude={"run_id"})
                for sid in self.order
                if sid in self.steps
            ],
        }


type Listener = Callable[[ModelWorkflowEvent], None]


class _Run:
    """The live state of one run."""

    def __init__(
        self,
        record: ModelRunRecord,
        workflow: ModelWorkflow,
        plan: ModelWorkflowPlan,
        inputs: dict[str, Any],
        steps: dict[str, ModelStepRecord],
        *,
        root: ModelCorrelationContext | None = None,
    ) -> None:
        self.record = record
        self.workflow = workflow
        self.plan = plan
        self.order = plan.order
        self._by_id = {step.id: step for step in workflow.steps}
        self.inputs = inputs
        self.steps = steps
        self.outputs: dict[str, Any] = {
            sid: rec.output for sid, rec in steps.items() if rec.status in _TO_COMPENSATE
        }
        done = [rec.sequence for rec in steps.values() if rec.sequence is not None]
        self.sequence = itertools.count(max(done, default=0) + 1)
        # Markers of secrets only come from records stored before a restart: without any,
        # binding a step's inputs need not look for them.
        self.lost_secrets = bool(_find_secret_markers([inputs, self.outputs], "records"))
        self.root = root if root is not None else _root_context(record)
        self.reducer_lock = asyncio.Lock()
        self.save_lock = asyncio.Lock()
        self.pending = _Transition()
        """Written by the next ``_commit``: one transaction per step transition."""
        self._scope: BindingScope | None = None

    def step(self, step_id: str) -> ModelStep:
        """The workflow's step ``step_id`` (KeyError when there is none)."""
        return self._by_id[step_id]

    @property
    def run_uuid(self) -> UUID:
        return uuid5(_NAMESPACE, self.record.run_id)

    def scope(self, intent: Mapping[str, Any] | None = None) -> BindingScope:
        """What bindings see. Without ``intent`` one scope serves the whole run: it reads
        ``inputs`` and ``outputs`` live, and the run's ids never change."""
        if intent is None and self._scope is not None:
            return self._scope
        scope = BindingScope(
            inputs=self.inputs,
            outputs=self.outputs,
            run={
                "run_id": self.record.run_id,
                "correlation_id": self.record.correlation_id,
                "workflow": self.record.workflow_name,
            },
            intent=intent,
        )
        if intent is None:
            self._scope = scope
        return scope


def _root_context(record: ModelRunRecord) -> ModelCorrelationContext:
    correlation_id = UUID(record.correlation_id)
    if record.traceparent:
        return ModelCorrelationContext.from_traceparent(
            record.traceparent, correlation_id=correlation_id
        )
    return start_trace(correlation_id)


def workflow_telemetry(
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> OperationTelemetry:
    """Spans ``workflow.step.<node>.<operation>`` (one per step or compensation call,
    retries included, a child of the run's trace; the node's own spans are its children)
    and the ``omnibase.workflow.step.*`` metrics. No-ops without an OpenTelemetry SDK."""
    return OperationTelemetry(
        scope="omnibase_infra.nodes.infra_orchestrator",
        span_prefix="workflow.step",
        duration_metric="omnibase.workflow.step.duration",
        counter_prefix="omnibase.workflow.step",
        span_attributes={"omnibase.component": "infra_orchestrator"},
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )


def _span_context(root: ModelCorrelationContext, span: trace.Span) -> ModelCorrelationContext:
    """The context a node call carries: the step span when one is recorded, else a new
    child span id of the run's root."""
    recorded = span.get_span_context()
    if not recorded.is_valid or root.trace_id is None:
        return root.child()
    return root.model_copy(
        update={"span_id": format(recorded.span_id, "016x"), "parent_span_id": root.span_id}
    )


def _live_output(result: object) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="python")
    return result


def _find_secret_markers(value: Any, path: str) -> list[str]:
    if is_secret_marker(value):
        return [path]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _find_secret_markers(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _find_secret_markers(v, f"{path}[{i}]")]
    return []


type _Event = tuple[str, str | None, bool, dict[str, Any]]


class _Transition:
    """The records and events of one step transition, written in one store transaction
    (with the run record when ``save_run``), the events emitted once it is durable."""

    __slots__ = ("events", "records", "save_run")

    def __init__(self) -> None:
        self.records: dict[str, ModelStepRecord] = {}
        """By step id: a step's record is written once per transaction, as it is then."""
        self.events: list[_Event] = []
        self.save_run = False

    def add(
        self,
        rec: ModelStepRecord | None,
        kind: str,
        step_id: str | None = None,
        *,
        stored: bool = False,
        **detail: Any,
    ) -> None:
        """Record ``rec`` (if any) and queue the event ``kind`` (``stored``: ``detail`` is
        already storable, no need to mask it again)."""
        if rec is not None:
            self.records[rec.step_id] = rec
        self.events.append((kind, step_id, stored, detail))

    def take(self) -> tuple[list[ModelStepRecord], bool, list[_Event]]:
        taken = list(self.records.values()), self.save_run, self.events
        self.records, self.save_run, self.events = {}, False, []
        return taken


class _Ready:
    """Which steps may start: those whose dependencies are all done, in plan order."""

    __slots__ = ("_blocked", "_dependents", "_position", "_ready")

    def __init__(self, run: _Run) -> None:
        done = {sid for sid in run.order if run.steps[sid].status in _DONE}
        self._position = {sid: index for index, sid in enumerate(run.order)}
        self._blocked: dict[str, int] = {}
        self._dependents: dict[str, list[str]] = {}
        for sid in run.order:
            if sid in done:
                continue
            depends_on = run.step(sid).depends_on
            self._blocked[sid] = sum(dep not in done for dep in depends_on)
            for dep in depends_on:
                self._dependents.setdefault(dep, []).append(sid)
        self._ready = [sid for sid, count in self._blocked.items() if count == 0]

    def pop(self) -> str | None:
        """The first ready step in plan order, or None."""
        if not self._ready:
            return None
        self._ready.sort(key=self._position.__getitem__)
        return self._ready.pop(0)

    def release(self, sid: str) -> None:
        """``sid`` is done (completed or skipped): its dependents may become ready."""
        for dependent in self._dependents.get(sid, ()):
            self._blocked[dependent] -= 1
            if self._blocked[dependent] == 0:
                self._ready.append(dependent)


class _Completions:
    """Finished step calls in completion order, and the run's deadline: one timer per run
    and one future per wait (``asyncio.wait`` would build both on every wake-up)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self._loop = loop
        self._finished: list[asyncio.Task[Any]] = []
        self._waiter: asyncio.Future[None] | None = None
        self.expired = False
        self._timer = loop.call_at(deadline, self._expire)

    def watch(self, task: asyncio.Task[Any]) -> None:
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._finished.append(task)
        self._wake()

    def _expire(self) -> None:
        self.expired = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self) -> list[asyncio.Task[Any]]:
        """The calls finished since the last wait (none only when the deadline passed)."""
        if not self._finished and not self.expired:
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        finished, self._finished = self._finished, []
        return finished

    def close(self) -> None:
        self._timer.cancel()


class WorkflowRuntime:
    """Executes workflows through the nodes of a :class:`NodeRegistry` (see the module
    docstring). ``store`` defaults to a non-durable in-memory store; pass a
    :class:`~.store.SqliteWorkflowStore` for crash safety."""

    def __init__(
        self,
        registry: NodeRegistry,
        store: WorkflowStore | None = None,
        *,
        event_bus: EventBus | None = None,
        topic_prefix: str = "onex.infra.workflow",
        planner: InfraOrchestrator | None = None,
        listeners: Sequence[Listener] = (),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        telemetry: OperationTelemetry | None = None,
    ) -> None:
        self.registry = registry
        self.store: WorkflowStore = store if store is not None else InMemoryWorkflowStore()
        self.event_bus = event_bus
        self.topic_prefix = topic_prefix
        self.planner = planner if planner is not None else InfraOrchestrator()
        self._listeners = list(listeners)
        self._sleep = sleep
        self.telemetry = telemetry if telemetry is not None else workflow_telemetry()
        self._step_calls: dict[_StepKey, tuple[OperationRunner, ModelOperationPolicy]] = {}
        self._plans: dict[int, tuple[ModelWorkflow, ModelWorkflowPlan, dict[str, Any]]] = {}

    async def _plan(self, workflow: ModelWorkflow) -> tuple[ModelWorkflowPlan, dict[str, Any]]:
        """The plan and the stored form of ``workflow``; both are pure functions of the
        (immutable) workflow, so they are kept per workflow object."""
        cached = self._plans.get(id(workflow))
        if cached is not None and cached[0] is workflow:
            return cached[1], cached[2]
        plan = await self.planner.plan(workflow)
        dumped = workflow.model_dump(mode="json", by_alias=True, exclude_none=True)
        if len(self._plans) >= _PLAN_CACHE_SIZE:
            self._plans.pop(next(iter(self._plans)))
        self._plans[id(workflow)] = (workflow, plan, dumped)
        return plan, dumped

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every event (synchronously, in order)."""
        self._listeners.append(listener)

    # -- entry points --------------------------------------------------------------------

    async def run(
        self,
        workflow: ModelWorkflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        correlation_id: UUID | None = None,
        traceparent: str | None = None,
    ) -> ModelRunResult:
        """Run ``workflow`` with ``inputs`` to its end (completed, or failed and compensated)."""
        live, stored, secret = self._bind_inputs(workflow, inputs or {})
        plan, dumped = await self._plan(workflow)
        correlation = correlation_id or uuid4()
        root = (
            ModelCorrelationContext.from_traceparent(traceparent, correlation_id=correlation)
            if traceparent
            else start_trace(correlation)
        )
        record = ModelRunRecord(
            run_id=run_id or str(uuid4()),
            workflow_name=workflow.name,
            workflow=dumped,
            inputs=stored,
            secret_inputs=secret,
            correlation_id=str(correlation),
            traceparent=root.traceparent,
        )
        steps = {sid: ModelStepRecord(run_id=record.run_id, step_id=sid) for sid in plan.order}
        run = _Run(record, workflow, plan, live, steps, root=root)
        # Written with the first steps' start (one transaction), or before the reducer's
        # start event when there is a reducer (see _drive).
        run.pending.records.update(steps)
        run.pending.save_run = True
        run.pending.add(None, "workflow.started", stored=True, inputs=stored, order=plan.order)
        return await self._drive(run)

    async def resume(
        self, run_id: str, *, secret_inputs: Mapping[str, Any] | None = None
    ) -> ModelRunResult:
        """Continue a run from its last durable state (a finished run is returned as is)."""
        record = await self.store.get_run(run_id)
        workflow = parse_workflow(record.workflow, source=f"run {run_id}")
        plan = await self.planner.plan(workflow)
        steps = await self.store.get_steps(run_id)
        for sid in plan.order:
            steps.setdefault(sid, ModelStepRecord(run_id=run_id, step_id=sid))
        if record.status.finished:
            return ModelRunResult(run=record, steps=steps, order=plan.order)
        given = dict(secret_inputs or {})
        missing = [name for name in record.secret_inputs if name not in given]
        if missing:
            raise InfraValidationError(
                f"resume of {run_id} needs the secret inputs {missing} again "
                "(secrets are never stored)",
                transport=EnumTransport.INTERNAL,
                operation="resume_workflow",
                target=run_id,
                missing_inputs=missing,
            )
        live = dict(record.inputs)
        for name in record.secret_inputs:
            value = given[name]
            live[name] = value if isinstance(value, SecretStr) else SecretStr(str(value))
        run = _Run(record, workflow, plan, live, steps)
        await self._emit(run, "workflow.resumed", status=record.status.value)
        await self._resume_intents(run)
        if record.status is EnumRunStatus.RUNNING:
            for sid in self._lost_secrets_needed(run):
                await self._rerun(run, sid)
        return await self._drive(run)

    @staticmethod
    def _lost_secrets_needed(run: _Run) -> list[str]:
        """Completed ``rerun_on_resume`` steps whose stored output lost secrets that a
        pending step references (in plan order)."""
        pending = [run.step(s) for s in run.order if run.steps[s].status not in _DONE]
        needed: set[str] = set()
        for step in pending:
            refs = [*iter_references(step.inputs), *iter_references(step.condition)]
            needed |= {r.parts[1] for r in refs if r.root == "steps" and len(r.parts) > 1}
        return [
            sid
            for sid in run.order
            if sid in needed
            and run.step(sid).rerun_on_resume
            and run.steps[sid].status is EnumStepStatus.COMPLETED
            and _find_secret_markers(run.steps[sid].output, "output")
        ]

    async def _rerun(self, run: _Run, sid: str) -> None:
        """Call a completed ``rerun_on_resume`` step again for its secret output. A failure
        is noted; the step that needs the output then fails naming the lost secret."""
        step = run.step(sid)
        rec = run.steps[sid]
        await self._emit(run, "step.rerun", sid, reason="secret output lost in a restart")
        try:
            inputs = self._inputs(run, step, sid, step.inputs, f"step {sid!r} (rerun)")
            result, attempts = await self._call(
                run, step, inputs, f"{run.record.run_id}:{sid}:rerun"
            )
        except Exception as exc:  # noted; the dependent step reports the lost secret
            error = error_to_safe_dict(exc)
            run.record.notes.append(
                f"rerun of step {sid!r} on resume failed: {error.get('message')}"
            )
            await self._save_run(run)
            await self._emit(run, "step.rerun_failed", sid, error=error)
            return
        run.outputs[sid] = _live_output(result)
        rec.attempts += attempts
        await self.store.save_step(rec)
        await self._emit(run, "step.rerun_completed", sid, attempts=attempts)

    async def status(self, run_id: str) -> ModelRunResult:
        """The stored state of a run."""
        record = await self.store.get_run(run_id)
        steps = await self.store.get_steps(run_id)
        order = [s["id"] for s in record.workflow.get("steps", [])]
        return ModelRunResult(run=record, steps=steps, order=order)

    # -- inputs --------------------------------------------------------------------------

    def _bind_inputs(
        self, workflow: ModelWorkflow, given: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        unknown = sorted(set(given) - set(workflow.inputs))
        missing = sorted(
            name
            for name, spec in workflow.inputs.items()
            if name not in given and spec.required and spec.default is None
        )
        if unknown or missing:
            raise InfraValidationError(
                f"workflow {workflow.name!r} inputs: unknown {unknown}, missing {missing}",
                transport=EnumTransport.INTERNAL,
                operation=_OPERATION,
                target=workflow.name,
                unknown_inputs=unknown,
                missing_inputs=missing,
            )
        live: dict[str, Any] = {}
        stored: dict[str, Any] = {}
        secret: list[str] = []
        for name, spec in workflow.inputs.items():
            value = given.get(name, spec.default)
            if spec.pattern is not None and value is not None:
                text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
                if re.fullmatch(spec.pattern, text) is None:
                    raise InfraValidationError(
                        f"workflow {workflow.name!r} input {name!r} does not match "
                        f"{spec.pattern!r}",
                        transport=EnumTransport.INTERNAL,
                        operation=_OPERATION,
                        target=workflow.name,
                    )
            if spec.secret and value is not None:
                live[name] = value if isinstance(value, SecretStr) else SecretStr(str(value))
                stored[name] = dict(SECRET_MARKER)
                secret.append(name)
            else:
                live[name] = value
                stored[name] = to_storable(value)
        return live, stored, secret

    # -- driving -------------------------------------------------------------------------

    async def _drive(self, run: _Run) -> ModelRunResult:
        record = run.record
        if record.status is EnumRunStatus.RUNNING:
            if run.workflow.reducer is not None:
                await self._commit(run)  # the run is recorded before the reducer's start
            await self._feed(run, "start")
            failure = await self._execute_steps(run)
            # The last outcomes and the run's new status go in one transaction.
            run.pending.save_run = True
            if failure is None:
                record.status = EnumRunStatus.COMPLETED
                run.pending.add(None, "workflow.completed")
                await self._commit(run)
                return self._result(run)
            sid, error = failure
            record.status = EnumRunStatus.COMPENSATING
            record.failed_step = sid
            record.error = error
            run.pending.add(None, "workflow.compensating", failed_step=sid, error=error)
            await self._commit(run)
        await self._feed(run, "failure")
        clean = await self._compensate(run)
        record.status = EnumRunStatus.FAILED if clean else EnumRunStatus.COMPENSATION_FAILED
        await self._save_run(run)
        await self._emit(
            run, "workflow.failed", status=record.status.value, failed_step=record.failed_step
        )
        return self._result(run)

    def _result(self, run: _Run) -> ModelRunResult:
        # The run is over: its records are not changed again, so no copy is needed.
        return ModelRunResult(run=run.record, steps=dict(run.steps), order=run.order)

    async def _execute_steps(self, run: _Run) -> tuple[str, dict[str, Any]] | None:
        """Run the steps to the end or to the first failure. Each step transition is one
        store transaction, written before any call it releases: the outcomes of the steps
        that finished and the ``running`` (or ``skipped``) records of the steps they
        unblock. So a step's outcome is durable before a step after it starts."""
        for sid in run.order:
            rec = run.steps[sid]
            if rec.status is EnumStepStatus.FAILED:  # died between the failure and its record
                return sid, rec.error or {}
        ready = _Ready(run)
        running: dict[asyncio.Task[tuple[Any, int]], str] = {}
        failure: tuple[str, dict[str, Any]] | None = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + run.workflow.workflow.timeout_ms / 1000
        completions = _Completions(loop, deadline)
        transition = run.pending
        await self._feed_progress(run)
        try:
            while True:
                calls: list[tuple[str, ModelStep, dict[str, Any]]] = []
                if failure is None:
                    failure = self._start_ready(run, ready, transition, calls)
                if not calls and not running:
                    return failure  # the last outcomes are written with the run's status
                await self._commit(run)
                if len(calls) == 1 and not running and not completions.expired:
                    # The only call in flight (a chain's every step): awaited here, not in
                    # a task of its own (no task, no wake-up; nothing else can start
                    # before it ends), under the run's deadline.
                    error = await self._call_inline(run, calls[0], deadline, ready)
                    failure = failure or (None if error is None else (calls[0][0], error))
                    calls = []
                self._start_tasks(run, calls, running, completions)
                for task in await completions.wait() if running else ():
                    sid = running.pop(task)
                    error = self._finish(run, sid, task, transition, ready)
                    failure = failure or (None if error is None else (sid, error))
                if completions.expired and running:
                    failure = failure or await self._workflow_timeout(run, running, transition)
                if run.workflow.reducer is not None:
                    # The reducer is fed each outcome before a later step starts.
                    await self._commit(run)
                    await self._feed_progress(run)
        except BaseException:
            for task in running:  # a cancelled run leaves no call behind
                task.cancel()
            raise
        finally:
            completions.close()

    def _start_ready(
        self,
        run: _Run,
        ready: _Ready,
        transition: _Transition,
        calls: list[tuple[str, ModelStep, dict[str, Any]]],
    ) -> tuple[str, dict[str, Any]] | None:
        """Prepare every ready step (skipped ones release their dependents at once) and
        queue the calls; stops at the first step that fails before its call."""
        while (sid := ready.pop()) is not None:
            kind, payload = self._prepare(run, sid, transition)
            if kind == "skipped":
                ready.release(sid)
            elif kind == "failed":
                return sid, payload
            else:
                calls.append((sid, run.step(sid), payload))
        return None

    def _start_tasks(
        self,
        run: _Run,
        calls: list[tuple[str, ModelStep, dict[str, Any]]],
        running: dict[asyncio.Task[tuple[Any, int]], str],
        completions: _Completions,
    ) -> None:
        """Start each call in a task of its own (several in flight at once)."""
        loop = asyncio.get_running_loop()
        for sid, step, inputs in calls:
            key = f"{run.record.run_id}:{sid}"
            task = loop.create_task(self._call(run, step, inputs, key), name=f"step:{sid}")
            completions.watch(task)
            running[task] = sid

    async def _workflow_timeout(
        self,
        run: _Run,
        running: dict[asyncio.Task[tuple[Any, int]], str],
        transition: _Transition,
    ) -> tuple[str, dict[str, Any]]:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        timed_out = self._timed_out(run, list(running.values()), transition)
        running.clear()
        return timed_out

    @staticmethod
    def _timed_out(
        run: _Run, sids: list[str], transition: _Transition
    ) -> tuple[str, dict[str, Any]]:
        """Record ``sids`` (cancelled at the run's deadline) as failed; the first one and
        its error."""
        timeout = run.workflow.workflow.timeout_ms / 1000
        first = ""
        error: dict[str, Any] = {}
        for sid in sids:
            exc = InfraTimeoutError(
                f"workflow {run.workflow.name!r} ran out of its {timeout:g}s budget "
                f"in step {sid!r}",
                transport=EnumTransport.INTERNAL,
                operation=_OPERATION,
                timeout_seconds=timeout,
                target=sid,
                correlation_id=run.root.correlation_id,
                retryable=False,
            )
            error = error or error_to_safe_dict(exc)
            first = first or sid
            rec = run.steps[sid]
            rec.status = EnumStepStatus.FAILED
            rec.error = error_to_safe_dict(exc)
            rec.finished_at = datetime.now(UTC)
            transition.add(rec, "step.failed", sid, error=rec.error)
        return first, error

    async def _call_inline(
        self,
        run: _Run,
        call: tuple[str, ModelStep, dict[str, Any]],
        deadline: float,
        ready: _Ready,
    ) -> dict[str, Any] | None:
        """Call ``sid`` in the run's own task, bounded by the run's ``deadline``, and record
        its outcome as :meth:`_finish` does; returns its error (safe dict) or None. At the
        deadline it is cancelled and failed as :meth:`_workflow_timeout` fails calls."""
        sid, step, inputs = call
        transition = run.pending
        bound = asyncio.timeout_at(deadline)  # retries and back-off sleeps included
        try:
            async with bound:
                outcome = await self._call(run, step, inputs, f"{run.record.run_id}:{sid}")
        except Exception as exc:  # the call's own failure, or the deadline's TimeoutError
            if bound.expired():
                return self._timed_out(run, [sid], transition)[1]
            return self._failed(run.steps[sid], exc, transition)
        if bound.expired():  # the call swallowed the cancellation: cut all the same
            return self._timed_out(run, [sid], transition)[1]
        self._completed(run, sid, outcome, transition, ready)
        return None

    def _prepare(
        self, run: _Run, sid: str, transition: _Transition
    ) -> tuple[Literal["skipped", "failed", "call"], dict[str, Any]]:
        """Decide a ready step, recording the transition: ``skipped``, ``failed`` before
        its call (with its error) or to be called (``call``, with its bound inputs)."""
        step = run.step(sid)
        rec = run.steps[sid]
        where = f"step {sid!r}"
        try:
            if step.condition is not None and not evaluate_condition(
                step.condition, run.scope(), where
            ):
                rec.status = EnumStepStatus.SKIPPED
                rec.finished_at = datetime.now(UTC)
                run.outputs[sid] = None
                transition.add(rec, "step.skipped", sid)
                return "skipped", {}
            inputs = self._inputs(run, step, sid, step.inputs, where)
        except Exception as exc:  # every failure of a step is recorded, none escapes
            return "failed", self._failed(rec, exc, transition)
        rec.status = EnumStepStatus.RUNNING
        rec.started_at = datetime.now(UTC)
        rec.error = None
        transition.add(
            rec, "step.started", sid, stored=True, node=step.node, operation=step.operation
        )
        return "call", inputs

    def _finish(
        self,
        run: _Run,
        sid: str,
        task: asyncio.Task[tuple[Any, int]],
        transition: _Transition,
        ready: _Ready,
    ) -> dict[str, Any] | None:
        """Record a finished call's outcome (a completed step releases its dependents);
        returns its error (safe dict) or None."""
        exc = task.exception()
        if exc is not None:
            return self._failed(run.steps[sid], exc, transition)
        self._completed(run, sid, task.result(), transition, ready)
        return None

    @staticmethod
    def _completed(
        run: _Run,
        sid: str,
        outcome: tuple[Any, int],
        transition: _Transition,
        ready: _Ready,
    ) -> None:
        """Record a call's result: the step is completed and releases its dependents."""
        rec = run.steps[sid]
        result, attempts = outcome
        live = _live_output(result)
        run.outputs[sid] = live
        rec.status = EnumStepStatus.COMPLETED
        rec.output = to_storable(live)
        rec.attempts += attempts
        rec.sequence = next(run.sequence)
        rec.finished_at = datetime.now(UTC)
        transition.add(
            rec, "step.completed", sid, stored=True, attempts=attempts, output=rec.output
        )
        ready.release(sid)

    @staticmethod
    def _failed(
        rec: ModelStepRecord, exc: BaseException, transition: _Transition
    ) -> dict[str, Any]:
        rec.status = EnumStepStatus.FAILED
        rec.error = error_to_safe_dict(exc)
        rec.finished_at = datetime.now(UTC)
        rec.attempts += getattr(exc, "_workflow_attempts", 1)
        transition.add(rec, "step.failed", rec.step_id, error=rec.error)
        return rec.error

    async def _commit(self, run: _Run) -> None:
        """Write the pending transition's records in one transaction, then emit its
        events."""
        records, save_run, events = run.pending.take()
        if save_run:
            async with run.save_lock:
                run.record.updated_at = datetime.now(UTC)
                await self.store.save_batch(records, run=run.record)
        elif records:
            await self.store.save_batch(records)
        for kind, sid, stored, detail in events:
            await self._emit(run, kind, sid, _stored=stored, **detail)

    def _inputs(
        self, run: _Run, step: ModelCall, sid: str, raw: Mapping[str, Any], where: str
    ) -> dict[str, Any]:
        inputs = resolve(dict(raw), run.scope(), where)
        lost = _find_secret_markers(inputs, "inputs") if run.lost_secrets else []
        if lost:
            raise InfraValidationError(
                f"{where}: {lost} come from secret outputs stored before a restart; "
                "secrets are never stored, so this step cannot be resumed",
                transport=EnumTransport.INTERNAL,
                operation=_OPERATION,
                target=f"{step.node}.{step.operation}",
                correlation_id=run.root.correlation_id,
            )
        return dict(inputs)

    def _step_runner(self, call: ModelCall) -> tuple[OperationRunner, ModelOperationPolicy]:
        """The runner and policy of a step call (built once per node, operation, deadline
        and retry policy)."""
        key = (call.node, call.operation, call.timeout_ms, call.retry)
        found = self._step_calls.get(key)
        if found is None:
            if len(self._step_calls) >= _STEP_CALL_CACHE_SIZE:
                self._step_calls.clear()
            target = f"{call.node}.{call.operation}"
            runner = OperationRunner(
                transport=EnumTransport.INTERNAL,
                target=target,
                telemetry=self.telemetry,
                logger=logger,
                sleep=self._sleep,
            )
            policy = ModelOperationPolicy(
                operation=target,
                timeout_seconds=call.timeout_ms / 1000,
                idempotent=True,  # every step call carries its idempotency key
                retry=call.retry or _NO_RETRY,
                guarded=False,  # each node's own breaker guards its target
            )
            found = self._step_calls[key] = (runner, policy)
        return found

    async def _call(
        self,
        run: _Run,
        call: ModelCall,
        inputs: Mapping[str, Any],
        key: str,
    ) -> tuple[Any, int]:
        """Call ``call.node``.``call.operation`` through the operation runner (the step's
        deadline and retry policy, its span)."""
        instance, spec = await self.registry.operation(call.node, call.operation)
        attempts = 0

        async def attempt(state: Attempt) -> Any:
            nonlocal attempts
            attempts = state.number
            # The runner's span is current: the node's spans become its children.
            context = _span_context(run.root, trace.get_current_span())
            return await spec.call(instance, inputs, CallContext(context, key, state.remaining()))

        runner, policy = self._step_runner(call)
        try:
            outcome = await runner.run(policy, attempt, correlation=run.root)
        except Exception as exc:
            exc._workflow_attempts = max(attempts, 1)  # type: ignore[attr-defined]
            raise
        return outcome.value, outcome.attempts

    # -- compensation --------------------------------------------------------------------

    async def _compensate(self, run: _Run) -> bool:
        """Compensate completed steps in reverse completion order; True when all ran."""
        candidates = sorted(
            (rec for rec in run.steps.values() if rec.status in _TO_COMPENSATE),
            key=lambda rec: rec.sequence or 0,
            reverse=True,
        )
        clean = True
        for rec in candidates:
            step = run.step(rec.step_id)
            if step.compensation is None:
                continue
            where = f"compensation of step {rec.step_id!r}"
            rec.status = EnumStepStatus.COMPENSATING
            await self.store.save_step(rec)
            await self._emit(run, "step.compensating", rec.step_id)
            try:
                inputs = self._inputs(
                    run, step.compensation, rec.step_id, step.compensation.inputs, where
                )
                await self._call(
                    run,
                    step.compensation,
                    inputs,
                    f"{run.record.run_id}:{rec.step_id}:compensate",
                )
            except Exception as exc:  # a failed compensation must not stop the others
                clean = False
                rec.status = EnumStepStatus.COMPENSATION_FAILED
                rec.compensation_error = error_to_safe_dict(exc)
                await self.store.save_step(rec)
                await self._emit(
                    run, "step.compensation_failed", rec.step_id, error=rec.compensation_error
                )
                continue
            rec.status = EnumStepStatus.COMPENSATED
            rec.compensation_error = None
            await self.store.save_step(rec)
            await self._emit(run, "step.compensated", rec.step_id)
        return clean

    # -- reducer -------------------------------------------------------------------------

    async def _feed_progress(self, run: _Run) -> None:
        """Feed completed steps' triggers in plan order (the FSM is sequential even when
        steps complete out of order)."""
        if run.workflow.reducer is None:
            return
        for sid in run.order:
            rec = run.steps[sid]
            if rec.status not in _DONE:
                return
            step = run.step(sid)
            if rec.status is EnumStepStatus.COMPLETED and step.reducer_trigger:
                await self._feed(run, sid)

    async def _feed(self, run: _Run, key: str) -> None:
        binding = run.workflow.reducer
        if binding is None:
            return
        async with run.reducer_lock:
            if key in run.record.reducer_fed:
                return
            if key == "start":
                trigger, raw = binding.start.trigger, binding.start.data
            elif key == "failure":
                if binding.failure is None:
                    return
                trigger = binding.failure.trigger
                raw = {"failed_step": run.record.failed_step, **binding.failure.data}
                code = (run.record.error or {}).get("code")
                if isinstance(code, str):
                    raw.setdefault("error_code", code)
            else:
                trigger, raw = str(run.step(key).reducer_trigger), {}
            await self._apply(run, key, trigger, raw)

    async def _apply(self, run: _Run, key: str, trigger: str, raw: Mapping[str, Any]) -> None:
        binding = run.workflow.reducer
        assert binding is not None  # noqa: S101 - checked by the caller
        try:
            reducer: Any = await self.registry.instance(binding.node)
            resource_id = str(resolve(binding.resource_id, run.scope(), "reducer.resource_id"))
            data = resolve(dict(raw), run.scope(), f"reducer event {key!r}")
            kept = run.record.reducer_snapshot
            if kept is None:  # the run's first event: start where the last run left off
                kept = await self.store.get_resource_snapshot(resource_id)
            if kept is not None and kept.get("resource_id") == resource_id:
                snapshot = ModelFSMSnapshot.model_validate(kept)
            else:
                snapshot = reducer.initial_snapshot(resource_id)
            event = ModelFSMEvent(
                resource_id=resource_id,
                trigger=trigger,
                data=data,
                event_id=uuid5(run.run_uuid, f"reducer:{key}"),
                correlation_id=run.root.correlation_id,
            )
            result = await reducer.apply(snapshot, event)
        except Exception as exc:  # the reducer tracks state; it never fails the run
            note = f"reducer rejected {trigger!r} ({key}): {error_to_safe_dict(exc).get('message')}"
            run.record.notes.append(note)
            run.record.reducer_fed.append(key)
            await self._save_run(run)
            await self._emit(
                run, "reducer.rejected", trigger=trigger, error=error_to_safe_dict(exc)
            )
            return
        run.record.reducer_snapshot = result.snapshot.model_dump(mode="json")
        run.record.reducer_fed.append(key)
        # The intents are recorded with the transition that planned them: a crash before
        # they are handled leaves them to resume, not lost (the event is not fed again).
        run.record.intents_pending += [intent.model_dump(mode="json") for intent in result.intents]
        await self._save_run(run)
        await self.store.save_resource_snapshot(
            result.snapshot.resource_id, run.record.reducer_snapshot
        )
        await self._emit(
            run,
            "reducer.transition",
            trigger=trigger,
            outcome=str(result.outcome),
            state=result.snapshot.state,
            previous_state=result.previous_state,
            intents=[f"{i.target_node}.{i.operation}" for i in result.intents],
        )
        for intent in result.intents:
            await self._handle_intent(run, intent)

    async def _handle_intent(self, run: _Run, intent: ModelFSMIntent) -> None:
        binding = run.workflow.reducer
        assert binding is not None  # noqa: S101 - only called with a reducer
        intent_key = str(intent.intent_id)
        if intent_key in run.record.intents_done:
            return
        name = f"{intent.target_node}.{intent.operation}"
        handler = binding.intents.get(f"{name}@{intent.state}") or binding.intents.get(name)
        detail: dict[str, Any] = {"intent": name, "intent_id": intent_key}
        if handler is None:
            kind = "intent.unhandled"
        elif handler.satisfied_by is not None:
            kind, detail["satisfied_by"] = "intent.satisfied", handler.satisfied_by
        else:
            assert handler.call is not None  # noqa: S101 - the model guarantees one
            kind = "intent.executed"
            try:
                scope = run.scope(intent=intent.model_dump(mode="python"))
                inputs = resolve(dict(handler.call.inputs), scope, f"intent {name}")
                result, _ = await self._call(run, handler.call, inputs, intent_key)
                detail["output"] = to_storable(_live_output(result))
            except Exception as exc:  # recorded; a critical intent's failure is noted
                kind = "intent.failed"
                detail["error"] = error_to_safe_dict(exc)
                run.record.notes.append(
                    f"{'critical ' if intent.is_critical else ''}intent {name} failed: "
                    f"{detail['error'].get('message')}"
                )
        run.record.intents_done.append(intent_key)
        run.record.intents_pending = [
            raw for raw in run.record.intents_pending if raw.get("intent_id") != intent_key
        ]
        await self._save_run(run)
        await self._emit(run, kind, **detail)

    async def _resume_intents(self, run: _Run) -> None:
        """Handle the intents a crash left recorded but not handled: an intent handled
        before the crash is not called again; one whose call was in flight is called
        again with the same idempotency key (its intent id)."""
        if run.workflow.reducer is None:
            return
        for raw in list(run.record.intents_pending):
            if raw.get("intent_id") not in run.record.intents_done:
                await self._handle_intent(run, ModelFSMIntent.model_validate(raw))

    # -- persistence and events ----------------------------------------------------------

    async def _save_run(self, run: _Run) -> None:
        async with run.save_lock:
            run.record.updated_at = datetime.now(UTC)
            await self.store.save_run(run.record)

    async def _emit(
        self,
        run: _Run,
        kind: str,
        step_id: str | None = None,
        *,
        _stored: bool = False,
        **detail: Any,
    ) -> None:
        if not self._listeners and self.event_bus is None:
            return
        record = run.record
        # Validated, not ``model_construct``: pydantic's Python-level construct costs more
        # than its compiled validation of these few plain fields.
        event = ModelWorkflowEvent(
            kind=kind,
            run_id=record.run_id,
            workflow=record.workflow_name,
            step_id=step_id,
            correlation_id=record.correlation_id,
            traceparent=record.traceparent,
            detail=detail if _stored else to_storable(detail),
        )
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not break the run
                logger.exception("workflow event listener failed on %s", kind)
        if self.event_bus is None:
            return
        try:
            await self.event_bus.publish(
                f"{self.topic_prefix}.{kind}",
                run.record.run_id.encode(),
                event.model_dump_json().encode(),
            )
        except (InfraError, OSError, TypeError, ValueError) as exc:
            logger.warning(
                "could not publish %s for run %s: %s (correlation_id=%s)",
                kind,
                run.record.run_id,
                type(exc).__name__,
                run.record.correlation_id,
            )
