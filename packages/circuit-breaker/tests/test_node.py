"""NodeCircuitBreakerCompute.process(): every event kind, the decisions, caching off."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import uuid
from contextlib import AsyncExitStack
from typing import Any

import pytest
from omnibase_core.enums.enum_node_type import EnumNodeType
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.nodes import ModelComputeInput, NodeCompute

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraTimeoutError, InfraValidationError
from omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0 import (
    COMPUTATION_TYPE,
    EnumBreakerDecision,
    EnumCallOutcome,
    ModelBreakerRequest,
    ModelBreakerResult,
    ModelCallOutcomeEvent,
    NodeCircuitBreakerCompute,
    load_contract,
)
from omnibase_infra.resilience.breaker import (
    STATE_CHANGED_TOPIC,
    BreakerKey,
    BreakerRegistry,
    BreakerStoreRecord,
    EnumCircuitState,
    InMemoryBreakerStore,
    ModelCircuitBreakerConfig,
)

TARGET = "db.internal:5432"
START = 1_800_000_000.0


class ManualClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


CONFIG = ModelCircuitBreakerConfig(
    sliding_window_size=4,
    minimum_calls=4,
    failure_rate_threshold=50.0,
    slow_call_duration_seconds=1.0,
    slow_call_rate_threshold=50.0,
    wait_in_open_seconds=10.0,
    max_wait_in_open_seconds=100.0,
    half_open_max_probes=2,
    half_open_successes_to_close=2,
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def node(clock: ManualClock) -> NodeCircuitBreakerCompute:
    return NodeCircuitBreakerCompute(ModelONEXContainer(), config=CONFIG, clock=clock)


def _input(event: dict[str, Any], **extra: Any) -> ModelComputeInput[Any]:
    return ModelComputeInput(
        data={"transport": "postgres", "target": TARGET, "event": event, **extra}
    )


async def _send(node: NodeCircuitBreakerCompute, event: dict[str, Any]) -> ModelBreakerResult:
    output = await node.process(_input(event))
    assert output.computation_type == COMPUTATION_TYPE
    assert output.cache_hit is False
    result = output.result
    assert isinstance(result, ModelBreakerResult)
    return result


async def _outcome(
    node: NodeCircuitBreakerCompute, outcome: str, duration: float = 0.01
) -> ModelBreakerResult:
    return await _send(node, {"kind": "outcome", "outcome": outcome, "duration_seconds": duration})


async def _trip(node: NodeCircuitBreakerCompute) -> ModelBreakerResult:
    for _ in range(3):
        assert (await _outcome(node, "failure")).snapshot.state is EnumCircuitState.CLOSED
    return await _outcome(node, "failure")


async def test_success_is_recorded(node: NodeCircuitBreakerCompute) -> None:
    result = await _outcome(node, "success", 0.2)
    assert result.decision is EnumBreakerDecision.RECORDED
    assert result.success
    assert not result.probe
    assert result.event == "outcome"
    assert (result.transport, result.target) == (EnumTransport.POSTGRES, TARGET)
    snap = result.snapshot
    assert (snap.state, snap.successes, snap.window_calls, snap.window_failures) == (
        EnumCircuitState.CLOSED,
        1,
        1,
        0,
    )


async def test_failure_rate_trips_and_later_outcomes_are_not_counted(
    node: NodeCircuitBreakerCompute,
) -> None:
    await _outcome(node, "success")
    await _outcome(node, "success")
    await _outcome(node, "failure")
    tripped = await _outcome(node, "failure")  # 2 of 4 = 50 %
    assert tripped.decision is EnumBreakerDecision.RECORDED
    assert tripped.snapshot.state is EnumCircuitState.OPEN
    assert tripped.snapshot.open_until == START + 10.0
    assert tripped.store_version == 1  # written to the store
    late = await _outcome(node, "failure")
    assert late.decision is EnumBreakerDecision.REJECT
    assert late.retry_at == START + 10.0
    assert late.snapshot.failures == 2


async def test_slow_calls_trip(node: NodeCircuitBreakerCompute) -> None:
    for duration in (0.1, 0.1, 1.5):
        assert (await _outcome(node, "success", duration)).snapshot.state is (
            EnumCircuitState.CLOSED
        )
    result = await _outcome(node, "success", 2.0)
    assert result.snapshot.state is EnumCircuitState.OPEN
    assert result.snapshot.window_slow_calls == 2
    assert result.snapshot.failures == 0
    assert (
        await node.registry.store.load(BreakerKey(EnumTransport.POSTGRES, TARGET))
    ) == BreakerStoreRecord(
        state=EnumCircuitState.OPEN,
        version=1,
        open_until=START + 10.0,
        trip_count=1,
        updated_at=START,
        reason="slow_call_rate",
    )


async def test_ignored_outcomes_leave_the_window_alone(node: NodeCircuitBreakerCompute) -> None:
    for _ in range(6):
        result = await _outcome(node, "ignored")
    assert result.decision is EnumBreakerDecision.RECORDED
    assert result.snapshot.ignored == 6
    assert result.snapshot.window_calls == 0
    assert result.snapshot.state is EnumCircuitState.CLOSED


async def test_query_changes_nothing(node: NodeCircuitBreakerCompute, clock: ManualClock) -> None:
    allowed = await _send(node, {"kind": "query"})
    assert (allowed.decision, allowed.probe, allowed.retry_at) == (
        EnumBreakerDecision.ALLOW,
        False,
        None,
    )
    await _trip(node)
    for _ in range(3):
        refused = await _send(node, {"kind": "query"})
        assert refused.decision is EnumBreakerDecision.REJECT
        assert refused.retry_at == START + 10.0
    clock.advance(10.0)
    probe = await _send(node, {"kind": "query"})
    assert (probe.decision, probe.probe) == (EnumBreakerDecision.ALLOW, True)
    # A query neither turned the breaker half-open nor counted a rejection.
    assert probe.snapshot.state is EnumCircuitState.OPEN
    assert probe.snapshot.transitions == 1
    assert probe.snapshot.rejected == 0


async def test_probes_close_or_reopen(node: NodeCircuitBreakerCompute, clock: ManualClock) -> None:
    await _trip(node)
    clock.advance(10.0)
    first = await _outcome(node, "success")
    assert (first.decision, first.probe) == (EnumBreakerDecision.RECORDED, True)
    assert first.snapshot.state is EnumCircuitState.HALF_OPEN
    assert first.snapshot.probes_in_flight == 0  # admitted and returned at once
    second = await _outcome(node, "success")
    assert second.snapshot.state is EnumCircuitState.CLOSED
    await _trip(node)
    clock.advance(10.0)
    failed_probe = await _outcome(node, "failure")
    assert failed_probe.probe
    assert failed_probe.snapshot.state is EnumCircuitState.OPEN
    assert failed_probe.snapshot.trip_count == 2
    assert failed_probe.snapshot.open_until == clock.now + 20.0  # the wait grows per trip


async def test_query_refuses_when_every_probe_slot_is_taken(
    node: NodeCircuitBreakerCompute, clock: ManualClock
) -> None:
    await _trip(node)
    clock.advance(10.0)
    breaker = node.registry.get(EnumTransport.POSTGRES, TARGET)
    async with AsyncExitStack() as stack:
        for _ in range(2):  # two probes in flight through the guard
            await stack.enter_async_context(breaker.guard(operation="probe"))
        refused = await _send(node, {"kind": "query"})
        assert (refused.decision, refused.retry_at) == (EnumBreakerDecision.REJECT, None)
        assert refused.snapshot.probes_in_flight == 2
        late = await _outcome(node, "success")
        assert late.decision is EnumBreakerDecision.REJECT
    assert breaker.state is EnumCircuitState.CLOSED  # the two guarded probes succeeded


async def test_commands(node: NodeCircuitBreakerCompute) -> None:
    isolated = await _send(node, {"kind": "command", "command": "isolate"})
    assert isolated.decision is EnumBreakerDecision.APPLIED
    assert isolated.event == "command"
    assert isolated.snapshot.state is EnumCircuitState.FORCED_OPEN
    assert isolated.store_version == 1
    refused = await _send(node, {"kind": "query"})
    assert (refused.decision, refused.retry_at) == (EnumBreakerDecision.REJECT, None)
    assert (await _outcome(node, "success")).decision is EnumBreakerDecision.REJECT
    reset = await _send(node, {"kind": "command", "command": "reset"})
    assert reset.snapshot.state is EnumCircuitState.CLOSED
    disabled = await _send(node, {"kind": "command", "command": "disable"})
    assert disabled.snapshot.state is EnumCircuitState.DISABLED
    for _ in range(8):
        result = await _outcome(node, "failure")
    assert result.snapshot.state is EnumCircuitState.DISABLED
    assert result.snapshot.failures == 8
    assert (await _send(node, {"kind": "query"})).decision is EnumBreakerDecision.ALLOW
    assert result.store_version == 3


async def test_caching_is_really_off(node: NodeCircuitBreakerCompute) -> None:
    same = _input(
        {"kind": "outcome", "outcome": "failure", "duration_seconds": 0.01}, operation="fetch"
    )
    assert same.cache_enabled  # core's default: the node must ignore it
    results = [(await node.process(same)) for _ in range(5)]
    assert [r.cache_hit for r in results] == [False] * 5
    assert [r.result.snapshot.failures for r in results] == [1, 2, 3, 4, 4]
    assert [r.result.decision for r in results][-2:] == [
        EnumBreakerDecision.RECORDED,
        EnumBreakerDecision.REJECT,
    ]
    stats = node.computation_cache.get_stats()
    assert (stats["total_entries"], stats["total_requests"]) == (0, 0)
    assert isinstance(node, NodeCompute)


async def test_typed_request_and_correlation_id(node: NodeCircuitBreakerCompute) -> None:
    correlation_id = uuid.uuid4()
    request = ModelBreakerRequest.model_validate(
        {
            "operation": "fetch",
            "correlation": {"correlation_id": correlation_id},
            "transport": EnumTransport.VAULT,
            "target": "svc:s3cr3t@vault:8200",
            "event": ModelCallOutcomeEvent(outcome=EnumCallOutcome.SUCCESS, duration_seconds=0.0),
        }
    )
    output = await node.process(ModelComputeInput(data=request))
    result = output.result
    assert result.correlation_id == correlation_id
    assert result.operation == "fetch"
    assert result.target == "vault:8200"
    assert output.metadata == {"correlation_id": str(correlation_id)}
    assert "s3cr3t" not in output.model_dump_json()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"transport": "postgres", "target": TARGET, "event": {"kind": "nope"}}, "event"),
        ({"transport": "smtp", "target": TARGET, "event": {"kind": "query"}}, "transport"),
        (
            {
                "transport": "postgres",
                "target": TARGET,
                "event": {"kind": "outcome", "outcome": "success", "duration_seconds": -1},
            },
            "event.outcome.duration_seconds",
        ),
        ("not a mapping", "(data)"),
    ],
)
async def test_invalid_requests(node: NodeCircuitBreakerCompute, data: object, field: str) -> None:
    with pytest.raises(InfraValidationError, match="invalid circuit-breaker request") as caught:
        await node.process(ModelComputeInput(data=data))
    assert field in str(caught.value)
    assert len(node.registry) == 0


async def test_timeout_is_enforced(clock: ManualClock) -> None:
    class StalledStore(InMemoryBreakerStore):
        async def load(self, key: BreakerKey) -> BreakerStoreRecord | None:
            await asyncio.Event().wait()  # a store that never answers
            return None

    node = NodeCircuitBreakerCompute(ModelONEXContainer(), store=StalledStore(), clock=clock)
    correlation_id = uuid.uuid4()
    data = {
        "transport": "consul",
        "target": "consul:8500",
        "timeout_seconds": 0.05,
        "correlation": {"correlation_id": str(correlation_id)},
        "event": {"kind": "query"},
    }
    with pytest.raises(InfraTimeoutError) as caught:
        await node.process(ModelComputeInput(data=data))
    error = caught.value
    assert error.correlation_id == correlation_id
    assert error.transport is EnumTransport.CONSUL
    assert error.target == "consul:8500"


async def test_transitions_are_published(node: NodeCircuitBreakerCompute) -> None:
    await _trip(node)
    await node.registry.drain()
    history = await node.registry.event_bus.get_event_history()  # type: ignore[attr-defined]
    assert [m.topic for m in history] == [STATE_CHANGED_TOPIC]
    event = json.loads(history[0].value)
    assert (event["from_state"], event["to_state"], event["reason"]) == (
        "closed",
        "open",
        "failure_rate",
    )


async def test_shared_registry(clock: ManualClock) -> None:
    registry = BreakerRegistry(CONFIG, clock=clock)
    node = NodeCircuitBreakerCompute(ModelONEXContainer(), registry=registry, clock=clock)
    assert node.registry is registry
    await _trip(node)
    assert registry.get(EnumTransport.POSTGRES, TARGET).state is EnumCircuitState.OPEN
    with pytest.raises(InfraValidationError, match="either a registry"):
        NodeCircuitBreakerCompute(ModelONEXContainer(), registry=registry, config=CONFIG)


def test_contract() -> None:
    contract = load_contract()
    assert contract.name == "node_circuit_breaker_compute"
    assert contract.node_type.name in {"COMPUTE", "COMPUTE_GENERIC"}
    assert contract.node_type in set(EnumNodeType)
    assert contract.caching is not None
    assert contract.caching.caching_enabled is False
    assert contract.deterministic_execution is False
    assert contract.performance.single_operation_max_ms == 5
    assert contract.output_model.endswith(".ModelBreakerResult")


def test_entry_point() -> None:
    (entry,) = [
        ep
        for ep in importlib.metadata.entry_points(group="omnibase_infra.nodes")
        if ep.name == "node_circuit_breaker_compute"
    ]
    assert entry.load() is NodeCircuitBreakerCompute
