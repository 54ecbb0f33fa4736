"""The tracing COMPUTE node of omnibase_infra (current version: ``v1_0_0``)."""

from omnibase_infra.nodes.node_tracing_compute.v1_0_0 import (
    EnumSpanExporter,
    ModelSpanInfo,
    ModelTracingConfig,
    NodeTracingCompute,
    add_trace_comment,
)

__all__ = [
    "EnumSpanExporter",
    "ModelSpanInfo",
    "ModelTracingConfig",
    "NodeTracingCompute",
    "add_trace_comment",
]
