"""The delivery engine: attempts, retries, dead letters, for messages already in the outbox.

One delivery is one ``send`` operation of the platform's runner
(:meth:`~omnibase_infra.effect.node.InfraEffectNode.run` against the endpoint's
``host:port``): one deadline, the endpoint's circuit breaker per attempt, retries of
transient failures on :class:`~omnibase_infra.models.webhook.ModelWebhookRetryPolicy`'s
schedule with ``Retry-After`` honoured (capped by ``max_retry_after_seconds``), one span.
An attempt signs the stored bytes afresh (same ``webhook-id``, new timestamp) with every
secret known for the message, POSTs them without following redirects to an address the
SSRF guard checked, and maps the answer through :mod:`omnibase_infra.effect.http`
(2xx delivers; connection errors, timeouts, 408, 429, 5xx other than 501/505 are
retried; 410 disables the endpoint; anything else dead-letters at once). Every attempt
is appended to the message's history; the final status is written with the last one.

A background delivery (``enqueue``, ``drain``, ``replay``) rides out an open breaker: a
refusal counts as an attempt of the schedule and the next one follows the schedule's
delay, so an endpoint that is down for hours does not dead-letter the queue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit
from uuid import UUID

from opentelemetry import trace
from pydantic import BaseModel, SecretStr

from omnibase_infra.effect.http import error_for_status, error_for_transport
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraError,
    InfraNotFoundError,
    InfraValidationError,
)
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.models.webhook import (
    EnumWebhookOutcome,
    ModelWebhookAttempt,
    ModelWebhookConfig,
    ModelWebhookDeliveryResult,
    ModelWebhookRetryPolicy,
)
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.ratelimit import TokenBucket
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.signing import WebhookSigner
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.ssrf import PinnedResolver, SsrfGuard
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.store import (
    MessageStatus,
    OutboxStore,
    SqliteOutboxStore,
    StoredMessage,
)
from omnibase_infra.observability import semconv
from omnibase_infra.resilience.breaker import CircuitOpenError

if TYPE_CHECKING:
    import aiohttp

    from omnibase_infra.effect import Attempt, InfraEffectNode

__all__ = ["DeliveryEngine", "SignerBook", "endpoint_host", "endpoint_target", "result_of"]

_TRANSPORT: Final = EnumTransport.HTTP
_OP: Final = "send"
_CACHE_LIMIT: Final = 1024
_MESSAGE_ID: Final = "webhook.message_id"
_GONE: Final = 410

logger = logging.getLogger("omnibase_infra.nodes.node_webhook_effect")


@functools.lru_cache(maxsize=4096)
def endpoint_host(url: str) -> str:
    """The host of an endpoint URL (checked by the SSRF guard)."""
    return urlsplit(url).hostname or ""


@functools.lru_cache(maxsize=4096)
def endpoint_target(url: str) -> str:
    """``host:port`` of an endpoint URL: the breaker and rate-limit key."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _construct[M: BaseModel](model: type[M], fields: dict[str, Any]) -> M:
    """``model`` from values this node produced, every field given: what pydantic's
    ``model_construct`` does without its per-field default look-ups (tens of
    microseconds per delivery on the hot path)."""
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", fields)
    object.__setattr__(instance, "__pydantic_fields_set__", set(fields))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


def _bounded[K, V](cache: dict[K, V]) -> dict[K, V]:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    return cache


class SignerBook:
    """Which secrets sign which message: the message's own (sent from this process), the
    endpoint's configured ``endpoint_secrets``, else the latest sent to that URL.
    Secrets live only here, in memory; the outbox never stores them."""

    def __init__(
        self, endpoint_secrets: Mapping[str, Sequence[SecretStr]], clock: Callable[[], float]
    ) -> None:
        self._clock = clock
        self._endpoints = {
            url: WebhookSigner(secrets, clock=clock) for url, secrets in endpoint_secrets.items()
        }
        self._messages: dict[str, WebhookSigner] = {}
        self._recent: dict[str, WebhookSigner] = {}
        self._by_secrets: dict[tuple[str, ...], WebhookSigner] = {}

    def signer(self, secrets: Sequence[SecretStr]) -> WebhookSigner:
        """One signer per distinct secret list (decoding and registering them once)."""
        key = tuple(secret.get_secret_value() for secret in secrets)
        signer = self._by_secrets.get(key)
        if signer is None:
            signer = _bounded(self._by_secrets)[key] = WebhookSigner(secrets, clock=self._clock)
        return signer

    def remember(self, message_id: str, url: str, secrets: Sequence[SecretStr]) -> None:
        """``secrets`` sign ``message_id``; the latest secrets sent to ``url`` also sign its
        replays and recoveries in this process."""
        signer = self.signer(secrets)
        self._messages[message_id] = signer
        self._recent[url] = signer

    def forget(self, message_id: str) -> None:
        self._messages.pop(message_id, None)

    def for_message(self, message: StoredMessage) -> WebhookSigner | None:
        return (
            self._messages.get(message.message_id)
            or self._endpoints.get(message.url)
            or self._recent.get(message.url)
        )


