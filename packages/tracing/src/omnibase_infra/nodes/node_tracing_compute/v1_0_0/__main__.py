"""Command line: ``python -m omnibase_infra.nodes.node_tracing_compute.v1_0_0 COMMAND``.

``sanitize SQL``   print the sanitized statement, its operation and tables as JSON;
``span FILE``      print the span(s) built from the operation record(s) in FILE (``-``:
                   standard input) as JSON; ``--export`` also exports them as the
                   OpenTelemetry environment variables say (OTLP when configured);
``comment SQL --traceparent TP [--tracestate TS]``
                   print the statement with its sqlcommenter trace comment.
Exit status 0 on success, 2 on invalid input (the reason on standard error).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from omnibase_core.models.container.model_onex_container import ModelONEXContainer

from omnibase_infra.errors import InfraError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.nodes.node_tracing_compute.v1_0_0.compute import (
    NodeTracingCompute,
    parse_records,
)
from omnibase_infra.nodes.node_tracing_compute.v1_0_0.models import (
    EnumSpanExporter,
    ModelTracingConfig,
)
from omnibase_infra.observability import add_trace_comment
from omnibase_infra.sql import analyze_sql

__all__ = ["main"]

_INVALID = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m omnibase_infra.nodes.node_tracing_compute.v1_0_0",
        description="Spans from operation records, SQL sanitizing and sqlcommenter comments.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    sanitize = commands.add_parser("sanitize", help="sanitize a SQL statement")
    sanitize.add_argument("sql")
    span = commands.add_parser("span", help="build spans from operation record JSON")
    span.add_argument("file", help="a JSON record or list of records; '-' for stdin")
    span.add_argument("--export", action="store_true", help="also export (OTEL_* variables)")
    comment = commands.add_parser("comment", help="add a sqlcommenter trace comment")
    comment.add_argument("sql")
    comment.add_argument("--traceparent", required=True)
    comment.add_argument("--tracestate")
    return parser


def _sanitize(sql: str) -> object:
    analysis = analyze_sql(sql)
    return {"statement": analysis.text, "operation": analysis.operation, "tables": analysis.tables}


def _span(file: str, *, export: bool) -> object:
    text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    data = json.loads(text)
    config = ModelTracingConfig.from_env()
    if not export:
        config = config.model_copy(update={"exporter": EnumSpanExporter.NONE})
    records = parse_records(data)
    node = NodeTracingCompute(ModelONEXContainer(), config=config)
    try:
        infos = node.emit_all(records)
    finally:
        node.shutdown()
    dumped = [info.model_dump(mode="json") for info in infos]
    return dumped if isinstance(data, list) else dumped[0]


def _comment(sql: str, traceparent: str, tracestate: str | None) -> object:
    # The statement belongs to the operation the traceparent names (not to a child of it);
    # an invalid tracestate is dropped, as a receiver of the headers would.
    try:
        context = ModelCorrelationContext.from_traceparent(traceparent, tracestate=tracestate)
    except ValueError:
        raise ValueError("--traceparent is not a valid W3C traceparent") from None
    return {"sql": add_trace_comment(sql, context)}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "sanitize":
            output = _sanitize(args.sql)
        elif args.command == "span":
            output = _span(args.file, export=args.export)
        else:
            output = _comment(args.sql, args.traceparent, args.tracestate)
    except (InfraError, OSError, ValueError) as exc:
        message = exc.message if isinstance(exc, InfraError) else str(exc)
        print(f"error: {message}", file=sys.stderr)  # noqa: T201
        return _INVALID
    print(json.dumps(output, indent=2))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
