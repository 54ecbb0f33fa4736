"""Failures: unreachable agent, enforced timeout, breaker per agent, HTTP status mapping,
and the ACL token kept out of URLs, errors and reprs."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from pydantic import SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConnectionError,
    InfraNotFoundError,
    InfraPermissionError,
    InfraRateLimitedError,
    InfraRejectedRequestError,
    InfraTimeoutError,
    InfraUnavailableError,
)
from omnibase_infra.models.consul import ModelConsulConfig
from omnibase_infra.nodes.node_consul_adapter_effect import ConsulClient
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.transport import status_error
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra.resilience.breaker import (
    BreakerRegistry,
    CircuitOpenError,
    EnumCircuitState,
    ModelCircuitBreakerConfig,
)

TOKEN = "b1gs3cret-acl-token-value"
NO_RETRY = ModelRetryPolicy(max_attempts=1)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


type Handler = Callable[[bytes], bytes | None]
type Start = Callable[[Handler], Awaitable[int]]


@pytest.fixture
async def fake_agent() -> AsyncIterator[tuple[list[bytes], Start]]:
    """A loopback HTTP endpoint answering what a test decides (``None``: never answers)."""
    seen: list[bytes] = []
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def start(handler: Handler) -> int:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            head = await reader.readuntil(b"\r\n\r\n")
            seen.append(head)
            answer = handler(head)
            if answer is not None:
                writer.write(answer)
                await writer.drain()
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield seen, start
    for writer in writers:
        writer.close()
    for server in servers:
        server.close()
        await server.wait_closed()


def _response(status: int, body: bytes = b"", headers: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{headers}Connection: close\r\n\r\n"
    ).encode() + body


async def test_unreachable_agent_raises_connection_error_and_opens_breaker() -> None:
    registry = BreakerRegistry(
        ModelCircuitBreakerConfig(minimum_calls=2, sliding_window_size=2, wait_in_open_seconds=60)
    )
    config = ModelConsulConfig(port=_closed_port(), token=SecretStr(TOKEN))
    client = ConsulClient(config, retry_policy=NO_RETRY, breakers=registry)
    cid = uuid.uuid4()
    for _ in range(2):
        with pytest.raises(InfraConnectionError) as caught:
            await client.kv_get("k", correlation_id=cid)
        error = caught.value
        assert (error.transport, error.operation, error.correlation_id) == (
            EnumTransport.CONSUL,
            "kv_get",
            cid,
        )
        assert error.target == config.target
        assert error.retryable
    assert client.breaker.state is EnumCircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        await client.kv_put("k", b"v")
    assert registry.get(EnumTransport.CONSUL, config.target) is client.breaker
    await client.close()


async def test_timeout_is_enforced(fake_agent: tuple[list[bytes], Start]) -> None:
    _, start = fake_agent
    port = await start(lambda head: None)
    client = ConsulClient(ModelConsulConfig(port=port), retry_policy=NO_RETRY)
    with pytest.raises(InfraTimeoutError) as caught:
        await client.catalog_services(timeout_seconds=0.2)
    assert caught.value.timeout_seconds == 0.2
    assert caught.value.operation == "catalog_services"
    await client.close()


async def test_token_travels_in_a_header_never_in_the_url(
    fake_agent: tuple[list[bytes], Start], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen, start = fake_agent
    port = await start(lambda head: _response(403, b"Permission denied"))
    # python-consul would read these; the node's own configuration wins.
    monkeypatch.setenv("CONSUL_HTTP_TOKEN", "env-token-not-used")
    monkeypatch.setenv("CONSUL_HTTP_ADDR", "127.0.0.1:1")
    config = ModelConsulConfig(port=port, token=SecretStr(TOKEN), datacenter="dc9")
    client = ConsulClient(config, retry_policy=NO_RETRY)
    with pytest.raises(InfraPermissionError) as caught:
        await client.kv_put("app/config", {"a": 1})
    (head,) = seen
    request_line, *header_lines = head.decode().split("\r\n")
    assert request_line.startswith("PUT /v1/kv/app/config?dc=dc9 ")
    assert f"X-Consul-Token: {TOKEN}" in header_lines
    assert "token" not in request_line
    assert "env-token" not in head.decode()
    error = caught.value
    assert TOKEN not in str(error) + repr(error) + repr(config) + repr(client.config)
    assert not error.retryable
    await client.close()


def test_status_mapping() -> None:
    target = "agent:8500"
    assert isinstance(status_error(401, "no", {}, target), InfraAuthenticationError)
    assert isinstance(status_error(403, "Permission denied", {}, target), InfraPermissionError)
    assert isinstance(status_error(404, "", {}, target), InfraNotFoundError)
    assert isinstance(status_error(500, 'Unknown check ID "x"', {}, target), InfraNotFoundError)
    limited = status_error(429, "slow down", {"Retry-After": "3"}, target)
    assert isinstance(limited, InfraRateLimitedError)
    assert limited.retry_after_seconds == 3
    unknown_wait = status_error(429, "", {"Retry-After": "soon"}, target)
    assert isinstance(unknown_wait, InfraRateLimitedError)
    assert unknown_wait.retry_after_seconds is None
    server = status_error(503, "No cluster leader", {}, target)
    assert isinstance(server, InfraUnavailableError)
    assert server.retryable
    rejected = status_error(409, "", {}, target)
    assert isinstance(rejected, InfraRejectedRequestError)
    assert rejected.status_code == 409
    assert "409" in str(rejected)


async def test_server_errors_are_retried_then_raised(
    fake_agent: tuple[list[bytes], Start],
) -> None:
    seen, start = fake_agent
    port = await start(lambda head: _response(500, b"rpc error: No cluster leader"))
    policy = ModelRetryPolicy(max_attempts=3, base_delay_seconds=0.001, max_delay_seconds=0.002)
    client = ConsulClient(ModelConsulConfig(port=port), retry_policy=policy)
    with pytest.raises(InfraUnavailableError):
        await client.kv_get("k")
    assert len(seen) == 3
    seen.clear()
    with pytest.raises(InfraUnavailableError):
        await client.kv_put("k", b"v", cas=5)  # check-and-set is never repeated
    assert len(seen) == 1
    await client.close()
