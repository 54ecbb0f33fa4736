"""The node on the effect-node platform: import cost, contract-driven policies, one public
shape (typed methods, ``process``, ``async with``)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from omnibase_infra.effect import parse_effect_policies
from omnibase_infra.enums import EnumTransport
from omnibase_infra.models.webhook import (
    EnumWebhookOutcome,
    ModelWebhookRetryPolicy,
    ModelWebhookSendRequest,
)
from omnibase_infra.nodes.node_webhook_effect import NodeWebhookEffect
from omnibase_infra_testing.imports import measure_import
from omnibase_infra_testing.services.receiver import WebhookReceiver

from .conftest import NodeFactory

MODULE = "omnibase_infra.nodes.node_webhook_effect"


def test_importing_the_node_is_cheap_and_loads_no_http_client() -> None:
    # The time budget is checked for every node in tests-integration/tests/test_node_imports.py.
    cost = measure_import(MODULE, runs=1)
    # aiohttp (and its yarl, multidict) load when a node is built.
    assert not cost.loaded("aiohttp", "yarl", "multidict"), cost.describe()


def _request(receiver: WebhookReceiver, secret: SecretStr, **kw: object) -> ModelWebhookSendRequest:
    return ModelWebhookSendRequest.model_validate(
        {"url": receiver.url_for("/p"), "secrets": (secret,), "payload": {"a": 1}, **kw}
    )


@pytest.mark.real_service
async def test_the_contract_decides_the_send_policy(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    node = make_node()
    policy = node.policy("send")
    assert (policy.timeout_seconds, policy.idempotent, policy.guarded) == (30, True, True)
    webhook_receiver.respond_with(500, times=1)
    assert (await node.send(_request(webhook_receiver, secret))).success  # retried

    # Not idempotent (an override of the contract): a 500 may have been processed, so it
    # is not sent again.
    strict = make_node(policy_overrides={"send": {"idempotent": False}})
    webhook_receiver.respond_with(500, times=1)
    result = await strict.send(_request(webhook_receiver, secret))
    assert result.outcome is EnumWebhookOutcome.DEAD_LETTERED
    assert len(result.attempts) == 1

    # The contract's deadline: a slow endpoint outlives it.
    hasty = make_node(policy_overrides={"send": {"timeout_seconds": 0.2}})
    webhook_receiver.respond_with(200, delay=1.0, times=1)
    result = await hasty.send(_request(webhook_receiver, secret))
    assert (result.error_code or "").endswith("TIMEOUT")


@pytest.mark.real_service
async def test_a_contract_of_ones_own_changes_behaviour(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    # The breaker turned off in the contract: a failing endpoint never gets refused.
    raw = {
        "name": "node_webhook_effect",
        "version": {"major": 1, "minor": 0, "patch": 0},
        "description": "webhooks without a breaker",
        "node_type": "EFFECT",
        "input_model": "omnibase_infra.models.webhook.ModelWebhookSendRequest",
        "output_model": "omnibase_infra.models.webhook.ModelWebhookDeliveryResult",
        "io_operations": [{"operation_type": "send", "timeout_seconds": 10}],
        "retry_policies": {"circuit_breaker_enabled": False},
        "idempotent_operations": True,
    }
    policies = parse_effect_policies(raw, source="test contract")
    node = make_node(policies=policies)
    assert node.breaker is None
    with pytest.raises(AttributeError, match="turns the circuit breaker off"):
        _ = node.breakers
    webhook_receiver.respond_with(503)
    for _ in range(8):
        await node.send(_request(webhook_receiver, secret))
    assert len(webhook_receiver.requests) == 8 * 4  # every attempt sent, none refused


@pytest.mark.real_service
async def test_a_background_delivery_rides_out_an_open_breaker(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    node = make_node(
        retry_policy=ModelWebhookRetryPolicy(schedule_seconds=(0.05,) * 6, jitter="none")
    )
    breaker = node.breakers.get(EnumTransport.HTTP, f"127.0.0.1:{webhook_receiver.port}")
    await breaker.isolate()
    message_id = await node.enqueue(_request(webhook_receiver, secret))

    async def refusals() -> int:
        stored = await node.store.get(message_id)
        assert stored is not None
        return sum((a.error or "").startswith("CircuitOpenError") for a in stored.attempts)

    async with asyncio.timeout(10):
        while await refusals() < 2:  # noqa: ASYNC110 - polling the store: no event to wait on
            await asyncio.sleep(0.02)
    assert webhook_receiver.requests == []
    await breaker.reset()
    await node.wait_idle()
    stored = await node.store.get(message_id)
    assert stored is not None
    assert stored.status == "delivered"
    assert await refusals() >= 2
    assert stored.attempts[-1].status_code == 200
    assert len(webhook_receiver.requests) == 1


async def test_one_public_shape() -> None:
    async with NodeWebhookEffect() as node:
        assert set(node.operations) == {"send"}
        assert node.operations["send"].request is ModelWebhookSendRequest
    assert node.closed
