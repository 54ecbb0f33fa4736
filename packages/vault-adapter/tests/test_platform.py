"""The node on the effect platform: the contract YAML (or ``policy_overrides``) decides each
operation's deadline, idempotency and retries; core's envelope retry fields are honoured;
``async with`` and core's clean-up release the node.

Retries are counted at a server that answers every request with 500 (Vault's "internal
error": transient); deadlines at one that accepts connections and never answers.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

import pytest
import yaml  # type: ignore[import-untyped]
from omnibase_core.enums.enum_effect_types import EnumEffectType
from omnibase_core.nodes import ModelEffectInput
from pydantic import SecretStr

from omnibase_infra.effect import parse_effect_policies
from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraTimeoutError,
    InfraUnavailableError,
)
from omnibase_infra.nodes.node_vault_adapter_effect import (
    CONTRACT_PACKAGE,
    CONTRACT_RESOURCE,
    ModelVaultConfig,
    ModelVaultKvReadRequest,
    ModelVaultKvWriteRequest,
    NodeVaultAdapterEffect,
)

from .conftest import FAST_RETRY

FAST = {"base_delay_seconds": 0.001, "max_delay_seconds": 0.002}


class _Failing(BaseHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests count ``requests``."""

    def _fail(self) -> None:
        type(self).requests.append(self.command)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b'{"errors":["internal error"]}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _fail


@pytest.fixture
def failing_server() -> Iterator[tuple[str, list[str]]]:
    """A server answering 500 to everything; yields its URL and the requests it saw."""
    seen: list[str] = []
    handler = type("Failing", (_Failing,), {"requests": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A URL whose server accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def _config(url: str) -> ModelVaultConfig:
    return ModelVaultConfig(url=url, token=SecretStr("t"), request_timeout_seconds=2)


def _contract(old: str, new: str) -> object:
    """The packaged contract YAML with one piece of text edited, as a user's contract."""
    text = resources.files(CONTRACT_PACKAGE).joinpath(CONTRACT_RESOURCE).read_text()
    assert text.count(old) == 1
    return yaml.safe_load(text.replace(old, new))


async def _requests_for(
    node: NodeVaultAdapterEffect, seen: list[str], request: ModelVaultKvReadRequest
) -> int:
    seen.clear()
    try:
        with pytest.raises(InfraUnavailableError):
            await node.process(request)
    finally:
        await node.close()
    return len(seen)


async def test_idempotent_operations_are_retried_others_are_not(
    failing_server: tuple[str, list[str]],
) -> None:
    url, seen = failing_server
    overrides: dict[str, dict[str, object]] = {
        "kv_read": {"retry": FAST},
        "kv_write": {"retry": FAST},
    }
    node = NodeVaultAdapterEffect(config=_config(url), policy_overrides=overrides)
    read = ModelVaultKvReadRequest(path="a")
    assert await _requests_for(node, seen, read) == 3  # the contract's max_attempts

    node = NodeVaultAdapterEffect(config=_config(url), policy_overrides=overrides)
    seen.clear()
    with pytest.raises(InfraUnavailableError):
        await node.kv_write(ModelVaultKvWriteRequest(path="a", data={"k": SecretStr("v")}))
    await node.close()
    assert seen == ["POST"]  # kv_write is not idempotent in the contract: one attempt

    # An override makes it idempotent: now retried like a read.
    overrides["kv_write"] = {"retry": FAST, "idempotent": True}
    node = NodeVaultAdapterEffect(config=_config(url), policy_overrides=overrides)
    seen.clear()
    with pytest.raises(InfraUnavailableError):
        await node.kv_write(ModelVaultKvWriteRequest(path="a", data={"k": SecretStr("v")}))
    await node.close()
    assert seen == ["POST"] * 3


async def test_the_contract_yaml_decides_the_attempts(
    failing_server: tuple[str, list[str]],
) -> None:
    url, seen = failing_server
    edited = _contract("max_attempts: 3", "max_attempts: 5")
    policies = parse_effect_policies(edited, source="edited contract")
    fast = {name: {"retry": FAST} for name in policies.operations}
    node = NodeVaultAdapterEffect(config=_config(url), policies=policies.with_overrides(fast))
    assert await _requests_for(node, seen, ModelVaultKvReadRequest(path="a")) == 5


async def test_the_contract_timeout_is_the_operations_deadline(silent_server: str) -> None:
    edited = _contract(
        "{operation_type: kv_read, atomic: true, timeout_seconds: 30,",
        "{operation_type: kv_read, atomic: true, timeout_seconds: 1,",
    )
    policies = parse_effect_policies(edited, source="edited contract")
    node = NodeVaultAdapterEffect(config=_config(silent_server), policies=policies)
    started = time.monotonic()
    try:
        with pytest.raises(InfraTimeoutError) as late:
            await node.kv_read(ModelVaultKvReadRequest(path="a"))
    finally:
        await node.close()
    assert late.value.timeout_seconds == 1
    assert time.monotonic() - started < 1.5

    # policy_overrides change it the same way; the request's own timeout wins over both.
    node = NodeVaultAdapterEffect(
        config=_config(silent_server), policy_overrides={"kv_read": {"timeout_seconds": 0.3}}
    )
    try:
        with pytest.raises(InfraTimeoutError) as late:
            await node.kv_read(ModelVaultKvReadRequest(path="a"))
        assert late.value.timeout_seconds == 0.3
        with pytest.raises(InfraTimeoutError) as late:
            await node.kv_read(ModelVaultKvReadRequest(path="a", timeout_seconds=0.1))
        assert late.value.timeout_seconds == 0.1
    finally:
        await node.close()


@pytest.mark.parametrize(
    ("fields", "attempts"),
    [({"retry_enabled": False}, 1), ({"max_retries": 1, "retry_delay_ms": 1}, 2)],
)
async def test_core_envelope_retry_fields_are_honoured(
    failing_server: tuple[str, list[str]], fields: dict[str, object], attempts: int
) -> None:
    url, seen = failing_server
    node = NodeVaultAdapterEffect(config=_config(url), policy_overrides=FAST_RETRY)
    envelope = ModelEffectInput(
        effect_type=EnumEffectType.API_CALL,
        operation_data={"operation": "kv_read", "path": "a"},
        **fields,  # type: ignore[arg-type]
    )
    seen.clear()
    try:
        with pytest.raises(InfraUnavailableError):
            await node.process(envelope)
    finally:
        await node.close()
    assert len(seen) == attempts


async def test_async_with_and_core_cleanup_release_the_node(
    config: ModelVaultConfig, prefix: str
) -> None:
    async with NodeVaultAdapterEffect(config=config, policy_overrides=FAST_RETRY) as node:
        await node.kv_write(
            ModelVaultKvWriteRequest(path=f"{prefix}/ctx", data={"k": SecretStr("v")})
        )
        assert (await node.kv_read(ModelVaultKvReadRequest(path=f"{prefix}/ctx"))).version == 1
    assert node.closed
    with pytest.raises(InfraConfigurationError, match="closed"):
        await node.kv_read(ModelVaultKvReadRequest(path=f"{prefix}/ctx"))
    await node.aclose()  # idempotent

    other = NodeVaultAdapterEffect(config=config)
    await other._cleanup_node_resources()  # core's lifecycle hook
    assert other.closed
