"""The effect-node base: dispatch, contract policies, core's envelope, lifecycle."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Literal
from uuid import uuid4

import pytest
from omnibase_core.enums.enum_effect_types import EnumEffectType
from omnibase_core.nodes import ModelEffectInput
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from omnibase_infra.effect import (
    Attempt,
    InfraEffectNode,
    load_effect_policies,
    operation,
)
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraConnectionError,
    InfraTimeoutError,
    InfraValidationError,
)
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.observability import inject
from omnibase_infra.observability.telemetry import OperationTelemetry
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra.resilience.breaker import BreakerRegistry, ModelCircuitBreakerConfig

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def fixture_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(DATA_DIR))


class ModelDemoGet(ModelInfraRequest):
    operation: Literal["get"] = "get"
    key: str


class ModelDemoDelete(ModelInfraRequest):
    operation: Literal["delete", "purge"] = "delete"
    key: str


class ModelDemoUnknown(ModelInfraRequest):
    operation: Literal["nope"] = "nope"


class ModelDemoValue(BaseModel):
    key: str
    value: str | None
    attempts: int


class DemoNode(InfraEffectNode):
    node_name = "node_demo_effect"
    env_name = "DEMO"
    transport = EnumTransport.HTTP
    contract_package = "infra_effect_fixture"

    def __init__(
        self,
        *,
        failures: int = 0,
        hang: bool = False,
        provider: trace.TracerProvider | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            None,
            target="demo:1",
            telemetry=OperationTelemetry(
                scope="test",
                span_prefix="demo",
                duration_metric="d",
                counter_prefix="demo",
                tracer_provider=provider or trace.NoOpTracerProvider(),
            ),
            logger=logging.getLogger("test.demo"),
            **kwargs,
        )
        self.data = {"a": "1"}
        self.failures = failures
        self.hang = hang
        self.closes = 0
        self.calls: list[str] = []

    async def _read(self, key: str, attempt: Attempt) -> str | None:
        self.calls.append(f"{attempt.operation}:{attempt.number}")
        if self.hang:
            await asyncio.sleep(30)
        if self.failures:
            self.failures -= 1
            raise ConnectionResetError("dropped")
        return self.data.get(key)

    @operation(ModelDemoGet)
    async def get(self, request: ModelDemoGet) -> ModelDemoValue:
        outcome = await self.run(request, lambda attempt: self._read(request.key, attempt))
        return ModelDemoValue(key=request.key, value=outcome.value, attempts=outcome.attempts)

    @operation(ModelDemoDelete, "delete", "purge")
    async def delete(self, request: ModelDemoDelete) -> ModelDemoValue:
        outcome = await self.run(request, lambda attempt: self._read(request.key, attempt))
        self.data.pop(request.key, None)
        return ModelDemoValue(key=request.key, value=outcome.value, attempts=outcome.attempts)

    async def _close_resources(self) -> None:
        self.closes += 1


def test_operations_are_one_table_by_name_and_by_request_type() -> None:
    assert set(DemoNode.operations) == {"get", "delete", "purge"}
    assert DemoNode.operations["purge"].method == "delete"
    assert DemoNode.operations["purge"].request is ModelDemoDelete
    assert InfraEffectNode.operations == {}  # the base's table stays empty


async def test_process_dispatches_on_the_request_type() -> None:
    node = DemoNode()
    value = await node.process(ModelDemoGet(key="a"))
    assert isinstance(value, ModelDemoValue)
    assert value.value == "1"
    gone = await node.process(ModelDemoDelete(operation="purge", key="a"))
    assert isinstance(gone, ModelDemoValue)
    assert node.data == {}
    with pytest.raises(InfraValidationError, match="no operation for ModelDemoUnknown"):
        await node.process(ModelDemoUnknown())


async def test_the_contract_decides_retries_and_the_request_may_override() -> None:
    node = DemoNode(failures=2)  # get: idempotent, 3 attempts, no jitter
    assert (await node.get(ModelDemoGet(key="a"))).attempts == 3
    node = DemoNode(failures=1)
    with pytest.raises(InfraConnectionError):
        await node.get(ModelDemoGet(key="a", retry_policy=ModelRetryPolicy(max_attempts=1)))
    node = DemoNode(failures=1, policy_overrides={"get": {"idempotent": False}})
    with pytest.raises(InfraConnectionError):  # a reset connection may have been processed
        await node.get(ModelDemoGet(key="a"))
    assert node.calls == ["get:1"]


async def test_the_contract_timeout_applies_unless_the_request_sets_its_own() -> None:
    node = DemoNode(hang=True, policy_overrides={"get": {"timeout_seconds": 0.05}})
    with pytest.raises(InfraTimeoutError) as info:
        await node.get(ModelDemoGet(key="a"))
    assert info.value.timeout_seconds == 0.05
    with pytest.raises(InfraTimeoutError) as info:
        await node.get(ModelDemoGet(key="a", timeout_seconds=0.02))
    assert info.value.timeout_seconds == 0.02


def test_policies_breaker_and_metrics_views() -> None:
    node = DemoNode()
    assert node.policy("get").timeout_seconds == 5
    assert node.policies.node == "node_demo_effect"
    assert node.breaker is not None
    assert node.breaker.engine.config.wait_in_open_seconds == 45  # from the contract
    assert node.runner.breaker is node.breaker
    assert node.target == "demo:1"
    shared = BreakerRegistry(ModelCircuitBreakerConfig())
    one, two = DemoNode(breakers=shared), DemoNode(breakers=shared)
    assert one.breaker is two.breaker
    plain = DemoNode(
        policies=load_effect_policies("infra_effect_fixture", "contracts/no_breaker.yaml")
    )
    assert plain.breaker is None


async def test_core_metrics_are_counted() -> None:
    node = DemoNode(failures=5, breakers=BreakerRegistry(ModelCircuitBreakerConfig()))
    with pytest.raises(InfraConnectionError):
        await node.get(ModelDemoGet(key="a"))
    node.failures = 0
    await node.get(ModelDemoGet(key="a"))
    assert (node.metrics["total_operations"], node.metrics["success_count"]) == (2, 1)
    assert node.metrics["error_count"] == 1


def _envelope(data: dict[str, Any], **fields: Any) -> ModelEffectInput:
    return ModelEffectInput(
        effect_type=fields.pop("effect_type", EnumEffectType.API_CALL),
        operation_data=data,
        operation_id=uuid4(),
        **fields,
    )


async def test_cores_envelope_runs_the_operation_and_reports_retries() -> None:
    node = DemoNode(failures=1)
    envelope = _envelope({"operation": "get", "key": "a"})
    output = await node.process(envelope)
    assert output.result == {"key": "a", "value": "1", "attempts": 2}
    assert output.retry_count == 1
    assert output.metadata["correlation_id"] == str(envelope.operation_id)
    assert output.metadata["operation"] == "get"


async def test_an_envelopes_span_is_the_senders_child_or_joins_the_current_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    node = DemoNode(provider=provider)
    sender = ModelCorrelationContext.new().model_copy(update={"tracestate": "rojo=1"})
    await node.process(_envelope({"operation": "get", "key": "a"}, metadata=inject(sender)))
    with provider.get_tracer("app").start_as_current_span("caller") as caller:
        await node.process(_envelope({"operation": "get", "key": "a"}))
    provider.shutdown()
    continued, joined, _ = exporter.get_finished_spans()
    assert continued.parent is not None
    assert continued.parent.is_remote
    assert (f"{continued.parent.span_id:016x}", continued.parent.trace_state.to_header()) == (
        sender.span_id,
        "rojo=1",
    )
    assert joined.parent is not None
    assert joined.parent.span_id == caller.get_span_context().span_id
    assert joined.context.trace_id == caller.get_span_context().trace_id


async def test_the_envelopes_retry_and_timeout_fields_are_honoured_when_set() -> None:
    node = DemoNode(failures=1)
    with pytest.raises(InfraConnectionError):
        await node.process(_envelope({"operation": "get", "key": "a"}, max_retries=0))
    node = DemoNode(failures=1)
    with pytest.raises(InfraConnectionError):
        await node.process(_envelope({"operation": "get", "key": "a"}, retry_enabled=False))
    node = DemoNode(hang=True)
    with pytest.raises(InfraTimeoutError) as info:
        await node.process(_envelope({"operation": "get", "key": "a"}, timeout_ms=30))
    assert info.value.timeout_seconds == 0.03


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        (_envelope({"operation": "get", "key": "a"}, circuit_breaker_enabled=False), "refused"),
        (
            _envelope({"operation": "get", "key": "a"}, effect_type=EnumEffectType.FILE_OPERATION),
            "effect_type must be api_call",
        ),
        (_envelope({"operation": "gett", "key": "a"}), "unknown operation 'gett'"),
        (_envelope({"key": "a"}), "unknown operation None"),
        (_envelope({"operation": "get", "kee": "a"}), "kee: Extra inputs"),
    ],
)
async def test_a_bad_envelope_is_a_clear_validation_error(
    envelope: ModelEffectInput, expected: str
) -> None:
    with pytest.raises(InfraValidationError) as info:
        await DemoNode().process(envelope)
    assert expected in info.value.message
    assert info.value.target == "demo:1"


async def test_lifecycle_async_with_aclose_idempotent_and_cores_cleanup() -> None:
    async with DemoNode() as node:
        await node.open()
        states = [node.closed]
    states.append(node.closed)
    assert states == [False, True]
    assert node.closes == 1
    await node.aclose()
    await node.close()
    assert node.closes == 1
    other = DemoNode()
    await other._initialize_node_resources()
    assert other.state["target"] == "demo:1"
    await other._cleanup_node_resources()
    assert other.closed
    assert other.closes == 1


def test_an_operation_missing_from_the_contract_fails_at_construction() -> None:
    class Extra(DemoNode):
        @operation(ModelDemoUnknown)
        async def nope(self, request: ModelDemoUnknown) -> ModelDemoValue:
            raise NotImplementedError

    with pytest.raises(InfraConfigurationError, match="no policy for: nope"):
        Extra()


async def test_the_base_close_hook_does_nothing_by_default() -> None:
    class Bare(InfraEffectNode):
        node_name = "node_bare_effect"
        env_name = "BARE"
        transport = EnumTransport.HTTP
        contract_package = "infra_effect_fixture"

    node = Bare(
        None,
        target="bare",
        telemetry=OperationTelemetry(
            scope="t", span_prefix="b", duration_metric="d", counter_prefix="b"
        ),
        logger=logging.getLogger("test.bare"),
    )
    await node.aclose()
    assert node.closed


async def test_operations_against_other_targets_use_their_own_breaker_and_node_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node = DemoNode(failures=1)
    assert node.breakers is not None
    assert node.runner_for("demo:1") is node.runner
    other = node.runner_for("other:2")
    assert other is node.runner_for("other:2")
    assert other.target == "other:2"
    assert other.breaker is node.breakers.get(EnumTransport.HTTP, "other:2")
    assert other.breaker is not node.breaker

    seen: list[tuple[str, int]] = []

    async def call(attempt: Attempt) -> str:
        seen.append((attempt.target, attempt.number))
        if attempt.number == 1:
            raise ConnectionResetError("dropped")
        return "ok"

    request = ModelDemoGet(key="a")
    # The node's own defaults for this call: one attempt, so the reset is raised.
    with pytest.raises(InfraConnectionError):
        await node.run(request, call, target="other:2", retry=ModelRetryPolicy(max_attempts=1))
    outcome = await node.run(request, call, target="other:2")  # the contract: 3 attempts
    assert (outcome.value, outcome.attempts) == ("ok", 2)
    assert seen == [("other:2", 1), ("other:2", 1), ("other:2", 2)]

    async def hang(attempt: Attempt) -> None:
        await asyncio.sleep(30)

    with pytest.raises(InfraTimeoutError) as info:
        await node.run(request, hang, target="slow:3", timeout_seconds=0.02)
    assert info.value.timeout_seconds == 0.02
    with pytest.raises(InfraTimeoutError) as info:  # the request's own deadline wins
        await node.run(ModelDemoGet(key="a", timeout_seconds=0.01), hang, timeout_seconds=0.02)
    assert info.value.timeout_seconds == 0.01

    monkeypatch.setattr("omnibase_infra.effect.node._MAX_TARGET_RUNNERS", 3)
    third = node.runner_for("third:4")  # the cache starts again, keeping the node's own
    assert node.runner_for("demo:1") is node.runner
    assert node.runner_for("other:2") is not other
    assert third.target == "third:4"

    plain = DemoNode(
        policies=load_effect_policies("infra_effect_fixture", "contracts/no_breaker.yaml")
    )
    assert plain.breakers is None
    assert plain.runner_for("x:1").breaker is None
