"""Two replicas (registries or nodes), each with its own RedisBreakerStore and connection,
share one breaker per target through the real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.nodes import ModelComputeInput
from pydantic import SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConnectionError
from omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0 import (
    EnumBreakerDecision,
    ModelBreakerResult,
    NodeCircuitBreakerCompute,
    RedisBreakerStore,
)
from omnibase_infra.resilience.breaker import (
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    EnumCircuitState,
    ModelCircuitBreakerConfig,
)
from omnibase_infra_testing.services.redis import RedisService

pytestmark = pytest.mark.real_service

START = 1_800_000_000.0
TARGET = "vault.internal:8200"
CONFIG = ModelCircuitBreakerConfig(
    sliding_window_size=4,
    minimum_calls=4,
    wait_in_open_seconds=5.0,
    half_open_max_probes=1,
    half_open_successes_to_close=1,
    store_sync_interval_seconds=1.0,
)


class ManualClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def stores(
    redis_service: RedisService, prefix: str
) -> AsyncIterator[list[RedisBreakerStore]]:
    """Two stores with separate clients, as two processes would have."""
    opened = [
        RedisBreakerStore.from_url(SecretStr(redis_service.url), prefix=prefix, timeout_seconds=2)
        for _ in range(2)
    ]
    try:
        yield opened
    finally:
        for store in opened:
            await store.aclose()


async def _ok(breaker: CircuitBreaker) -> str:
    async with breaker.guard(operation="read"):
        return "ok"


async def _fail(breaker: CircuitBreaker) -> None:
    async with breaker.guard(operation="read"):
        raise InfraConnectionError(
            "connection refused", transport=EnumTransport.VAULT, operation="read", target=TARGET
        )


async def test_two_registries_share_one_breaker(
    stores: list[RedisBreakerStore], clock: ManualClock
) -> None:
    replica_a, replica_b = (BreakerRegistry(CONFIG, clock=clock, store=s) for s in stores)
    breaker_a = replica_a.get(EnumTransport.VAULT, TARGET)
    breaker_b = replica_b.get(EnumTransport.VAULT, TARGET)
    assert await _ok(breaker_b) == "ok"  # B has seen the (empty) store

    for _ in range(4):
        with pytest.raises(InfraConnectionError):
            await _fail(breaker_a)
    assert breaker_a.snapshot().state is EnumCircuitState.OPEN
    assert breaker_b.snapshot().state is EnumCircuitState.CLOSED  # not synced yet

    clock.now += 1.0  # B's sync interval elapses: its next call reads the store
    with pytest.raises(CircuitOpenError) as caught:
        await _ok(breaker_b)
    assert caught.value.retry_at == START + 5.0
    assert breaker_b.snapshot().state is EnumCircuitState.OPEN
    assert breaker_b.store_version == breaker_a.store_version == 1

    clock.now = START + 5.0  # the wait is over: one probe for both replicas together
    async with breaker_a.guard(operation="read"):
        with pytest.raises(CircuitOpenError):  # A holds the only shared probe permit
            await _ok(breaker_b)
    assert breaker_a.state is EnumCircuitState.CLOSED
    clock.now += 1.0
    assert await _ok(breaker_b) == "ok"
    assert breaker_b.state is EnumCircuitState.CLOSED
    record = await stores[1].load(breaker_a.key)
    assert record is not None
    assert (record.state, record.reason) == (EnumCircuitState.CLOSED, "probes_succeeded")


async def test_isolation_reaches_every_replica(
    stores: list[RedisBreakerStore], clock: ManualClock
) -> None:
    replica_a, replica_b = (BreakerRegistry(CONFIG, clock=clock, store=s) for s in stores)
    breaker_b = replica_b.get(EnumTransport.VAULT, TARGET)
    assert await _ok(breaker_b) == "ok"
    await replica_a.get(EnumTransport.VAULT, TARGET).isolate()
    clock.now += 1.0
    with pytest.raises(CircuitOpenError) as caught:
        await _ok(breaker_b)
    assert caught.value.breaker_state == "forced_open"
    await breaker_b.reset()
    clock.now += 1.0
    assert await _ok(replica_a.get(EnumTransport.VAULT, TARGET)) == "ok"


async def _send(node: NodeCircuitBreakerCompute, event: dict[str, object]) -> ModelBreakerResult:
    data = {"transport": "vault", "target": TARGET, "event": event}
    result = (await node.process(ModelComputeInput(data=data))).result
    assert isinstance(result, ModelBreakerResult)
    return result


async def test_two_nodes_share_one_breaker(
    stores: list[RedisBreakerStore], clock: ManualClock
) -> None:
    node_a, node_b = (
        NodeCircuitBreakerCompute(ModelONEXContainer(), config=CONFIG, store=s, clock=clock)
        for s in stores
    )
    assert (await _send(node_b, {"kind": "query"})).decision is EnumBreakerDecision.ALLOW
    failure = {"kind": "outcome", "outcome": "failure", "duration_seconds": 0.1}
    for _ in range(4):
        tripped = await _send(node_a, failure)
    assert tripped.snapshot.state is EnumCircuitState.OPEN
    seen = await _send(node_b, {"kind": "query"})  # a query reads the store at once
    assert (seen.decision, seen.retry_at, seen.store_version) == (
        EnumBreakerDecision.REJECT,
        START + 5.0,
        1,
    )
    applied = await _send(node_b, {"kind": "command", "command": "reset"})
    assert applied.store_version == 2
    after = await _send(node_a, {"kind": "query"})
    assert (after.decision, after.snapshot.state) == (
        EnumBreakerDecision.ALLOW,
        EnumCircuitState.CLOSED,
    )
