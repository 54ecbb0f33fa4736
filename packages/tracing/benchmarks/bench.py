"""bench(tracing): the SQL sanitizer against sqlparse and sqlglot, and the cost of a span.

Run by ``nox -s "bench(tracing)"`` (``python benchmarks/bench.py --output
.bench/tracing.json`` with ``tools/`` on PYTHONPATH). One report, ``benchlib``'s format:

* the sanitizer comparisons come from ``bench_sanitizer.sanitizer_records(rounds)`` (beside
  this file), when it is there;
* "span from record": building, ending and handing to a span processor one span from an
  operation record through the node (``NodeTracingCompute.emit``: semantic-convention
  mapping, URL redaction, cached statement analysis, the record's ids pinned) against
  creating the same span (same parent) with the same attributes already computed, directly
  with the OpenTelemetry SDK (``start_span`` / ``set_status`` / ``end``). Microseconds per span,
  lower is better; both providers sample everything and export to an exporter that drops
  the span, so only span building differs. No target: it shows what the mapping costs.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import benchlib  # type: ignore[import-not-found]
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from omnibase_infra.enums import EnumTransport
from omnibase_infra.nodes.node_tracing_compute import (
    EnumSpanExporter,
    ModelTracingConfig,
    NodeTracingCompute,
)
from omnibase_infra.nodes.node_tracing_compute.v1_0_0 import span_parts
from omnibase_infra.observability import (
    EnumOperationOutcome,
    ModelOperationRecord,
    extract,
    inject,
    start_trace,
)

SPANS_PER_SAMPLE = 2000


class _DropExporter(SpanExporter):
    """Accepts every span and keeps none."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _records() -> list[ModelOperationRecord]:
    """A mix like a deployment workflow's: Postgres, webhook, Vault, Consul; some children."""
    root = start_trace()
    child = extract(inject(root)).correlation
    started = datetime.now(UTC)
    common = {"started_at": started, "duration_ms": 4.2, "outcome": EnumOperationOutcome.SUCCESS}
    return [
        ModelOperationRecord.model_validate(
            {
                **common,
                "transport": EnumTransport.POSTGRES,
                "operation": "execute",
                "correlation": root,
                "target": "db.internal:5432",
                "statement": "SELECT id, name FROM services WHERE env = $1 AND region = 'eu'",
                "attributes": {"db.namespace": "deploy"},
            }
        ),
        ModelOperationRecord.model_validate(
            {
                **common,
                "transport": EnumTransport.HTTP,
                "operation": "deliver",
                "correlation": child,
                "attributes": {
                    "http.request.method": "POST",
                    "url.full": "https://hooks.example.com/deploy?attempt=1",
                    "http.response.status_code": 204,
                },
            }
        ),
        ModelOperationRecord.model_validate(
            {
                **common,
                "transport": EnumTransport.VAULT,
                "operation": "kv_read",
                "correlation": child,
                "target": "vault.internal:8200",
                "attributes": {"vault.mount": "secret"},
            }
        ),
        ModelOperationRecord.model_validate(
            {
                **common,
                "transport": EnumTransport.CONSUL,
                "operation": "register_service",
                "correlation": child,
                "target": "consul.internal:8500",
                "outcome": EnumOperationOutcome.ERROR,
                "error_code": "ONEX_INFRA_009_UNAVAILABLE",
                "error_type": "InfraUnavailableError",
                "error_message": "agent unavailable",
            }
        ),
    ]


def _parent(record: ModelOperationRecord) -> Context | None:
    correlation = record.correlation
    if correlation.trace_id is None or correlation.parent_span_id is None:
        return None
    remote = SpanContext(
        int(correlation.trace_id, 16),
        int(correlation.parent_span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(correlation.trace_flags),
    )
    return trace.set_span_in_context(NonRecordingSpan(remote))


def _per_span_micros(run: Callable[[int], None]) -> Callable[[], float]:
    def sample() -> float:
        gc.collect()
        start = time.perf_counter_ns()
        run(SPANS_PER_SAMPLE)
        return (time.perf_counter_ns() - start) / SPANS_PER_SAMPLE / 1000

    return sample


def span_records(rounds: int) -> list[benchlib.BenchRecord]:
    records = _records()
    node = NodeTracingCompute(
        ModelONEXContainer(),
        config=ModelTracingConfig(exporter=EnumSpanExporter.NONE),
        exporter=_DropExporter(),
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_DropExporter()))
    tracer = provider.get_tracer("bench")
    # The direct contender gets name, kind, attributes, status and parent for free.
    prepared = [(record, span_parts(record), _parent(record)) for record in records]

    def ours(count: int) -> None:
        for i in range(count):
            node.emit(records[i % len(records)])

    def direct_sdk(count: int) -> None:
        for i in range(count):
            record, parts, parent = prepared[i % len(prepared)]
            start = int(record.started_at.timestamp() * 1e9)
            span = tracer.start_span(
                parts.name,
                context=parent,
                kind=parts.kind,
                attributes=parts.attributes,
                start_time=start,
            )
            span.set_status(parts.status)
            span.end(end_time=start + int(record.duration_ms * 1e6))

    ours(200)  # warm caches (statement analysis) and imports
    direct_sdk(200)
    try:
        return benchlib.compare(
            "span from record",
            "us/span",
            _per_span_micros(ours),
            {"opentelemetry-sdk direct": _per_span_micros(direct_sdk)},
            higher_is_better=False,
            targets=None,
            rounds=rounds,
        )
    finally:
        node.shutdown()
        provider.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    records: list[benchlib.BenchRecord] = []
    try:
        from bench_sanitizer import sanitizer_records  # noqa: PLC0415 - optional sibling
    except ImportError:
        print("bench_sanitizer.py not found: sanitizer comparisons skipped")  # noqa: T201
    else:
        records.extend(sanitizer_records(args.rounds))
    records.extend(span_records(args.rounds))
    benchlib.write_report(args.output, records)


if __name__ == "__main__":
    main()
