"""The one module that touches asyncpg's API directly: protocols for the parts the node
uses (asyncpg ships no types; asyncpg-stubs type-check this module), the exception classes
the node tells apart, the tracked connection class and pool creation.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

import asyncpg
from asyncpg import exceptions as _exceptions

from omnibase_infra.models.postgres import ModelPostgresPoolConfig

__all__ = [
    "READ_ONLY_SETTING",
    "ClientDataError",
    "ConnectionLostError",
    "InterfaceError",
    "PgConnection",
    "PgPool",
    "PgRecord",
    "PgTransaction",
    "PostgresServerError",
    "SessionNotReadOnlyError",
    "TrackedConnection",
    "create_pool",
    "sqlstate_of",
    "verify_read_only_session",
]

PostgresServerError: Final[type[Exception]] = asyncpg.PostgresError
"""An error with a SQLSTATE: sent by the server, or raised by asyncpg for a lost connection."""
ConnectionLostError: Final[type[Exception]] = _exceptions.ConnectionDoesNotExistError
"""asyncpg's "connection was closed in the middle of operation" (no server reply)."""
InterfaceError: Final[type[Exception]] = asyncpg.InterfaceError
"""Client-side misuse or state errors ("connection is closed", "pool is closing", ...)."""
ClientDataError: Final[type[Exception]] = _exceptions._base.DataError
"""asyncpg's client-side "invalid query input" (never reached the server)."""
ProtocolViolation: Final[tuple[type[Exception], ...]] = (
    _exceptions.InternalClientError,
    _exceptions.ProtocolError,
)

READ_ONLY_SETTING: Final = "default_transaction_read_only"
"""The setting that makes every transaction of a session READ ONLY (reader pools)."""


