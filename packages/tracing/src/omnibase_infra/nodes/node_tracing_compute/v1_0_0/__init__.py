"""node_tracing_compute v1.0.0: OpenTelemetry spans from operation records.

Importing it does not load the OpenTelemetry SDK: the node imports it when it is built,
and the SDK-typed names below (``RecordSpans``, ``build_tracer_provider``, ...) on first
access.
"""

from typing import TYPE_CHECKING, Any

from omnibase_infra.nodes.node_tracing_compute.v1_0_0.compute import (
    COMPUTE_SANITIZE,
    COMPUTE_SPAN,
    NodeTracingCompute,
    parse_records,
)
from omnibase_infra.nodes.node_tracing_compute.v1_0_0.models import (
    DEFAULT_SERVICE_NAME,
    EnumSpanExporter,
    ModelSpanInfo,
    ModelTracingConfig,
    SpanAttributeValue,
)
from omnibase_infra.observability import add_trace_comment

if TYPE_CHECKING:
    from omnibase_infra.nodes.node_tracing_compute.v1_0_0.exporters import (
        TracingPipeline,
        build_tracer_provider,
        create_exporter,
    )
    from omnibase_infra.nodes.node_tracing_compute.v1_0_0.spans import (
        RecordSpans,
        SpanParts,
        span_parts,
    )

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

_SDK_NAMES = {
    "TracingPipeline": "exporters",
    "build_tracer_provider": "exporters",
    "create_exporter": "exporters",
    "RecordSpans": "spans",
    "SpanParts": "spans",
    "span_parts": "spans",
}


def __getattr__(name: str) -> Any:
    # These modules import the OpenTelemetry SDK: only when asked for.
    module = _SDK_NAMES.get(name)
    if module is not None:
        import importlib  # noqa: PLC0415

        return getattr(importlib.import_module(f"{__name__}.{module}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
