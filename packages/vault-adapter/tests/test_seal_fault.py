"""Seal fault: a non-dev OpenBao (raft storage) is sealed mid-run, then unsealed.

While sealed the node raises the taxonomy's unavailable error (reason ``sealed``) and its
breaker opens; once the server is unsealed and the breaker's wait has passed, the same
node instance serves reads again. The breaker runs on a manual clock: no sleeping.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraUnavailableError
from omnibase_infra.errors.enum_infra_error_code import EnumInfraErrorCode
from omnibase_infra.models.vault import (
    ModelVaultConfig,
    ModelVaultKvReadRequest,
    ModelVaultKvWriteRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect
from omnibase_infra.resilience.breaker import (
    BreakerRegistry,
    EnumCircuitState,
    ModelCircuitBreakerConfig,
)
from omnibase_infra_testing.services.openbao import (
    INSTALL_HINT,
    SealableOpenBaoService,
    start_sealable_openbao,
)
from omnibase_infra_testing.unavailable import serve_for_session

from .conftest import retry_overrides

WAIT_IN_OPEN = 0.5
# Opens at 50 % failures over the last 4 calls: two successes, then two sealed failures.
BREAKER = ModelCircuitBreakerConfig(
    sliding_window_size=4,
    minimum_calls=4,
    failure_rate_threshold=50.0,
    wait_in_open_seconds=WAIT_IN_OPEN,
    half_open_max_probes=1,
    half_open_successes_to_close=1,
)
NO_RETRY = retry_overrides(max_attempts=1)  # one call, one breaker outcome


class ManualClock:
    """The breaker's clock; the test moves it forward instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def sealable() -> Iterator[SealableOpenBaoService]:
    yield from serve_for_session(
        "OpenBao (non-dev, raft storage)",
        start_sealable_openbao,
        missing=(FileNotFoundError,),
        how_to_get_it=INSTALL_HINT,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def node(
    sealable: SealableOpenBaoService, clock: ManualClock
) -> AsyncIterator[NodeVaultAdapterEffect]:
    config = ModelVaultConfig(
        url=sealable.addr, token=SecretStr(sealable.root_token), request_timeout_seconds=5
    )
    node = NodeVaultAdapterEffect(
        config=config, policy_overrides=NO_RETRY, breakers=BreakerRegistry(BREAKER, clock=clock)
    )
    try:
        yield node
    finally:
        await node.close()
        if sealable.sealed():  # a failed run must not leave the module's server sealed
            sealable.unseal()


def state(node: NodeVaultAdapterEffect) -> EnumCircuitState:
    """Read afresh each time (mypy would otherwise keep the first narrowing)."""
    assert node.breaker is not None
    return node.breaker.state


def read(path: str) -> ModelVaultKvReadRequest:
    return ModelVaultKvReadRequest(path=path, use_cache=False)


async def test_sealed_mid_run_trips_the_breaker_and_the_node_recovers_after_unseal(
    sealable: SealableOpenBaoService, node: NodeVaultAdapterEffect, clock: ManualClock
) -> None:
    path = f"seal-{uuid.uuid4().hex[:12]}"
    secret = SecretStr(uuid.uuid4().hex)
    written = await node.kv_write(ModelVaultKvWriteRequest(path=path, data={"password": secret}))
    assert written.version == 1
    assert (await node.kv_read(read(path))).data == {"password": secret}
    assert state(node) is EnumCircuitState.CLOSED

    sealable.seal()
    assert sealable.sealed()

    sealed_errors: list[InfraUnavailableError] = []
    for _ in range(2):
        request = read(path)
        with pytest.raises(InfraUnavailableError) as caught:
            await node.kv_read(request)
        error = caught.value
        assert error.reason == "sealed"
        assert error.infra_error_code is EnumInfraErrorCode.SEALED
        assert error.retryable
        assert error.transport is EnumTransport.VAULT
        assert error.operation == "kv_read"
        assert error.target == node.target
        assert error.correlation_id == request.correlation_id
        sealed_errors.append(error)
    assert state(node) is EnumCircuitState.OPEN
    assert secret.get_secret_value() not in "".join(f"{e!s}{e!r}" for e in sealed_errors)

    # Open: rejected without reaching the server, for writes too.
    with pytest.raises(InfraUnavailableError) as rejected:
        await node.kv_write(ModelVaultKvWriteRequest(path=path, data={"password": secret}))
    assert rejected.value.reason == "circuit_open"
    assert rejected.value.infra_error_code is EnumInfraErrorCode.CIRCUIT_OPEN

    sealable.unseal()
    assert not sealable.sealed()
    # The server is back, but the breaker still waits out its open period.
    with pytest.raises(InfraUnavailableError) as still_open:
        await node.kv_read(read(path))
    assert still_open.value.reason == "circuit_open"
    assert state(node) is EnumCircuitState.OPEN

    clock.now += WAIT_IN_OPEN
    recovered = await node.kv_read(read(path))  # the half-open probe, on the same node
    assert recovered.data == {"password": secret}
    assert recovered.version == 1
    assert state(node) is EnumCircuitState.CLOSED
    written = await node.kv_write(ModelVaultKvWriteRequest(path=path, data={"password": secret}))
    assert written.version == 2
