"""Keep a lease alive: renew at about two thirds of its TTL, log in again when it can't be.

One mechanism for every credential with a lifetime (a Vault token, a database lease, a
Consul session, an OIDC token), in the spirit of Vault's ``LifetimeWatcher``:

- after each grant, wait ``renew_fraction`` (2/3) of its TTL, shortened by up to
  ``jitter_fraction`` at random so that replicas do not renew together;
- renew when the grant is renewable; a renewal that does not extend the expiry (the max
  TTL is reached) or that fails permanently switches to ``login``;
- a transient failure (``InfraError.retryable``) is retried with exponential backoff, never
  past the grant's expiry;
- with no ``login`` (or when it fails permanently) the manager stops and reports
  ``expired``; ``on_error`` hears of every failure.

Time and randomness are injectable, so tests run without sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from omnibase_infra.errors import InfraError

__all__ = ["EnumLeaseState", "LeaseGrant", "LifetimeManager"]

logger = logging.getLogger("omnibase_infra.lifetime")


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    """What a login or renewal gave: its TTL in seconds and whether it can be renewed."""

    ttl_seconds: float
    renewable: bool


class EnumLeaseState(StrEnum):
    """Where the manager is."""

    IDLE = "idle"
    ACTIVE = "active"
    EXPIRED = "expired"
    STOPPED = "stopped"


type Acquire = Callable[[], Awaitable[LeaseGrant]]


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, InfraError) and exc.retryable


class LifetimeManager:
    """Renews ``renew()``'s lease in a background task; ``login()`` replaces it when needed."""

    def __init__(
        self,
        renew: Acquire,
        login: Acquire | None = None,
        *,
        name: str = "lease",
        renew_fraction: float = 2 / 3,
        jitter_fraction: float = 0.1,
        backoff_base_seconds: float = 0.5,
        backoff_max_seconds: float = 30.0,
        on_granted: Callable[[LeaseGrant], object] | None = None,
        on_error: Callable[[BaseException], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < renew_fraction < 1:
            raise ValueError("renew_fraction must be between 0 and 1")
        if not 0 <= jitter_fraction < 1:
            raise ValueError("jitter_fraction must be in [0, 1)")
        self._renew = renew
        self._login = login
        self._name = name
        self._fraction = renew_fraction
        self._jitter = jitter_fraction
        self._backoff_base = backoff_base_seconds
        self._backoff_max = backoff_max_seconds
        self._on_granted = on_granted
        self._on_error = on_error
        self._clock = clock
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter only
        self._task: asyncio.Task[None] | None = None
        self.state = EnumLeaseState.IDLE
        self.expires_at: float | None = None
        self.renewals = 0
        self.logins = 0
        self.last_error: BaseException | None = None

    def renewal_delay(self, grant: LeaseGrant) -> float:
        """Seconds to wait before acting on ``grant``: 2/3 of its TTL minus the jitter."""
        return grant.ttl_seconds * self._fraction * (1 - self._jitter * self._rng.random())

    def start(self, grant: LeaseGrant) -> None:
        """Start watching ``grant`` (the one the caller's first login gave)."""
        if self._task is not None and not self._task.done():
            raise RuntimeError(f"{self._name}: already started")
        self._accept(grant)
        self._task = asyncio.get_running_loop().create_task(self._run(grant))

    async def stop(self) -> None:
        """Cancel the background task; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.state is EnumLeaseState.ACTIVE:
            self.state = EnumLeaseState.STOPPED

    @property
    def running(self) -> bool:
        """Whether the background task is alive."""
        return self._task is not None and not self._task.done()

    def _accept(self, grant: LeaseGrant) -> None:
        self.state = EnumLeaseState.ACTIVE
        self.expires_at = self._clock() + grant.ttl_seconds
        if self._on_granted is not None:
            self._on_granted(grant)

    def _report(self, exc: BaseException) -> None:
        self.last_error = exc
        logger.warning("%s: lifetime step failed: %s", self._name, type(exc).__name__)
        if self._on_error is not None:
            self._on_error(exc)

    async def _attempt(self, acquire: Acquire) -> LeaseGrant | None:
        """``acquire()`` with backoff on transient errors until the expiry; None on giving up."""
        delay = self._backoff_base
        while True:
            try:
                return await acquire()
            except Exception as exc:  # cancellation is a BaseException: it passes through
                self._report(exc)
                remaining = (self.expires_at or 0.0) - self._clock()
                if not _transient(exc) or remaining <= delay:
                    return None
                await self._sleep(delay)
                delay = min(delay * 2, self._backoff_max)

    async def _run(self, grant: LeaseGrant) -> None:
        while True:
            await self._sleep(self.renewal_delay(grant))
            new: LeaseGrant | None = None
            if grant.renewable:
                before = self.expires_at or 0.0
                new = await self._attempt(self._renew)
                if new is not None:
                    self.renewals += 1
                    if self._clock() + new.ttl_seconds <= before:
                        # The max TTL caps it: keep it until 2/3 of what is left, then log in.
                        grant = LeaseGrant(ttl_seconds=new.ttl_seconds, renewable=False)
                        self._accept(grant)
                        continue
            if new is None and self._login is not None:
                new = await self._attempt(self._login)
                if new is not None:
                    self.logins += 1
            if new is None:
                self.state = EnumLeaseState.EXPIRED
                logger.error("%s: lease can no longer be renewed or replaced", self._name)
                return
            grant = new
            self._accept(grant)
