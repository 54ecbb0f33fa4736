"""``onex-infra worker``: runs queued workflow runs from the PostgreSQL store, several at a
time, under a lease (see :mod:`.leases`).

A worker claims up to ``concurrency`` runs (queued ones, and running ones whose lease
expired: their worker died or was paused), renews its leases every ``lease_seconds / 3``,
and runs each with a :class:`~.runtime.WorkflowRuntime` over a
:class:`~.leases.FencedWorkflowStore`: a run never started is run from its submitted
workflow and inputs, a run with a record is resumed from its last recorded step (a step
recorded ``running`` is called again with the same idempotency key). A lease the renewal
finds lost cancels its run at once; a write the fence refuses ends it: the worker records
nothing more for that run and starts no further step of it.

Secret inputs are never queued: a worker takes them from its own environment
(``OMNIBASE_INFRA_ORCHESTRATOR_INPUT_<NAME>``), like ``resume``.

With an event bus, the runtime publishes its workflow, step, reducer and intent events on
``<topic_prefix>.<kind>``; the worker adds ``onex.infra.worker.claimed|lease_lost|
finished|released`` and takes **submit commands** from the topic
``onex.infra.command.submit`` (consumer group ``onex-infra-workers``; see
:func:`handle_submit_command`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol
from uuid import UUID

from pydantic import SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConflictError, InfraError, InfraValidationError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.leases import (
    ModelLease,
    PostgresRunQueue,
    is_lease_lost,
    new_worker_id,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.orchestrator import (
    InfraOrchestrator,
    ModelWorkflowPlan,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.registry import NodeRegistry
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.runtime import (
    EventBus,
    Listener,
    WorkflowRuntime,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.services import ORCHESTRATOR_ENV_PREFIX
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import to_storable
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import (
    BUILTIN_WORKFLOWS,
    ModelWorkflow,
    load_builtin_workflow,
    parse_workflow,
)
from omnibase_infra.redaction import carries_secret

__all__ = [
    "COMMAND_GROUP",
    "SUBMIT_TOPIC",
    "WORKER_TOPIC_PREFIX",
    "WorkerStats",
    "WorkflowWorker",
    "handle_submit_command",
    "submit_inputs",
]

logger = logging.getLogger(__name__)

INPUT_ENV_PREFIX: Final = f"{ORCHESTRATOR_ENV_PREFIX}INPUT_"
DEPRECATED_INPUT_ENV_PREFIX: Final = "ONEX_INFRA_INPUT_"
SUBMIT_TOPIC: Final = "onex.infra.command.submit"
"""Where submit commands arrive: JSON ``{"workflow": NAME or a workflow mapping,
"inputs": {...}, "run_id": optional}`` (the message id is the run id when none is given)."""
COMMAND_GROUP: Final = "onex-infra-workers"
WORKER_TOPIC_PREFIX: Final = "onex.infra.worker"


def env_secret_inputs(names: Collection[str]) -> dict[str, SecretStr]:
    """The secret inputs ``names`` from ``OMNIBASE_INFRA_ORCHESTRATOR_INPUT_<NAME>`` (else
    the deprecated ``ONEX_INFRA_INPUT_<NAME>``), those set."""
    found: dict[str, SecretStr] = {}
    for name in names:
        for prefix in (INPUT_ENV_PREFIX, DEPRECATED_INPUT_ENV_PREFIX):
            value = os.environ.get(f"{prefix}{name.upper()}")
            if value:
                found[name] = SecretStr(value)
                break
    return found


def submit_inputs(workflow: ModelWorkflow, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs of a queued run, checked: declared names only, no secret input (they are
    never stored: workers take them from their environment) and no value that holds a
    password or token; required ones present unless secret."""
    unknown = sorted(set(inputs) - set(workflow.inputs))
    secret = sorted(
        name
        for name, value in inputs.items()
        if (name in workflow.inputs and workflow.inputs[name].secret)
        or (isinstance(value, str) and carries_secret(value))
        or isinstance(value, SecretStr)
    )
    missing = sorted(
        name
        for name, spec in workflow.inputs.items()
        if name not in inputs and spec.required and spec.default is None and not spec.secret
    )
    if unknown or missing or secret:
        raise InfraValidationError(
            f"workflow {workflow.name!r} inputs of a queued run: unknown {unknown}, "
            f"missing {missing}, secret {secret} (secrets are never queued: set "
            f"{INPUT_ENV_PREFIX}<NAME> in the workers' environment)",
            transport=EnumTransport.INTERNAL,
            operation="submit_workflow",
            target=workflow.name,
        )
    return {name: to_storable(value) for name, value in inputs.items()}


