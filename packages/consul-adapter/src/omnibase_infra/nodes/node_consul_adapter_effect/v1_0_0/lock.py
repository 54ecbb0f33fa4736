"""``ConsulLock``: a distributed lock / leader election on one key, held by a session that
is renewed in the background by the shared ``LifetimeManager`` (``omnibase_infra.lifetime``).
Losing the session is reported (``lost``, ``lost_error``), never ignored: a holder must stop
acting as leader once ``lost`` is set."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Self

from omnibase_infra.errors import InfraError, InfraNotFoundError, InfraTimeoutError
from omnibase_infra.lifetime import LeaseGrant, LifetimeManager
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.consul import (
    EnumConsulSessionBehavior,
    KVValue,
    ModelConsulKVLockRequest,
    ModelConsulKVWaitRequest,
    ModelConsulSessionCreateRequest,
    ModelConsulSessionRequest,
)
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.errors import TRANSPORT

if TYPE_CHECKING:
    from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.node import (
        NodeConsulAdapterEffect,
    )

__all__ = ["ConsulLock"]

logger = logging.getLogger("omnibase_infra.nodes.node_consul_adapter_effect")


class ConsulLock:
    """Acquire with :meth:`acquire` (waiting on blocking queries, not polling), hold while
    the session is renewed at ``renew_fraction`` of its TTL (default a third, jittered; a
    transient failure is retried with back-off until the TTL has passed), release with
    :meth:`release`; or ``async with lock:``.

    The session is lost when a renewal is refused (404: it was destroyed or expired) or
    when none succeeded for a whole TTL: ``lost`` is set, ``lost_error`` names why and a
    warning is logged. A Consul session cannot be re-obtained (the lock went with it), so
    the lifetime manager's login step is where the loss is reported.

    Every request of the lock carries ``correlation`` (a fresh one by default), so its
    spans and records can be found together."""

    def __init__(
        self,
        node: NodeConsulAdapterEffect,
        key: str,
        *,
        value: KVValue = None,
        session_ttl_seconds: float = 15,
        lock_delay_seconds: float = 0,
        behavior: EnumConsulSessionBehavior = EnumConsulSessionBehavior.RELEASE,
        renew_fraction: float = 1 / 3,
        wait_seconds: float = 10,
        correlation: ModelCorrelationContext | None = None,
    ) -> None:
        self._node = node
        self.key = key
        self._value = value
        self._ttl = session_ttl_seconds
        self._lock_delay = lock_delay_seconds
        self._behavior = behavior
        self._renew_fraction = renew_fraction
        self._wait = wait_seconds
        self._correlation = correlation or ModelCorrelationContext.fresh()
        self._cid = self._correlation.correlation_id
        self.session_id: str | None = None
        self.lost = asyncio.Event()
        self.lost_error: InfraError | None = None
        self._lifetime: LifetimeManager | None = None

    @property
    def held(self) -> bool:
        return self._lifetime is not None and not self.lost.is_set()

    @property
    def lifetime(self) -> LifetimeManager | None:
        """The manager renewing the session while the lock is held."""
        return self._lifetime

    async def acquire(self, *, timeout_seconds: float | None = None) -> None:
        """Wait until the lock is ours (``InfraTimeoutError`` after ``timeout_seconds``)."""
        node, correlation = self._node, self._correlation
        self.lost.clear()
        self.lost_error = None
        created = await node.session_create(
            ModelConsulSessionCreateRequest(
                name=f"lock:{self.key}",
                ttl_seconds=self._ttl,
                lock_delay_seconds=self._lock_delay,
                behavior=self._behavior,
                correlation=correlation,
            )
        )
        self.session_id = created.session_id
        acquire = ModelConsulKVLockRequest(
            key=self.key, session_id=created.session_id, value=self._value, correlation=correlation
        )
        try:
            async with asyncio.timeout(timeout_seconds):
                index = 0
                while not (await node.kv_lock(acquire)).succeeded:
                    changed = await node.kv_wait(
                        ModelConsulKVWaitRequest(
                            key=self.key,
                            index=index,
                            wait_seconds=self._wait,
                            correlation=correlation,
                        )
                    )
                    # An index going backwards (a restored or new cluster) starts over.
                    index = changed.index if changed.index >= index else 0
        except BaseException as exc:
            await self._destroy_session()
            if isinstance(exc, TimeoutError):
                raise InfraTimeoutError(
                    f"lock {self.key!r} not acquired within {timeout_seconds:g}s",
                    transport=TRANSPORT,
                    operation="lock_acquire",
                    target=node.target,
                    correlation_id=self._cid,
                    timeout_seconds=timeout_seconds or 0.0,
                ) from exc
            raise
        self._lifetime = self._manager(self.session_id)
        self._lifetime.start(LeaseGrant(self._ttl, renewable=True))

    def _manager(self, session_id: str) -> LifetimeManager:
        renewal = ModelConsulSessionRequest(
            operation="session_renew", session_id=session_id, correlation=self._correlation
        )

        async def renew() -> LeaseGrant:
            await self._node.session(renewal)
            return LeaseGrant(self._ttl, renewable=True)

        async def lost() -> LeaseGrant:
            # Renewal failed for good (or for a whole TTL): the session and the lock are gone.
            manager = self._lifetime
            cause = manager.last_error if manager is not None else None
            self.lost_error = cause if isinstance(cause, InfraError) else None
            self.lost.set()
            logger.warning(
                "consul lock %s lost: %s",
                self.key,
                type(cause).__name__,
                extra={"correlation_id": self._cid},
            )
            # Not transient: the manager stops (EXPIRED) instead of retrying this step.
            raise InfraNotFoundError(
                f"session of lock {self.key!r} lost",
                transport=TRANSPORT,
                operation="session_renew",
                target=self._node.target,
                correlation_id=self._cid,
            ) from cause

        return LifetimeManager(
            renew,
            lost,
            name=f"consul lock {self.key}",
            renew_fraction=self._renew_fraction,
            backoff_base_seconds=min(0.5, self._ttl / 20),
            backoff_max_seconds=self._ttl / 3,
        )

    async def release(self) -> None:
        """Stop renewing, release the key and destroy the session."""
        if self._lifetime is not None:
            await self._lifetime.stop()
            self._lifetime = None
        if self.session_id is not None and not self.lost.is_set():
            await self._node.kv_lock(
                ModelConsulKVLockRequest(
                    operation="kv_release",
                    key=self.key,
                    session_id=self.session_id,
                    correlation=self._correlation,
                )
            )
        await self._destroy_session()

    async def _destroy_session(self) -> None:
        if self.session_id is not None:
            session_id, self.session_id = self.session_id, None
            await self._node.session(
                ModelConsulSessionRequest(
                    operation="session_destroy",
                    session_id=session_id,
                    correlation=self._correlation,
                )
            )

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
