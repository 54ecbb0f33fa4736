"""``onex-infra``: validate, deploy, decommission, status, resume (``--json`` everywhere).

Exit codes: 0 success, 1 the run failed (compensated) or validation found problems,
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import warnings
from collections.abc import Callable, Collection, Coroutine, Sequence
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from omnibase_infra.contracts import load_yaml_file
from omnibase_infra.errors import InfraError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import services
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.registry import NodeRegistry
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.runtime import (
    ModelRunResult,
    ModelWorkflowEvent,
    WorkflowRuntime,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.store import (
    DEFAULT_POSTGRES_SCHEMA,
    EnumRunStatus,
    PostgresWorkflowStore,
    SqliteWorkflowStore,
    WorkflowStore,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import (
    BUILTIN_WORKFLOWS,
    ModelWorkflow,
    load_builtin_workflow,
    load_workflow,
)
from omnibase_infra.redaction import carries_secret

__all__ = ["build_parser", "default_store_path", "main", "open_store"]

ENV_PREFIX: Final = services.ORCHESTRATOR_ENV_PREFIX
"""The one scheme every node's settings follow (``OMNIBASE_INFRA_<NODE>_<FIELD>``)."""
DEPRECATED_ENV_PREFIX: Final = "ONEX_INFRA_"
"""The names before 0.4: still read (the new name wins), with a DeprecationWarning."""
STORE_ENV: Final = f"{ENV_PREFIX}STORE"
STORE_SCHEMA_ENV: Final = f"{ENV_PREFIX}STORE_SCHEMA"
POSTGRES_STORE: Final = "postgres"
"""The ``--store``/``$OMNIBASE_INFRA_ORCHESTRATOR_STORE`` value that selects PostgreSQL."""
INPUT_ENV_PREFIX: Final = f"{ENV_PREFIX}INPUT_"
EMBEDDED_MODULE: Final = "omnibase_infra_testing.onex_embedded"
COMMAND_WORKFLOWS: Final = {"deploy": "deployment", "decommission": "decommission"}
"""The built-in workflow each command runs without ``--workflow``."""
_STATUS_STYLE: Final = {
    "completed": "green",
    "compensated": "yellow",
    "skipped": "dim",
    "failed": "red",
    "compensation_failed": "bold red",
    "running": "cyan",
    "compensating": "yellow",
}


def _styled(status: str) -> str:
    style = _STATUS_STYLE.get(status)
    return f"[{style}]{status}[/]" if style else status


def _deprecated_name(name: str) -> str:
    return DEPRECATED_ENV_PREFIX + name.removeprefix(ENV_PREFIX)


def _warn_deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated; set {new} instead", DeprecationWarning, stacklevel=3)


def _env(name: str) -> str | None:
    """``$name`` (an ``OMNIBASE_INFRA_ORCHESTRATOR_*`` name), else its deprecated
    ``ONEX_INFRA_*`` name with a warning; None when neither is set (or both are empty)."""
    if value := os.environ.get(name):
        return value
    old = _deprecated_name(name)
    if value := os.environ.get(old):
        _warn_deprecated(old, name)
        return value
    return None


def default_store_path() -> Path:
    """``$OMNIBASE_INFRA_ORCHESTRATOR_STORE``, else
    ``$XDG_STATE_HOME/onex-infra/workflows.sqlite3``."""
    if store := _env(STORE_ENV):
        return Path(store)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "onex-infra" / "workflows.sqlite3"