def _dumped(workflow: ModelWorkflow) -> dict[str, Any]:
    return workflow.model_dump(mode="json", by_alias=True, exclude_none=True)


async def submit(
    queue: PostgresRunQueue,
    workflow: ModelWorkflow,
    inputs: Mapping[str, Any],
    *,
    run_id: str | None = None,
) -> tuple[str, bool]:
    """Queue a run of ``workflow`` (inputs checked by :func:`submit_inputs`)."""
    return await queue.submit(_dumped(workflow), submit_inputs(workflow, inputs), run_id=run_id)


async def handle_submit_command(queue: PostgresRunQueue, value: bytes, message_id: str) -> str:
    """Queue the run a submit command asks for; the run id is the command's ``run_id``,
    else ``message_id``, so a redelivered command queues it once."""
    try:
        command = json.loads(value)
        if not isinstance(command, dict):
            raise TypeError("a submit command is a JSON object")
        spec = command.get("workflow")
        if isinstance(spec, str) and spec in BUILTIN_WORKFLOWS:
            workflow = load_builtin_workflow(spec)
        elif isinstance(spec, dict):
            workflow = parse_workflow(spec, source="submit command")
        else:
            raise TypeError(f"workflow must be one of {sorted(BUILTIN_WORKFLOWS)} or a mapping")
        inputs = command.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise TypeError("inputs must be a mapping")
        run_id = command.get("run_id") or message_id
    except (TypeError, ValueError) as exc:
        raise InfraValidationError(
            f"invalid submit command: {exc}",
            transport=EnumTransport.INTERNAL,
            operation="submit_command",
            target=SUBMIT_TOPIC,
        ) from None
    rid, _ = await submit(queue, workflow, inputs, run_id=str(run_id))
    return rid


class _Subscriber(Protocol):
    async def subscribe(
        self, topic: str, group_id: str, on_message: Callable[[Any], Any]
    ) -> Callable[[], Any]: ...


_CACHED: Final = 64


class _WorkerPlanner(InfraOrchestrator):
    """The planner of one worker's runs: plans each workflow object once (the worker parses
    each queued workflow once, see ``_workflow``), and one at a time (``plan()`` keeps the
    workflow being planned on the node while core's ``process`` runs)."""

    def __init__(self) -> None:
        super().__init__()
        self._planning = asyncio.Lock()
        self._plans: dict[int, tuple[ModelWorkflow, ModelWorkflowPlan]] = {}

    async def plan(self, workflow: ModelWorkflow) -> ModelWorkflowPlan:
        hit = self._plans.get(id(workflow))
        if hit is not None and hit[0] is workflow:
            return hit[1]
        async with self._planning:
            planned = await super().plan(workflow)
        if len(self._plans) >= _CACHED:
            self._plans.pop(next(iter(self._plans)))
        self._plans[id(workflow)] = (workflow, planned)
        return planned


@dataclass
class WorkerStats:
    """What a worker did (also printed when it stops)."""

    claimed: int = 0
    resumed: int = 0
    finished: int = 0
    lost: int = 0
    released: int = 0
    errors: int = 0


