"""The server frozen (SIGSTOP: connections hang) or stopped (connections refused): typed
timeout/connection errors, the issuer's breaker opens and refuses without sending, local
verification keeps working, and after the server is back the node recovers."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator

import pytest

from omnibase_infra.errors import InfraConnectionError, InfraTimeoutError, InfraUnavailableError
from omnibase_infra.models.keycloak import ModelKeycloakTokenRequest
from omnibase_infra.nodes.node_keycloak_adapter_effect import NodeKeycloakAdapterEffect
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra.resilience.breaker import (
    BreakerRegistry,
    EnumCircuitState,
    ModelCircuitBreakerConfig,
)
from omnibase_infra_testing.services.oidc import (
    OidcClient,
    OidcRealmConfig,
    OidcService,
    running_oidc,
)

from .conftest import node_config, note

pytestmark = pytest.mark.real_service

BREAKER = ModelCircuitBreakerConfig(
    sliding_window_size=4,
    minimum_calls=2,
    failure_rate_threshold=50.0,
    wait_in_open_seconds=0.5,
    half_open_max_probes=1,
    half_open_successes_to_close=1,
)


def _state(node: NodeKeycloakAdapterEffect) -> EnumCircuitState:
    assert node.breaker is not None
    return node.breaker.state


@pytest.fixture
def server() -> Iterator[OidcService]:
    client = OidcClient("fragile", "fragile-secret-" + uuid.uuid4().hex)
    with running_oidc(OidcRealmConfig(realm="fragile", clients=(client,))) as service:
        yield service


async def test_frozen_server_trips_the_breaker_then_recovers(server: OidcService) -> None:
    assert server.pid is not None
    node = NodeKeycloakAdapterEffect(
        config=node_config(server, "fragile", request_timeout_seconds=0.3),
        retry_policy=ModelRetryPolicy(max_attempts=2, base_delay_seconds=0.01),
        breakers=BreakerRegistry(BREAKER),
    )
    try:
        warm = await node.token(ModelKeycloakTokenRequest(use_cache=False))
        note(warm.access_token)
        await node.verify_token(warm.access_token)
        os.kill(server.pid, signal.SIGSTOP)
        try:
            with pytest.raises(InfraTimeoutError) as caught:
                await node.token(ModelKeycloakTokenRequest(use_cache=False))
            assert caught.value.retryable
            assert caught.value.target == server.issuer
            assert _state(node) is EnumCircuitState.OPEN
            sent = node.total_network_requests
            with pytest.raises(InfraUnavailableError) as refused:
                await node.token(ModelKeycloakTokenRequest(use_cache=False))
            assert refused.value.reason == "circuit_open"
            assert node.total_network_requests == sent  # refused at once: nothing was sent
            # Tokens of known keys still verify: no network needed.
            assert (await node.verify_token(warm.access_token)).authorized_party == "fragile"
        finally:
            os.kill(server.pid, signal.SIGCONT)
        await asyncio.sleep(0.6)  # the breaker's wait in open
        back = await node.token(ModelKeycloakTokenRequest(use_cache=False))
        note(back.access_token)
        assert _state(node) is EnumCircuitState.CLOSED
        assert (await node.verify_token(back.access_token)).authorized_party == "fragile"

        server.stop()
        with pytest.raises(InfraConnectionError) as gone:
            await node.token(ModelKeycloakTokenRequest(use_cache=False))
        assert gone.value.retryable
        assert "fragile-secret" not in str(gone.value)
    finally:
        await node.close()


async def test_overall_deadline_is_enforced(server: OidcService) -> None:
    assert server.pid is not None
    node = NodeKeycloakAdapterEffect(
        config=node_config(server, "fragile", request_timeout_seconds=5),
        retry_policy=ModelRetryPolicy(max_attempts=1),
    )
    os.kill(server.pid, signal.SIGSTOP)
    try:
        started = time.perf_counter()
        with pytest.raises(InfraTimeoutError) as caught:
            await node.token(ModelKeycloakTokenRequest(timeout_seconds=0.3))
        assert time.perf_counter() - started < 2
        assert caught.value.timeout_seconds == 0.3
    finally:
        os.kill(server.pid, signal.SIGCONT)
        await node.close()