def open_store(choice: str | None = None) -> WorkflowStore:
    """The run store ``choice`` names (default ``$OMNIBASE_INFRA_ORCHESTRATOR_STORE``):
    ``postgres`` is PostgreSQL through the Postgres node (its own
    ``OMNIBASE_INFRA_POSTGRES_DSN``; schema ``$OMNIBASE_INFRA_ORCHESTRATOR_STORE_SCHEMA``,
    default ``onex_orchestrator``), anything else a SQLite file (``./postgres`` for a file of
    that name); none: the SQLite file in XDG state."""
    choice = choice or _env(STORE_ENV)
    if choice == POSTGRES_STORE:
        schema = _env(STORE_SCHEMA_ENV) or DEFAULT_POSTGRES_SCHEMA
        return PostgresWorkflowStore(schema=schema)
    return SqliteWorkflowStore(Path(choice) if choice else default_store_path())


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog="onex-infra", description="Run and inspect omnibase_infra workflows."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument(
            "--store",
            help=f"run store: a SQLite file or {POSTGRES_STORE!r} (default ${STORE_ENV} or XDG)",
        )

    def runner(p: argparse.ArgumentParser) -> None:
        common(p)
        p.add_argument("--config", type=Path, help="services file: {env: {NAME: value}}")
        p.add_argument(
            "--node",
            action="append",
            default=[],
            metavar="NAME=MODULE:ATTR",
            help="use this factory/class for a node instead of its entry point",
        )

    validate = sub.add_parser("validate", help="validate a workflow file (or a built-in name)")
    validate.add_argument("workflow", help=f"a YAML file or one of {sorted(BUILTIN_WORKFLOWS)}")
    validate.add_argument(
        "--check-nodes", action="store_true", help="also check nodes/operations are installed"
    )
    validate.add_argument("--json", action="store_true")
    for name in ("deploy", "decommission"):
        p = sub.add_parser(name, help=f"run the {name} workflow (or --workflow FILE)")
        runner(p)
        p.add_argument("--workflow", help="a workflow YAML file instead of the built-in one")
        p.add_argument("--input", action="append", default=[], metavar="NAME=VALUE")
        p.add_argument("--inputs-file", type=Path, help="YAML mapping of inputs")
        p.add_argument("--run-id", help="the run id (default: a new UUID)")
    status = sub.add_parser("status", help="a run's state, or the latest runs")
    common(status)
    status.add_argument("run_id", nargs="?")
    resume = sub.add_parser("resume", help="continue a run after a crash")
    runner(resume)
    resume.add_argument("run_id")
    resume.add_argument("--input", action="append", default=[], metavar="NAME=VALUE")
    resume.add_argument("--inputs-file", type=Path, help="YAML mapping of the secret inputs")
    _scale_out_commands(sub, common, runner)
    return parser


def _scale_out_commands(
    sub: Any,
    common: Callable[[argparse.ArgumentParser], None],
    runner: Callable[[argparse.ArgumentParser], None],
) -> None:
    """``worker`` and ``submit`` (the scale-out mode: a PostgreSQL store shared by workers)."""
    worker = sub.add_parser("worker", help="run queued runs from the PostgreSQL store")
    runner(worker)
    worker.add_argument("--concurrency", type=int, default=4, help="runs at a time (4)")
    worker.add_argument("--lease-seconds", type=float, default=15.0, help="lease (15 s)")
    worker.add_argument("--poll-seconds", type=float, default=0.5, help="claim poll (0.5 s)")
    worker.add_argument("--until-idle", action="store_true", help="stop when nothing is left")
    worker.add_argument("--bus", help="event bus entry point (e.g. nats): events and commands")
    submit = sub.add_parser("submit", help="queue a run for the workers")
    common(submit)
    submit.add_argument("workflow", help=f"a YAML file or one of {sorted(BUILTIN_WORKFLOWS)}")
    submit.add_argument("--input", action="append", default=[], metavar="NAME=VALUE")
    submit.add_argument("--inputs-file", type=Path, help="YAML mapping of inputs")
    submit.add_argument("--run-id", help="the run id (default: a new UUID)")
    submit.add_argument("--config", type=Path, help="services file: {env: {NAME: value}}")
    submit.add_argument("--bus", help="publish a submit command on this bus instead")


