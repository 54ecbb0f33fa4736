"""The de-duplicating receiver: signature first, then one claim per ``webhook-id`` within the
TTL; a failed processing releases the id. Against the node's real deliveries too."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from omnibase_infra.errors import InfraAuthenticationError
from omnibase_infra.models.webhook import ModelWebhookSendRequest
from omnibase_infra.nodes.node_webhook_effect import (
    DeduplicatingVerifier,
    MemorySeenIds,
    SeenIds,
    VerifiedWebhook,
    WebhookSigner,
)
from omnibase_infra_testing.services.receiver import WebhookReceiver

from .conftest import NodeFactory, make_secret

BODY = b'{"id": 1}'


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_repeat_is_a_duplicate_until_the_ttl_passes(secret: SecretStr) -> None:
    clock = Clock()
    verifier = DeduplicatingVerifier([secret], ttl_seconds=60, clock=clock)
    signer = WebhookSigner([secret], clock=clock)
    headers = signer.headers("msg_a", BODY)
    assert verifier.verify(headers, BODY) == VerifiedWebhook("msg_a", duplicate=False)
    assert verifier.verify(signer.headers("msg_a", BODY), BODY).duplicate  # re-signed retry
    assert not verifier.verify(signer.headers("msg_b", BODY), BODY).duplicate
    clock.now += 61
    assert not verifier.verify(signer.headers("msg_a", BODY), BODY).duplicate  # expired
    assert "DeduplicatingVerifier(WebhookVerifier(secrets=1" in repr(verifier)


def test_a_forged_request_claims_nothing(secret: SecretStr) -> None:
    verifier = DeduplicatingVerifier([secret])
    forged = WebhookSigner([make_secret()]).headers("msg_f", BODY)
    with pytest.raises(InfraAuthenticationError):
        verifier.verify(forged, BODY)
    # The genuine message with that id is still new.
    assert not verifier.verify(WebhookSigner([secret]).headers("msg_f", BODY), BODY).duplicate


def test_a_released_id_is_processed_again(secret: SecretStr) -> None:
    verifier = DeduplicatingVerifier([secret])
    signer = WebhookSigner([secret])
    assert not verifier.verify(signer.headers("msg_r", BODY), BODY).duplicate
    verifier.release("msg_r")  # the handler failed
    assert not verifier.verify(signer.headers("msg_r", BODY), BODY).duplicate
    assert verifier.verify(signer.headers("msg_r", BODY), BODY).duplicate


def test_the_memory_store_is_bounded_oldest_first() -> None:
    seen = MemorySeenIds(ttl_seconds=100, max_entries=2)
    assert isinstance(seen, SeenIds)
    assert seen.claim("a", 0)
    assert seen.claim("b", 1)
    assert seen.claim("c", 2)
    assert len(seen) == 2
    assert seen.claim("a", 3)  # forgotten: new again (at least once still holds)
    assert not seen.claim("c", 3)
    assert seen.claim("c", 103)  # expired entries leave from the front
    seen.release("missing")
    with pytest.raises(ValueError, match="ttl_seconds"):
        MemorySeenIds(ttl_seconds=0)
    with pytest.raises(ValueError, match="max_entries"):
        MemorySeenIds(max_entries=0)


@pytest.mark.real_service
async def test_duplicates_from_the_node_carry_the_same_id_and_body(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    # A receiver that failed after processing (500) gets the message again: same id, same
    # body; the verifier takes the repeat for a duplicate.
    webhook_receiver.respond_with(500, times=1)
    node = make_node()
    request = ModelWebhookSendRequest(
        url=webhook_receiver.url_for("/d"), secrets=(secret,), payload={"n": 1}
    )
    assert (await node.send(request)).success
    verifier = DeduplicatingVerifier([secret])
    first, second = webhook_receiver.requests
    assert first.body == second.body
    seen = [verifier.verify(dict(r.headers), r.body) for r in (first, second)]
    assert seen == [
        VerifiedWebhook(request.message_id, duplicate=False),
        VerifiedWebhook(request.message_id, duplicate=True),
    ]
