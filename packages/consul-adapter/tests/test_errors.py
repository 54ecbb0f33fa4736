"""Failures: unreachable agent, enforced deadline, breaker per agent, HTTP status mapping,
retries only where repeating is safe, and the ACL token kept out of URLs, errors and reprs."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from omnibase_infra.contracts import load_yaml_resource
from omnibase_infra.effect import Attempt, load_effect_policies, parse_effect_policies
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConflictError,
    InfraConnectionError,
    InfraNotFoundError,
    InfraPermissionError,
    InfraProtocolError,
    InfraRateLimitedError,
    InfraRejectedRequestError,
    InfraTimeoutError,
    InfraUnavailableError,
)
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.consul import (
    ModelConsulCatalogRequest,
    ModelConsulConfig,
    ModelConsulKVPutRequest,
    ModelConsulKVReadRequest,
    ModelConsulKVWaitRequest,
)
from omnibase_infra.nodes.node_consul_adapter_effect import (
    CONTRACT_PACKAGE,
    CONTRACT_RESOURCE,
    NodeConsulAdapterEffect,
    map_consul_error,
)
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.errors import status_error
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
    node = NodeConsulAdapterEffect(config=config, retry_policy=NO_RETRY, breakers=registry)
    correlation = ModelCorrelationContext.fresh()
    for _ in range(2):
        with pytest.raises(InfraConnectionError) as caught:
            await node.kv_read(ModelConsulKVReadRequest(key="k", correlation=correlation))
        error = caught.value
        assert (error.transport, error.operation, error.correlation_id) == (
            EnumTransport.CONSUL,
            "kv_get",
            correlation.correlation_id,
        )
        assert error.target == config.target
        assert error.retryable
        assert error.not_sent  # a refused connection: nothing reached the agent
    assert node.breaker is not None
    assert node.breaker.state is EnumCircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        await node.kv_put(ModelConsulKVPutRequest(key="k", value=b"v"))
    assert registry.get(EnumTransport.CONSUL, config.target) is node.breaker
    await node.aclose()


async def test_timeout_is_enforced(fake_agent: tuple[list[bytes], Start]) -> None:
    _, start = fake_agent
    port = await start(lambda head: None)
    async with NodeConsulAdapterEffect(
        config=ModelConsulConfig(port=port), retry_policy=NO_RETRY
    ) as node:
        with pytest.raises(InfraTimeoutError) as caught:
            await node.catalog(ModelConsulCatalogRequest(timeout_seconds=0.2))
    assert caught.value.timeout_seconds == 0.2
    assert caught.value.operation == "catalog_services"


async def test_token_travels_in_a_header_never_in_the_url(
    fake_agent: tuple[list[bytes], Start], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen, start = fake_agent
    port = await start(lambda head: _response(403, b"Permission denied"))
    # python-consul would read these; the node's own configuration wins.
    monkeypatch.setenv("CONSUL_HTTP_TOKEN", "env-token-not-used")
    monkeypatch.setenv("CONSUL_HTTP_ADDR", "127.0.0.1:1")
    config = ModelConsulConfig(port=port, token=SecretStr(TOKEN), datacenter="dc9")
    node = NodeConsulAdapterEffect(config=config, retry_policy=NO_RETRY)
    with pytest.raises(InfraPermissionError) as caught:
        await node.kv_put(ModelConsulKVPutRequest(key="app/config", value={"a": 1}))
    (head,) = seen
    request_line, *header_lines = head.decode().split("\r\n")
    assert request_line.startswith("PUT /v1/kv/app/config?dc=dc9 ")
    assert f"X-Consul-Token: {TOKEN}" in header_lines
    assert "token" not in request_line
    assert "env-token" not in head.decode()
    error = caught.value
    assert TOKEN not in str(error) + repr(error) + repr(config) + repr(node.config)
    assert not error.retryable
    await node.aclose()


def test_status_mapping() -> None:
    def error(status: int, body: str = "", headers: dict[str, str] | None = None) -> object:
        return status_error(status, body, headers or {}, operation="kv_get", target="agent:8500")

    assert isinstance(error(401, "no"), InfraAuthenticationError)
    assert isinstance(error(403, "Permission denied"), InfraPermissionError)
    assert isinstance(error(404), InfraNotFoundError)
    # Consul 1.8's agent answers 500 for an unknown check or service.
    assert isinstance(error(500, 'Unknown check ID "x"'), InfraNotFoundError)
    assert isinstance(error(500, "CheckID does not have associated TTL"), InfraNotFoundError)
    limited = error(429, "slow down", {"Retry-After": "3"})
    assert isinstance(limited, InfraRateLimitedError)
    assert limited.retry_after_seconds == 3
    unknown_wait = error(429, "", {"Retry-After": "soon"})
    assert isinstance(unknown_wait, InfraRateLimitedError)
    assert unknown_wait.retry_after_seconds is None
    server = error(503, "No cluster leader")
    assert isinstance(server, InfraUnavailableError)
    assert server.retryable
    assert isinstance(error(409), InfraConflictError)  # the shared HTTP mapping
    rejected = error(400, "Request decode failed")
    assert isinstance(rejected, InfraRejectedRequestError)
    assert rejected.status_code == 400
    assert "Request decode failed" in str(rejected)
    assert isinstance(error(200), InfraProtocolError)  # a success is no failure to map


def test_transport_failures_are_mapped_with_the_attempt() -> None:
    correlation = ModelCorrelationContext.fresh()
    attempt = Attempt("kv_get", "agent:8500", correlation.correlation_id, True, 5.0, 0.0)
    refused = map_consul_error(ConnectionRefusedError("refused"), attempt)
    assert isinstance(refused, InfraConnectionError)
    assert (refused.operation, refused.target, refused.correlation_id) == (
        "kv_get",
        "agent:8500",
        correlation.correlation_id,
    )
    assert isinstance(map_consul_error(ValueError("not JSON"), attempt), InfraProtocolError)


async def test_server_errors_are_retried_then_raised(
    fake_agent: tuple[list[bytes], Start],
) -> None:
    seen, start = fake_agent
    port = await start(lambda head: _response(500, b"rpc error: No cluster leader"))
    policy = ModelRetryPolicy(max_attempts=3, base_delay_seconds=0.001, max_delay_seconds=0.002)
    async with NodeConsulAdapterEffect(
        config=ModelConsulConfig(port=port), retry_policy=policy
    ) as node:
        with pytest.raises(InfraUnavailableError):
            await node.kv_read(ModelConsulKVReadRequest(key="k"))
        assert len(seen) == 3
        seen.clear()
        with pytest.raises(InfraUnavailableError):
            await node.kv_put(ModelConsulKVPutRequest(key="k", value=b"v", cas=5))
        assert len(seen) == 1  # a check-and-set is never repeated
        seen.clear()
        with pytest.raises(InfraUnavailableError):
            await node.kv_put(ModelConsulKVPutRequest(key="k", value=b"v"))
        assert len(seen) == 3  # an unconditional write is


async def test_the_contract_decides_retries_and_deadlines(
    fake_agent: tuple[list[bytes], Start],
) -> None:
    """The contract YAML is the source of the policies: a copy that gives ``kv_get`` one
    attempt and ``catalog_services`` a short deadline changes what the node does; so do
    ``policy_overrides``."""
    seen, start = fake_agent
    failing = await start(lambda head: _response(500, b"rpc error: No cluster leader"))
    hanging = await start(lambda head: None)
    raw: dict[str, Any] = load_yaml_resource(CONTRACT_PACKAGE, CONTRACT_RESOURCE)
    retry = {**raw["retry_policies"], "base_delay_ms": 1, "max_delay_ms": 2}
    edits = {"kv_get": {"max_attempts": 1}, "catalog_services": {"timeout_seconds": 1}}
    operations = [{**io, **edits.get(io["operation_type"], {})} for io in raw["io_operations"]]
    edited = parse_effect_policies(
        {**raw, "retry_policies": retry, "io_operations": operations}, source="edited"
    )
    packaged = load_effect_policies(CONTRACT_PACKAGE).get("kv_get")
    assert (packaged.retry.max_attempts, packaged.idempotent) == (3, True)

    async with NodeConsulAdapterEffect(
        config=ModelConsulConfig(port=failing), policies=edited
    ) as node:
        with pytest.raises(InfraUnavailableError):
            await node.kv_read(ModelConsulKVReadRequest(key="k"))
        assert len(seen) == 1  # the edited contract: one attempt
    seen.clear()
    fast = {"kv_get": {"retry": {"base_delay_seconds": 0.001, "max_delay_seconds": 0.002}}}
    async with NodeConsulAdapterEffect(
        config=ModelConsulConfig(port=failing), policy_overrides=fast
    ) as node:
        with pytest.raises(InfraUnavailableError):
            await node.kv_read(ModelConsulKVReadRequest(key="k"))
        assert len(seen) == 3  # the packaged contract: three attempts

    async with NodeConsulAdapterEffect(
        config=ModelConsulConfig(port=hanging), policies=edited
    ) as node:
        with pytest.raises(InfraTimeoutError) as caught:
            await node.catalog(ModelConsulCatalogRequest())
        assert caught.value.timeout_seconds == 1
    overrides = {"catalog_services": {"timeout_seconds": 0.3}}
    async with NodeConsulAdapterEffect(
        config=ModelConsulConfig(port=hanging), policy_overrides=overrides
    ) as node:
        assert node.policy("catalog_services").timeout_seconds == 0.3
        with pytest.raises(InfraTimeoutError) as caught:
            await node.catalog(ModelConsulCatalogRequest())
        assert caught.value.timeout_seconds == 0.3


async def test_a_blocking_read_waits_past_the_policy_timeout(
    fake_agent: tuple[list[bytes], Start],
) -> None:
    """A blocking read's deadline is its wait plus Consul's jitter plus the policy timeout
    (here 0.2 s): it is not cut at 0.2 s, and it ends when all of that has passed."""
    _, start = fake_agent
    port = await start(lambda head: None)
    async with NodeConsulAdapterEffect(
        config=ModelConsulConfig(port=port, timeout_seconds=0.2), retry_policy=NO_RETRY
    ) as node:
        assert node.policy("kv_get").timeout_seconds == 0.2
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(InfraTimeoutError) as caught:
            await node.kv_wait(ModelConsulKVWaitRequest(key="k", index=5, wait_seconds=1))
        assert caught.value.timeout_seconds == pytest.approx(1 * 17 / 16 + 0.2)
        assert loop.time() - started >= 1.2
        with pytest.raises(InfraTimeoutError) as explicit:
            await node.kv_wait(
                ModelConsulKVWaitRequest(key="k", index=5, wait_seconds=1, timeout_seconds=0.1)
            )
        assert explicit.value.timeout_seconds == 0.1
