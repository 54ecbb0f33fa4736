"""The statement validator the Postgres node runs before anything reaches the server."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError
from omnibase_infra.sql.analysis import (
    CACHE_MAX_TEXT_LENGTH,
    EnumSqlAccess,
    ModelStatementInfo,
    describe_statements,
    describe_tokens,
)
from omnibase_infra.sql.lexer import tokenize
from omnibase_infra.sql.sanitize import analyze_sql, render_tokens

__all__ = ["READ_ONLY", "READ_WRITE", "validate_statement"]

READ_ONLY = frozenset({EnumSqlAccess.READ})
READ_WRITE = frozenset({EnumSqlAccess.READ, EnumSqlAccess.WRITE})
_SHOWN_STATEMENT_LENGTH = 200
_SHOWN_KINDS = 5


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
    literal, quoted identifier, comment or ``BEGIN ATOMIC`` body, unbalanced parentheses, or a
    backslash before a quote in a ``'...'`` string (read differently with
    ``standard_conforming_strings`` off); more than one statement; and any access the
    statement needs beyond ``allow``: in a read-only operation (``allow`` = ``READ_ONLY``) a
    data-modifying statement at any depth (a CTE, ``COPY (...) TO``, a ``WITH`` inside either),
    ``SELECT ... INTO``, ``FOR UPDATE``, and a call to a built-in function that acts beyond
    the rows it returns (:mod:`omnibase_infra.sql.functions`: ``set_config``, ``nextval``,
    ``pg_terminate_backend``, ``pg_read_file``, ``lo_*``, session advisory locks,
    ``pg_notify``, ``dblink*``, ...). User-defined functions are opaque: only a read-only
    transaction on the server stops what they write.

    Linear in the length of ``sql``; returns the statement's description. Results are cached
    per text.
    """
    allowed = frozenset(EnumSqlAccess(a) for a in allow)
    if len(sql) <= CACHE_MAX_TEXT_LENGTH:
        infos = describe_statements(sql)  # cached
        tokens = None
    else:  # lexed once, for the analysis and for the text a rejection shows
        tokens = tokenize(sql)
        infos = describe_tokens(tokens)

    def reject(message: str, rule: str, **context: Any) -> InfraValidationError:
        if tokens is None:
            shown = analyze_sql(sql).text
        else:
            shown = render_tokens(tokens, keep_comments=False, collapse_in_lists=True)
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
        kinds = "; ".join(info.kind or "?" for info in infos[:_SHOWN_KINDS])
        kinds += "; ..." if len(infos) > _SHOWN_KINDS else ""
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
