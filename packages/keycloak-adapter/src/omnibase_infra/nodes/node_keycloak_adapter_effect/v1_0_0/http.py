"""The HTTP transport of the Keycloak node: one aiohttp session, client authentication, and
one request per attempt with its answer or its typed error.

aiohttp is imported when the session is created (the first request), not when the node is
imported. Every request sent is counted by endpoint (:attr:`KeycloakHttp.network_requests`,
an aiohttp trace hook), and its method, URL and status go on the current span (the
operation's, which the runner keeps current). Redirects are never followed. Failures below
HTTP are left to the node's error mapper (the runner calls it); a non-2xx answer becomes the
error that ``error_for`` makes of it.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.parse
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from omnibase_infra.effect.runner import Attempt
from omnibase_infra.errors import InfraConfigurationError, InfraError, InfraProtocolError
from omnibase_infra.models.keycloak import ModelKeycloakConfig
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import TRANSPORT
from omnibase_infra.observability import semconv

if TYPE_CHECKING:
    import aiohttp

__all__ = ["ErrorForAnswer", "HttpAnswer", "KeycloakHttp"]


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A 2xx answer: its status, its JSON body (None when empty) and its ``Location``."""

    status: int
    body: Any
    location: str | None = None


type ErrorForAnswer = Callable[[int, Any, Mapping[str, str], Attempt], InfraError]
"""Turns a non-2xx answer (status, parsed JSON body or None, headers) into its error."""


class KeycloakHttp:
    """One issuer's HTTP session (see the module docstring).

    ``endpoint_name(url)`` names a URL for :attr:`network_requests` (``token``, ``jwks``,
    ``admin``, ...).
    """

    def __init__(
        self,
        config: ModelKeycloakConfig,
        *,
        target: str,
        endpoint_name: Callable[[str], str],
    ) -> None:
        self._config = config
        self._target = target
        self._endpoint_name = endpoint_name
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self.network_requests: Counter[str] = Counter()

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self, operation: str) -> None:
        """Refuse work once closed (before anything is sent)."""
        if self._closed:
            raise InfraConfigurationError(
                "the node is closed", transport=TRANSPORT, operation=operation, target=self._target
            )

    def _http_session(self, operation: str) -> aiohttp.ClientSession:
        self.check_open(operation)
        if self._session is None:
            import aiohttp  # noqa: PLC0415 - the transport's library, loaded when first used

            ssl_setting: ssl.SSLContext | bool = self._config.verify_tls
            if self._config.ca_cert_path:
                ssl_setting = ssl.create_default_context(cafile=self._config.ca_cert_path)
            hooks = aiohttp.TraceConfig()
            hooks.on_request_start.append(self._count_request)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl_setting),
                timeout=aiohttp.ClientTimeout(total=self._config.request_timeout_seconds),
                trace_configs=[hooks],
                trust_env=False,
            )
        return self._session

    async def _count_request(self, _session: object, _context: object, params: Any) -> None:
        self.network_requests[self._endpoint_name(str(params.url))] += 1

    def client_auth(self, form: dict[str, str]) -> dict[str, str]:
        """Client authentication: HTTP Basic (RFC 6749 §2.3.1) or form fields; a public
        client (no secret) sends only its ``client_id``. Returns the headers to send."""
        client_id, secret = self._config.client_id, self._config.client_secret
        if secret is None:
            form["client_id"] = client_id
            return {}
        if self._config.client_auth_method == "client_secret_post":
            form["client_id"] = client_id
            form["client_secret"] = secret.get_secret_value()
            return {}
        quote = urllib.parse.quote_plus
        pair = f"{quote(client_id)}:{quote(secret.get_secret_value())}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}

    async def send(
        self,
        attempt: Attempt,
        method: str,
        url: str,
        *,
        error_for: ErrorForAnswer,
        form: Mapping[str, str] | None = None,
        json_body: object = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        """One request of ``attempt``: the 2xx answer, or the error ``error_for`` makes of
        any other status. A 2xx body that is not JSON is an ``InfraProtocolError``."""
        session = self._http_session(attempt.operation)
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes(semconv.url_attributes(url))
            span.set_attribute(semconv.HTTP_REQUEST_METHOD, method)
        async with session.request(
            method,
            url,
            data=form,
            json=json_body,
            headers=dict(headers or {}),
            params=params,
            allow_redirects=False,
        ) as response:
            raw = await response.read()
            status = response.status
            answer_headers: Mapping[str, str] = response.headers  # case-insensitive
        if span.is_recording():
            span.set_attribute(semconv.HTTP_RESPONSE_STATUS_CODE, status)
        try:
            body = json.loads(raw) if raw.strip() else None
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            if 200 <= status < 300:
                raise InfraProtocolError(
                    f"{attempt.operation}: the server answered HTTP {status} with a body that "
                    "is not JSON",
                    transport=TRANSPORT,
                    operation=attempt.operation,
                    target=self._target,
                    correlation_id=attempt.correlation_id,
                ) from None
            body = None
        if not 200 <= status < 300:
            raise error_for(status, body, answer_headers, attempt)
        return HttpAnswer(status, body, answer_headers.get("Location"))

    async def close(self) -> None:
        """Close the session; idempotent."""
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