class WorkflowWorker:
    """Claims and runs queued runs (see the module docstring)."""

    def __init__(
        self,
        queue: PostgresRunQueue,
        registry: NodeRegistry,
        *,
        concurrency: int = 4,
        lease_seconds: float = 15.0,
        poll_seconds: float = 0.5,
        worker_id: str | None = None,
        event_bus: EventBus | None = None,
        topic_prefix: str = "onex.infra.workflow",
        listeners: Sequence[Listener] = (),
        secret_inputs: Callable[[Collection[str]], Mapping[str, Any]] = env_secret_inputs,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if concurrency < 1 or lease_seconds <= 0 or poll_seconds <= 0:
            raise InfraValidationError(
                "a worker needs concurrency >= 1 and positive lease and poll seconds",
                transport=EnumTransport.INTERNAL,
                operation="start_worker",
            )
        self.queue = queue
        self.registry = registry
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.worker_id = worker_id or new_worker_id()
        self.event_bus = event_bus
        self.topic_prefix = topic_prefix
        self.listeners = list(listeners)
        self._secret_inputs = secret_inputs
        self._log = log or (lambda line: logger.info("%s", line))
        self.stats = WorkerStats()
        self._planner = _WorkerPlanner()  # one per worker, not one per run
        self._workflows: dict[str, ModelWorkflow] = {}
        self._held: dict[str, tuple[ModelLease, asyncio.Task[None]]] = {}
        self._lost: set[str] = set()
        self._wake = asyncio.Event()

    @property
    def held(self) -> list[str]:
        """The run ids this worker holds now."""
        return list(self._held)

    async def run(self, stop: asyncio.Event | None = None, *, until_idle: bool = False) -> None:
        """Claim and run until ``stop`` is set (or, ``until_idle``, until nothing is left
        to claim or running). On stop, the runs still held are cancelled and released to
        the queue (another worker resumes them at once)."""
        stop = stop or asyncio.Event()
        self.preload()
        renewer = asyncio.create_task(self._renew_forever(), name="lease-renewal")
        stopper = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._held)
                claimed = 0
                if free > 0:
                    claimed = await self._claim(free)
                if until_idle and not self._held and not claimed:
                    return
                if claimed and len(self._held) < self.concurrency:
                    continue  # more may be waiting
                self._wake.clear()
                waker = asyncio.create_task(self._wake.wait())
                await asyncio.wait(
                    {stopper, waker},
                    timeout=self.poll_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waker.cancel()
        finally:
            stopper.cancel()
            renewer.cancel()
            await self._stop_held()

    def preload(self) -> list[str]:
        """Import every node package the registry knows, before the first claim: a node
        imported on first use would block the event loop (and the lease renewal) for as
        long as its imports take, which on a loaded machine can outlast a lease. A node
        that cannot be imported is skipped here; the runs that need it fail naming it."""
        loaded = []
        for name in sorted(self.registry.known_nodes()):
            try:
                self.registry.node_class(name)
            except InfraError:
                continue
            loaded.append(name)
        return loaded

    async def _claim(self, free: int) -> int:
        try:
            leases = await self.queue.claim(self.worker_id, free, self.lease_seconds)
        except InfraError as exc:
            self._log(f"claim failed: {exc.message}")
            return 0
        for lease in leases:
            self._lost.discard(lease.run_id)
            self.stats.claimed += 1
            self._log(f"claimed run {lease.run_id} (generation {lease.generation})")
            await self._event("claimed", lease)
            task = asyncio.create_task(self._execute(lease), name=f"run:{lease.run_id}")
            self._held[lease.run_id] = (lease, task)
            task.add_done_callback(functools.partial(self._done, lease.run_id))
        return len(leases)

    def _done(self, run_id: str, _task: object) -> None:
        self._held.pop(run_id, None)
        self._wake.set()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            await self.renew()

    async def renew(self) -> None:
        """Renew every lease held; a lease not renewed is lost: its run is cancelled."""
        held = [lease for lease, _ in self._held.values()]
        if not held:
            return
        try:
            renewed = await self.queue.renew(self.worker_id, held, self.lease_seconds)
        except InfraError as exc:  # the fence still stops writes once the leases expire
            self._log(f"lease renewal failed: {exc.message}")
            return
        for lease in held:
            entry = self._held.get(lease.run_id)
            if lease.run_id not in renewed and entry is not None:
                self._lost.add(lease.run_id)
                entry[1].cancel()

    async def _execute(self, lease: ModelLease) -> None:
        run_id = lease.run_id
        store = self.queue.fenced(lease)
        runtime = WorkflowRuntime(
            self.registry,
            store,
            planner=self._planner,
            event_bus=self.event_bus,
            topic_prefix=self.topic_prefix,
            listeners=self.listeners,
        )
        try:
            if await store.has_run(run_id):
                record = await store.get_run(run_id)
                self.stats.resumed += 1
                self._log(f"resuming run {run_id} from its last recorded step")
                result = await runtime.resume(
                    run_id, secret_inputs=self._secret_inputs(record.secret_inputs)
                )
            else:
                workflow = self._workflow(lease)
                secret = [name for name, spec in workflow.inputs.items() if spec.secret]
                inputs = {**lease.inputs, **self._secret_inputs(secret)}
                correlation = UUID(lease.correlation_id) if lease.correlation_id else None
                result = await runtime.run(
                    workflow, inputs, run_id=run_id, correlation_id=correlation
                )
            await self.queue.finish(lease)
        except asyncio.CancelledError:
            if run_id not in self._lost:
                raise
            self._lease_lost(lease, "the lease renewal found it taken")
            return
        except InfraConflictError as exc:
            if not is_lease_lost(exc):
                await self._give_up(lease, exc)
                return
            self._lease_lost(lease, "the store refused a write")
            return
        except InfraError as exc:
            await self._give_up(lease, exc)
            return
        self.stats.finished += 1
        self._log(f"finished run {run_id}: {result.status.value}")
        await self._event("finished", lease, status=result.status.value)

    def _workflow(self, lease: ModelLease) -> ModelWorkflow:
        """The queued workflow, parsed once per distinct workflow (runs of one workflow
        share the object, so the planner plans it once)."""
        key = json.dumps(lease.workflow, sort_keys=True)
        workflow = self._workflows.get(key)
        if workflow is None:
            workflow = parse_workflow(lease.workflow, source=f"queued run {lease.run_id}")
            if len(self._workflows) >= _CACHED:
                self._workflows.pop(next(iter(self._workflows)))
            self._workflows[key] = workflow
        return workflow

    def _lease_lost(self, lease: ModelLease, why: str) -> None:
        self.stats.lost += 1
        self._log(
            f"lease lost: run {lease.run_id} generation {lease.generation} ({why}); "
            "nothing more recorded"
        )
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(self._event("lease_lost", lease))

    async def _give_up(self, lease: ModelLease, exc: InfraError) -> None:
        """A run that could not be run: a transient error releases it to the queue, any
        other is recorded on its queue row (``status`` shows it)."""
        message = str(exc.to_safe_dict().get("message", type(exc).__name__))
        try:
            if exc.retryable:
                await self.queue.release(lease, message)
                self.stats.released += 1
                self._log(f"released run {lease.run_id}: {message}")
                await self._event("released", lease)
            else:
                await self.queue.finish(lease, error=message)
                self.stats.errors += 1
                self._log(f"run {lease.run_id} cannot run: {message}")
        except InfraError as again:
            if is_lease_lost(again):
                self._lease_lost(lease, "the store refused a write")
            else:
                self._log(f"could not record the end of run {lease.run_id}: {again.message}")

    async def _stop_held(self) -> None:
        held = list(self._held.values())
        for _, task in held:
            task.cancel()
        for lease, task in held:
            with contextlib.suppress(asyncio.CancelledError):
                await task
            try:
                await self.queue.release(lease, "worker stopped")
                self.stats.released += 1
            except InfraError as exc:
                self._log(f"could not release run {lease.run_id}: {exc.message}")

    async def _event(self, kind: str, lease: ModelLease, **detail: Any) -> None:
        if self.event_bus is None:
            return
        payload = {
            "kind": f"worker.{kind}",
            "run_id": lease.run_id,
            "worker_id": self.worker_id,
            "generation": lease.generation,
            **detail,
        }
        try:
            await self.event_bus.publish(
                f"{WORKER_TOPIC_PREFIX}.{kind}",
                lease.run_id.encode(),
                json.dumps(payload).encode(),
            )
        except (InfraError, OSError) as exc:
            logger.warning("could not publish worker.%s: %s", kind, type(exc).__name__)

    async def serve_commands(self, bus: _Subscriber) -> Callable[[], Any]:
        """Take submit commands from ``bus`` (consumer group ``onex-infra-workers``):
        each is queued (an invalid one is logged and dropped); returns unsubscribe."""

        async def on_message(message: Any) -> None:
            headers = getattr(message, "headers", None)
            message_id = str(getattr(headers, "message_id", "") or "") or None
            try:
                run_id = await handle_submit_command(
                    self.queue, bytes(message.value), message_id or new_worker_id()
                )
            except InfraValidationError as exc:
                self._log(f"submit command refused: {exc.message}")
                return
            self._log(f"queued run {run_id} from a submit command")
            self._wake.set()

        return await bus.subscribe(SUBMIT_TOPIC, COMMAND_GROUP, on_message)
