"""The statement validator the Postgres node runs before anything reaches the server."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError
from omnibase_infra.sql.analysis import EnumSqlAccess, ModelStatementInfo, describe_statements
from omnibase_infra.sql.sanitize import analyze_sql

__all__ = ["READ_ONLY", "READ_WRITE", "validate_statement"]

READ_ONLY = frozenset({EnumSqlAccess.READ})
READ_WRITE = frozenset({EnumSqlAccess.READ, EnumSqlAccess.WRITE})
_SHOWN_STATEMENT_LENGTH = 200


def validate_statement(
    sql: str,
    *,
    allow: Iterable[EnumSqlAccess | str],
    operation: str,
    target: str | None = None,
    correlation_id: UUID | None = None,
) -> ModelStatementInfo:
    """Check that ``sql`` is exactly one well-formed statement needing only ``allow``ed access.

    Rejects, with an ``InfraValidationError`` (transport postgres) whose message names the
    reason and whose ``details["rule"]`` is one of ``empty``, ``malformed``,
    ``multiple_statements`` or ``access``: empty text; a NUL character, an unterminated
    literal, quoted identifier or comment, unbalanced parentheses, or a backslash before a
    quote in a ``'...'`` string (read differently with ``standard_conforming_strings``
    off); more than one statement; and any access the statement needs beyond ``allow`` (e.g. a
    data-modifying CTE, ``SELECT ... INTO`` or ``FOR UPDATE`` in a read-only fetch).
    Returns the statement's description. Results are cached per text.
    """
    allowed = frozenset(EnumSqlAccess(a) for a in allow)
    infos = describe_statements(sql)

    def reject(message: str, rule: str, **context: Any) -> InfraValidationError:
        shown = analyze_sql(sql).text
        if len(shown) > _SHOWN_STATEMENT_LENGTH:
            shown = shown[:_SHOWN_STATEMENT_LENGTH] + "..."
        return InfraValidationError(
            message,
            transport=EnumTransport.POSTGRES,
            operation=operation,
            target=target,
            correlation_id=correlation_id,
            rule=rule,
            statement=shown,
            **context,
        )

    if not infos:
        raise reject("empty statement: no SQL to run", "empty")
    if "\x00" in sql:
        raise reject("malformed statement: NUL character in the text", "malformed")
    for info in infos:
        if info.problems:
            raise reject(f"malformed statement: {info.problems[0]}", "malformed")
    if len(infos) > 1:
        kinds = "; ".join(info.kind or "?" for info in infos)
        raise reject(
            f"{len(infos)} statements ({kinds}); only one allowed",
            "multiple_statements",
            statement_count=len(infos),
        )
    info = infos[0]
    for need in info.needs:
        if need.access not in allowed:
            permitted = ", ".join(sorted(allowed)) or "nothing"
            raise reject(
                f"{need.reason} needs {need.access} access; {operation!r} allows {permitted}",
                "access",
                statement_kind=info.kind,
                access=need.access.value,
            )
    return info
