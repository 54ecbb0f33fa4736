"""``ConsulLock``: a distributed lock / leader election on one key, held by a session that
is renewed in the background. Losing the session is reported (``lost``, ``lost_error``),
never ignored: a holder must stop acting as leader once ``lost`` is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from types import TracebackType
from typing import Self
from uuid import UUID

from omnibase_infra.errors import InfraError, InfraTimeoutError
from omnibase_infra.models.consul import EnumConsulSessionBehavior
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.client import ConsulClient, KVValue
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.transport import TRANSPORT

__all__ = ["ConsulLock"]

logger = logging.getLogger("omnibase_infra.nodes.node_consul_adapter_effect")


class ConsulLock:
    """Acquire with :meth:`acquire` (waiting on blocking queries, not polling), hold while
    the session is renewed every ``renew_interval_seconds`` (default a third of the TTL),
    release with :meth:`release`; or ``async with lock:``."""

    def __init__(
        self,
        client: ConsulClient,
        key: str,
        *,
        value: KVValue = None,
        session_ttl_seconds: float = 15,
        lock_delay_seconds: float = 0,
        behavior: EnumConsulSessionBehavior = EnumConsulSessionBehavior.RELEASE,
        renew_interval_seconds: float | None = None,
        wait_seconds: float = 10,
        correlation_id: UUID | None = None,
    ) -> None:
        self._client = client
        self.key = key
        self._value = value
        self._ttl = session_ttl_seconds
        self._lock_delay = lock_delay_seconds
        self._behavior = behavior
        self._renew_every = renew_interval_seconds or session_ttl_seconds / 3
        self._wait = wait_seconds
        self._cid = correlation_id
        self.session_id: str | None = None
        self.lost = asyncio.Event()
        self.lost_error: InfraError | None = None
        self._renewal: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        return self._renewal is not None and not self.lost.is_set()

    async def acquire(self, *, timeout_seconds: float | None = None) -> None:
        """Wait until the lock is ours (``InfraTimeoutError`` after ``timeout_seconds``)."""
        client, cid = self._client, self._cid
        self.lost.clear()
        self.lost_error = None
        self.session_id = await client.session_create(
            name=f"lock:{self.key}",
            ttl_seconds=self._ttl,
            lock_delay_seconds=self._lock_delay,
            behavior=self._behavior,
            correlation_id=cid,
        )
        try:
            async with asyncio.timeout(timeout_seconds):
                index = 0
                while not await client.kv_acquire(
                    self.key, self.session_id, self._value, correlation_id=cid
                ):
                    new_index, _ = await client.kv_wait(
                        self.key, index=index, wait_seconds=self._wait, correlation_id=cid
                    )
                    # An index going backwards (a restored or new cluster) starts over.
                    index = new_index if new_index >= index else 0
        except BaseException as exc:
            await self._destroy_session()
            if isinstance(exc, TimeoutError):
                raise InfraTimeoutError(
                    f"lock {self.key!r} not acquired within {timeout_seconds:g}s",
                    transport=TRANSPORT,
                    operation="lock_acquire",
                    target=client.config.target,
                    correlation_id=cid,
                    timeout_seconds=timeout_seconds or 0.0,
                ) from exc
            raise
        self._renewal = asyncio.create_task(self._renew(self.session_id))

    async def _renew(self, session_id: str) -> None:
        last_ok = time.monotonic()
        while True:
            await asyncio.sleep(self._renew_every)
            try:
                await self._client.session_renew(session_id, correlation_id=self._cid)
                last_ok = time.monotonic()
            except InfraError as exc:
                # A transient failure is survivable until the TTL has passed without renewal.
                if exc.retryable and time.monotonic() - last_ok < self._ttl:
                    continue
                self.lost_error = exc
                self.lost.set()
                logger.warning(
                    "consul lock %s lost: %s", self.key, exc, extra={"correlation_id": self._cid}
                )
                return

    async def release(self) -> None:
        """Stop renewing, release the key and destroy the session."""
        if self._renewal is not None:
            self._renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewal
            self._renewal = None
        if self.session_id is not None and not self.lost.is_set():
            await self._client.kv_release(self.key, self.session_id, correlation_id=self._cid)
        await self._destroy_session()

    async def _destroy_session(self) -> None:
        if self.session_id is not None:
            session_id, self.session_id = self.session_id, None
            await self._client.session_destroy(session_id, correlation_id=self._cid)

    async def __aenter__(self) -> Self:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()
