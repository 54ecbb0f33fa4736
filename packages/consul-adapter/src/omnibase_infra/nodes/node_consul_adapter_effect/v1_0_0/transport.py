"""An asyncio HTTP transport on aiohttp for python-consul's ``consul.base.Consul``.

python-consul builds each request and parses each response through a callback; the
transport only moves bytes. ``consul.aio`` (its own asyncio transport) uses
``asyncio.coroutine``, gone since Python 3.12, so this one replaces it: every call returns
a coroutine and nothing blocks the event loop.

The ACL token travels in the ``X-Consul-Token`` header, never in the query string
(python-consul would put it there), so it cannot end up in a URL, a log or an error.
HTTP failures become the taxonomy's errors before python-consul's callback sees them.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import aiohttp
from consul import base  # type: ignore[import-untyped]  # python-consul ships no types

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConnectionError,
    InfraError,
    InfraNotFoundError,
    InfraPermissionError,
    InfraRateLimitedError,
    InfraRejectedRequestError,
    InfraUnavailableError,
)
from omnibase_infra.models.consul import ModelConsulConfig
from omnibase_infra.redaction import register_secret

__all__ = ["AioConsul", "AioHttpTransport", "CallContext", "call_context", "current_call"]

TRANSPORT = EnumTransport.CONSUL
type Params = Sequence[tuple[str, Any]] | Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class CallContext:
    """What errors raised by the transport name: the operation and the caller's id."""

    operation: str
    correlation_id: UUID | None
    # Reads of keys answer 404 for "no such key": python-consul turns it into None.
    allow_404: bool = False


_OUTSIDE_CLIENT = CallContext("request", None)
current_call: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "consul_current_call", default=None
)


def call_context() -> CallContext:
    """The operation being run (``request`` when python-consul is used directly)."""
    return current_call.get() or _OUTSIDE_CLIENT


def _without_token(params: Params) -> list[tuple[str, Any]]:
    items = params.items() if isinstance(params, Mapping) else (params or ())
    return [(key, value) for key, value in items if key != "token"]


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        return float(headers.get("Retry-After", ""))
    except ValueError:
        return None


# Consul 1.8 answers 500 (not 404) for an unknown check or service on the agent endpoints.
_UNKNOWN_ON_AGENT = re.compile(
    r"does not have associated TTL|Unknown (?:check|service)(?: ID)?\b", re.IGNORECASE
)


def status_error(status: int, body: str, headers: Mapping[str, str], target: str) -> InfraError:
    """The taxonomy's error for a failed HTTP status."""
    ctx = call_context()
    common: dict[str, Any] = {
        "transport": TRANSPORT,
        "operation": ctx.operation,
        "target": target,
        "correlation_id": ctx.correlation_id,
    }
    detail = body.strip()[:200]
    message = f"consul answered {status}: {detail}" if detail else f"consul answered {status}"
    if status == 404 or (status == 500 and _UNKNOWN_ON_AGENT.search(body)):
        return InfraNotFoundError(message, **common)
    if status == 401:
        return InfraAuthenticationError(message, **common)
    if status == 403:
        return InfraPermissionError(message, **common)
    if status == 429:
        return InfraRateLimitedError(message, retry_after_seconds=_retry_after(headers), **common)
    if status >= 500:
        return InfraUnavailableError(message, reason="server_error", **common)
    return InfraRejectedRequestError(message, status=status, **common)


class AioHttpTransport(base.HTTPClient):  # type: ignore[misc]
    """python-consul's ``HTTPClient`` interface on one shared ``aiohttp.ClientSession``."""

    def __init__(self, config: ModelConsulConfig) -> None:
        super().__init__(config.host, config.port, config.scheme, verify=config.verify_tls)
        self._target = config.target
        # Built once (not on every request); the token is masked by the redaction registry.
        self._headers: dict[str, str] = {}
        if config.token is not None:
            token = config.token.get_secret_value()
            register_secret(token)
            self._headers["X-Consul-Token"] = token
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop (aiohttp requires it).
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=bool(self.verify))
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def request(
        self,
        callback: Callable[[base.Response], Any],
        method: str,
        path: str,
        params: Params = None,
        data: str | bytes | None = None,
    ) -> Any:
        """Send one request and hand the response to python-consul's ``callback``."""
        url = self.uri(path, _without_token(params) if params else None)
        try:
            async with self._client().request(
                method, url, data=data, headers=self._headers
            ) as resp:
                body = await resp.text(encoding="utf-8")
                status, resp_headers = resp.status, resp.headers
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError) as exc:
            ctx = call_context()
            raise InfraConnectionError(
                f"cannot reach consul: {type(exc).__name__}",
                transport=TRANSPORT,
                operation=ctx.operation,
                target=self._target,
                correlation_id=ctx.correlation_id,
            ) from exc
        if status >= 400 and not (status == 404 and call_context().allow_404):
            raise status_error(status, body, resp_headers, self._target)
        return callback(base.Response(status, resp_headers, body))

    def get(
        self, callback: Callable[[base.Response], Any], path: str, params: Params = None
    ) -> Any:
        return self.request(callback, "GET", path, params)

    def put(
        self,
        callback: Callable[[base.Response], Any],
        path: str,
        params: Params = None,
        data: str | bytes | None = "",
    ) -> Any:
        return self.request(callback, "PUT", path, params, data)

    def delete(
        self, callback: Callable[[base.Response], Any], path: str, params: Params = None
    ) -> Any:
        return self.request(callback, "DELETE", path, params)

    def post(
        self,
        callback: Callable[[base.Response], Any],
        path: str,
        params: Params = None,
        data: str | bytes | None = "",
    ) -> Any:
        return self.request(callback, "POST", path, params, data)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class AioConsul(base.Consul):  # type: ignore[misc]
    """``consul.base.Consul`` whose every call returns a coroutine (see module docstring).

    Host, port, scheme and token come from ``config`` only: python-consul's own reading of
    ``CONSUL_HTTP_ADDR``/``CONSUL_HTTP_TOKEN``/``CONSUL_HTTP_SSL`` is overridden.
    """

    http: AioHttpTransport

    def __init__(self, config: ModelConsulConfig) -> None:
        self._config = config
        super().__init__(host=config.host, port=config.port, dc=config.datacenter)
        # The transport sends the token as a header; python-consul must not add it to URLs.
        self.token = None

    def connect(
        self, host: str, port: int, scheme: str, verify: bool = True, cert: Any = None
    ) -> AioHttpTransport:
        return AioHttpTransport(self._config)
