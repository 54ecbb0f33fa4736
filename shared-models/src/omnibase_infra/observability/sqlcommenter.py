"""sqlcommenter: the trace context as a trailing SQL comment, for sampled statements only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import quote

from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability.propagation import PropagatedContext, trace_headers

__all__ = ["add_trace_comment", "has_sql_comment"]

_COMMENT_STARTS: Final = ("--", "/*")


def has_sql_comment(sql: str) -> bool:
    """Whether ``sql`` has a comment, lexed as PostgreSQL does (a ``--`` inside a string
    literal is no comment). A comment or literal cut off by the end of the text counts too:
    text appended to it would land inside it.
    """
    if not any(start in sql for start in _COMMENT_STARTS):
        return False  # the common case, without lexing
    # Imported here: the SQL lexer costs import time that nodes without SQL never need.
    from omnibase_infra.sql import EnumSqlTokenKind, tokenize  # noqa: PLC0415

    not_code = (EnumSqlTokenKind.COMMENT, EnumSqlTokenKind.UNTERMINATED)
    return any(token.kind in not_code for token in tokenize(sql))


def _serialize(text: str) -> str:
    # URL-encode, then escape the quote meta-character, then quote (spec order).
    return quote(text, safe="").replace("'", "\\'")


def add_trace_comment(
    sql: str,
    context: ModelCorrelationContext | PropagatedContext,
    *,
    extra: Mapping[str, str] | None = None,
) -> str:
    """``sql`` with ``/*traceparent='...',tracestate='...'*/`` appended (before a final ``;``).

    Unchanged when the context has no trace, is not sampled (a comment that differs per
    statement defeats prepared-statement caching, so only sampled statements pay for it),
    or when the statement already has a comment. ``extra`` adds keys such as
    ``application`` or ``db_driver``; keys are sorted, keys and values URL-encoded with
    ``'`` escaped, values single-quoted, as the sqlcommenter specification says.
    """
    correlation = context.correlation if isinstance(context, PropagatedContext) else context
    if not correlation.sampled:
        return sql
    headers = trace_headers(correlation)  # empty without a trace and span
    if not headers or has_sql_comment(sql):
        return sql
    fields = {**(extra or {}), **headers}
    comment = ",".join(
        f"{_serialize(key)}='{_serialize(value)}'" for key, value in sorted(fields.items())
    )
    body = sql.rstrip()
    if body.endswith(";"):
        return f"{body[:-1].rstrip()} /*{comment}*/;"
    return f"{body} /*{comment}*/"
