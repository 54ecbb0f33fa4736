"""The statement validator the Postgres node runs before anything reaches the server."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError
from omnibase_infra.sql.analysis import (
    CACHE_MAX_TEXT_LENGTH,
    SUMMARY_KINDS,
    EnumSqlAccess,
    ModelStatementInfo,
    describe_statements,
    summarize_infos,
    summarize_tokens,
)
from omnibase_infra.sql.lexer import Token, tokenize
from omnibase_infra.sql.sanitize import analyze_sql, render_tokens

__all__ = ["READ_ONLY", "READ_WRITE", "validate_statement"]

READ_ONLY = frozenset({EnumSqlAccess.READ})
READ_WRITE = frozenset({EnumSqlAccess.READ, EnumSqlAccess.WRITE})
_SHOWN_STATEMENT_LENGTH = 200
_SHOWN_SOURCE_LENGTH = 4096  # of a long text, the part rendered for a rejection


def _start(token: Token) -> int:
    return token.start


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
        summary = summarize_infos(describe_statements(sql))  # cached
        tokens = None
    else:  # lexed once, for the analysis and for the text a rejection shows
        tokens = tokenize(sql)
        summary = summarize_tokens(tokens)

    def reject(message: str, rule: str, **context: Any) -> InfraValidationError:
        if tokens is None:
            shown = analyze_sql(sql).text
        else:  # a long text: only its beginning is shown, so only that is rendered
            head = tokens[: bisect.bisect_left(tokens, _SHOWN_SOURCE_LENGTH, key=_start)]
            shown = render_tokens(head, keep_comments=False, collapse_in_lists=True)
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

    if not summary.count:
        raise reject("empty statement: no SQL to run", "empty")
    if "\x00" in sql:
        raise reject("malformed statement: NUL character in the text", "malformed")
    if summary.problem is not None:
        raise reject(f"malformed statement: {summary.problem}", "malformed")
    if summary.info is None:
        kinds = "; ".join(kind or "?" for kind in summary.kinds)
        kinds += "; ..." if summary.count > SUMMARY_KINDS else ""
        raise reject(
            f"{summary.count} statements ({kinds}); only one allowed",
            "multiple_statements",
            statement_count=summary.count,
        )
    info = summary.info
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
