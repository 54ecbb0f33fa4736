"""``NodeTracingCompute``: operation records in, OpenTelemetry spans out."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.models.contracts import ModelContractCompute
from omnibase_core.nodes import ModelComputeInput, ModelComputeOutput, NodeCompute
from pydantic import ValidationError

from omnibase_infra.contracts import load_node_contract
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraUnavailableError, InfraValidationError
from omnibase_infra.nodes.node_tracing_compute.v1_0_0.models import (
    ModelSpanInfo,
    ModelTracingConfig,
)
from omnibase_infra.observability import ModelOperationRecord, caller_context

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import SpanContext

    from omnibase_infra.nodes.node_tracing_compute.v1_0_0.spans import SpanParts

__all__ = ["COMPUTE_SANITIZE", "COMPUTE_SPAN", "NodeTracingCompute", "parse_records"]

COMPUTE_SPAN: Final = "span"
"""``data``: a record (model or dict) or a list of them; result: ``list[ModelSpanInfo]``."""
COMPUTE_SANITIZE: Final = "sanitize"
"""``data``: SQL text; result: the text with literals replaced by ``?``."""

_CONTRACT_RESOURCE: Final = "contracts/compute_contract.yaml"
_SCOPE: Final = "omnibase_infra.nodes.node_tracing_compute"


def _scope_version() -> str | None:
    try:
        return version("omnibase-infra-tracing")
    except PackageNotFoundError:  # running from a source tree
        return None


class NodeTracingCompute(NodeCompute):
    """Builds OpenTelemetry spans from :class:`ModelOperationRecord` s.

    Each record becomes one span with the record's own trace and span ids (so records
    made by other nodes link up as parent and child), the semantic-convention attributes
    of its transport, and its start time and duration. Sampling is
    ``ParentBased(TraceIdRatioBased(config.sample_ratio))`` on a private tracer provider;
    spans go to ``exporter`` when given, else to the configured one. Results are never
    cached: ``process()`` is overridden (style B) and exports on every call.
    """

    def __init__(
        self,
        container: ModelONEXContainer,
        *,
        config: ModelTracingConfig | None = None,
        exporter: SpanExporter | None = None,
    ) -> None:
        # The OpenTelemetry SDK (and psutil, through its resources) is imported here, when a
        # node is built, not when the package is: importing a node stays cheap.
        from omnibase_infra.nodes.node_tracing_compute.v1_0_0.exporters import (  # noqa: PLC0415
            build_tracer_provider,
        )
        from omnibase_infra.nodes.node_tracing_compute.v1_0_0.spans import (  # noqa: PLC0415
            RecordSpans,
            span_info,
        )

        super().__init__(container)
        self.config = config if config is not None else ModelTracingConfig.from_env()
        self._span_info = span_info
        pipeline = build_tracer_provider(self.config, exporter=exporter)
        self._provider = pipeline.provider
        self._spans = RecordSpans(
            self._provider.get_tracer(_SCOPE, _scope_version()),
            resource=self._provider.resource,
            sampler=pipeline.sampler,
            limits=pipeline.limits,
            processor=pipeline.processor,
        )
        self._closed = False

    @staticmethod
    @functools.cache
    def contract() -> ModelContractCompute:
        """The node's validated contract (package data, both core node-type spellings)."""
        return load_node_contract(__package__ or __name__, _CONTRACT_RESOURCE, ModelContractCompute)

    def emit(self, record: ModelOperationRecord) -> ReadableSpan | None:
        """Make the record's finished span and hand it to the exporter's processor; the
        span as exported (``None`` when the sampler drops it)."""
        return self._emit(record)[0]

    def emit_all(self, records: Sequence[ModelOperationRecord]) -> list[ModelSpanInfo]:
        """:meth:`emit` every record, in order; a description of each span."""
        return [self._span_info(*self._emit(record), record) for record in records]

    def _emit(
        self, record: ModelOperationRecord
    ) -> tuple[ReadableSpan | None, SpanContext, SpanParts]:
        if self._closed:
            raise InfraUnavailableError(
                "the tracing node has been shut down",
                transport=EnumTransport.INTERNAL,
                operation="emit_span",
                correlation_id=record.correlation.correlation_id,
                reason="closed",
            )
        return self._spans.emit(record)

    async def process(self, input_data: ModelComputeInput[Any]) -> ModelComputeOutput[Any]:
        """Run ``span`` (also ``default``) or ``sanitize``; see the module constants."""
        started = time.perf_counter()
        kind = input_data.computation_type
        result: list[ModelSpanInfo] | str
        if kind in (COMPUTE_SPAN, "default"):
            try:
                records = parse_records(input_data.data)
            except InfraValidationError as exc:  # again, with the caller's correlation id
                raise _invalid_input(input_data, exc.message) from None
            result = self.emit_all(records)
            metadata = {"spans": len(result), "sampled": sum(info.sampled for info in result)}
        elif kind == COMPUTE_SANITIZE:
            if not isinstance(input_data.data, str):
                raise _invalid_input(input_data, "sanitize expects SQL text")
            from omnibase_infra.sql import sanitize_sql  # noqa: PLC0415 - only when asked

            result = sanitize_sql(input_data.data)
            metadata = {}
        else:
            raise _invalid_input(input_data, f"unknown computation_type {kind!r}")
        return ModelComputeOutput(
            result=result,
            operation_id=input_data.operation_id,
            computation_type=kind,
            processing_time_ms=(time.perf_counter() - started) * 1000,
            cache_hit=False,
            metadata=metadata,
        )

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export every span still queued by a batch processor."""
        return self._provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush and stop the exporters; later :meth:`emit` calls raise."""
        if not self._closed:
            self._closed = True
            self._provider.shutdown()

    async def _cleanup_node_resources(self) -> None:
        self.shutdown()


def _invalid_input(input_data: ModelComputeInput[Any], message: str) -> InfraValidationError:
    return InfraValidationError(
        message,
        transport=EnumTransport.INTERNAL,
        operation=f"tracing.{input_data.computation_type}",
        correlation_id=caller_context(input_data.metadata).correlation_id,
    )


def parse_records(
    data: object, *, correlation_id: UUID | None = None
) -> list[ModelOperationRecord]:
    """One record (a model or its dict/JSON form) or a list of them, validated.

    Raises ``InfraValidationError`` naming the invalid fields (never their values).
    """
    items = list(data) if isinstance(data, list | tuple) else [data]
    try:
        return [
            item
            if isinstance(item, ModelOperationRecord)
            else ModelOperationRecord.model_validate(item)
            for item in items
        ]
    except ValidationError as exc:
        fields = sorted({".".join(map(str, error["loc"])) or "record" for error in exc.errors()})
        raise InfraValidationError(
            f"invalid operation record ({', '.join(fields)})",
            transport=EnumTransport.INTERNAL,
            operation="parse_records",
            correlation_id=correlation_id,
        ) from None