class _Delivery:
    """One message's delivery: its history, the last status, the attempt in flight."""

    __slots__ = ("attempts", "in_flight", "message", "status_code", "unsaved")

    def __init__(self, message: StoredMessage) -> None:
        self.message = message
        self.attempts: list[ModelWebhookAttempt] = list(message.attempts)
        self.status_code: int | None = None
        self.in_flight: tuple[datetime, float] | None = None
        # A successful attempt is written with the final status, in one transaction.
        self.unsaved: ModelWebhookAttempt | None = None


class DeliveryEngine:
    """Delivers stored messages (see the module docstring) for ``node``, whose runner,
    breakers and telemetry it uses."""

    def __init__(
        self,
        node: InfraEffectNode,
        *,
        config: ModelWebhookConfig,
        store: OutboxStore,
        guard: SsrfGuard,
        signers: SignerBook,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._node = node
        self._config = config
        self._store = store
        self._guard = guard
        self._signers = signers
        self._clock = clock
        self._sleep = sleep
        # Imported with the transport, when the node is built: importing the node stays
        # cheap, and no delivery pays the import inside its deadline.
        import aiohttp  # noqa: PLC0415

        self._aiohttp = aiohttp
        self._session: aiohttp.ClientSession | None = None
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self._buckets: dict[str, TokenBucket] = {}
        self._policies: dict[int, ModelWebhookRetryPolicy] = {}
        self._disabled: dict[str, bool] = {}
        self.in_flight: set[str] = set()

    # -- endpoints -----------------------------------------------------------------------

    def known_disabled(self, url: str) -> bool | None:
        """Whether ``url`` is disabled, when already known in memory (else None)."""
        return self._disabled.get(url)

    async def is_disabled(self, url: str) -> bool:
        """Whether ``url`` answered 410 Gone: read from the store once per URL, then kept in
        memory (this node's own 410s and :meth:`enable` update it)."""
        disabled = self._disabled.get(url)
        if disabled is None:
            disabled = _bounded(self._disabled)[url] = await self._store.is_disabled(url)
        return disabled

    async def enable(self, url: str) -> None:
        await self._store.enable_endpoint(url)
        self._disabled[url] = False

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None:
            aiohttp = self._aiohttp
            connector = aiohttp.TCPConnector(
                resolver=PinnedResolver(self._guard),  # AbstractResolver in shape
                limit=self._config.max_concurrency,
                ttl_dns_cache=10,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=self._config.total_timeout_seconds,
                    sock_connect=self._config.connect_timeout_seconds,
                ),
                trust_env=False,  # no proxy from the environment: the checked address is dialled
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _bucket(self, target: str) -> TokenBucket | None:
        rate = self._config.rate_limit_per_second
        if rate is None:
            return None
        bucket = self._buckets.get(target)
        if bucket is None:
            bucket = self._buckets[target] = TokenBucket(
                rate, self._config.rate_limit_burst, sleep=self._sleep
            )
        return bucket

    def _policy(self, attempts_done: int) -> ModelWebhookRetryPolicy:
        """The schedule left for a message that already made ``attempts_done`` attempts."""
        policy = self._policies.get(attempts_done)
        if policy is None:
            policy = _bounded(self._policies)[attempts_done] = self._config.retry_policy.remaining(
                attempts_done
            )
        return policy

    def _background_deadline(self, policy: ModelWebhookRetryPolicy) -> float:
        """A deadline that the whole schedule fits in: every delay at its longest (jitter,
        ``Retry-After``), every attempt at its timeout, a minute of slack."""
        config = self._config
        delays = sum(
            max(policy.delay_cap(n) * (1 + policy.jitter_fraction), config.max_retry_after_seconds)
            for n in range(1, policy.max_attempts)
        )
        return delays + policy.max_attempts * (config.total_timeout_seconds + 1) + 60

    # -- delivering ----------------------------------------------------------------------

    async def deliver(
        self,
        message: StoredMessage,
        request: ModelInfraRequest | None,
        *,
        background: bool,
    ) -> ModelWebhookDeliveryResult:
        """Deliver ``message`` (stored, pending): now within ``request``'s deadline (the
        contract's ``send`` timeout unless the request sets one), or in the ``background``
        on the whole schedule. Returns the outcome; raises only when no secret is known."""
        if request is None:
            request = ModelInfraRequest(operation=_OP)
        signer = self._signers.for_message(message)
        if signer is None:
            raise InfraValidationError(
                "no signing secret known for this message's endpoint",
                transport=_TRANSPORT,
                operation=_OP,
                target=endpoint_target(message.url),
                correlation_id=request.correlation_id,
            )
        self.in_flight.add(message.message_id)
        try:
            return await self._deliver(message, signer, request, background)
        finally:
            self.in_flight.discard(message.message_id)
            self._signers.forget(message.message_id)

    async def _deliver(
        self,
        message: StoredMessage,
        signer: WebhookSigner,
        request: ModelInfraRequest,
        background: bool,
    ) -> ModelWebhookDeliveryResult:
        target = endpoint_target(message.url)
        bucket = self._bucket(target)
        delivery = _Delivery(message)
        started = time.perf_counter()

        async def attempt(state: Attempt) -> None:
            if bucket is not None:
                await bucket.acquire()
            await self._attempt(delivery, signer, target, state.correlation_id)

        error: InfraError | None = None
        while True:
            done = len(delivery.attempts) - message.attempt_offset
            policy = self._policy(done)
            try:
                await self._node.run(
                    request,
                    attempt,
                    target=target,
                    retry=policy,
                    timeout_seconds=self._background_deadline(policy) if background else None,
                )
                error = None
                break
            except InfraError as exc:
                error = exc
            if delivery.in_flight is not None:
                # The deadline ended an attempt in flight: it goes on the record too.
                at, began = delivery.in_flight
                await self._record(delivery, at, None, error, time.perf_counter() - began)
            elif type(error) is CircuitOpenError:
                # Refused without sending: an attempt of the schedule, on the record.
                await self._record(delivery, datetime.now(UTC), None, error, 0.0)
            done = len(delivery.attempts) - message.attempt_offset
            schedule = self._config.retry_policy
            if not (background and error.retryable and done < schedule.max_attempts):
                break
            # The runner stopped before the schedule did (the breaker is open): wait as
            # the schedule says, then go on.
            await self._sleep(schedule.compute_delay(done))
        duration = time.perf_counter() - started
        final = await self._conclude(message, delivery, target, error, wait=background)
        return result_of(
            final,
            tuple(delivery.attempts),
            request.correlation_id,
            duration,
            error=error,
            status_code=delivery.status_code,
            status="delivered" if error is None else None,
        )

    async def _attempt(
        self,
        delivery: _Delivery,
        signer: WebhookSigner,
        target: str,
        correlation_id: UUID,
    ) -> None:
        """One POST; records the attempt, raises the typed error unless 2xx."""
        message = delivery.message
        at = datetime.now(UTC)
        began = time.perf_counter()
        delivery.in_flight = (at, began)
        status: int | None = None
        headers_in: Mapping[str, str] = {}
        error: InfraError | None = None
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes(semconv.url_attributes(message.url))
            span.set_attribute(_MESSAGE_ID, message.message_id)
        try:
            self._guard.check_literal(endpoint_host(message.url), _OP)
            headers = {
                "user-agent": self._config.user_agent,
                **message.headers,
                **signer.headers(message.message_id, message.body),
            }
            async with (
                self._semaphore,
                self._session_now().post(
                    message.url, data=message.body, headers=headers, allow_redirects=False
                ) as response,
            ):
                status = response.status
                headers_in = response.headers
                if self._config.max_response_bytes:
                    await response.content.read(self._config.max_response_bytes)
        except InfraError as exc:  # the SSRF guard
            error = exc
        except Exception as exc:  # every transport failure becomes a typed error
            error = error_for_transport(
                exc,
                transport=_TRANSPORT,
                operation=_OP,
                target=target,
                correlation_id=correlation_id,
                timeout_seconds=self._config.total_timeout_seconds,
                service="endpoint",
            )
        if status is not None:
            error = error_for_status(
                status,
                transport=_TRANSPORT,
                operation=_OP,
                target=target,
                correlation_id=correlation_id,
                headers=headers_in,
                retry_after_cap=self._config.max_retry_after_seconds,
                service="endpoint",
            )
            if span.is_recording():
                span.set_attribute(semconv.HTTP_RESPONSE_STATUS_CODE, status)
        delivery.status_code = status
        delivery.in_flight = None
        if error is None:  # the hot path: the record is written with the final status
            delivery.unsaved = self._new_record(delivery, at, status, time.perf_counter() - began)
            return
        await self._record(delivery, at, status, error, time.perf_counter() - began)
        raise error

    @staticmethod
    def _new_record(
        delivery: _Delivery, at: datetime, status: int | None, seconds: float
    ) -> ModelWebhookAttempt:
        """A successful attempt, on the delivery's history (not yet in the store)."""
        record = _construct(
            ModelWebhookAttempt,
            {
                "attempt": len(delivery.attempts) + 1,
                "at": at,
                "status_code": status,
                "error": None,
                "duration_ms": seconds * 1000,
            },
        )
        delivery.attempts.append(record)
        return record

    async def _record(
        self,
        delivery: _Delivery,
        at: datetime,
        status: int | None,
        error: InfraError,
        seconds: float,
    ) -> None:
        """A failed attempt: on the delivery's history and appended in the store."""
        # Built from values this node produced: no validation needed.
        record = _construct(
            ModelWebhookAttempt,
            {
                "attempt": len(delivery.attempts) + 1,
                "at": at,
                "status_code": status,
                "error": f"{type(error).__name__}: {error.message}"[:500],
                "duration_ms": seconds * 1000,
            },
        )
        delivery.attempts.append(record)
        try:
            await self._store.record_attempt(delivery.message.message_id, record)
        except InfraError as exc:
            # The history misses this attempt; the message itself stays stored (pending)
            # and the delivery goes on: the final status write reports a lasting failure.
            logger.warning(
                "webhook %s: attempt %d not recorded (%s)",
                delivery.message.message_id,
                record.attempt,
                exc.message,
            )

    async def _conclude(
        self,
        message: StoredMessage,
        delivery: _Delivery,
        target: str,
        error: InfraError | None,
        *,
        wait: bool,
    ) -> StoredMessage:
        """Record the final status (and disable the endpoint on 410). A delivery that a
        caller waits for (``send``) does not wait for its status to be committed."""
        if error is None:
            attempt = delivery.unsaved
            if not wait and attempt is not None and isinstance(self._store, SqliteOutboxStore):
                # The message was committed before its first attempt; its status lands
                # with the next group commit. A crash before then re-delivers it with the
                # same webhook-id (at least once).
                self._store.delivered_soon(message.message_id, attempt)
            else:
                await self._store.finish(message.message_id, "delivered", attempt, None)
            return message  # delivered: the result says so (no copy on the hot path)
        status = delivery.status_code
        suffix = f" (status {status})" if status is not None else ""
        reason = f"{type(error).__name__}{suffix}: {error.message}"[:500]
        if isinstance(error, InfraNotFoundError) and status == _GONE:
            await self._store.disable_endpoint(message.url, "410 Gone")
            self._disabled[message.url] = True
            logger.warning("webhook endpoint %s disabled: 410 Gone", target)
        await self._store.finish(message.message_id, "dead", None, reason)
        logger.warning(
            "webhook %s dead-lettered after %d attempt(s): %s",
            message.message_id,
            len(delivery.attempts),
            reason,
        )
        return dataclasses.replace(message, status="dead", reason=reason)


def result_of(
    message: StoredMessage,
    attempts: tuple[ModelWebhookAttempt, ...],
    correlation_id: UUID,
    duration: float,
    *,
    error: InfraError | None = None,
    status_code: int | None = None,
    status: MessageStatus | None = None,
) -> ModelWebhookDeliveryResult:
    """The delivery result of ``message`` as it stands (``status``: its status now, when
    ``message`` was read before)."""
    if status is None:
        status = message.status
    if status == "delivered":
        # The hot path: every value is one this node produced and typed; no error text
        # to check, so no validation.
        return _construct(
            ModelWebhookDeliveryResult,
            {
                "operation": _OP,
                "correlation_id": correlation_id,
                "success": True,
                "duration_ms": duration * 1000,
                "completed_at": datetime.now(UTC),
                "error_code": None,
                "error_message": None,
                "metadata": {},
                "message_id": message.message_id,
                "url": message.url,
                "outcome": EnumWebhookOutcome.DELIVERED,
                "attempts": attempts,
                "status_code": status_code,
            },
        )
    dead = status == "dead"
    code: Any = "PENDING"
    if dead:
        code = error.infra_error_code.value if error is not None else "DEAD_LETTERED"
    return ModelWebhookDeliveryResult(
        correlation_id=correlation_id,
        success=False,
        duration_ms=duration * 1000,
        message_id=message.message_id,
        url=message.url,
        outcome=EnumWebhookOutcome.DEAD_LETTERED if dead else EnumWebhookOutcome.PENDING,
        attempts=attempts,
        status_code=status_code,
        error_code=code,
        error_message=message.reason if dead else None,
    )
