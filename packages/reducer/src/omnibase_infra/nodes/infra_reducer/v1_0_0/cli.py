"""Command line: ``python -m omnibase_infra.nodes.infra_reducer.v1_0_0 ...``.

- ``validate [contract.yaml]``: check an FSM contract (default: the shipped one, with the
  node contract) the way the reducer loads it;
- ``replay events.jsonl``: fold an event log (one ``ModelFSMEvent`` JSON per line, ``-``
  for stdin) and print the final snapshot, or every result with ``--results``;
- ``render [contract.yaml]``: the FSM as a Mermaid ``stateDiagram-v2``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import yaml
from pydantic import ValidationError

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraError,
    InfraValidationError,
    summarize_validation_error,
)
from omnibase_infra.models.fsm import ModelFSMEvent, ModelFSMSnapshot
from omnibase_infra.nodes.infra_reducer.v1_0_0.definition import (
    FsmDefinition,
    load_node_definition,
    parse_definition,
)
from omnibase_infra.nodes.infra_reducer.v1_0_0.mermaid import render_mermaid
from omnibase_infra.nodes.infra_reducer.v1_0_0.reducer import InfraReducer

__all__ = ["main"]

PROG = "python -m omnibase_infra.nodes.infra_reducer.v1_0_0"


def _read_text(path: str, operation: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InfraConfigurationError(
            f"{path}: cannot read ({type(exc).__name__}: {exc})",
            transport=EnumTransport.INTERNAL,
            operation=operation,
            target=path,
        ) from exc


def _definition(path: str | None) -> FsmDefinition:
    if path is None:
        return load_node_definition()[1]
    text = _read_text(path, "load_contract")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InfraConfigurationError(
            f"{path}: YAML error: {exc}",
            transport=EnumTransport.INTERNAL,
            operation="load_contract",
            target=path,
        ) from exc
    return parse_definition(data, source=path)


def _events(path: str) -> list[ModelFSMEvent]:
    events = []
    for number, line in enumerate(_read_text(path, "fsm_replay").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            events.append(ModelFSMEvent.model_validate_json(line))
        except ValidationError as exc:
            raise InfraValidationError(
                f"{path}:{number}: not an FSM event: {summarize_validation_error(exc)}",
                transport=EnumTransport.INTERNAL,
                operation="fsm_replay",
                target=path,
            ) from exc
    return events


def _snapshot(path: str | None) -> ModelFSMSnapshot | None:
    if path is None:
        return None
    try:
        return ModelFSMSnapshot.model_validate_json(_read_text(path, "fsm_replay"))
    except ValidationError as exc:
        raise InfraValidationError(
            f"{path}: not an FSM snapshot: {summarize_validation_error(exc)}",
            transport=EnumTransport.INTERNAL,
            operation="fsm_replay",
            target=path,
        ) from exc


def _validate(args: argparse.Namespace, out: TextIO) -> None:
    definition = _definition(args.contract)
    triggers = {spec.trigger for spec in definition.transitions}
    out.write(
        f"ok: {definition.name} {definition.version} ({definition.source}): "
        f"{len(definition.states)} states, {len(definition.transitions)} transitions, "
        f"{len(triggers)} triggers, {len(definition.declared_keys)} context keys\n"
    )


async def _replay_async(args: argparse.Namespace, out: TextIO) -> None:
    reducer = InfraReducer(definition=_definition(args.contract))
    events = _events(args.events)
    snapshot = _snapshot(args.snapshot)
    if args.results:
        async for result in reducer.iter_replay(events, snapshot):
            out.write(result.model_dump_json() + "\n")
        return
    final = await reducer.replay(events, snapshot)
    out.write(final.model_dump_json(indent=2) + "\n")


def _replay(args: argparse.Namespace, out: TextIO) -> None:
    asyncio.run(_replay_async(args, out))


def _render(args: argparse.Namespace, out: TextIO) -> None:
    text = render_mermaid(_definition(args.contract))
    if args.output is None:
        out.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="infra_reducer FSM tools")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check an FSM contract")
    validate.add_argument("contract", nargs="?", help="FSM YAML file (default: the shipped one)")
    validate.set_defaults(run=_validate)
    replay = commands.add_parser("replay", help="rebuild a snapshot from an event log")
    replay.add_argument("events", help="JSON lines of ModelFSMEvent ('-' for stdin)")
    replay.add_argument("--contract", help="FSM YAML file (default: the shipped one)")
    replay.add_argument("--snapshot", help="start from this snapshot JSON file")
    replay.add_argument("--results", action="store_true", help="print every result (JSONL)")
    replay.set_defaults(run=_replay)
    render = commands.add_parser("render", help="print the FSM as a Mermaid state diagram")
    render.add_argument("contract", nargs="?", help="FSM YAML file (default: the shipped one)")
    render.add_argument("--output", help="write to this file instead of stdout")
    render.set_defaults(run=_render)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run one command; 0 on success, 1 with a message on stderr on failure."""
    args = _parser().parse_args(argv)
    try:
        args.run(args, out or sys.stdout)
    except InfraError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 1
    return 0
