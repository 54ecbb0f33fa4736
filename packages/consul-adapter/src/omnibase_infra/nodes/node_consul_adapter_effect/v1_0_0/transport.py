"""An asyncio HTTP transport on aiohttp for python-consul's ``consul.base.Consul``.

python-consul builds each request and parses each response through a callback; the
transport only moves bytes. ``consul.aio`` (its own asyncio transport) uses
``asyncio.coroutine``, gone since Python 3.12, so this one replaces it: every call returns
a coroutine and nothing blocks the event loop.

This module imports aiohttp and python-consul (and through it requests): the node imports
it when it first talks to the agent, never at import time.

The ACL token travels in the ``X-Consul-Token`` header, never in the query string
(python-consul would put it there), so it cannot end up in a URL, a log or an error.
A failed HTTP status is raised as :class:`~.errors.ConsulStatusError` before python-consul's
callback sees it (a 404 of a KV read excepted: python-consul turns it into "no such key"),
and aiohttp's exceptions pass through: the node's error mapper makes both typed errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
from consul import base  # type: ignore[import-untyped]  # python-consul ships no types

from omnibase_infra.models.consul import ModelConsulConfig
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.errors import ConsulStatusError
from omnibase_infra.redaction import register_secret

__all__ = ["AioConsul", "AioHttpTransport"]

type Params = Sequence[tuple[str, Any]] | Mapping[str, Any] | None

_KV_PATH = "/v1/kv/"


def _without_token(params: Params) -> list[tuple[str, Any]]:
    items = params.items() if isinstance(params, Mapping) else (params or ())
    return [(key, value) for key, value in items if key != "token"]


class AioHttpTransport(base.HTTPClient):  # type: ignore[misc]
    """python-consul's ``HTTPClient`` interface on one shared ``aiohttp.ClientSession``."""

    def __init__(self, config: ModelConsulConfig) -> None:
        super().__init__(config.host, config.port, config.scheme, verify=config.verify_tls)
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
        async with self._client().request(method, url, data=data, headers=self._headers) as resp:
            body = await resp.text(encoding="utf-8")
            status, headers = resp.status, resp.headers
        if status >= 400 and not (status == 404 and method == "GET" and path.startswith(_KV_PATH)):
            raise ConsulStatusError(status, body, headers)
        return callback(base.Response(status, headers, body))

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

    # python-consul 1.1 cannot send a service's Meta or several checks, nor a session's
    # Behavior: these two requests carry the node's own JSON bodies.

    async def register_service(self, body: Mapping[str, Any]) -> bool:
        """``PUT /v1/agent/service/register`` with ``body`` as it is."""
        registered: bool = await self.http.put(
            base.CB.bool(), "/v1/agent/service/register", data=json.dumps(body)
        )
        return registered

    async def create_session(self, body: Mapping[str, Any]) -> str:
        """``PUT /v1/session/create`` with ``body`` as it is; the new session's id."""
        params = [("dc", self.dc)] if self.dc else None
        session_id: str = await self.http.put(
            base.CB.json(is_id=True), "/v1/session/create", params=params, data=json.dumps(body)
        )
        return session_id
