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

KV reads (:meth:`AioConsul.read_kv`, the node's hot path) skip python-consul: the URL of a
plain read is built once per key (a ``yarl.URL`` already encoded, which aiohttp does not
parse again) and the JSON decoded here, which saves python-consul's per-call request
building, callback and response object.
"""

from __future__ import annotations

import json
from binascii import a2b_base64
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote, urlencode

import aiohttp
from consul import base  # type: ignore[import-untyped]  # python-consul ships no types
from multidict import CIMultiDictProxy
from yarl import URL

from omnibase_infra.models.consul import ModelConsulConfig
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.errors import ConsulStatusError
from omnibase_infra.redaction import register_secret

__all__ = ["AioConsul", "AioHttpTransport"]

type Params = Sequence[tuple[str, Any]] | Mapping[str, Any] | None

_KV_PATH: Final = "/v1/kv/"
_URL_CACHE_SIZE: Final = 1024
_POOL_LIMIT: Final = 100
_NO_CLIENT_TIMEOUT: Final = aiohttp.ClientTimeout()


def _without_token(params: Params) -> list[tuple[str, Any]]:
    items = params.items() if isinstance(params, Mapping) else (params or ())
    return [(key, value) for key, value in items if key != "token"]


class AioHttpTransport(base.HTTPClient):  # type: ignore[misc]
    """python-consul's ``HTTPClient`` interface on one shared ``aiohttp.ClientSession``."""

    def __init__(self, config: ModelConsulConfig) -> None:
        super().__init__(config.host, config.port, config.scheme, verify=config.verify_tls)
        # Built once, the session's headers; the token is masked by the redaction registry.
        self._headers: dict[str, str] = {}
        if not config.compress_responses:
            # Consul gzips every answer when the client accepts it (aiohttp's default does).
            self._headers["Accept-Encoding"] = "identity"
        if config.token is not None:
            token = config.token.get_secret_value()
            register_secret(token)
            self._headers["X-Consul-Token"] = token
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[tuple[str, tuple[tuple[str, str], ...]], URL] = {}

    def url(self, path: str, query: tuple[tuple[str, str], ...] = (), *, cache: bool = True) -> URL:
        """The request URL, percent-encoded once (python-consul's quoting); ``cache`` keeps
        it for the next call with the same path and query (not for blocking reads, whose
        index changes)."""
        key = (path, query)
        url = self._urls.get(key) if cache else None
        if url is None:
            text = self.base_uri + quote(path, safe="/:")
            url = URL(f"{text}?{urlencode(query)}" if query else text, encoded=True)
            if cache:
                if len(self._urls) >= _URL_CACHE_SIZE:
                    self._urls.clear()
                self._urls[key] = url
        return url

    async def send(
        self,
        method: str,
        url: URL | str,
        data: str | bytes | None = None,
        *,
        allow_404: bool = False,
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        """One request: status, headers and body; a failed status (but an allowed 404) is
        raised as ``ConsulStatusError``."""
        # Awaited rather than ``async with``: the same release, two coroutines fewer.
        resp = await self._client().request(method, url, data=data)
        try:
            body = await resp.read()
        finally:
            resp.release()
        status, headers = resp.status, resp.headers
        if status >= 400 and not (status == 404 and allow_404):
            raise ConsulStatusError(status, body.decode("utf-8", "replace"), headers)
        return status, headers, body

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop (aiohttp requires it).
        session = self._session
        if session is None or session.closed:
            session = self._session = aiohttp.ClientSession(
                # aiohttp's default pool (100 connections, no per-host limit), said outright.
                connector=aiohttp.TCPConnector(ssl=bool(self.verify), limit=_POOL_LIMIT),
                # No aiohttp timer per request: the node's runner bounds every attempt by
                # the operation's deadline (aiohttp's default 5-minute total would also cut
                # a blocking read waiting longer).
                timeout=_NO_CLIENT_TIMEOUT,
                # The agent's API sets no cookies; none is stored or sent.
                cookie_jar=aiohttp.DummyCookieJar(),
                # The session's own headers: merged per request more cheaply than given ones.
                headers=self._headers,
            )
        return session

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
        kv_read = method == "GET" and path.startswith(_KV_PATH)  # 404: no such key
        status, headers, body = await self.send(method, url, data, allow_404=kv_read)
        return callback(base.Response(status, headers, body.decode("utf-8")))

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

    async def read_kv(
        self,
        key: str,
        *,
        recurse: bool = False,
        keys: bool = False,
        separator: str | None = None,
        index: int = 0,
        wait: str | None = None,
    ) -> tuple[int, Any]:
        """``GET /v1/kv/<key>``: the index and Consul's JSON (entries with their ``Value``
        base64-decoded, or key names with ``keys``); ``None`` when nothing matches.
        ``index``/``wait`` make it a blocking read."""
        if not (index or recurse or keys or separator or self.dc):  # a plain read: hot path
            url = self.http.url(_KV_PATH + key)
        else:
            query: list[tuple[str, str]] = []
            if index:
                query.append(("index", str(index)))
                if wait:
                    query.append(("wait", wait))
            if recurse:
                query.append(("recurse", "1"))
            if keys:
                query.append(("keys", "1"))
            if separator:
                query.append(("separator", separator))
            if self.dc:
                query.append(("dc", self.dc))
            url = self.http.url(_KV_PATH + key, tuple(query), cache=not index)
        status, headers, body = await self.http.send("GET", url, allow_404=True)
        new_index = int(headers.get("X-Consul-Index", 0))
        if status == 404:
            return new_index, None
        data = json.loads(body)
        if not keys:
            for item in data:
                value = item.get("Value")
                if value is not None:
                    item["Value"] = a2b_base64(value)
        return new_index, data

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
