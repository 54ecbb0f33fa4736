"""Sessions and the lock helper against the real agent: one leader at a time, a destroyed
session hands the lock over and is reported as lost, acquire timeouts leak no session."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest

from omnibase_infra.errors import InfraNotFoundError, InfraTimeoutError
from omnibase_infra.lifetime import EnumLeaseState
from omnibase_infra.models.consul import (
    EnumConsulSessionBehavior,
    KVValue,
    ModelConsulConfig,
    ModelConsulKVLockRequest,
    ModelConsulKVWaitRequest,
    ModelConsulSessionCreateRequest,
    ModelConsulSessionRequest,
)
from omnibase_infra.nodes.node_consul_adapter_effect import ConsulLock, NodeConsulAdapterEffect
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra.resilience.breaker import BreakerRegistry
from omnibase_infra_testing.services.consul import start_consul

from .conftest import kv_get, kv_put


def _held(lock: ConsulLock) -> bool:
    # Through a call: mypy would keep the narrowing of the property between asserts.
    return lock.held


async def _acquire(
    node: NodeConsulAdapterEffect, key: str, session_id: str, value: KVValue = None
) -> bool:
    request = ModelConsulKVLockRequest(key=key, session_id=session_id, value=value)
    return (await node.kv_lock(request)).succeeded


async def _release(node: NodeConsulAdapterEffect, key: str, session_id: str) -> bool:
    request = ModelConsulKVLockRequest(operation="kv_release", key=key, session_id=session_id)
    return (await node.kv_lock(request)).succeeded


async def _session(
    node: NodeConsulAdapterEffect,
    operation: Literal["session_renew", "session_destroy"],
    session_id: str,
) -> None:
    await node.session(ModelConsulSessionRequest(operation=operation, session_id=session_id))


async def test_session_lifecycle_and_raw_lock(node: NodeConsulAdapterEffect, prefix: str) -> None:
    one = (
        await node.session_create(
            ModelConsulSessionCreateRequest(name="one", ttl_seconds=10, lock_delay_seconds=0)
        )
    ).session_id
    two = (
        await node.session_create(
            ModelConsulSessionCreateRequest(behavior=EnumConsulSessionBehavior.DELETE)
        )
    ).session_id
    key = f"{prefix}/lock"
    assert await _acquire(node, key, one, {"owner": "one"})
    assert not await _acquire(node, key, two)
    entry = await kv_get(node, key)
    assert entry is not None
    assert (entry.session, entry.json_value()) == (one, {"owner": "one"})
    assert not await _release(node, key, two)
    assert await _release(node, key, one)
    await _session(node, "session_renew", one)
    await _session(node, "session_destroy", one)
    with pytest.raises(InfraNotFoundError):
        await _session(node, "session_renew", one)
    assert await _acquire(node, key, two)
    await _session(node, "session_destroy", two)  # behavior delete: the key goes with it
    assert await kv_get(node, key) is None


async def test_blocking_read_returns_on_change(node: NodeConsulAdapterEffect, prefix: str) -> None:
    key = f"{prefix}/watched"
    await kv_put(node, key, b"1")
    first = await node.kv_wait(ModelConsulKVWaitRequest(key=key, index=0, wait_seconds=5))
    assert first.entry is not None
    waiter = asyncio.create_task(
        node.kv_wait(ModelConsulKVWaitRequest(key=key, index=first.index, wait_seconds=5))
    )
    await asyncio.sleep(0.1)
    assert not waiter.done()  # nothing changed: the read is still blocked
    await kv_put(node, key, b"2")
    changed = await asyncio.wait_for(waiter, 5)
    assert changed.index > first.index
    assert changed.entry is not None
    assert changed.entry.value == b"2"


async def test_two_contenders_one_leader_and_handover(
    node: NodeConsulAdapterEffect, prefix: str
) -> None:
    key = f"{prefix}/leader"
    first = ConsulLock(node, key, value="first", session_ttl_seconds=10, renew_fraction=0.05)
    second = ConsulLock(node, key, value="second", session_ttl_seconds=10, wait_seconds=2)
    await first.acquire(timeout_seconds=5)
    assert _held(first)
    assert first.lifetime is not None
    async with asyncio.timeout(5):  # renewed by the shared lifetime manager
        while first.lifetime.renewals < 2:  # noqa: ASYNC110 (no event to wait on)
            await asyncio.sleep(0.05)
    contender = asyncio.create_task(second.acquire(timeout_seconds=10))
    await asyncio.sleep(0.2)
    assert not contender.done()
    assert first.session_id is not None
    await _session(node, "session_destroy", first.session_id)  # the leader's session is lost
    await asyncio.wait_for(contender, 5)
    assert _held(second)
    await asyncio.wait_for(first.lost.wait(), 5)
    assert not _held(first)
    assert isinstance(first.lost_error, InfraNotFoundError)
    assert first.lifetime is not None
    assert first.lifetime.state is EnumLeaseState.EXPIRED
    entry = await kv_get(node, key)
    assert entry is not None
    assert (entry.session, entry.json_value()) == (second.session_id, "second")
    await first.release()
    await second.release()
    entry = await kv_get(node, key)
    assert entry is not None
    assert entry.session is None


async def test_acquire_timeout_destroys_its_session(
    node: NodeConsulAdapterEffect, prefix: str
) -> None:
    key = f"{prefix}/busy"
    async with ConsulLock(node, key) as holder:
        assert _held(holder)
        waiter = ConsulLock(node, key, wait_seconds=1)
        with pytest.raises(InfraTimeoutError, match="not acquired"):
            await waiter.acquire(timeout_seconds=0.3)
        assert waiter.session_id is None
        assert not _held(waiter)
    assert not _held(holder)


async def test_a_session_that_cannot_be_renewed_for_a_whole_ttl_is_lost() -> None:
    agent = start_consul()  # a private agent: this test stops it
    node = NodeConsulAdapterEffect(
        config=ModelConsulConfig(host=agent.host, port=agent.port, timeout_seconds=1),
        retry_policy=ModelRetryPolicy(max_attempts=1),
        breakers=BreakerRegistry(),
    )
    lock = ConsulLock(node, "leader", session_ttl_seconds=10, renew_fraction=0.05)
    try:
        await lock.acquire(timeout_seconds=5)
        assert _held(lock)
        await asyncio.to_thread(agent.stop)
        # Transient failures are retried with back-off, never past the TTL: then lost.
        await asyncio.wait_for(lock.lost.wait(), 20)
        assert not _held(lock)
        assert lock.lost_error is not None
        assert lock.lost_error.retryable
        assert lock.lifetime is not None
        assert lock.lifetime.state is EnumLeaseState.EXPIRED
    finally:
        if lock.lifetime is not None:
            await lock.lifetime.stop()
        await node.aclose()
        agent.stop()
