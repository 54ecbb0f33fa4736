"""node_tracing_compute v1.0.0: OpenTelemetry spans from operation records."""

from omnibase_infra.nodes.node_tracing_compute.v1_0_0.compute import (
    COMPUTE_SANITIZE,
    COMPUTE_SPAN,
    NodeTracingCompute,
    parse_records,
)
from omnibase_infra.nodes.node_tracing_compute.v1_0_0.exporters import (
    TracingPipeline,
    build_tracer_provider,
    create_exporter,
)
from omnibase_infra.nodes.node_tracing_compute.v1_0_0.models import (
    DEFAULT_SERVICE_NAME,
    EnumSpanExporter,
    ModelSpanInfo,
    ModelTracingConfig,
    SpanAttributeValue,
)
from omnibase_infra.nodes.node_tracing_compute.v1_0_0.spans import (
    RecordSpans,
    SpanParts,
    span_parts,
)
from omnibase_infra.observability import add_trace_comment

__all__ = [
    "COMPUTE_SANITIZE",
    "COMPUTE_SPAN",
    "DEFAULT_SERVICE_NAME",
    "EnumSpanExporter",
    "ModelSpanInfo",
    "ModelTracingConfig",
    "NodeTracingCompute",
    "RecordSpans",
    "SpanAttributeValue",
    "SpanParts",
    "TracingPipeline",
    "add_trace_comment",
    "build_tracer_provider",
    "create_exporter",
    "parse_records",
    "span_parts",
]
