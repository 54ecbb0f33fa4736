"""The OpenTelemetry SDK pipeline of the tracing node: sampler, resource, processor, exporter."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.nodes.node_tracing_compute.v1_0_0.models import (
    EnumSpanExporter,
    ModelTracingConfig,
)
from omnibase_infra.observability import semconv

__all__ = ["TracingPipeline", "build_tracer_provider", "create_exporter"]


def create_exporter(config: ModelTracingConfig) -> SpanExporter | None:
    """The exporter the configuration asks for (``None`` for ``none``).

    OTLP needs the ``otlp`` extra (``opentelemetry-exporter-otlp-proto-http``), imported
    only here; without it an ``InfraConfigurationError`` says what to install.
    """
    chosen = config.resolved_exporter
    if chosen is EnumSpanExporter.CONSOLE:
        # sys.stdout as it is now (the SDK's default is the one at its import).
        return ConsoleSpanExporter(service_name=config.service_name, out=sys.stdout)
    if chosen is EnumSpanExporter.IN_MEMORY:
        return InMemorySpanExporter()
    if chosen is EnumSpanExporter.NONE:
        return None
    return _otlp_exporter(config)


def _otlp_exporter(config: ModelTracingConfig) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
    except ImportError as exc:
        raise InfraConfigurationError(
            "OTLP export needs the 'otlp' extra: pip install 'omnibase-infra-tracing[otlp]'",
            transport=EnumTransport.INTERNAL,
            operation="create_exporter",
            target=config.otlp_endpoint,
        ) from exc
    headers = {key: value.get_secret_value() for key, value in config.otlp_headers.items()}
    return OTLPSpanExporter(
        endpoint=config.otlp_endpoint,
        headers=headers or None,
        timeout=config.otlp_timeout_seconds,
    )


@dataclass(frozen=True, slots=True)
class TracingPipeline:
    """The node's private SDK pipeline: the provider (owner of the processor's lifecycle:
    flush, shutdown, at exit), its sampler, span limits and span processor (``None``
    when nothing exports)."""

    provider: TracerProvider
    sampler: Sampler
    limits: SpanLimits
    processor: SpanProcessor | None


def build_tracer_provider(
    config: ModelTracingConfig, *, exporter: SpanExporter | None = None
) -> TracingPipeline:
    """A private provider (never the global one) sampling ``ParentBased(TraceIdRatioBased(r))``
    with ``exporter`` or the configured one behind a simple or batch processor.

    At ratio 1 the root sampler is ``ALWAYS_ON`` and at 0 ``ALWAYS_OFF``: the same
    decisions as ``TraceIdRatioBased`` at those ratios, without computing them.
    """
    sampler = ParentBased(_root_sampler(config.sample_ratio))
    limits = SpanLimits()  # the OTEL_SPAN_ATTRIBUTE_* variables, as the SDK reads them
    provider = TracerProvider(
        sampler=sampler,
        resource=Resource.create(
            {**config.resource_attributes, semconv.SERVICE_NAME: config.service_name}
        ),
        span_limits=limits,
    )
    span_exporter = exporter if exporter is not None else create_exporter(config)
    processor: SpanProcessor | None = None
    if span_exporter is not None:
        processor = (
            BatchSpanProcessor(span_exporter)
            if config.batched
            else SimpleSpanProcessor(span_exporter)
        )
        provider.add_span_processor(processor)
    return TracingPipeline(provider, sampler, limits, processor)


def _root_sampler(ratio: float) -> Sampler:
    if ratio >= 1.0:
        return ALWAYS_ON
    if ratio <= 0.0:
        return ALWAYS_OFF
    return TraceIdRatioBased(ratio)
