"""Node lookup and operation resolution: an effect node's operations table, typed request
methods, keyword methods, typed ``process`` overloads, a node's ``client``, factories,
closing, missing packages."""

from __future__ import annotations

from typing import ClassVar, Literal, overload
from uuid import UUID

import pytest
from tests.orchestrator_fakes import Journal, ModelFakeRequest, ScriptedNode

from omnibase_infra.effect import EffectOperation
from omnibase_infra.errors import InfraConfigurationError, InfraValidationError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import (
    CallContext,
    NodeRegistry,
    package_for_node,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.registry import propagation_headers
from omnibase_infra.observability import inject


class ModelPingRequest(ModelInfraRequest):
    operation: Literal["ping"] = "ping"
    host: str


class ModelPongRequest(ModelInfraRequest):
    operation: Literal["pong", "pang"] = "pong"


class KeywordClient:
    async def put(
        self,
        key: str,
        value: int = 0,
        *,
        correlation_id: UUID | None = None,
        timeout_seconds: float | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, object]:
        return {
            "key": key,
            "value": value,
            "cid": correlation_id,
            "timeout": timeout_seconds,
            "idem": idempotency_key,
        }


class ProcessNode:
    client: KeywordClient

    def __init__(self) -> None:
        self.client = KeywordClient()

    @overload
    async def process(self, input_data: ModelPingRequest) -> str: ...
    @overload
    async def process(self, input_data: ModelPongRequest) -> str: ...
    async def process(self, input_data: ModelInfraRequest) -> str:
        return f"{input_data.operation}:{input_data.metadata.get('idempotency-key')}"


class UnannotatedClientNode:
    def __init__(self) -> None:
        self.client = KeywordClient()


class TableNode:
    """Shaped like an InfraEffectNode: one request model serves two operations, and the
    method's name is not the operation's."""

    operations: ClassVar[dict[str, EffectOperation]] = {
        "ping": EffectOperation("ping", ModelPingRequest, "_run_ping"),
        "pong": EffectOperation("pong", ModelPongRequest, "_run_pong"),
        "pang": EffectOperation("pang", ModelPongRequest, "_run_pong"),
    }

    async def _run_ping(self, request: ModelPingRequest) -> str:
        return f"ping {request.host}"

    async def _run_pong(self, request: ModelPongRequest) -> str:
        return f"{request.operation} {request.metadata['idempotency-key']}"

    async def pong(self, request: ModelPingRequest) -> str:  # the table wins over a method
        raise AssertionError("not through the table")


def context() -> CallContext:
    return CallContext(ModelCorrelationContext.new(), "run:step", 2.5)


def test_package_names_follow_the_rule() -> None:
    assert package_for_node("node_postgres_adapter_effect") == "omnibase-infra-postgres-adapter"
    assert package_for_node("node_webhook_effect") == "omnibase-infra-webhook"
    assert package_for_node("node_circuit_breaker_compute") == "omnibase-infra-circuit-breaker"
    assert package_for_node("infra_reducer") == "omnibase-infra-reducer"


async def test_a_missing_node_names_the_package_to_install() -> None:
    registry = NodeRegistry(entry_points=False)
    with pytest.raises(InfraConfigurationError, match="pip install omnibase-infra-vault-adapter"):
        await registry.instance("node_vault_adapter_effect")
    assert registry.check_node("node_vault_adapter_effect") is not None


async def test_the_reducer_is_found_through_its_entry_point() -> None:
    registry = NodeRegistry()
    assert "infra_reducer" in registry.known_nodes()
    assert registry.node_class("infra_reducer").__name__ == "InfraReducer"
    reducer = await registry.instance("infra_reducer")
    assert reducer is await registry.instance("infra_reducer")
    await registry.close()


async def test_an_effect_nodes_operations_table_is_one_lookup() -> None:
    registry = NodeRegistry({"node_t_effect": TableNode()}, entry_points=False)
    for operation, inputs, expected in (
        ("ping", {"host": "db"}, "ping db"),
        ("pong", {}, "pong run:step"),
        ("pang", {}, "pang run:step"),  # the operation is set from the name
    ):
        instance, spec = await registry.operation("node_t_effect", operation)
        assert (spec.kind, spec.attribute) == ("table", TableNode.operations[operation].method)
        assert await spec.call(instance, inputs, context()) == expected
    assert registry.check_operation("node_t_effect", "pung") is not None


async def test_typed_request_methods(journal: Journal) -> None:
    node = ScriptedNode("node_a_effect", journal)
    registry = NodeRegistry({"node_a_effect": node}, entry_points=False)
    instance, spec = await registry.operation("node_a_effect", "create")
    assert spec.kind == "request"
    assert spec.request_model is ModelFakeRequest
    ctx = context()
    result = await spec.call(instance, {"value": 3, "metadata": {"extra": "x"}}, ctx)
    request = journal.calls[0].request
    assert result.value == 3
    assert request.correlation == ctx.correlation
    assert request.timeout_seconds == 2.5
    assert request.metadata["extra"] == "x"
    assert request.metadata["idempotency-key"] == "run:step"
    with pytest.raises(InfraValidationError, match="inputs do not fit ModelFakeRequest"):
        await spec.call(instance, {"bogus": 1}, ctx)


async def test_process_overloads_and_annotated_clients() -> None:
    registry = NodeRegistry({"node_p_effect": ProcessNode}, entry_points=False)
    instance, spec = await registry.operation("node_p_effect", "pang")
    assert spec.kind == "process"
    assert spec.request_model is ModelPongRequest
    assert await spec.call(instance, {}, context()) == "pang:run:step"
    _, ping = await registry.operation("node_p_effect", "ping")
    assert ping.request_model is ModelPingRequest
    _, put = await registry.operation("node_p_effect", "put")
    assert put.kind == "kwargs"
    assert put.via_client
    ctx = context()
    result = await put.call(instance, {"key": "k", "value": "7"}, ctx)
    assert result == {
        "key": "k",
        "value": 7,
        "cid": ctx.correlation.correlation_id,
        "timeout": 2.5,
        "idem": "run:step",
    }
    with pytest.raises(InfraValidationError, match="inputs do not fit"):
        await put.call(instance, {"value": 1}, ctx)
    assert registry.check_operation("node_p_effect", "put") is None
    assert "has no operation 'nope'" in str(registry.check_operation("node_p_effect", "nope"))


async def test_an_instance_client_is_used_when_the_class_does_not_say() -> None:
    registry = NodeRegistry({"node_u_effect": UnannotatedClientNode()}, entry_points=False)
    instance, spec = await registry.operation("node_u_effect", "put")
    assert spec.via_client
    assert (await spec.call(instance, {"key": "a"}, context()))["key"] == "a"
    with pytest.raises(InfraConfigurationError, match="has no operation 'zap'"):
        await registry.operation("node_u_effect", "zap")
    bare = NodeRegistry({"node_v_effect": object()}, entry_points=False)
    with pytest.raises(InfraConfigurationError):
        await bare.operation("node_v_effect", "zap")


async def test_factories_sync_and_async_and_closing(journal: Journal) -> None:
    built: list[ScriptedNode] = []

    def sync_factory() -> ScriptedNode:
        built.append(ScriptedNode("s", journal))
        return built[-1]

    async def async_factory() -> ScriptedNode:
        built.append(ScriptedNode("a", journal))
        return built[-1]

    given = ScriptedNode("given", journal)
    registry = NodeRegistry(
        {"node_s_effect": sync_factory, "node_a_effect": async_factory}, entry_points=False
    )
    registry.register("node_g_effect", given)
    assert registry.check_operation("node_s_effect", "anything") is None  # checked lazily
    first = await registry.instance("node_s_effect")
    assert first is await registry.instance("node_s_effect")
    await registry.instance("node_a_effect")
    await registry.instance("node_g_effect")
    await registry.close()
    assert [node.closed for node in built] == [True, True]
    assert not given.closed  # the caller owns what it passed in


async def test_a_broken_entry_point_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib import metadata

    broken = metadata.EntryPoint(
        "node_broken_effect", "no_such_module_xyz:Node", "omnibase_infra.nodes"
    )
    registry = NodeRegistry()
    registry._entry_points = {"node_broken_effect": broken}
    with pytest.raises(InfraConfigurationError, match="cannot be imported"):
        registry.node_class("node_broken_effect")


@pytest.mark.parametrize(
    "context",
    [
        ModelCorrelationContext.new(),
        ModelCorrelationContext.new().model_copy(update={"trace_flags": 0}),
        ModelCorrelationContext.new().child(causation_id=UUID(int=7)),
        ModelCorrelationContext.new().model_copy(update={"tracestate": "vendor=abc"}),
        ModelCorrelationContext.new(with_trace=False),
    ],
    ids=["sampled", "not-sampled", "causation", "tracestate", "no-trace"],
)
def test_call_metadata_is_what_inject_writes(context: ModelCorrelationContext) -> None:
    # The step path writes the common case itself: the same headers, in the same order.
    written = propagation_headers(context)
    assert written == inject(context)
    assert list(written) == list(inject(context))
