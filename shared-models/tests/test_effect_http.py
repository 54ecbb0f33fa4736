"""One mapping of HTTP statuses, Retry-After and transport failures to typed errors."""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime
from email.utils import format_datetime
from uuid import uuid4

import pytest

from omnibase_infra.effect import error_for_status, error_for_transport, parse_retry_after
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

NOW = 1_700_000_000.0
CID = uuid4()


def _status(status: int, **kw: object) -> InfraError | None:
    return error_for_status(
        status,
        transport=EnumTransport.HTTP,
        operation="send",
        target="example:443",
        correlation_id=CID,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("  7 ", 7.0),
        ("120", 60.0),  # capped
        ("-5", None),  # negative delta-seconds is not a valid value
        ("soon", None),
        (format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True), 30.0),
        (format_datetime(datetime.fromtimestamp(NOW - 30, UTC), usegmt=True), 0.0),
        ("Tue, 14 Nov 2023 22:13:50", 30.0),  # a date without a zone is read as UTC
    ],
)
def test_retry_after_seconds_or_http_date_never_negative_capped(
    value: str | None, expected: float | None
) -> None:
    assert parse_retry_after(value, now=NOW, cap=60.0) == expected


def test_retry_after_defaults_to_the_wall_clock() -> None:
    far = format_datetime(datetime.fromtimestamp(4_000_000_000, UTC), usegmt=True)
    assert parse_retry_after(far) == 60.0


@pytest.mark.parametrize(
    ("status", "kind", "retryable", "not_sent"),
    [
        (301, InfraRejectedRequestError, False, False),
        (400, InfraRejectedRequestError, False, False),
        (401, InfraAuthenticationError, False, False),
        (403, InfraPermissionError, False, False),
        (404, InfraNotFoundError, False, False),
        (408, InfraUnavailableError, True, True),
        (409, InfraConflictError, False, False),
        (410, InfraNotFoundError, False, False),
        (412, InfraConflictError, False, False),
        (422, InfraRejectedRequestError, False, False),
        (429, InfraRateLimitedError, True, True),
        (500, InfraUnavailableError, True, False),
        (501, InfraRejectedRequestError, False, False),
        (502, InfraUnavailableError, True, False),
        (503, InfraUnavailableError, True, False),
        (505, InfraRejectedRequestError, False, False),
    ],
)
def test_every_status_class_maps_to_one_typed_error(
    status: int, kind: type[InfraError], retryable: bool, not_sent: bool
) -> None:
    error = _status(status, detail="x" * 500, service="vault")
    assert type(error) is kind
    assert error is not None
    assert (error.retryable, error.not_sent) == (retryable, not_sent)
    assert error.correlation_id == CID
    assert error.message.startswith(f"vault answered {status}: ")
    assert len(error.message) < 300  # the server's words are cut


def test_2xx_is_no_error_and_redirects_say_they_are_not_followed() -> None:
    assert _status(204) is None
    redirect = _status(302)
    assert isinstance(redirect, InfraRejectedRequestError)
    assert redirect.status_code == 302
    assert "not followed" in redirect.message
    assert _status(418, detail="") is not None


def test_429_and_503_with_retry_after_carry_the_wait() -> None:
    limited = _status(429, headers={"Retry-After": "3"})
    assert isinstance(limited, InfraRateLimitedError)
    assert limited.retry_after_seconds == 3.0
    busy = _status(503, headers={"retry-after": "500"}, retry_after_cap=20.0)
    assert isinstance(busy, InfraRateLimitedError)
    assert busy.retry_after_seconds == 20.0
    assert busy.details["status_code"] == 503
    bare = _status(429)
    assert isinstance(bare, InfraRateLimitedError)
    assert bare.retry_after_seconds is None


def _transport(exc: BaseException, **kw: object) -> InfraError:
    return error_for_transport(
        exc,
        transport=EnumTransport.HTTP,
        operation="send",
        target="example:443",
        correlation_id=CID,
        timeout_seconds=2.5,
        **kw,  # type: ignore[arg-type]
    )


class ClientConnectorError(OSError):
    """Named like aiohttp's connect-phase error (which is an OSError)."""


class ClientConnectionError(Exception):
    """Named like aiohttp's base of connection errors (not an OSError)."""


class ServerDisconnectedError(ClientConnectionError):
    pass


def test_transport_failures() -> None:
    timeout = _transport(TimeoutError())
    assert isinstance(timeout, InfraTimeoutError)
    assert timeout.retryable
    assert timeout.timeout_seconds == 2.5
    assert not timeout.not_sent
    tls = _transport(ssl.SSLCertVerificationError("bad cert"))
    assert isinstance(tls, InfraConnectionError)
    assert not tls.retryable
    refused = _transport(ConnectionRefusedError())
    assert isinstance(refused, InfraConnectionError)
    assert refused.not_sent
    assert refused.to_safe_dict()["not_sent"] is True
    assert InfraConnectionError.from_json(refused.to_json()).not_sent
    assert "not_sent" not in timeout.to_safe_dict()
    assert _transport(socket.gaierror()).not_sent
    assert _transport(ClientConnectorError()).not_sent
    dropped = _transport(ServerDisconnectedError())
    assert isinstance(dropped, InfraConnectionError)
    assert not dropped.not_sent
    garbage = _transport(ValueError("not json"))
    assert isinstance(garbage, InfraProtocolError)
    assert not garbage.retryable
    assert _transport(ConnectionResetError(), sent=False).not_sent
    assert not _transport(ConnectionRefusedError(), sent=True).not_sent
    same = InfraProtocolError("x", transport=EnumTransport.HTTP, operation="send")
    assert _transport(same) is same
