"""Connection management: one asyncpg pool per DSN, health-checked on acquire, with
statistics and a close that waits up to a deadline and then terminates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from uuid import UUID

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.models.postgres import ModelPostgresPoolConfig, ModelPostgresPoolStats
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.driver import (
    READ_ONLY_SETTING,
    PgConnection,
    PgPool,
    create_pool,
    driver_errors,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.errors import (
    PoolClosedError,
    is_connection_level,
)

__all__ = ["PostgresConnectionManager", "PostgresPool"]

logger = logging.getLogger("omnibase_infra.nodes.node_postgres_adapter_effect.pool")

_PING = "SELECT 1"


def _tracked(conn: PgConnection) -> PgConnection:
    """The connection behind asyncpg's pool proxy (``_con``, asyncpg 0.29), whose methods
    of :class:`.connection.TrackedConnection` the proxy would reach only through its
    ``__getattr__`` (a failed lookup first, on every call); ``None`` once the proxy was
    detached (its connection closed), so the caller's next attribute access raises
    ``AttributeError``. Anything else (a test's stand-in) is its own connection."""
    tracked: PgConnection = getattr(conn, "_con", conn)
    return tracked


def _ping_failures() -> tuple[type[BaseException], ...]:
    """Failures of a health-check ping: the connection is dropped and another one tried."""
    errors = driver_errors()
    return (errors.server, errors.interface, OSError, TimeoutError)


class PostgresPool:
    """One asyncpg pool, opened on first use.

    asyncpg only replaces a connection on acquire when it already knows it is closed. Here a
    connection idle for ``health_check_idle_seconds`` or more, or released after a
    connection-level error, is pinged first; a dead one is terminated and another one taken,
    so a connection the server closed does not fail the next caller.

    ``read_only``: a reader pool. Its sessions start with ``default_transaction_read_only=on``
    (see :func:`.driver.create_pool`), so the server refuses every write; a connection whose
    session a statement switched back to read-write (``set_config`` in a function) is
    terminated on release instead of being reused.
    """

    def __init__(self, config: ModelPostgresPoolConfig, *, read_only: bool = False) -> None:
        self._config = config
        self.read_only = read_only
        self._clock = time.monotonic  # the clock TrackedConnection stamps with
        self._pool: PgPool | None = None
        self._open_lock: asyncio.Lock | None = None
        self._closed = False
        self.target = config.target
        self.database = config.database
        self._idle_limit = config.health_check_idle_seconds
        self._check_timeout = config.health_check_timeout_seconds
        self._acquisitions = 0
        self._acquire_wait = 0.0
        self._health_checks = 0
        self._replaced = 0
        self._connection_errors = 0
        self._timeouts = 0

    def __repr__(self) -> str:
        kind = ", read_only=True" if self.read_only else ""
        return f"PostgresPool(target={self.target!r}, open={self.is_open}{kind})"

    @property
    def config(self) -> ModelPostgresPoolConfig:
        """The pool's configuration (the DSN stays a ``SecretStr``)."""
        return self._config

    @property
    def is_open(self) -> bool:
        """Whether the asyncpg pool exists and the pool was not closed."""
        return self._pool is not None and not self._closed

    async def open(self) -> None:
        """Create the asyncpg pool (``min_size`` connections) unless it exists."""
        await self._ensure_pool()

    async def _ensure_pool(self) -> PgPool:
        if self._closed:
            raise PoolClosedError(self.target)
        if self._pool is not None:
            return self._pool
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._pool is None:  # another caller may have opened it while we waited
                self._pool = await create_pool(self._config, read_only=self.read_only)
            return self._pool

    async def acquire(self, correlation_id: UUID | None = None) -> PgConnection:
        """A connection that answered a ping if it was idle or suspect (driver errors raw)."""
        pool = self._pool
        if pool is None or self._closed:
            pool = await self._ensure_pool()
        started = self._clock()
        conn = await pool.acquire()
        now = self._clock()
        if not _tracked(conn).omnibase_needs_check(now, self._idle_limit):
            self._acquisitions += 1
            self._acquire_wait += now - started
            return conn
        return await self._acquire_checked(pool, conn, started, correlation_id)

    async def _acquire_checked(
        self, pool: PgPool, conn: PgConnection, started: float, correlation_id: UUID | None
    ) -> PgConnection:
        # Each dead connection found is terminated, so its slot reconnects next time; a
        # whole pool of dead ones costs at most max_size pings before a fresh connect.
        for _ in range(self._config.max_size + 1):
            if await self._ping(pool, conn, correlation_id):
                self._acquisitions += 1
                self._acquire_wait += self._clock() - started
                return conn
            conn = await pool.acquire()
            if not _tracked(conn).omnibase_needs_check(self._clock(), self._idle_limit):
                self._acquisitions += 1
                self._acquire_wait += self._clock() - started
                return conn
        raise PoolClosedError(self.target)  # pragma: no cover - a fresh connect never pings

    async def _ping(self, pool: PgPool, conn: PgConnection, correlation_id: UUID | None) -> bool:
        self._health_checks += 1
        try:
            await conn.execute(_PING, timeout=self._check_timeout)
        except _ping_failures() as exc:
            self._replaced += 1
            logger.warning(
                "postgres connection to %s failed its health check (%s); replacing it",
                self.target,
                type(exc).__name__,
                extra={"correlation_id": str(correlation_id), "target": self.target},
            )
            with contextlib.suppress(Exception):  # already closed and detached by asyncpg
                conn.terminate()
            await self._release_quietly(pool, conn, correlation_id)
            return False
        return True

    async def release(
        self,
        conn: PgConnection,
        *,
        error: BaseException | None = None,
        correlation_id: UUID | None = None,
    ) -> None:
        """Return ``conn``; after a connection-level ``error`` it is pinged before reuse."""
        suspect = False
        if error is not None:
            suspect = is_connection_level(error)
            if suspect:
                self._connection_errors += 1
            if isinstance(error, TimeoutError | asyncio.CancelledError):
                self._timeouts += 1
                suspect = True
        tracked = _tracked(conn)
        try:
            tracked.omnibase_released(self._clock(), suspect=suspect)
            if error is not None and isinstance(error, driver_errors().protocol):
                conn.terminate()  # asyncpg's own state is inconsistent: never reuse it
            elif self.read_only and tracked.omnibase_session_switched_to_writes():
                self._discard_switched(conn, correlation_id)
        except (AttributeError, driver_errors().interface):
            return  # asyncpg detached the proxy: the connection closed and left the pool
        pool = self._pool
        if pool is None:
            return
        holder = getattr(conn, "_holder", None)
        if holder is None or tracked is conn:  # not asyncpg's proxy: the public path
            await self._release_quietly(pool, conn, correlation_id)
            return
        # What asyncpg's Pool.release() does, in the caller's task instead of a task of
        # its own under asyncio.shield() (a task, a future and their callbacks on every
        # operation): the caller still has its result only once the session was reset
        # (the reset frees what a statement left behind, e.g. a session advisory lock). If
        # the caller is cancelled during the reset, asyncpg terminates the connection
        # (its slot reconnects on a later acquire) instead of finishing the reset.
        tracked._on_release()  # type: ignore[attr-defined]  # asyncpg's listener checks
        try:
            await holder.release(self._check_timeout)
        except Exception as exc:
            self._dropped_on_release(exc, correlation_id)

    def _discard_switched(self, conn: PgConnection, correlation_id: UUID | None) -> None:
        # The reset on release (RESET ALL) would switch it back; a session that something
        # turned read-write is not trusted with the next reader anyway.
        self._replaced += 1
        logger.warning(
            "postgres reader connection to %s: the session's %s was switched off; terminating it",
            self.target,
            READ_ONLY_SETTING,
            extra={"correlation_id": str(correlation_id), "target": self.target},
        )
        conn.terminate()

    async def _release_quietly(
        self, pool: PgPool, conn: PgConnection, correlation_id: UUID | None
    ) -> None:
        # Release resets the session (one round trip); asyncpg terminates the connection if
        # that fails, and the caller's result or error matters more than this one.
        try:
            await pool.release(conn, timeout=self._check_timeout)
        except Exception as exc:
            self._dropped_on_release(exc, correlation_id)

    def _dropped_on_release(self, exc: BaseException, correlation_id: UUID | None) -> None:
        logger.info(
            "postgres connection to %s dropped on release (%s)",
            self.target,
            type(exc).__name__,
            extra={"correlation_id": str(correlation_id), "target": self.target},
        )

    def stats(self) -> ModelPostgresPoolStats:
        """Sizes and counters since the pool was created."""
        pool = self._pool
        size = pool.get_size() if pool is not None and not self._closed else 0
        idle = pool.get_idle_size() if pool is not None and not self._closed else 0
        return ModelPostgresPoolStats(
            target=self.target,
            open=self.is_open,
            min_size=self._config.min_size,
            max_size=self._config.max_size,
            size=size,
            idle=idle,
            in_use=max(size - idle, 0),
            acquisitions=self._acquisitions,
            acquire_wait_ms_total=round(self._acquire_wait * 1000, 3),
            health_checks=self._health_checks,
            connections_replaced=self._replaced,
            connection_errors=self._connection_errors,
            timeouts=self._timeouts,
        )

    async def close(
        self, grace_seconds: float | None = None, *, correlation_id: UUID | None = None
    ) -> None:
        """Wait up to ``grace_seconds`` (default ``close_timeout_seconds``) for connections in use
        to come back and close them; then terminate whatever is left. Idempotent."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is None:
            return
        deadline = self._config.close_timeout_seconds if grace_seconds is None else grace_seconds
        in_use = pool.get_size() - pool.get_idle_size()
        try:
            async with asyncio.timeout(deadline):
                await pool.close()
        except TimeoutError:
            # asyncpg's close() terminates every connection when it is cancelled.
            logger.warning(
                "postgres pool for %s: %d connection(s) still in use after %.1f s; terminated",
                self.target,
                in_use,
                deadline,
                extra={"correlation_id": str(correlation_id), "target": self.target},
            )
            with contextlib.suppress(Exception):
                pool.terminate()


class PostgresConnectionManager:
    """One :class:`PostgresPool` per DSN (and password) and kind (read-write, or a reader
    pool for read-only operations), shared by the nodes given it.

    Asking again for a DSN returns the same pool; asking with different pool settings for
    the same DSN is a configuration error (two pools would silently double the connections).
    """

    def __init__(self) -> None:
        self._pools: dict[tuple[str, str | None, bool], PostgresPool] = {}

    def pool(self, config: ModelPostgresPoolConfig, *, read_only: bool = False) -> PostgresPool:
        """The pool for ``config``'s DSN (its reader pool with ``read_only``), created (not
        yet connected) on first request."""
        password = config.password.get_secret_value() if config.password else None
        key = (config.dsn.get_secret_value(), password, read_only)
        existing = self._pools.get(key)
        if existing is None:
            existing = self._pools[key] = PostgresPool(config, read_only=read_only)
        elif existing.config != config:
            raise InfraConfigurationError(
                "a pool for this DSN exists with other settings",
                transport=EnumTransport.POSTGRES,
                operation="pool",
                target=config.target,
            )
        return existing

    @property
    def pools(self) -> list[PostgresPool]:
        """Every pool created so far."""
        return list(self._pools.values())

    async def close(
        self, grace_seconds: float | None = None, *, correlation_id: UUID | None = None
    ) -> None:
        """Close every pool concurrently (each within its own or the given deadline)."""
        pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(
            *(p.close(grace_seconds, correlation_id=correlation_id) for p in pools)
        )
