"""Typed errors: real 403/connection/timeout failures, and the mapping of every status."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import hvac  # type: ignore[import-untyped]
import pytest
import requests
from hvac import exceptions as hv
from pydantic import SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConflictError,
    InfraConnectionError,
    InfraError,
    InfraNotFoundError,
    InfraPermissionError,
    InfraProtocolError,
    InfraRateLimitedError,
    InfraRejectedRequestError,
    InfraTimeoutError,
    InfraUnavailableError,
)
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.vault import (
    ModelVaultConfig,
    ModelVaultKvReadRequest,
    ModelVaultKvWriteRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect, to_infra_error
from omnibase_infra.resilience.breaker import (
    BreakerRegistry,
    EnumCircuitState,
    ModelCircuitBreakerConfig,
)
from omnibase_infra_testing.services.openbao import OpenBaoService

from .conftest import FAST_RETRY

POLICY = """
path "secret/data/{prefix}/open/*" {{ capabilities = ["create", "update", "read"] }}
"""


async def test_forbidden_path_is_a_permission_error_not_retried(
    openbao_service: OpenBaoService, root: hvac.Client, prefix: str
) -> None:
    root.sys.create_or_update_policy(name=prefix, policy=POLICY.format(prefix=prefix))
    token = root.auth.token.create(policies=[prefix], ttl="5m")["auth"]["client_token"]
    config = ModelVaultConfig(url=openbao_service.addr, token=SecretStr(token))
    node = NodeVaultAdapterEffect(config=config, policy_overrides=FAST_RETRY)
    try:
        ok = await node.kv_write(
            ModelVaultKvWriteRequest(path=f"{prefix}/open/a", data={"k": SecretStr("v")})
        )
        assert ok.version == 1
        cid = uuid.uuid4()
        with pytest.raises(InfraPermissionError) as denied:
            await node.kv_read(
                ModelVaultKvReadRequest(
                    path=f"{prefix}/closed/a",
                    correlation=ModelCorrelationContext(correlation_id=cid),
                )
            )
        err = denied.value
        assert (err.transport, err.operation, err.target) == (
            EnumTransport.VAULT,
            "kv_read",
            node.target,
        )
        assert err.correlation_id == cid
        assert err.retryable is False
        assert token not in str(err)
        assert node.breaker is not None
        snap = node.breaker.snapshot()
        # a permission error says nothing about the server
        assert (snap.failures, snap.ignored) == (0, 1)
    finally:
        await node.close()


async def test_unknown_token_is_denied(openbao_service: OpenBaoService) -> None:
    config = ModelVaultConfig(url=openbao_service.addr, token=SecretStr("hvs.not-a-real-token"))
    node = NodeVaultAdapterEffect(config=config, policy_overrides=FAST_RETRY)
    try:
        with pytest.raises(InfraPermissionError) as denied:
            await node.kv_read(ModelVaultKvReadRequest(path="x"))
        assert "not-a-real-token" not in str(denied.value)
    finally:
        await node.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_is_retried_then_trips_the_breaker() -> None:
    config = ModelVaultConfig(url=f"http://127.0.0.1:{_free_port()}", token=SecretStr("t"))
    breakers = BreakerRegistry(ModelCircuitBreakerConfig(minimum_calls=3, sliding_window_size=3))
    node = NodeVaultAdapterEffect(config=config, policy_overrides=FAST_RETRY, breakers=breakers)
    try:
        with pytest.raises(InfraConnectionError) as refused:
            await node.kv_read(ModelVaultKvReadRequest(path="a"))
        assert refused.value.retryable is True
        assert node.breaker is not None
        assert node.breaker.state is EnumCircuitState.OPEN
        with pytest.raises(InfraUnavailableError) as open_:
            await node.kv_read(ModelVaultKvReadRequest(path="a"))
        assert open_.value.reason == "circuit_open"
    finally:
        await node.close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


async def test_deadline_is_enforced(silent_server: int) -> None:
    config = ModelVaultConfig(
        url=f"http://127.0.0.1:{silent_server}", token=SecretStr("t"), request_timeout_seconds=1
    )
    node = NodeVaultAdapterEffect(config=config, policy_overrides=FAST_RETRY)
    try:
        with pytest.raises(InfraTimeoutError) as late:
            await node.kv_read(ModelVaultKvReadRequest(path="a", timeout_seconds=0.2))
        assert late.value.timeout_seconds == 0.2
    finally:
        await node.close()


CID = uuid.uuid4()


def _map(exc: BaseException) -> InfraError:
    return to_infra_error(
        exc, operation="kv_read", target="vault:8200", correlation_id=CID, timeout_seconds=3.0
    )


@pytest.mark.parametrize(
    ("raised", "expected", "retryable"),
    [
        (hv.Forbidden(errors=["permission denied"]), InfraPermissionError, False),
        (hv.Unauthorized(errors=["missing client token"]), InfraAuthenticationError, False),
        (hv.InvalidPath(), InfraNotFoundError, False),
        (
            hv.InvalidRequest(errors=["check-and-set parameter did not match the current version"]),
            InfraConflictError,
            False,
        ),
        (hv.InvalidRequest(errors=["bad"]), InfraRejectedRequestError, False),
        (hv.RateLimitExceeded(errors=["slow down"]), InfraRateLimitedError, True),
        (hv.InternalServerError(errors=["boom"]), InfraUnavailableError, True),
        (hv.BadGateway(), InfraUnavailableError, True),
        (hv.UnexpectedError("teapot"), InfraProtocolError, False),
        (requests.exceptions.ReadTimeout(), InfraTimeoutError, True),
        (requests.exceptions.ConnectionError(), InfraConnectionError, True),
        (requests.exceptions.SSLError(), InfraConnectionError, False),
        (RuntimeError("cannot schedule new futures"), InfraProtocolError, False),
    ],
)
def test_status_mapping(raised: BaseException, expected: type[InfraError], retryable: bool) -> None:
    err = _map(raised)
    assert type(err) is expected
    assert err.retryable is retryable
    assert (err.transport, err.target, err.correlation_id) == (
        EnumTransport.VAULT,
        "vault:8200",
        CID,
    )


@pytest.mark.parametrize(
    ("detail", "reason"),
    [("Vault is sealed", "sealed"), ("node is in standby mode", "standby"), ("", "down")],
)
def test_503_is_unavailable_with_its_reason(detail: str, reason: str) -> None:
    err = _map(hv.VaultDown(errors=[detail] if detail else None))
    assert isinstance(err, InfraUnavailableError)
    assert (err.reason, err.retryable) == (reason, True)


def test_a_raw_body_is_never_echoed() -> None:
    body = '{"data":{"data":{"password":"hunter2-raw"}}}'
    err = _map(hv.InvalidPath(body, text=body))
    assert "hunter2-raw" not in str(err)


def test_our_own_errors_pass_through() -> None:
    mine = InfraNotFoundError("x", transport=EnumTransport.VAULT, operation="kv_read")
    assert _map(mine) is mine
