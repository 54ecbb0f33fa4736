"""Which statements each operation may run, checked with shared-models' validator
(``omnibase_infra.sql``) before anything is sent, plus the sanitized text for spans.

Accepted statements are remembered per (text, allowed access), so the lexer runs once per
distinct statement; rejections are never cached.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

from omnibase_infra.sql import EnumSqlAccess, analyze_sql, quote_identifier, validate_statement

__all__ = [
    "ANY_STATEMENT",
    "READ",
    "READ_WRITE",
    "SINGLE_STATEMENT",
    "TRANSACTION_STATEMENT",
    "StatementChecker",
    "quote_identifier",
]

_A = EnumSqlAccess
READ: Final = frozenset({_A.READ})
"""Read-only fetches and read-only transactions: no data-modifying CTE, no SELECT INTO."""
READ_WRITE: Final = frozenset({_A.READ, _A.WRITE})
"""Fetches with ``read_only=False`` (``INSERT ... RETURNING``) and batches."""
# Transaction control would fight the transaction operation and the pool's reset, and a
# SET outside a transaction would leak into the next user of the pooled connection.
SINGLE_STATEMENT: Final = frozenset({_A.READ, _A.WRITE, _A.DDL, _A.ROUTINE, _A.ADMIN, _A.UNKNOWN})
"""``execute``: anything but transaction control and session state."""
TRANSACTION_STATEMENT: Final = SINGLE_STATEMENT | {_A.SESSION}
"""Statements of a read-write transaction (``SET LOCAL`` included)."""
ANY_STATEMENT: Final = frozenset(_A)

_CACHE_SIZE = 4096


class StatementChecker:
    """Validates statements for one node, remembering the ones it accepted."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._accepted: dict[tuple[str, frozenset[EnumSqlAccess]], str] = {}

    def check(
        self,
        sql: str,
        allow: frozenset[EnumSqlAccess],
        *,
        operation: str,
        correlation_id: UUID | None = None,
    ) -> str:
        """Raise ``InfraValidationError`` unless ``sql`` is one statement needing only
        ``allow``; return its sanitized text (literals replaced by ``?``)."""
        key = (sql, allow)
        text = self._accepted.get(key)
        if text is not None:
            return text
        validate_statement(
            sql,
            allow=allow,
            operation=operation,
            target=self._target,
            correlation_id=correlation_id,
        )
        text = analyze_sql(sql).text
        if len(self._accepted) >= _CACHE_SIZE:
            self._accepted.clear()
        self._accepted[key] = text
        return text
