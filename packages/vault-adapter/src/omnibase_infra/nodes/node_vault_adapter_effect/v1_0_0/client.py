"""The transport: one hvac client on a bounded thread pool, both created on first use.

hvac is synchronous: every call runs on this pool (``max_workers``), never on the event
loop. hvac and requests are imported when the first call needs the client (in a worker
thread), not when the node is imported or built. The client takes only the credentials the
configuration names (see :func:`_new_hvac_client`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from pydantic import SecretStr

from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.models.vault import ModelVaultConfig
from omnibase_infra.redaction import register_secret

__all__ = ["VaultCall", "VaultClient"]

T = TypeVar("T")


def _new_hvac_client(config: ModelVaultConfig) -> Any:
    """An hvac client that uses only the credentials ``config`` names.

    hvac reads ``VAULT_TOKEN``, then ``~/.vault-token``, when ``token`` is None, and
    ``VAULT_CLIENT_CERT``/``VAULT_CLIENT_KEY`` when ``cert`` is None: "" and False mean
    "none" to it. requests adds ``~/.netrc`` credentials to a request when the session has
    no auth: an auth that adds nothing is set instead.
    """
    import hvac  # type: ignore[import-untyped]  # noqa: PLC0415 - import cost (see module doc)
    import requests  # noqa: PLC0415

    class NoAmbientAuth(requests.auth.AuthBase):
        def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
            return request

    client = hvac.Client(
        url=config.url,
        token=config.token.get_secret_value() if config.token else "",
        cert=False,
        namespace=config.namespace,
        verify=config.ca_cert_path or config.verify_tls,
        timeout=config.request_timeout_seconds,
    )
    client.adapter.session.auth = NoAmbientAuth()
    return client


class VaultClient:
    """hvac on a thread pool: ``await client.call(lambda hvac_client: ...)``."""

    __slots__ = ("_client", "_closed", "_config", "_executor", "_lock")

    def __init__(self, config: ModelVaultConfig) -> None:
        self._config = config
        self._client: Any = None
        self._lock = threading.Lock()
        # Threads start on the first call; the pool itself costs nothing until then.
        self._executor = ThreadPoolExecutor(
            max_workers=config.max_workers, thread_name_prefix="vault-adapter"
        )
        self._closed = False
        if config.token is not None:
            register_secret(config.token.get_secret_value())

    @property
    def hvac(self) -> Any:
        """The hvac client, created on first use."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = _new_hvac_client(self._config)
                client = self._client
        return client

    @property
    def token(self) -> str:
        """The token the node sends ("" when none)."""
        if self._client is None:
            return self._config.token.get_secret_value() if self._config.token else ""
        return str(self._client.token or "")

    def set_token(self, token: str) -> None:
        """Use ``token`` from now on (registered for redaction)."""
        register_secret(token)
        self.hvac.token = token

    def client_for(self, token: str) -> Any:
        """A new hvac client of the same server and settings that sends ``token`` (the
        caller closes its ``adapter``); created on the calling thread."""
        register_secret(token)
        return _new_hvac_client(self._config.model_copy(update={"token": SecretStr(token)}))

    def _invoke[T](self, fn: Callable[[Any], T]) -> T:
        return fn(self.hvac)

    async def call[T](self, fn: Callable[[Any], T]) -> T:
        """``fn(hvac_client)`` on the pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._invoke, fn)

    def close(self) -> None:
        """Release the pool (queued calls are cancelled) and the HTTP session; idempotent.
        A call after this fails (the pool refuses new work)."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.adapter.close()


class VaultCall(Protocol):
    """How a secrets engine runs one request's call: ``await call(request, fn)`` runs
    ``fn(hvac_client)`` on the pool as ``request``'s operation (the node's runner: deadline,
    retries, breaker, telemetry, typed errors) and returns what ``fn`` returned."""

    def __call__(self, request: ModelInfraRequest, fn: Callable[[Any], T], /) -> Awaitable[T]:
        """Run ``fn`` for ``request``."""
        ...
