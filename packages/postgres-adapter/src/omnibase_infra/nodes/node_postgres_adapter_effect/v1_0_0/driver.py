"""The node's view of asyncpg: protocols for the parts the node uses (asyncpg ships no
types; asyncpg-stubs type-check the package), the exception classes it tells apart and
pool creation.

asyncpg is imported when the first pool is created or the first driver error is mapped,
not with the node (import cost: see the package's import test); the connection class that
subclasses asyncpg's lives in :mod:`.connection`, imported with the first pool.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

from omnibase_infra.models.postgres import ModelPostgresPoolConfig

__all__ = [
    "READ_ONLY_SETTING",
    "DriverErrors",
    "PgConnection",
    "PgPool",
    "PgRecord",
    "PgTransaction",
    "SessionNotReadOnlyError",
    "create_pool",
    "driver_errors",
    "sqlstate_of",
]


@dataclass(frozen=True, slots=True)
class DriverErrors:
    """asyncpg's exception classes that the node tells apart."""

    server: type[Exception]
    """An error with a SQLSTATE: sent by the server, or raised by asyncpg for a lost
    connection (``asyncpg.PostgresError``)."""
    connection_lost: type[Exception]
    """"connection was closed in the middle of operation" (no server reply)."""
    interface: type[Exception]
    """Client-side misuse or state errors ("connection is closed", "pool is closing")."""
    client_data: type[Exception]
    """Client-side "invalid query input" (never reached the server)."""
    protocol: tuple[type[Exception], ...]
    """asyncpg's own state is inconsistent (internal client or protocol error)."""


@functools.cache
def driver_errors() -> DriverErrors:
    """The classes (importing asyncpg on first use; a cached lookup afterwards)."""
    import asyncpg  # noqa: PLC0415 - the heavy driver loads with the first pool or error
    from asyncpg import exceptions  # noqa: PLC0415

    return DriverErrors(
        server=asyncpg.PostgresError,
        connection_lost=exceptions.ConnectionDoesNotExistError,
        interface=asyncpg.InterfaceError,
        client_data=exceptions._base.DataError,
        protocol=(exceptions.InternalClientError, exceptions.ProtocolError),
    )


READ_ONLY_SETTING: Final = "default_transaction_read_only"
"""The setting that makes every transaction of a session READ ONLY (reader pools)."""


class SessionNotReadOnlyError(RuntimeError):
    """A reader pool's new session is not read-only: something between us and the server
    (a connection pooler) dropped the startup setting."""


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of a server error (``None`` for anything else)."""
    if not isinstance(exc, driver_errors().server):
        return None
    code = getattr(exc, "sqlstate", None)
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
    """The pooled connection proxy, with the bookkeeping of
    :class:`.connection.TrackedConnection`."""

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


async def create_pool(config: ModelPostgresPoolConfig, *, read_only: bool = False) -> PgPool:
    """Open an asyncpg pool for ``config`` (connects ``min_size`` connections).

    ``read_only``: every session starts with ``default_transaction_read_only=on`` (sent in
    the startup packet, so it costs no round trip and no statement can run before it): each
    transaction of the session is READ ONLY and the server refuses writes (SQLSTATE 25006).
    """
    import asyncpg  # noqa: PLC0415 - see the module docstring

    from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.connection import (  # noqa: PLC0415
        TrackedConnection,
        verify_read_only_session,
    )

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
