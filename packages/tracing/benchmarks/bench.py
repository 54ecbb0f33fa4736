"""bench(tracing): the SQL sanitizer against sqlparse and sqlglot, and the cost of a span.

Run by ``nox -s "bench(tracing)"`` (``python benchmarks/bench.py --output
.bench/tracing.json`` with ``tools/`` on PYTHONPATH). One report, ``benchlib``'s format:

* the sanitizer comparisons come from ``bench_sanitizer.sanitizer_records(rounds)`` (beside
  this file); a missing baseline library (sqlparse, sqlglot) fails the run instead of
  dropping its records;
* "span from record" (target: at least as fast, >= 1.0x): one span from an operation record
  through the node (``NodeTracingCompute.emit``: semantic-convention mapping, URL
  redaction, cached statement analysis, sampling, the record's ids, handed to the span
  processor) against making the same span directly with the OpenTelemetry SDK at its best
  documented configuration for this workload: ``Tracer.start_span`` with the attributes at
  start (not set one by one), explicit start and end times, no context attached,
  ``set_status``, ``end``; the SDK's default sampler (``ParentBased(ALWAYS_ON)``, the
  node's at ratio 1) and default span limits. The SDK side gets everything but the span
  for free: name, kind, attributes, status, parent context and times are computed before
  timing. Both hand each span to a ``SimpleSpanProcessor`` in front of an exporter that
  drops it, so only making the span differs. Microseconds per span, lower is better.

Every contender runs a warm-up (imports, caches, the allocator) before anything is timed.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import benchlib  # type: ignore[import-not-found]
from bench_sanitizer import sanitizer_records  # beside this file; imports sqlparse, sqlglot
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NonRecordingSpan

from omnibase_infra.enums import EnumTransport
from omnibase_infra.nodes.node_tracing_compute import (
    EnumSpanExporter,
    ModelTracingConfig,
    NodeTracingCompute,
)
from omnibase_infra.nodes.node_tracing_compute.v1_0_0 import SpanParts, span_parts
from omnibase_infra.observability import (
    EnumOperationOutcome,
    ModelOperationRecord,
    extract,
    inject,
    start_trace,
)

SPANS_PER_SAMPLE = 2000
WARM_UP_SPANS = 2000
SPAN_TARGET = 1.0


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


def _prepared(record: ModelOperationRecord) -> tuple[SpanParts, Context, int, int]:
    """What the direct SDK contender is given: the span's parts, its parent (an empty
    context for a root), its start and end times."""
    parent = record.correlation.parent_span_context()
    context = Context() if parent is None else trace.set_span_in_context(NonRecordingSpan(parent))
    start = round(record.started_at.timestamp() * 1e6) * 1000
    return span_parts(record), context, start, start + round(record.duration_ms * 1e6)


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
    # The direct contender gets name, kind, attributes, status, parent and times for free.
    prepared = [_prepared(record) for record in records]

    def ours(count: int) -> None:
        for i in range(count):
            node.emit(records[i % len(records)])

    def direct_sdk(count: int) -> None:
        for i in range(count):
            parts, parent, start, end = prepared[i % len(prepared)]
            span = tracer.start_span(
                parts.name,
                context=parent,
                kind=parts.kind,
                attributes=parts.attributes,
                start_time=start,
            )
            span.set_status(parts.status)
            span.end(end_time=end)

    for warm_up in (ours, direct_sdk):  # imports, caches, the allocator
        warm_up(WARM_UP_SPANS)
    try:
        return benchlib.compare(
            "span from record",
            "us/span",
            _per_span_micros(ours),
            {"opentelemetry-sdk direct": _per_span_micros(direct_sdk)},
            higher_is_better=False,
            targets=SPAN_TARGET,
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
    records = [*sanitizer_records(args.rounds), *span_records(args.rounds)]
    benchlib.write_report(args.output, records)


if __name__ == "__main__":
    main()
