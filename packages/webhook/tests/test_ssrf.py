"""SSRF protection: refused destinations never see a request; the resolver hands aiohttp
only the addresses it checked (a rebinding answer cannot slip in)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from omnibase_infra.errors import InfraConnectionError, InfraPermissionError
from omnibase_infra.models.webhook import EnumWebhookOutcome, ModelWebhookSendRequest
from omnibase_infra.nodes.node_webhook_effect.v1_0_0 import (
    PinnedResolver,
    SsrfGuard,
    is_public_address,
)
from omnibase_infra_testing.services.receiver import WebhookReceiver

from .conftest import NodeFactory

pytestmark = pytest.mark.real_service


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address under test
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", False),  # Teredo wrapping 10.0.0.1
        ("8.8.8.8", True),
        ("::ffff:8.8.8.8", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_address_classification(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://10.0.0.1:{port}/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://localhost:{port}/hook",
        "http://0.0.0.0:{port}/hook",
    ],
)
async def test_private_destinations_are_refused_without_allow_list(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr, url: str
) -> None:
    node = make_node(allow_networks=())
    request = ModelWebhookSendRequest(
        url=url.format(port=webhook_receiver.port), secrets=(secret,), payload={"a": 1}
    )
    with pytest.raises(InfraPermissionError, match="not a public address"):
        await node.send(request)
    assert webhook_receiver.requests == []
    assert await node.store.get(request.message_id) is None


async def test_allow_listed_host_name_is_delivered(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    node = make_node(allow_networks=(), allow_hosts=("LOCALHOST.",))
    request = ModelWebhookSendRequest(
        url=f"http://localhost:{webhook_receiver.port}/hook", secrets=(secret,), payload={}
    )
    result = await node.send(request)
    assert result.outcome is EnumWebhookOutcome.DELIVERED
    assert webhook_receiver.requests[0].header("host") == f"localhost:{webhook_receiver.port}"


async def test_allow_listed_network_covers_ipv4_mapped(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    guard = SsrfGuard(allow_networks=("127.0.0.0/8",))
    assert guard.address_allowed(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert not guard.address_allowed(ipaddress.ip_address("::1"))
    assert guard.check_literal("example.com") is False


async def test_refused_at_connection_time_too(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    """A message stored while allowed is refused at its next attempt once disallowed."""
    allowed = make_node()
    request = ModelWebhookSendRequest(
        url=f"http://localhost:{webhook_receiver.port}/hook", secrets=(secret,), payload={}
    )
    webhook_receiver.respond_with(500)
    await allowed.enqueue(request)
    await allowed.close()  # the message is pending (or dead) in the outbox
    strict = make_node(allow_networks=(), endpoint_secrets={request.url: (secret,)})
    seen = len(webhook_receiver.requests)
    stored = await strict.store.get(request.message_id)
    assert stored is not None
    if stored.status == "pending":
        (result,) = await strict.drain()
        assert result.outcome is EnumWebhookOutcome.DEAD_LETTERED
        assert "InfraPermissionError" in (result.error_message or "")
    assert len(webhook_receiver.requests) == seen


async def test_resolver_refuses_a_rebinding_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS answers (faked: pure logic) mixing a public and a loopback address are refused."""
    import asyncio

    loop = asyncio.get_running_loop()

    async def answers(host: str, port: int, **_: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(loop, "getaddrinfo", answers)
    resolver = PinnedResolver(SsrfGuard())
    with pytest.raises(InfraPermissionError):
        await resolver.resolve("rebind.example", 443)
    pinned = PinnedResolver(SsrfGuard(allow_networks=("127.0.0.0/8",)))
    results = await pinned.resolve("rebind.example", 443)
    assert [r["host"] for r in results] == ["93.184.216.34", "127.0.0.1"]
    assert all(r["hostname"] == "rebind.example" for r in results)
    await pinned.close()


async def test_unresolvable_host_is_a_connection_error() -> None:
    with pytest.raises(InfraConnectionError, match="cannot resolve"):
        await PinnedResolver(SsrfGuard()).resolve("no-such-host.invalid", 80)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "http:///nohost",
        "http://user:pw@example.com/",
        "http://example.com/#frag",
        "http://example.com:99999/",
    ],
)
def test_only_plain_http_urls_are_accepted(url: str, secret: SecretStr) -> None:
    with pytest.raises(ValidationError):
        ModelWebhookSendRequest(url=url, secrets=(secret,))
