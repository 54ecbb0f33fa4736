"""SSRF protection: refused destinations never see a request; the resolver hands aiohttp
only the addresses it checked (a rebinding answer cannot slip in)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from omnibase_infra.errors import InfraConnectionError, InfraPermissionError
from omnibase_infra.models.webhook import (
    EnumWebhookOutcome,
    ModelWebhookConfig,
    ModelWebhookSendRequest,
)
from omnibase_infra.nodes.node_webhook_effect.v1_0_0 import (
    PinnedResolver,
    SsrfGuard,
    embedded_ipv4,
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
        # NAT64, well-known prefix (RFC 6052 2.1): the IPv4 address is the last 32 bits.
        ("64:ff9b::7f00:1", False),  # 127.0.0.1
        ("64:ff9b::a00:1", False),  # 10.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # 169.254.169.254
        ("64:ff9b::c0a8:101", False),  # 192.168.1.1
        ("64:ff9b::808:808", True),  # 8.8.8.8
        ("64:ff9b::1:808:808", False),  # in 64:ff9b::/32 but not the /96: reserved
        # NAT64, local-use prefix (RFC 8215): every prefix length a site may pick counts.
        ("64:ff9b:1::7f00:1", False),  # /96 reading 127.0.0.1
        ("64:ff9b:1::808:808", False),  # /96 reading 8.8.8.8, /48 reading 0.0.0.0
        ("64:ff9b:1:a00:1::", False),  # /48 reading 10.0.1.0
        ("64:ff9b:1:808:8:808:808:808", True),  # 8.8.8.8 at every place
        # IPv4-compatible (deprecated, ::/96): the last 32 bits.
        ("::127.0.0.1", False),
        ("::10.0.0.1", False),
        ("::169.254.169.254", False),
        ("::8.8.8.8", True),
        # Teredo: the client and the server must both be public.
        ("2001:0:808:808:8000:63bf:f7f7:f7f7", True),  # server 8.8.8.8, client 8.8.8.8
        ("2001:0:a00:1:8000:63bf:f7f7:f7f7", False),  # server 10.0.0.1, client 8.8.8.8
        ("2002:808:808::1", True),  # 6to4 wrapping 8.8.8.8
    ],
)
def test_address_classification(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("address", "readings"),
    [
        ("64:ff9b::c000:221", ("192.0.2.33",)),
        ("::c000:221", ("192.0.2.33",)),
        ("::ffff:c000:221", ("192.0.2.33",)),
        ("2002:c000:221::", ("192.0.2.33",)),
        # RFC 6052 2.4's example address 192.0.2.33 (c000:221), placed as each length says.
        ("64:ff9b:1:c000:2:2100::", ("192.0.2.33", "0.2.33.0", "2.33.0.0", "0.0.0.0")),  # noqa: S104
        ("64:ff9b:1::c000:221", ("0.0.0.0", "0.0.0.0", "0.0.0.192", "192.0.2.33")),  # noqa: S104
        ("2001:db8::1", ()),
        ("8.8.8.8", None),
    ],
)
def test_embedded_ipv4_readings(address: str, readings: tuple[str, ...] | None) -> None:
    parsed = ipaddress.ip_address(address)
    if readings is None:
        assert not isinstance(parsed, ipaddress.IPv6Address)
        return
    assert isinstance(parsed, ipaddress.IPv6Address)
    assert embedded_ipv4(parsed) == tuple(ipaddress.IPv4Address(item) for item in readings)


# RFC 6052 section 2.4: 192.0.2.33 under 2001:db8:122:344::/n for each length n.
RFC6052_EXAMPLES = [
    ("2001:db8::/32", "2001:db8:c000:221::"),
    ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
    ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
    ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
    ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
    ("2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"),
]


@pytest.mark.parametrize(("prefix", "address"), RFC6052_EXAMPLES)
def test_declared_nat64_prefix_reads_the_ipv4_address_of_its_length(
    prefix: str, address: str
) -> None:
    """A site's own translator prefix, declared, is decoded at the place its length gives:
    RFC 6052's examples embed 192.0.2.33 (TEST-NET-1, not global), so each is refused;
    allow-listing that IPv4 network (not the IPv6 one) lets each through."""
    parsed = ipaddress.ip_address(address)
    assert not SsrfGuard(nat64_prefixes=(prefix,)).address_allowed(parsed)
    listed = SsrfGuard(allow_networks=("192.0.2.0/24",), nat64_prefixes=(prefix,))
    assert listed.address_allowed(parsed)
    other = SsrfGuard(allow_networks=("192.0.3.0/24",), nat64_prefixes=(prefix,))
    assert not other.address_allowed(parsed)


def test_a_declared_prefix_in_global_space_is_judged_by_its_ipv4_address() -> None:
    """Under a network-specific prefix in global unicast space an address looks public;
    declared, it is judged by the IPv4 address it carries."""
    metadata = ipaddress.ip_address("2a00:1450:4001:800::a9fe:a9fe")  # 169.254.169.254
    public = ipaddress.ip_address("2a00:1450:4001:800::808:808")  # 8.8.8.8
    assert SsrfGuard().address_allowed(metadata)  # undeclared: cannot be recognised
    guard = SsrfGuard(nat64_prefixes=("2a00:1450:4001:800::/96",))
    assert not guard.address_allowed(metadata)
    assert guard.address_allowed(public)


def test_a_declared_local_use_prefix_length_reads_one_place() -> None:
    """A site that declares its /96 inside 64:ff9b:1::/48 gets exactly the /96 reading;
    the rest of the /48 keeps every reading; the longest declared prefix decides."""
    public = ipaddress.ip_address("64:ff9b:1::808:808")
    private = ipaddress.ip_address("64:ff9b:1::a00:1")
    outside = ipaddress.ip_address("64:ff9b:1:1::808:808")
    guard = SsrfGuard(nat64_prefixes=("64:ff9b:1::/48", "64:ff9b:1::/96"))
    assert not SsrfGuard().address_allowed(public)
    assert guard.address_allowed(public)
    assert not guard.address_allowed(private)
    # Under the declared /48 alone: the /48 reading of 64:ff9b:1:1::808:808 is 0.1.0.0.
    assert not guard.address_allowed(outside)


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("10.0.0.0/8", "IPv6"),
        ("64:ff9b::/80", "/32, /40"),
        ("not-a-network", "not an IP network"),
    ],
)
def test_nat64_prefixes_are_validated(prefix: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelWebhookConfig(nat64_prefixes=(prefix,))
    with pytest.raises(ValueError, match=message):
        SsrfGuard(nat64_prefixes=(prefix,))


def test_allow_listed_ipv4_network_covers_every_embedding() -> None:
    """An allow-listed IPv4 network covers that network in each embedding form; an
    embedding whose other readings are private is still refused."""
    guard = SsrfGuard(allow_networks=("10.0.0.0/8",))
    for address in ("64:ff9b::a00:1", "::10.0.0.1", "::ffff:10.0.0.1", "2002:a00:1::"):
        assert guard.address_allowed(ipaddress.ip_address(address)), address
    assert not guard.address_allowed(ipaddress.ip_address("64:ff9b::7f00:1"))
    # 64:ff9b:1:a00:1::: /48 reading 10.0.1.0 (listed), others 0.x.x.x (not public).
    assert not guard.address_allowed(ipaddress.ip_address("64:ff9b:1:a00:1::"))
    assert SsrfGuard(allow_networks=("64:ff9b::/96",)).address_allowed(
        ipaddress.ip_address("64:ff9b::7f00:1")
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://10.0.0.1:{port}/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://[64:ff9b::7f00:1]:{port}/hook",
        "http://[64:ff9b:1::7f00:1]:{port}/hook",
        "http://[::127.0.0.1]:{port}/hook",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
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


def _answer(*addresses: str) -> Any:
    """A fake ``getaddrinfo`` (pure logic: DNS is not under test) answering ``addresses``."""

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port, 0, 0) if ":" in address else (address, port),
            )
            for address in addresses
        ]

    return getaddrinfo


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("64:ff9b::808:808", True),
        ("64:ff9b::7f00:1", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b:1:808:8:808:808:808", True),
        ("64:ff9b:1::a00:1", False),
        ("64:ff9b:1::808:808", False),  # the /48 reading is 0.0.0.0
        ("::8.8.8.8", True),
        ("::192.168.0.1", False),
    ],
)
async def test_resolver_judges_embedded_ipv4_at_dial_time(
    monkeypatch: pytest.MonkeyPatch, address: str, allowed: bool
) -> None:
    """The connector's resolver hands aiohttp an embedding address only when the IPv4
    address it stands for is allowed."""
    import asyncio

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", _answer(address))
    resolver = PinnedResolver(SsrfGuard())
    if allowed:
        (result,) = await resolver.resolve("nat64.example", 443, socket.AF_UNSPEC)
        assert (result["host"], result["port"]) == (address, 443)
    else:
        with pytest.raises(InfraPermissionError, match="not a public address"):
            await resolver.resolve("nat64.example", 443, socket.AF_UNSPEC)


async def test_send_refuses_a_host_resolving_to_nat64_private(
    make_node: NodeFactory,
    webhook_receiver: WebhookReceiver,
    secret: SecretStr,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loopback is allow-listed as 127.0.0.0/8 (IPv4 only); a name resolving to
    64:ff9b::a00:1 (10.0.0.1 through a translator) is refused before anything is stored."""
    import asyncio

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", _answer("64:ff9b::a00:1"))
    node = make_node()
    request = ModelWebhookSendRequest(
        url=f"http://nat64.example:{webhook_receiver.port}/hook", secrets=(secret,), payload={}
    )
    with pytest.raises(InfraPermissionError, match="64:ff9b::a00:1"):
        await node.send(request)
    assert await node.store.get(request.message_id) is None
    assert webhook_receiver.requests == []


async def test_a_rebinding_answer_to_nat64_private_is_refused_when_dialling(
    make_node: NodeFactory,
    webhook_receiver: WebhookReceiver,
    secret: SecretStr,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check before storing sees a public NAT64 address; the connector's own
    resolution (the one aiohttp dials) sees 64:ff9b::7f00:1 and refuses it: the message is
    dead-lettered and no request is sent anywhere."""
    import asyncio

    answers = [_answer("64:ff9b::808:808"), _answer("64:ff9b::7f00:1")]
    calls: list[str] = []

    async def rebinding(host: str, port: int, **kwargs: Any) -> list[Any]:
        calls.append(host)
        answer = answers[0] if len(calls) == 1 else answers[1]
        result: list[Any] = await answer(host, port, **kwargs)
        return result

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", rebinding)
    node = make_node(allow_networks=())
    request = ModelWebhookSendRequest(
        url=f"http://rebind.example:{webhook_receiver.port}/hook", secrets=(secret,), payload={}
    )
    result = await node.send(request)
    assert result.outcome is EnumWebhookOutcome.DEAD_LETTERED
    assert "InfraPermissionError" in (result.error_message or "")
    assert len(calls) >= 2
    assert webhook_receiver.requests == []
