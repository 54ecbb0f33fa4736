"""``NodeWebhookEffect``: the outbox API of Standard Webhooks delivery, an EFFECT node.

What callers use: :meth:`~NodeWebhookEffect.send` (deliver now, within the operation's
deadline) and :meth:`~NodeWebhookEffect.enqueue` (deliver in the background on the whole
retry schedule), ``drain`` after a restart, ``replay`` of a dead letter, ``dead_letters``,
``enable_endpoint``. A message is checked (size, JSON, SSRF, endpoint not disabled) and
**committed to the outbox before its first attempt**; the delivery engine
(:mod:`~omnibase_infra.nodes.node_webhook_effect.v1_0_0.delivery`) takes it from there.

Semantics: **at least once, with a stable ``webhook-id``.** Every attempt of a message, in
this process or in another one after a crash (``drain``), carries the same ``webhook-id``
and the same body bytes; a crash between the receiver's answer and the outbox recording it
re-delivers the message. Receivers de-duplicate on ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from opentelemetry import metrics, trace
from pydantic import SecretStr

from omnibase_infra.effect import InfraEffectNode, operation
from omnibase_infra.effect.http import parse_retry_after
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraUnavailableError, InfraValidationError
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.models.webhook import (
    ModelWebhookConfig,
    ModelWebhookDeadLetter,
    ModelWebhookDeliveryResult,
    ModelWebhookSendRequest,
)
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.config import (
    ALLOW_HOSTS_ENV,
    ALLOW_NETWORKS_ENV,
    ENV_NAME,
    NAT64_PREFIXES_ENV,
    OUTBOX_PATH_ENV,
    env_config,
)
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.delivery import (
    DeliveryEngine,
    SignerBook,
    endpoint_host,
    endpoint_target,
    result_of,
)
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.ssrf import PinnedResolver, SsrfGuard
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.store import (
    OutboxStore,
    SqliteOutboxStore,
    StoredMessage,
)
from omnibase_infra.observability import semconv
from omnibase_infra.observability.telemetry import OperationTelemetry
from omnibase_infra.resilience.breaker import BreakerRegistry

__all__ = [
    "ALLOW_HOSTS_ENV",
    "ALLOW_NETWORKS_ENV",
    "NAT64_PREFIXES_ENV",
    "OUTBOX_PATH_ENV",
    "NodeWebhookEffect",
    "env_config",
    "parse_retry_after",
]

_TRANSPORT = EnumTransport.HTTP
_OP = "send"

logger = logging.getLogger("omnibase_infra.nodes.node_webhook_effect")


class NodeWebhookEffect(InfraEffectNode):
    """Webhook EFFECT node: store, then sign, deliver, retry, dead-letter, replay.

    ``config`` defaults to the environment (``OMNIBASE_INFRA_WEBHOOK_<FIELD>``, see
    :func:`env_config`). ``store`` defaults to :class:`SqliteOutboxStore` at
    ``config.outbox_path`` (in memory when None). ``endpoint_secrets`` (URL → secrets) lets
    a restarted process re-sign the pending messages it finds; secrets are never written
    to the store. ``breakers`` shares the per-endpoint breakers (keyed ``http``,
    ``host:port``); ``policies`` / ``policy_overrides`` / ``record_sink`` as for every
    effect node (the contract's ``send`` policy: deadline, idempotency, breaker).
    """

    node_name = "node_webhook_effect"
    env_name = ENV_NAME
    transport = _TRANSPORT
    contract_package = "omnibase_infra.nodes.node_webhook_effect.v1_0_0"

    def __init__(
        self,
        container: ModelONEXContainer | None = None,
        *,
        config: ModelWebhookConfig | None = None,
        store: OutboxStore | None = None,
        endpoint_secrets: Mapping[str, Sequence[SecretStr]] | None = None,
        breakers: BreakerRegistry | None = None,
        telemetry: OperationTelemetry | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **platform: Any,
    ) -> None:
        self._config = config if config is not None else env_config()
        self._store: OutboxStore = (
            store
            if store is not None
            else SqliteOutboxStore(self._config.outbox_path or ":memory:")
        )
        self._guard = SsrfGuard(
            self._config.allow_networks, self._config.allow_hosts, self._config.nat64_prefixes
        )
        self._signers = SignerBook(endpoint_secrets or {}, clock)
        super().__init__(
            container,
            target="webhook endpoints",
            telemetry=telemetry
            or OperationTelemetry.for_client(
                semconv.http_client("webhook", method="POST"),
                scope=logger.name,
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
            ),
            logger=logger,
            breakers=breakers,
            **platform,
        )
        self._engine = DeliveryEngine(
            self,
            config=self._config,
            store=self._store,
            guard=self._guard,
            signers=self._signers,
            clock=clock,
            sleep=sleep,
        )
        self._tasks: set[asyncio.Task[ModelWebhookDeliveryResult]] = set()

    def __repr__(self) -> str:
        return f"NodeWebhookEffect(store={self._store!r})"

    @property
    def config(self) -> ModelWebhookConfig:
        return self._config

    @property
    def store(self) -> OutboxStore:
        """The outbox and dead-letter store."""
        return self._store

    @property
    def breakers(self) -> BreakerRegistry:
        """The per-endpoint circuit breakers (keyed ``http``, ``host:port``)."""
        registry = super().breakers
        if registry is None:  # the contract turned the breaker off
            raise AttributeError("this node's contract turns the circuit breaker off")
        return registry

    async def _close_resources(self) -> None:
        """Cancel background deliveries (they stay pending), close HTTP and the store."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._engine.close()
        await self._store.close()

    # -- accepting messages ------------------------------------------------------------

    def _refused(self, request: ModelWebhookSendRequest, message: str) -> InfraValidationError:
        return InfraValidationError(
            message,
            transport=_TRANSPORT,
            operation=_OP,
            target=endpoint_target(request.url),
            correlation_id=request.correlation_id,
        )

    def _body(self, request: ModelWebhookSendRequest) -> bytes:
        if request.body is not None:
            body = request.body
        else:
            try:
                body = json.dumps(
                    request.payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False
                ).encode()
            except (TypeError, ValueError) as exc:
                raise self._refused(
                    request, f"payload is not JSON-serialisable: {type(exc).__name__}"
                ) from None
        if len(body) > self._config.max_payload_bytes:
            raise self._refused(
                request,
                f"payload of {len(body)} bytes exceeds max_payload_bytes "
                f"({self._config.max_payload_bytes})",
            )
        return body

    async def _accept(self, request: ModelWebhookSendRequest) -> StoredMessage:
        """Check the message and commit it to the outbox (the state it is in when it was
        already there: sending a known ``message_id`` again does not duplicate it)."""
        body = self._body(request)
        host = endpoint_host(request.url)
        if not self._guard.check_literal(host, _OP):
            # Fail fast, before storing: the resolver checks again at every connection.
            port = urlsplit(request.url).port or 0
            await PinnedResolver(self._guard).resolve(host, port, socket.AF_UNSPEC)
        disabled = self._engine.known_disabled(request.url)
        if disabled is None:
            disabled = await self._engine.is_disabled(request.url)
        if disabled:
            raise InfraUnavailableError(
                "endpoint is disabled (it answered 410 Gone); enable it to send again",
                transport=_TRANSPORT,
                operation=_OP,
                target=endpoint_target(request.url),
                correlation_id=request.correlation_id,
                reason="endpoint_disabled",
                retryable=False,
            )
        headers = {"content-type": "application/json", **request.headers}
        message = StoredMessage(
            message_id=request.message_id,
            url=request.url,
            event_type=request.event_type,
            body=body,
            headers=headers,
        )
        self._signers.remember(request.message_id, request.url, request.secrets)
        if not await self._store.add(message):
            stored = await self._store.get(request.message_id)
            assert stored is not None  # noqa: S101 - add() said it exists
            return stored
        return message

    @operation(ModelWebhookSendRequest)
    async def send(self, request: ModelWebhookSendRequest) -> ModelWebhookDeliveryResult:
        """Store, then deliver now with retries within the operation's deadline (the
        request's ``timeout_seconds`` when set, else the contract's ``send`` timeout).

        Returns the outcome: delivered, or dead-lettered (retries exhausted, a status that
        is not retried, 410, the breaker open, or no time left for the next attempt).
        Raises only when the message is refused before it is stored (validation, SSRF,
        disabled endpoint) or the store fails.
        """
        message = await self._accept(request)
        if message.status != "pending":
            self._signers.forget(message.message_id)
            return result_of(message, message.attempts, request.correlation_id, 0.0)
        return await self._engine.deliver(message, request, background=False)

    async def enqueue(self, request: ModelWebhookSendRequest) -> str:
        """Store and deliver in the background on the full schedule; returns the message id
        (once it is committed)."""
        message = await self._accept(request)
        if message.status == "pending":
            self._spawn(message, ModelInfraRequest(operation=_OP, correlation=request.correlation))
        return message.message_id

    def _spawn(self, message: StoredMessage, request: ModelInfraRequest | None) -> None:
        task = asyncio.create_task(self._engine.deliver(message, request, background=True))
        self._tasks.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[ModelWebhookDeliveryResult]) -> None:
        self._tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:  # the outbox failed: the message stays pending for drain()
            logger.warning("webhook background delivery failed: %s", exc)

    async def wait_idle(self) -> None:
        """Wait until every background delivery finished."""
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.wait(pending)

    async def drain(self) -> list[ModelWebhookDeliveryResult]:
        """Deliver every pending message of the store (after a restart: same ``webhook-id``).

        Messages whose secrets this process does not know (neither sent from here nor in
        ``endpoint_secrets``) stay pending and are logged.
        """
        runnable: list[StoredMessage] = []
        for message in await self._store.pending():
            if message.message_id in self._engine.in_flight:
                continue  # already being delivered by this node
            if self._signers.for_message(message) is None:
                logger.warning(
                    "webhook %s: no secret known for its endpoint; left pending",
                    message.message_id,
                )
                continue
            runnable.append(message)
        return list(
            await asyncio.gather(
                *(self._engine.deliver(m, None, background=True) for m in runnable)
            )
        )

    async def replay(
        self, message_id: str, secrets: Sequence[SecretStr] | None = None
    ) -> ModelWebhookDeliveryResult:
        """Move a dead letter back to pending and deliver it again (same ``webhook-id``).

        ``secrets`` sign it; by default the endpoint's known secrets do.
        """
        current = await self._store.get(message_id)
        if current is not None and secrets:
            self._signers.remember(message_id, current.url, secrets)
        if current is not None and self._signers.for_message(current) is None:
            raise InfraValidationError(
                "no signing secret known for this message's endpoint; pass secrets=",
                transport=_TRANSPORT,
                operation="replay",
                target=endpoint_target(current.url),
            )
        message = await self._store.replay(message_id)
        return await self._engine.deliver(message, None, background=True)

    async def dead_letters(self, limit: int = 100) -> list[ModelWebhookDeadLetter]:
        """The most recent dead letters with their attempt history."""
        return await self._store.dead_letters(limit)

    async def enable_endpoint(self, url: str) -> None:
        """Allow sending to an endpoint that was disabled by a 410."""
        await self._engine.enable(url)
