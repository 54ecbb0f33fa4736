"""The connection class of the node's pools (it subclasses asyncpg's, so this module
imports asyncpg: :func:`.driver.create_pool` imports it with the first pool)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import asyncpg

from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.driver import (
    READ_ONLY_SETTING,
    SessionNotReadOnlyError,
)

__all__ = ["TrackedConnection", "verify_read_only_session"]

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
