"""The default failure classifier and the guard's ``CircuitOpenError``."""

from __future__ import annotations

import asyncio
import json
import pickle
from uuid import uuid4

import pytest

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    EnumInfraErrorCode,
    InfraAuthenticationError,
    InfraConfigurationError,
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
    InfraValidationError,
    error_to_safe_dict,
)
from omnibase_infra.resilience.breaker import (
    BreakerKey,
    CircuitOpenError,
    EnumCircuitState,
    is_breaker_failure,
)

KEY = BreakerKey(EnumTransport.VAULT, "vault:8200")
PG = EnumTransport.POSTGRES
VAULT = EnumTransport.VAULT


FAILURES: list[BaseException] = [
    InfraConnectionError("refused", transport=VAULT, operation="read"),
    InfraTimeoutError("slow", transport=VAULT, operation="read", timeout_seconds=1.0),
    InfraTimeoutError(  # an operation's spent deadline: not retryable, still the target's
        "deadline", transport=VAULT, operation="read", timeout_seconds=1.0, retryable=False
    ),
    InfraUnavailableError("sealed", transport=VAULT, operation="read", reason="sealed"),
    InfraRateLimitedError("429", transport=VAULT, operation="read"),
    InfraProtocolError("garbage", transport=VAULT, operation="read"),
    InfraRejectedRequestError("503", transport=VAULT, operation="read", status=503, retryable=True),
    InfraConnectionError("wrapper", transport=EnumTransport.INTERNAL, operation="read"),
    ConnectionResetError("reset"),
    TimeoutError(),
    OSError("socket"),
]

IGNORED: list[BaseException] = [
    InfraValidationError("bad input", transport=VAULT, operation="read"),
    InfraConflictError("cas", transport=VAULT, operation="write", current_version=3),
    InfraNotFoundError("no secret", transport=VAULT, operation="read"),
    InfraPermissionError("denied", transport=VAULT, operation="read"),
    InfraAuthenticationError("bad token", transport=VAULT, operation="read"),
    InfraRejectedRequestError("400", transport=VAULT, operation="read", status=400),
    InfraConfigurationError("no mount", transport=VAULT, operation="read"),
    InfraConnectionError("other system", transport=PG, operation="read"),
    InfraUnavailableError("nested", transport=VAULT, operation="read", reason="circuit_open"),
    ValueError("a bug in the caller"),
    asyncio.CancelledError(),
    KeyboardInterrupt(),
]


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
def test_transport_faults_are_failures(exc: BaseException) -> None:
    assert is_breaker_failure(exc, KEY) is True


@pytest.mark.parametrize("exc", IGNORED, ids=lambda e: type(e).__name__)
def test_caller_faults_and_other_systems_are_ignored(exc: BaseException) -> None:
    assert is_breaker_failure(exc, KEY) is False


# -- CircuitOpenError ------------------------------------------------------------------
def _error(**overrides: object) -> CircuitOpenError:
    values: dict[str, object] = {
        "transport": PG,
        "operation": "query",
        "target": "db:5432",
        "state": EnumCircuitState.OPEN,
        "retry_at": 1_700_000_030.0,
        "at": 1_700_000_000.0,
        "correlation_id": uuid4(),
    }
    values.update(overrides)
    return CircuitOpenError("circuit breaker postgres/db:5432 is open", **values)  # type: ignore[arg-type]


def test_circuit_open_error_is_the_taxonomys_unavailable_error() -> None:
    correlation_id = uuid4()
    error = _error(correlation_id=correlation_id)
    assert isinstance(error, InfraUnavailableError)
    assert isinstance(error, InfraError)
    assert error.reason == "circuit_open"
    assert error.infra_error_code is EnumInfraErrorCode.CIRCUIT_OPEN
    assert error.retryable is True
    assert (error.transport, error.operation, error.target) == (PG, "query", "db:5432")
    assert error.correlation_id == correlation_id
    assert error.retry_at == 1_700_000_030.0
    assert error.breaker_state == "open"
    assert error.timestamp is not None
    assert error.timestamp.timestamp() == 1_700_000_000.0
    assert str(error) == "[ONEX_INFRA_010_CIRCUIT_OPEN] circuit breaker postgres/db:5432 is open"
    assert error.args == ("circuit breaker postgres/db:5432 is open",)


def test_circuit_open_error_serialises_its_retry_time() -> None:
    error = _error(retry_at=None, state=EnumCircuitState.FORCED_OPEN)
    safe = error_to_safe_dict(error)
    assert safe["code"] == "ONEX_INFRA_010_CIRCUIT_OPEN"
    assert (safe["retry_at"], safe["breaker_state"], safe["reason"]) == (
        None,
        "forced_open",
        "circuit_open",
    )
    context = json.loads(error.to_json())["context"]
    assert context["retry_at"] is None
    rebuilt = CircuitOpenError.from_json(error.to_json())
    assert (rebuilt.retry_at, rebuilt.breaker_state) == (None, "forced_open")
    assert rebuilt.correlation_id == error.correlation_id


@pytest.mark.parametrize("touch_first", [True, False])
def test_circuit_open_error_pickles(touch_first: bool) -> None:
    error = _error()
    if touch_first:
        assert error.retry_at == 1_700_000_030.0
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert isinstance(copy, CircuitOpenError)
    assert (copy.retry_at, copy.target, copy.correlation_id) == (
        1_700_000_030.0,
        "db:5432",
        error.correlation_id,
    )


def test_circuit_open_error_repr_and_unknown_attributes() -> None:
    error = _error()
    assert repr(error).startswith("CircuitOpenError(code='ONEX_INFRA_010_CIRCUIT_OPEN'")
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = error.no_such_thing  # type: ignore[attr-defined]
    fresh = _error()
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = fresh.no_such_thing  # type: ignore[attr-defined]
    assert fresh.retry_at == 1_700_000_030.0  # built on the failed lookup, still correct
