"""Delivery against the harness's real HTTP receiver on loopback: each status class,
Retry-After, timeouts, 410, redirects, dead letters and replay."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import standardwebhooks
from omnibase_core.enums.enum_effect_types import EnumEffectType
from omnibase_core.nodes import ModelEffectInput
from pydantic import SecretStr

from omnibase_infra.errors import InfraUnavailableError, InfraValidationError
from omnibase_infra.models.webhook import (
    EnumWebhookOutcome,
    ModelWebhookDeliveryResult,
    ModelWebhookRetryPolicy,
    ModelWebhookSendRequest,
)
from omnibase_infra.nodes.node_webhook_effect.v1_0_0 import parse_retry_after
from omnibase_infra_testing.services.receiver import WebhookReceiver

from .conftest import NodeFactory

pytestmark = pytest.mark.real_service


def _request(
    receiver: WebhookReceiver, secret: SecretStr, path: str = "/hook", **kw: object
) -> ModelWebhookSendRequest:
    fields: dict[str, object] = {
        "url": receiver.url_for(path),
        "secrets": (secret,),
        "event_type": "invoice.paid",
        "payload": {"id": 7, "amount": "12.50"},
    }
    fields.update(kw)
    return ModelWebhookSendRequest.model_validate(fields)


def _verify_all(receiver: WebhookReceiver, secret: SecretStr, message_id: str) -> None:
    webhook = standardwebhooks.Webhook(secret.get_secret_value())
    for recorded in receiver.requests:
        assert recorded.header("webhook-id") == message_id
        webhook.verify(recorded.body, dict(recorded.headers))


async def test_2xx_delivers_the_exact_signed_bytes(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    webhook_receiver.respond_with(204)
    node = make_node()
    request = _request(webhook_receiver, secret, body=b'{"raw": true}', payload=None)
    result = await node.send(request)
    assert result.outcome is EnumWebhookOutcome.DELIVERED
    assert result.success
    assert result.status_code == 204
    assert len(result.attempts) == 1
    (recorded,) = webhook_receiver.requests
    assert recorded.method == "POST"
    assert recorded.body == b'{"raw": true}'
    assert recorded.header("content-type") == "application/json"
    _verify_all(webhook_receiver, secret, request.message_id)
    stored = await node.store.get(request.message_id)
    assert stored is not None
    assert stored.status == "delivered"
    # Built without validation on the hot path: exactly what validation would build.
    assert ModelWebhookDeliveryResult.model_validate(result.model_dump()) == result


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
async def test_retryable_statuses_are_retried_with_the_same_id(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr, status: int
) -> None:
    webhook_receiver.respond_with(status, times=2)
    node = make_node()
    request = _request(webhook_receiver, secret)
    result = await node.send(request)
    assert result.outcome is EnumWebhookOutcome.DELIVERED
    assert [a.status_code for a in result.attempts] == [status, status, 200]
    assert len(webhook_receiver.requests) == 3
    _verify_all(webhook_receiver, secret, request.message_id)
    timestamps = {r.header("webhook-timestamp") for r in webhook_receiver.requests}
    assert all(t is not None for t in timestamps)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "REQUEST_REJECTED"),
        (401, "AUTHENTICATION_FAILED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (422, "REQUEST_REJECTED"),
        (501, "REQUEST_REJECTED"),
    ],
)
async def test_other_4xx_are_dead_lettered_without_retry(
    make_node: NodeFactory,
    webhook_receiver: WebhookReceiver,
    secret: SecretStr,
    status: int,
    code: str,
) -> None:
    # The statuses map through omnibase_infra.effect.http, as for every HTTP node.
    webhook_receiver.respond_with(status)
    node = make_node()
    request = _request(webhook_receiver, secret)
    result = await node.send(request)
    assert result.outcome is EnumWebhookOutcome.DEAD_LETTERED
    assert not result.success
    assert (result.error_code or "").endswith(code)
    assert len(webhook_receiver.requests) == 1
    (letter,) = await node.dead_letters()
    assert letter.message_id == request.message_id
    assert letter.last_status_code == status
    assert f"status {status}" in letter.reason


async def test_exhausted_retries_dead_letter_with_history_then_replay(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    webhook_receiver.respond_with(500)
    node = make_node()
    request = _request(webhook_receiver, secret)
    result = await node.send(request)
    assert result.outcome is EnumWebhookOutcome.DEAD_LETTERED
    assert len(webhook_receiver.requests) == 4  # 1 + len(FAST.schedule_seconds)
    (letter,) = await node.dead_letters()
    assert [a.attempt for a in letter.attempts] == [1, 2, 3, 4]
    assert all(a.status_code == 500 for a in letter.attempts)
    assert letter.body_bytes == len(webhook_receiver.requests[0].body)

    webhook_receiver.respond_with(200)
    replayed = await node.replay(request.message_id)
    assert replayed.outcome is EnumWebhookOutcome.DELIVERED
    assert [a.attempt for a in replayed.attempts] == [1, 2, 3, 4, 5]
    assert await node.dead_letters() == []
    _verify_all(webhook_receiver, secret, request.message_id)


async def test_retry_after_is_honoured(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    webhook_receiver.respond_with(429, headers={"Retry-After": "1"}, times=1)
    node = make_node()
    result = await node.send(_request(webhook_receiver, secret))
    assert result.outcome is EnumWebhookOutcome.DELIVERED
    first, second = webhook_receiver.requests
    assert second.received_monotonic - first.received_monotonic >= 0.95


async def test_retry_after_on_503_is_capped(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    webhook_receiver.respond_with(503, headers={"Retry-After": "3600"}, times=1)
    node = make_node(max_retry_after_seconds=0.3)
    result = await node.send(_request(webhook_receiver, secret))
    assert result.outcome is EnumWebhookOutcome.DELIVERED
    first, second = webhook_receiver.requests
    gap = second.received_monotonic - first.received_monotonic
    assert 0.25 <= gap < 2.0


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(None, now=now.timestamp(), cap=60) is None
    assert parse_retry_after("12", now=now.timestamp(), cap=60) == 12
    assert parse_retry_after("999", now=now.timestamp(), cap=60) == 60
    assert parse_retry_after(later, now=now.timestamp(), cap=60) == pytest.approx(30)
    naive = "Thu, 01 Jan 2026 00:00:10 -0000"
    assert parse_retry_after(naive, now=now.timestamp(), cap=60) == pytest.approx(10)
    assert parse_retry_after("soon", now=now.timestamp(), cap=60) is None


async def test_slow_receiver_times_out_then_retry_succeeds(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    webhook_receiver.respond_with(200, delay=1.5, times=1)
    node = make_node(total_timeout_seconds=0.4, connect_timeout_seconds=0.4)
    result = await node.send(_request(webhook_receiver, secret))
    assert result.outcome is EnumWebhookOutcome.DELIVERED
    first, second = result.attempts
    assert first.status_code is None
    assert first.error is not None
    assert first.error.startswith("InfraTimeoutError")
    assert second.status_code == 200


async def test_410_disables_the_endpoint_persistently(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    webhook_receiver.respond_with(410)
    node = make_node()
    request = _request(webhook_receiver, secret)
    result = await node.send(request)
    assert result.outcome is EnumWebhookOutcome.DEAD_LETTERED
    assert len(webhook_receiver.requests) == 1
    with pytest.raises(InfraUnavailableError) as info:
        await node.send(_request(webhook_receiver, secret))
    assert info.value.reason == "endpoint_disabled"
    assert not info.value.retryable
    await node.close()

    restarted = make_node()  # same outbox file
    with pytest.raises(InfraUnavailableError):
        await restarted.send(_request(webhook_receiver, secret))
    assert len(webhook_receiver.requests) == 1
    await restarted.enable_endpoint(request.url)
    webhook_receiver.respond_with(200)
    again = await restarted.send(_request(webhook_receiver, secret))
    assert again.outcome is EnumWebhookOutcome.DELIVERED


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirects_are_not_followed(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr, status: int
) -> None:
    webhook_receiver.redirect("/elsewhere", status=status, path="/hook")
    node = make_node()
    result = await node.send(_request(webhook_receiver, secret))
    assert result.outcome is EnumWebhookOutcome.DEAD_LETTERED
    assert result.status_code == status
    assert [r.path for r in webhook_receiver.requests] == ["/hook"]
    assert "redirect" in (result.error_message or "")


async def test_connection_refused_is_retried_then_dead_lettered(
    make_node: NodeFactory, secret: SecretStr
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    node = make_node()
    request = ModelWebhookSendRequest(
        url=f"http://127.0.0.1:{port}/hook", secrets=(secret,), payload={"a": 1}
    )
    result = await node.send(request)
    assert result.outcome is EnumWebhookOutcome.DEAD_LETTERED
    assert len(result.attempts) == 4
    assert all((a.error or "").startswith("InfraConnectionError") for a in result.attempts)
    assert (result.error_code or "").endswith("CONNECTION_FAILED")


async def test_time_budget_dead_letters_when_spent(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    # One deadline per operation: a retry that could not start before it is not waited
    # for; the message is dead-lettered at once with the last failure.
    webhook_receiver.respond_with(500)
    slow = ModelWebhookRetryPolicy(schedule_seconds=(5.0,), jitter="none")
    node = make_node(retry_policy=slow)
    started = asyncio.get_running_loop().time()
    result = await node.send(_request(webhook_receiver, secret, timeout_seconds=0.5))
    assert asyncio.get_running_loop().time() - started < 2.0  # the 5 s retry not waited for
    assert result.outcome is EnumWebhookOutcome.DEAD_LETTERED
    assert (result.error_code or "").endswith("_UNAVAILABLE")
    assert len(webhook_receiver.requests) == 1
    # The deadline passing during an attempt: a timeout, and the attempt is on the record.
    hung = make_node(total_timeout_seconds=5.0)
    webhook_receiver.respond_with(200, delay=2.0)
    request = _request(webhook_receiver, secret, timeout_seconds=0.3)
    result = await hung.send(request)
    assert (result.error_code or "").endswith("TIMEOUT")
    (attempt,) = result.attempts
    assert (attempt.error or "").startswith("InfraTimeoutError")
    (letter,) = [d for d in await hung.dead_letters() if d.message_id == request.message_id]
    assert len(letter.attempts) == 1


async def test_payload_limit_and_bad_payload_refused_before_storing(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    node = make_node(max_payload_bytes=64)
    with pytest.raises(InfraValidationError, match="exceeds max_payload_bytes"):
        await node.send(_request(webhook_receiver, secret, payload={"x": "y" * 100}))
    with pytest.raises(InfraValidationError, match="JSON"):
        await node.send(_request(webhook_receiver, secret, payload={"x": float("nan")}))
    assert webhook_receiver.requests == []
    assert await node.store.pending() == []


async def test_rate_limit_spreads_deliveries(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    node = make_node(rate_limit_per_second=10.0, rate_limit_burst=1)
    results = await asyncio.gather(
        *(node.send(_request(webhook_receiver, secret)) for _ in range(5))
    )
    assert all(r.success for r in results)
    times = sorted(r.received_monotonic for r in webhook_receiver.requests)
    assert times[-1] - times[0] >= 0.35


async def test_breaker_opens_on_a_failing_endpoint(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    webhook_receiver.respond_with(503)
    node = make_node()
    for _ in range(6):
        await node.send(_request(webhook_receiver, secret))
    breaker = node.breakers.get(
        __import__("omnibase_infra.enums", fromlist=["EnumTransport"]).EnumTransport.HTTP,
        f"127.0.0.1:{webhook_receiver.port}",
    )
    assert breaker.state.value == "open"
    seen = len(webhook_receiver.requests)
    result = await node.send(_request(webhook_receiver, secret))
    assert result.outcome is EnumWebhookOutcome.DEAD_LETTERED
    assert len(webhook_receiver.requests) == seen  # refused by the breaker, not sent
    assert (result.error_code or "").endswith("CIRCUIT_OPEN")


async def test_enqueue_delivers_in_the_background(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    webhook_receiver.respond_with(500, times=1)
    node = make_node()
    ids = [await node.enqueue(_request(webhook_receiver, secret)) for _ in range(3)]
    await node.wait_idle()
    assert {r.header("webhook-id") for r in webhook_receiver.requests} == set(ids)
    for message_id in ids:
        stored = await node.store.get(message_id)
        assert stored is not None
        assert stored.status == "delivered"


async def test_process_accepts_core_effect_input(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    node = make_node()
    output = await node.process(
        ModelEffectInput(
            effect_type=EnumEffectType.API_CALL,
            operation_data={
                "operation": "send",
                "url": webhook_receiver.url_for("/core"),
                "secrets": [secret.get_secret_value()],
                "payload": {"via": "core"},
            },
        )
    )
    assert isinstance(output.result, dict)
    assert output.result["outcome"] == "delivered"
    assert webhook_receiver.requests[0].json() == {"via": "core"}
    with pytest.raises(InfraValidationError, match="invalid request"):
        await node.process(
            ModelEffectInput(
                effect_type=EnumEffectType.API_CALL,
                operation_data={"operation": "send", "url": "x"},
            )
        )
    typed = await node.process(_request(webhook_receiver, secret))
    assert isinstance(typed, ModelWebhookDeliveryResult)
    assert typed.success