class SessionNotReadOnlyError(RuntimeError):
    """A reader pool's new session is not read-only: something between us and the server
    (a connection pooler) dropped the startup setting."""


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of a server error (``None`` for anything else)."""
    code = getattr(exc, "sqlstate", None) if isinstance(exc, PostgresServerError) else None
    return code if isinstance(code, str) else None


class PgRecord(Protocol):
    """``asyncpg.Record``: a read-only mapping that also indexes by position."""

    def keys(self) -> Iterable[str]: ...
    def items(self) -> Iterable[tuple[str, Any]]: ...
    def __getitem__(self, key: int | str, /) -> Any: ...
    def __len__(self) -> int: ...


class PgTransaction(Protocol):
    """``asyncpg.transaction.Transaction`` (started and finished explicitly)."""

    async def start(self) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


class PgConnection(Protocol):
    """The pooled connection proxy, with the bookkeeping of :class:`TrackedConnection`."""

    async def fetchrow(self, query: str, *args: Any) -> PgRecord | None: ...
    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str: ...  # noqa: ASYNC109
    async def executemany(self, command: str, args: Iterable[Sequence[Any]]) -> None: ...
    async def copy_records_to_table(
        self,
        table_name: str,
        *,
        records: Iterable[Sequence[Any]],
        columns: Sequence[str] | None = None,
        schema_name: str | None = None,
    ) -> str: ...
    def transaction(
        self, *, isolation: str | None = None, readonly: bool = False, deferrable: bool = False
    ) -> PgTransaction: ...
    # asyncpg's internal executor: the only way to cap rows at the protocol level (Execute
    # with a row limit) without a cursor and its extra round trips. Stable since 0.18.
    async def _execute(
        self,
        query: str,
        args: Sequence[Any],
        limit: int,
        timeout: float | None,  # noqa: ASYNC109 - asyncpg's signature
        *,
        return_status: bool = False,
    ) -> Any: ...
    def is_closed(self) -> bool: ...
    def terminate(self) -> None: ...
    def get_server_pid(self) -> int: ...
    def omnibase_needs_check(self, now: float, idle_seconds: float) -> bool: ...
    def omnibase_released(self, now: float, *, suspect: bool) -> None: ...
    def omnibase_session_switched_to_writes(self) -> bool: ...


class PgPool(Protocol):
    """``asyncpg.Pool``."""

    def acquire(self, *, timeout: float | None = None) -> Awaitable[PgConnection]: ...
    async def release(
        self,
        connection: PgConnection,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's signature
    ) -> None: ...
    async def close(self) -> None: ...
    def terminate(self) -> None: ...
    def get_size(self) -> int: ...
    def get_idle_size(self) -> int: ...


if TYPE_CHECKING:  # asyncpg-stubs make Connection generic; the runtime class is not
    _Connection = asyncpg.Connection[asyncpg.Record]
else:
    _Connection = asyncpg.Connection


class TrackedConnection(_Connection):
    """A connection that remembers when it went idle and whether it saw a connection error.

    asyncpg does not ping on acquire: the pool asks :meth:`omnibase_needs_check` and pings
    idle or suspect connections itself.
    """

    __slots__ = ("_omnibase_idle_since", "_omnibase_suspect")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._omnibase_idle_since = time.monotonic()
        self._omnibase_suspect = False

    def omnibase_needs_check(self, now: float, idle_seconds: float) -> bool:
        """True when the connection should be pinged before use (``now``: monotonic)."""
        return self._omnibase_suspect or now - self._omnibase_idle_since >= idle_seconds

    def omnibase_released(self, now: float, *, suspect: bool) -> None:
        """Record a release at monotonic ``now`` (``suspect``: a connection-level error)."""
        self._omnibase_idle_since = now
        self._omnibase_suspect = suspect

    def omnibase_session_switched_to_writes(self) -> bool:
        """True when the server reported ``default_transaction_read_only`` as off.

        PostgreSQL 14+ reports the setting (ParameterStatus) whenever it changes, also from
        inside a function (``set_config(..., false)``), so this costs no round trip; older
        servers report nothing and this stays False (the pool's ``RESET ALL`` still resets
        the setting on release)."""
        value = getattr(self.get_settings(), READ_ONLY_SETTING, "on")
        return value != "on"


async def verify_read_only_session(conn: _Connection) -> None:
    """Run once per new reader connection: fail closed unless the session is read-only.

    PostgreSQL 14+ reports the setting in the handshake (no round trip); otherwise (an older
    server, or a pooler that does not pass the report on) one query asks for it. A pooler
    that drops the startup setting would make a "read-only" pool silently writable.
    """
    value = getattr(conn.get_settings(), READ_ONLY_SETTING, None)
    if value is None:
        value = await conn.fetchval("SELECT current_setting('default_transaction_read_only')")
    if value != "on":
        raise SessionNotReadOnlyError(
            f"a reader session started with {READ_ONLY_SETTING}={value!r}, not 'on'"
        )


async def create_pool(config: ModelPostgresPoolConfig, *, read_only: bool = False) -> PgPool:
    """Open an asyncpg pool for ``config`` (connects ``min_size`` connections).

    ``read_only``: every session starts with ``default_transaction_read_only=on`` (sent in
    the startup packet, so it costs no round trip and no statement can run before it): each
    transaction of the session is READ ONLY and the server refuses writes (SQLSTATE 25006).
    """
    settings = {"application_name": config.application_name, **config.server_settings}
    if read_only:
        settings[READ_ONLY_SETTING] = "on"  # after the user's settings: it always wins
    password = config.password.get_secret_value() if config.password is not None else None
    pool = await asyncpg.create_pool(
        dsn=config.dsn.get_secret_value(),
        password=password,
        min_size=config.min_size,
        max_size=config.max_size,
        max_queries=config.max_queries,
        max_inactive_connection_lifetime=config.max_inactive_connection_lifetime_seconds,
        statement_cache_size=config.statement_cache_size,
        max_cached_statement_lifetime=config.max_cached_statement_lifetime_seconds,
        max_cacheable_statement_size=config.max_cacheable_statement_size,
        timeout=config.connect_timeout_seconds,
        connection_class=TrackedConnection,
        server_settings=settings,
        init=verify_read_only_session if read_only else None,
    )
    return cast(PgPool, pool)  # the protocol names what the node uses of asyncpg.Pool
