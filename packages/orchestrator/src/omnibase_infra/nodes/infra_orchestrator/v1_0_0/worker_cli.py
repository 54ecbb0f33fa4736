"""The scale-out commands of ``onex-infra``: ``worker`` and ``submit`` (and the queue
columns of ``status``), over the PostgreSQL store shared by the workers."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import signal
import sys
import uuid
from datetime import UTC, datetime
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import services
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.cli import (
    POSTGRES_STORE,
    STORE_ENV,
    _emit_json,
    _inputs,
    _load_node,
    _pairs,
    _UsageError,
    _workflow,
    open_store,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.leases import (
    ModelQueuedRun,
    PostgresRunQueue,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.registry import NodeRegistry
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import PostgresWorkflowStore
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.worker import (
    SUBMIT_TOPIC,
    WorkflowWorker,
    submit,
    submit_inputs,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import BUILTIN_WORKFLOWS

__all__ = ["load_bus", "queue_rows", "scale_out"]

BUS_GROUP: Final = "omnibase_infra.event_bus"
"""The entry-point group of event buses (``nats``: omnibase-infra-event-bus-nats)."""


def load_bus(name: str) -> Any:
    """The event bus of entry point ``name`` (group ``omnibase_infra.event_bus``), built
    with no arguments (it reads its own configuration, e.g. ``OMNIBASE_INFRA_EVENT_BUS_*``)."""
    found = [ep for ep in importlib.metadata.entry_points(group=BUS_GROUP) if ep.name == name]
    if not found:
        raise _UsageError(
            f"--bus {name!r}: no event bus of that name is installed "
            "(for nats: pip install omnibase-infra-event-bus-nats)"
        )
    return found[0].load()()


def _queue(args: argparse.Namespace) -> PostgresRunQueue:
    store = open_store(args.store)
    if not isinstance(store, PostgresWorkflowStore):
        raise _UsageError(
            f"{args.command} needs the PostgreSQL store shared by the workers: "
            f"--store {POSTGRES_STORE} (or {STORE_ENV}={POSTGRES_STORE})"
        )
    return PostgresRunQueue(store)


def _log(line: str) -> None:
    stamp = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
    sys.stderr.write(f"{stamp} {line}\n")
    sys.stderr.flush()


async def scale_out(args: argparse.Namespace, console: Console) -> int:
    """``worker`` or ``submit``."""
    if args.config:
        services.apply_services_file(args.config)
    if args.command == "submit":
        return await _submit(args, console)
    return await _worker(args, console)


async def _submit(args: argparse.Namespace, console: Console) -> int:
    workflow = _workflow(args)
    secret = [name for name, spec in workflow.inputs.items() if spec.secret]
    given = _inputs(args, workflow.inputs, secret)
    inputs = submit_inputs(workflow, {k: v for k, v in given.items() if k not in secret})
    if args.bus:
        run_id = args.run_id or str(uuid.uuid4())
        spec: object = (
            workflow.name
            if args.workflow in BUILTIN_WORKFLOWS
            else workflow.model_dump(mode="json", by_alias=True, exclude_none=True)
        )
        bus = load_bus(args.bus)
        try:
            body = {"workflow": spec, "inputs": inputs, "run_id": run_id}
            await bus.publish(SUBMIT_TOPIC, run_id.encode(), json.dumps(body).encode())
        finally:
            await bus.close()
        queued = None
    else:
        queue = _queue(args)
        try:
            run_id, queued = await submit(queue, workflow, inputs, run_id=args.run_id)
        finally:
            await queue.store.close()
    if args.json:
        _emit_json({"run_id": run_id, "queued": queued, "via": "bus" if args.bus else "store"})
    elif args.bus:
        console.print(f"submit command for run {run_id} published on {SUBMIT_TOPIC}")
    else:
        console.print(f"queued run {run_id}" if queued else f"run {run_id} was already queued")
    return 0


async def _worker(args: argparse.Namespace, console: Console) -> int:
    nodes = {name: _load_node(spec) for name, spec in _pairs(args.node, "--node").items()}
    if not args.config and services.needs_embedded():
        raise _UsageError(
            "a worker needs configured services (--config, or the OMNIBASE_INFRA_* "
            "variables): the embedded services belong to one process"
        )
    queue = _queue(args)
    bus = load_bus(args.bus) if args.bus else None
    registry = NodeRegistry(nodes)
    worker = WorkflowWorker(
        queue,
        registry,
        concurrency=args.concurrency,
        lease_seconds=args.lease_seconds,
        poll_seconds=args.poll_seconds,
        event_bus=bus,
        log=lambda line: _log(f"[worker {worker.worker_id}] {line}"),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    unsubscribe = None
    try:
        if bus is not None:
            unsubscribe = await worker.serve_commands(bus)
        _log(f"[worker {worker.worker_id}] started: concurrency {args.concurrency}")
        await worker.run(stop, until_idle=args.until_idle)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if unsubscribe is not None:
            with contextlib.suppress(Exception):
                await unsubscribe()
        await registry.close()
        await queue.store.close()
        if bus is not None:
            await bus.close()
    stats = worker.stats
    if args.json:
        _emit_json({"worker_id": worker.worker_id, **vars(stats)})
    else:
        console.print(
            f"worker {worker.worker_id} stopped: claimed {stats.claimed}, resumed "
            f"{stats.resumed}, finished {stats.finished}, leases lost {stats.lost}, "
            f"released {stats.released}, errors {stats.errors}"
        )
    return 0


async def queue_rows(store: PostgresWorkflowStore) -> list[ModelQueuedRun]:
    """The queued runs of the store (for ``status``)."""
    return await PostgresRunQueue(store).list()


def queue_table(rows: list[ModelQueuedRun]) -> Table:
    """``status``'s table of the runs submitted to the workers."""
    table = Table(title="queued runs (workers)")
    for column in ("run", "workflow", "queue", "status", "worker", "lease", "attempts", "error"):
        table.add_column(column)
    for row in rows:
        left = row.lease_seconds_left
        lease = (
            f"gen {row.generation}, {left:.1f}s left"
            if left is not None and left > 0
            else f"gen {row.generation}" + (", expired" if left is not None else "")
        )
        table.add_row(
            row.run_id,
            row.workflow_name,
            row.state,
            row.run_status or "",
            row.worker_id or "",
            lease,
            str(row.attempts),
            (row.last_error or "")[:60],
        )
    return table
