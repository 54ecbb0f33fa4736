"""Which statements each operation may run, checked with shared-models' validator
(``omnibase_infra.sql``) before anything is sent, plus the sanitized text for spans.

Accepted statements are remembered per (text, allowed access), so the lexer runs once per
distinct statement; rejections are never cached. ``omnibase_infra.sql`` (the lexer and
analysis) is imported with the first statement to check, not with the node.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final, Literal
from uuid import UUID

if TYPE_CHECKING:
    from omnibase_infra.sql import EnumSqlAccess

__all__ = [
    "READ",
    "READ_WRITE",
    "SINGLE_STATEMENT",
    "TRANSACTION_STATEMENT",
    "Allowed",
    "StatementChecker",
    "allowed_access",
    "quote_identifier",
]

type Allowed = Literal["read", "read_write", "single_statement", "transaction_statement"]
"""What an operation allows, by name (the access sets are built on first use)."""

READ: Final[Allowed] = "read"
"""Read-only fetches and read-only transactions: no data-modifying CTE, no SELECT INTO."""
READ_WRITE: Final[Allowed] = "read_write"
"""Fetches with ``read_only=False`` (``INSERT ... RETURNING``)."""
SINGLE_STATEMENT: Final[Allowed] = "single_statement"
"""``execute``/``execute_many``: anything but transaction control and session state."""
TRANSACTION_STATEMENT: Final[Allowed] = "transaction_statement"
"""Statements of a read-write transaction (``SET LOCAL`` included)."""

_CACHE_SIZE = 4096


@functools.cache
def allowed_access(allowed: Allowed) -> frozenset[EnumSqlAccess]:
    """The access set an operation allows."""
    from omnibase_infra.sql import EnumSqlAccess  # noqa: PLC0415 - see the module docstring

    a = EnumSqlAccess
    # Transaction control would fight the transaction operation and the pool's reset, and a
    # SET outside a transaction would leak into the next user of the pooled connection.
    single = frozenset({a.READ, a.WRITE, a.DDL, a.ROUTINE, a.ADMIN, a.UNKNOWN})
    sets: dict[Allowed, frozenset[EnumSqlAccess]] = {
        READ: frozenset({a.READ}),
        READ_WRITE: frozenset({a.READ, a.WRITE}),
        SINGLE_STATEMENT: single,
        TRANSACTION_STATEMENT: single | {a.SESSION},
    }
    return sets[allowed]


def quote_identifier(name: str) -> str:
    """``omnibase_infra.sql.quote_identifier`` (imported on first use)."""
    from omnibase_infra.sql import quote_identifier as quote  # noqa: PLC0415

    return quote(name)


class StatementChecker:
    """Validates statements for one node, remembering the ones it accepted."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._accepted: dict[tuple[str, Allowed], str] = {}

    def check(
        self,
        sql: str,
        allow: Allowed,
        *,
        operation: str,
        correlation_id: UUID | None = None,
    ) -> str:
        """Raise ``InfraValidationError`` unless ``sql`` is one statement needing only what
        ``allow`` allows; return its sanitized text (literals replaced by ``?``)."""
        key = (sql, allow)
        text = self._accepted.get(key)
        if text is not None:
            return text
        from omnibase_infra.sql import analyze_sql, validate_statement  # noqa: PLC0415

        validate_statement(
            sql,
            allow=allowed_access(allow),
            operation=operation,
            target=self._target,
            correlation_id=correlation_id,
        )
        text = analyze_sql(sql).text
        if len(self._accepted) >= _CACHE_SIZE:
            self._accepted.clear()
        self._accepted[key] = text
        return text