def _pairs(items: Sequence[str], what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:  # never echoed: it may be a secret pasted without a name
            raise _UsageError(f"{what}: expected NAME=VALUE, got {len(item)} characters")
        result[name] = value
    return result


def _refuse_secret_inputs(pairs: dict[str, str], secret: Collection[str] | None) -> None:
    """A secret on the command line is visible to every user of the machine (``ps``): an
    ``--input`` for a ``secret`` input (any, when ``secret`` is None), or one whose value
    holds a password or token, is refused with where to put it instead (its value is never
    repeated)."""
    for name, value in pairs.items():
        if secret is None or name in secret or carries_secret(value):
            raise _UsageError(
                f"--input {name}: a secret on the command line is visible to other users; "
                f"set {INPUT_ENV_PREFIX}{name.upper()} or put it in an --inputs-file"
            )


class _UsageError(Exception):
    pass


def _load_node(spec: str) -> object:
    module, sep, attr = spec.partition(":")
    if not sep:
        raise _UsageError(f"--node {spec!r}: expected MODULE:ATTR")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise _UsageError(f"--node {spec!r}: {exc}") from exc


def _workflow(args: argparse.Namespace, registry: NodeRegistry | None = None) -> ModelWorkflow:
    name = getattr(args, "workflow", None) or COMMAND_WORKFLOWS.get(args.command, args.command)
    if name in BUILTIN_WORKFLOWS:
        return load_builtin_workflow(name, registry=registry)
    return load_workflow(name, registry=registry)


def _inputs(
    args: argparse.Namespace,
    declared: Collection[str] | None = None,
    secret: Collection[str] | None = (),
) -> dict[str, Any]:
    """Inputs from ``OMNIBASE_INFRA_ORCHESTRATOR_INPUT_*`` (deprecated: ``ONEX_INFRA_INPUT_*``,
    which the new name overrides; only those in ``declared``, when given: one environment
    serves several workflows), then ``--inputs-file``, then ``--input`` (never one of the
    ``secret`` inputs, every one when None, nor a value holding a password or token)."""
    inputs: dict[str, Any] = {}
    deprecated_prefix = _deprecated_name(INPUT_ENV_PREFIX)
    for prefix in (INPUT_ENV_PREFIX, deprecated_prefix):
        for name, value in os.environ.items():
            key = name.removeprefix(prefix).lower()
            if not name.startswith(prefix) or key in inputs:  # the new name wins
                continue
            if declared is None or key in declared:
                if prefix == deprecated_prefix:
                    _warn_deprecated(name, INPUT_ENV_PREFIX + key.upper())
                inputs[key] = value
    if getattr(args, "inputs_file", None):
        # InfraConfigurationError naming the file and line (a key given twice, bad YAML)
        data = load_yaml_file(args.inputs_file, operation="load_inputs")
        if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
            raise _UsageError("--inputs-file must hold a mapping of input names")
        try:
            inputs.update(json.loads(json.dumps(data)))
        except (TypeError, ValueError) as exc:  # a YAML date or set is not an input value
            raise _UsageError(f"--inputs-file: {exc}") from None
    pairs = _pairs(args.input, "--input")
    _refuse_secret_inputs(pairs, secret)
    inputs.update(pairs)
    return inputs


class _Progress:
    """A live table of the steps (or one line per event with --json off and no tty)."""

    def __init__(self, console: Console, order: list[str]) -> None:
        self.console = console
        self.rows: dict[str, list[str]] = {sid: [sid, "pending", "", ""] for sid in order}
        self.live: Live | None = None
        self.stream = False

    def table(self) -> Table:
        table = Table(title="workflow steps")
        for column in ("step", "status", "attempts", "detail"):
            table.add_column(column)
        for name, status, attempts, detail in self.rows.values():
            table.add_row(name, _styled(status), attempts, escape(detail))
        return table

    def __call__(self, event: ModelWorkflowEvent) -> None:
        sid = event.step_id
        if sid is not None and sid in self.rows:
            status = event.kind.removeprefix("step.")
            self.rows[sid][1] = status
            if "attempts" in event.detail:
                self.rows[sid][2] = str(event.detail["attempts"])
            error = event.detail.get("error")
            if isinstance(error, dict):
                self.rows[sid][3] = str(error.get("message", ""))[:80]
        elif event.kind.startswith("reducer.transition"):
            self.console.print(
                f"[dim]reducer:[/] {event.detail.get('previous_state')} -> "
                f"[bold]{event.detail.get('state')}[/] ({event.detail.get('trigger')})"
            )
        if self.live is not None:
            self.live.update(self.table())
        elif self.stream and sid is not None:
            self.console.print(f"{event.kind:<26} {sid}")


def _emit_json(data: object) -> None:
    """Machine-readable output: one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _print_result(console: Console, result: ModelRunResult, as_json: bool) -> None:
    if as_json:
        _emit_json(result.to_json_dict())
        return
    table = Table(title=f"run {result.run_id} ({result.run.workflow_name})")
    for column in ("step", "status", "attempts", "error"):
        table.add_column(column)
    for sid in result.order:
        rec = result.steps.get(sid)
        if rec is None:
            continue
        message = (rec.error or rec.compensation_error or {}).get("message", "")
        table.add_row(sid, _styled(rec.status.value), str(rec.attempts), escape(str(message)[:80]))
    console.print(table)
    style = "green" if result.status is EnumRunStatus.COMPLETED else "red"
    console.print(f"status: [{style}]{result.status.value}[/]  reducer: {result.reducer_state}")
    for note in result.run.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")


async def _execute(args: argparse.Namespace, console: Console) -> int:
    if args.command == "validate":
        registry = NodeRegistry() if args.check_nodes else None
        workflow = _workflow(args, registry)
        if args.json:
            _emit_json({"valid": True, "workflow": workflow.name, "steps": workflow.step_ids})
        else:
            console.print(f"[green]valid[/]: {workflow.name} ({len(workflow.steps)} steps)")
            for step in workflow.steps:
                if step.marker:
                    console.print(f"  [yellow]{step.id}[/]: {step.marker}")
        return 0
    if args.command in ("worker", "submit"):
        from omnibase_infra.nodes.infra_orchestrator.v1_0_0.worker_cli import (  # noqa: PLC0415
            scale_out,
        )

        return await scale_out(args, console)
    store = open_store(args.store)
    try:
        if args.command == "status":
            return await _status(args, store, console)
        return await _run(args, store, console)
    finally:
        await store.close()


async def _status(args: argparse.Namespace, store: WorkflowStore, console: Console) -> int:
    runtime = WorkflowRuntime(NodeRegistry(entry_points=False), store)
    if args.run_id:
        _print_result(console, await runtime.status(args.run_id), args.json)
        return 0
    runs = await store.list_runs()
    queued: list[Any] = []
    if isinstance(store, PostgresWorkflowStore):
        # The scale-out mode: the runs submitted to the workers, with worker and lease.
        from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import worker_cli  # noqa: PLC0415

        queued = await worker_cli.queue_rows(store)
    if args.json:
        by_run = {q.run_id: q for q in queued}
        listed = [
            {
                "run_id": r.run_id,
                "workflow": r.workflow_name,
                "status": r.status.value,
                "created_at": r.created_at.isoformat(),
                **_queue_fields(by_run.pop(r.run_id, None)),
            }
            for r in runs
        ]
        listed += [
            {
                "run_id": q.run_id,
                "workflow": q.workflow_name,
                "status": q.state,
                "created_at": q.submitted_at.isoformat(),
                **_queue_fields(q),
            }
            for q in by_run.values()
        ]
        _emit_json(listed)
        return 0
    table = Table(title="workflow runs")
    for column in ("run", "workflow", "status", "created"):
        table.add_column(column)
    for r in runs:
        table.add_row(r.run_id, r.workflow_name, r.status.value, r.created_at.isoformat())
    console.print(table)
    if queued:
        from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import worker_cli  # noqa: PLC0415

        console.print(worker_cli.queue_table(queued))
    return 0


def _queue_fields(row: Any) -> dict[str, Any]:
    """A queued run's worker and lease (``status --json`` in the scale-out mode)."""
    if row is None:
        return {}
    return {
        "queue_state": row.state,
        "worker_id": row.worker_id,
        "lease_generation": row.generation,
        "lease_seconds_left": row.lease_seconds_left,
        "attempts": row.attempts,
    }


async def _run(args: argparse.Namespace, store: WorkflowStore, console: Console) -> int:
    nodes = {name: _load_node(spec) for name, spec in _pairs(args.node, "--node").items()}
    embedded: services.EmbeddedServices | None = None
    if args.config:
        services.apply_services_file(args.config)
    elif services.needs_embedded():
        _install_embedded_hook()
        embedded = await services.start_embedded_services()
        os.environ.update(embedded.env)
        nodes = {**embedded.nodes, **nodes}
        if not args.json:
            console.print("[yellow]no services configured: started the embedded services[/]")
            for line in embedded.description:
                console.print(f"  {line}")
    registry = NodeRegistry(nodes)
    runtime = WorkflowRuntime(registry, store)
    try:
        if args.command == "resume":
            status = await runtime.status(args.run_id)
            progress = _Progress(console, status.order)
            runtime.subscribe(progress)
            # resume takes only the secret inputs (the others are stored with the run)
            secrets = _inputs(args, status.run.secret_inputs, secret=None)
            result = await _live(
                progress, args.json, runtime.resume(args.run_id, secret_inputs=secrets)
            )
        else:
            workflow = _workflow(args)
            progress = _Progress(console, workflow.step_ids)
            runtime.subscribe(progress)
            secret = [name for name, spec in workflow.inputs.items() if spec.secret]
            inputs = _inputs(args, workflow.inputs, secret)
            result = await _live(
                progress, args.json, runtime.run(workflow, inputs, run_id=args.run_id)
            )
    finally:
        await registry.close()
        if embedded is not None:
            await embedded.stop()
    _print_result(console, result, args.json)
    return 0 if result.status is EnumRunStatus.COMPLETED else 1


def _install_embedded_hook() -> None:
    """Plug in the embedded services of ``omnibase-infra-testing`` when it is installed
    and no hook is set (without it, :func:`services.start_embedded_services` says what to
    configure instead)."""
    if services.EMBEDDED_HOOK is not None:
        return
    try:
        module = importlib.import_module(EMBEDDED_MODULE)
    except ImportError:
        return
    module.install()


async def _live(
    progress: _Progress, as_json: bool, job: Coroutine[Any, Any, ModelRunResult]
) -> ModelRunResult:
    if as_json or not progress.console.is_terminal:
        progress.stream = not as_json
        result: ModelRunResult = await job
        return result
    with Live(progress.table(), console=progress.console, refresh_per_second=8) as live:
        progress.live = live
        return await job


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``onex-infra``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(stderr=bool(getattr(args, "json", False)))
    try:
        return asyncio.run(_execute(args, console))
    except _UsageError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 2
    except InfraError as exc:
        if getattr(args, "json", False):
            _emit_json({"error": exc.to_safe_dict()})
        else:
            console.print(f"[red]error:[/] {escape(exc.message)}")
        return 1 if args.command == "validate" else 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
