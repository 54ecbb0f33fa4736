"""The node face: process() computations, no caching, errors, lifecycle, contract, entry point."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, entry_points
from uuid import uuid4

import pytest
from omnibase_core.models.contracts import ModelContractCompute
from omnibase_core.nodes import ModelComputeInput
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from omnibase_infra.errors import InfraUnavailableError, InfraValidationError
from omnibase_infra.nodes.node_tracing_compute import ModelSpanInfo, NodeTracingCompute
from omnibase_infra.nodes.node_tracing_compute.v1_0_0 import (
    COMPUTE_SANITIZE,
    compute,
    parse_records,
)
from omnibase_infra.observability import CORRELATION_ID, ModelOperationRecord

type RecordFactory = Callable[..., ModelOperationRecord]

SECRET = "hunter2-but-longer"
LEAKY_SQL = f"SELECT * FROM users WHERE pw = '{SECRET}'"  # noqa: S608 - to sanitize


async def test_span_computation_exports_every_call_without_caching(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    record = make_record()
    request = ModelComputeInput(data=record, computation_type="span")  # cache_enabled default
    first = await node.process(request)
    second = await node.process(request)
    assert not first.cache_hit
    assert not second.cache_hit
    assert len(exporter.get_finished_spans()) == 2
    assert isinstance(first.result[0], ModelSpanInfo)
    assert first.result[0].span_id == record.correlation.span_id
    assert first.metadata == {"spans": 1, "sampled": 1}
    assert first.operation_id == request.operation_id
    assert first.computation_type == "span"
    assert first.processing_time_ms >= 0


async def test_default_computation_accepts_dicts_and_lists(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    as_dict, as_model = make_record(), make_record()
    output = await node.process(ModelComputeInput(data=[as_dict.model_dump(mode="json"), as_model]))
    assert [info.span_id for info in output.result] == [
        as_dict.correlation.span_id,
        as_model.correlation.span_id,
    ]
    assert len(exporter.get_finished_spans()) == 2


async def test_sanitize_computation(node: NodeTracingCompute) -> None:
    output = await node.process(
        ModelComputeInput(data=LEAKY_SQL, computation_type=COMPUTE_SANITIZE)
    )
    assert SECRET not in output.result
    assert output.result.startswith("SELECT * FROM users WHERE pw = ")


async def test_invalid_record_fails_with_the_callers_correlation_id(
    node: NodeTracingCompute, exporter: InMemorySpanExporter, make_record: RecordFactory
) -> None:
    caller = uuid4()
    bad = make_record().model_dump(mode="json")
    bad["duration_ms"] = SECRET
    with pytest.raises(InfraValidationError) as info:
        await node.process(
            ModelComputeInput(data=[make_record(), bad], metadata={CORRELATION_ID: str(caller)})
        )
    assert info.value.correlation_id == caller
    assert "duration_ms" in info.value.message
    assert SECRET not in str(info.value)
    assert exporter.get_finished_spans() == ()  # nothing exported from a rejected batch


@pytest.mark.parametrize(
    ("computation_type", "data", "message"),
    [("sanitize", 42, "SQL text"), ("histogram", "x", "unknown computation_type")],
)
async def test_bad_requests_are_validation_errors(
    node: NodeTracingCompute, computation_type: str, data: object, message: str
) -> None:
    with pytest.raises(InfraValidationError, match=message) as info:
        await node.process(ModelComputeInput(data=data, computation_type=computation_type))
    assert info.value.operation == f"tracing.{computation_type}"


def test_parse_records_rejects_non_records() -> None:
    correlation_id = uuid4()
    with pytest.raises(InfraValidationError, match="record") as info:
        parse_records("not a record", correlation_id=correlation_id)
    assert info.value.correlation_id == correlation_id


async def test_cleanup_flushes_and_later_emits_fail(
    node: NodeTracingCompute, make_record: RecordFactory
) -> None:
    await node.cleanup()
    record = make_record()
    with pytest.raises(InfraUnavailableError) as info:
        node.emit(record)
    assert info.value.correlation_id == record.correlation.correlation_id
    node.shutdown()  # idempotent


def test_contract_is_valid_on_the_installed_core() -> None:
    contract = NodeTracingCompute.contract()
    assert isinstance(contract, ModelContractCompute)
    assert contract.name == "node_tracing_compute"
    assert contract.node_type.name.startswith("COMPUTE")
    assert contract.performance.single_operation_max_ms is not None
    assert contract.performance.single_operation_max_ms > 0
    assert contract.caching is not None
    assert not contract.caching.caching_enabled


def test_entry_point_loads_the_node() -> None:
    (entry,) = [
        e for e in entry_points(group="omnibase_infra.nodes") if e.name == "node_tracing_compute"
    ]
    assert entry.load() is NodeTracingCompute


def test_force_flush(node: NodeTracingCompute) -> None:
    assert node.force_flush()


def test_the_scope_has_no_version_from_a_source_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(compute, "version", not_installed)
    assert compute._scope_version() is None
