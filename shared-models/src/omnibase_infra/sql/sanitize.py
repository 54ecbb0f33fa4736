"""Literal sanitizing for logs and spans: every literal becomes ``?``.

Replaced: strings (``'...'``, ``E'...'``, ``N'...'``, ``U&'...'``), dollar-quoted bodies, bit
strings (``B'...'``, ``X'...'``), numbers (with a unary sign), and ``TRUE``/``FALSE`` where
they are values (not in ``IS [NOT] TRUE``). Kept: identifiers (quoted or not), key words,
``$n`` parameters, casts, operators, ``NULL``, and words such as ``on`` in ``SET x = on``
(PostgreSQL lexes them as words, not literals). A literal, quoted identifier or comment cut
off by the end of the text is dropped. Whitespace runs become one space.
"""

from __future__ import annotations

import functools

from pydantic import BaseModel, ConfigDict

from omnibase_infra.sql.analysis import (
    CACHE_MAX_TEXT_LENGTH,
    CACHE_SIZE,
    describe_statements,
    describe_tokens,
)
from omnibase_infra.sql.lexer import LITERAL_KINDS, EnumSqlTokenKind, Token, tokenize

__all__ = ["PLACEHOLDER", "ModelSanitizedStatement", "analyze_sql", "sanitize_sql"]

PLACEHOLDER = "?"

_K = EnumSqlTokenKind
# Marks of emitted pieces, for the look-behind of sign folding and IN-list collapsing.
_LITERAL = "?"
_VALUE = "value"  # something a binary operator can follow: name, parameter, ), ]
_SIGN = "sign"
_OTHER = ""
_VALUE_KEYWORDS = frozenset(
    {"NULL", "TRUE", "FALSE", "END", "USER", "CURRENT_USER", "SESSION_USER", "SYSTEM_USER"}
    | {"CURRENT_ROLE", "CURRENT_CATALOG", "CURRENT_SCHEMA", "CURRENT_DATE", "CURRENT_TIME"}
    | {"CURRENT_TIMESTAMP", "LOCALTIME", "LOCALTIMESTAMP"}
)
_VALUE_KINDS = frozenset({_K.IDENTIFIER, _K.QUOTED_IDENTIFIER, _K.PARAMETER})
# Dropped, leaving a space: whitespace, comments (unless kept), anything cut off at the end.
_SPACING = frozenset({_K.WHITESPACE, _K.COMMENT, _K.UNTERMINATED})


def _collapse_in_list(pieces: list[str], marks: list[str]) -> None:
    """``IN (?, ?, ?`` at the end of the output (before its ``)``) becomes ``IN (?``."""
    j = len(marks) - 1
    items = 0
    while j >= 0 and marks[j] == _LITERAL:
        items += 1
        if j >= 1 and marks[j - 1] == ",":
            j -= 2
        else:
            break
    else:
        return
    if items > 1 and j >= 2 and marks[j - 1] == "(" and marks[j - 2] == "IN":
        del pieces[j + 1 :], marks[j + 1 :]


def _mark(kind: EnumSqlTokenKind, text: str, upper: str) -> str:
    if kind in _VALUE_KINDS or text in (")", "]") or upper in _VALUE_KEYWORDS:
        return _VALUE
    if kind is _K.OPERATOR and text in ("-", "+"):
        return _SIGN
    if upper == "IN" and kind is _K.KEYWORD:
        return "IN"
    return text if text in ("(", ",") else _OTHER


def render_tokens(tokens: list[Token], *, keep_comments: bool, collapse_in_lists: bool) -> str:
    """The sanitized text of already lexed SQL (what :func:`sanitize_sql` returns)."""
    pieces: list[str] = []  # each with the separator before it
    marks: list[str] = []  # one per piece (see _mark)
    sep = ""
    last = before_last = ""  # the last two code tokens (key words upper-cased)
    for token in tokens:
        kind, text = token.kind, token.text
        if kind is _K.COMMENT and keep_comments:
            pieces.append(sep + text)
            marks.append(_OTHER)
            # The output is one line: a kept -- comment must still end at a newline.
            sep = "\n" if text.startswith("--") else ""
            continue
        if kind in _SPACING:
            if pieces and not sep:
                sep = " "
            continue
        upper = text.upper() if kind is _K.KEYWORD else text
        if kind in LITERAL_KINDS or (
            kind is _K.KEYWORD
            and upper in ("TRUE", "FALSE")
            and last != "IS"
            and (last, before_last) != ("NOT", "IS")
        ):
            if (
                kind is _K.NUMBER
                and marks[-1:] == [_SIGN]
                and (len(marks) == 1 or marks[-2] not in (_LITERAL, _VALUE))
            ):
                sep = pieces.pop()[:-1]  # a unary sign goes into the placeholder
                marks.pop()
            pieces.append(sep + PLACEHOLDER)
            marks.append(_LITERAL)
        else:
            if text == ")" and collapse_in_lists:
                _collapse_in_list(pieces, marks)
            pieces.append(sep + text)
            marks.append(_mark(kind, text, upper))
        sep = ""
        before_last, last = last, upper
    return "".join(pieces)


def sanitize_sql(sql: str, *, keep_comments: bool = False, collapse_in_lists: bool = True) -> str:
    """``sql`` with every literal replaced by ``?`` (see the module doc for the rules).

    ``keep_comments`` keeps comments as written (they may carry sqlcommenter tags; they are
    not sanitized). ``collapse_in_lists`` turns ``IN (?, ?, ?)`` into ``IN (?)``.
    """
    return render_tokens(
        tokenize(sql), keep_comments=keep_comments, collapse_in_lists=collapse_in_lists
    )


class ModelSanitizedStatement(BaseModel):
    """A sanitized statement with what spans and metrics need from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str  # sanitized: no literal of the input
    operation: str  # kind of the first statement: SELECT, INSERT, CREATE TABLE, ... or ""
    tables: tuple[str, ...]  # every table named, as written, first appearance first


def _analyze(sql: str, keep_comments: bool, collapse_in_lists: bool) -> ModelSanitizedStatement:
    tokens = tokenize(sql)
    # The validator has usually described this text already: its cached description serves.
    infos = (
        describe_statements(sql) if len(sql) <= CACHE_MAX_TEXT_LENGTH else describe_tokens(tokens)
    )
    tables: dict[str, None] = {}
    for info in infos:
        tables.update(dict.fromkeys(info.tables))
    return ModelSanitizedStatement(
        text=render_tokens(
            tokens, keep_comments=keep_comments, collapse_in_lists=collapse_in_lists
        ),
        operation=infos[0].kind if infos else "",
        tables=tuple(tables),
    )


_analyze_cached = functools.lru_cache(maxsize=CACHE_SIZE)(_analyze)


def analyze_sql(
    sql: str, *, keep_comments: bool = False, collapse_in_lists: bool = True
) -> ModelSanitizedStatement:
    """Sanitized text, operation and tables of ``sql`` (cached per text and options)."""
    if len(sql) > CACHE_MAX_TEXT_LENGTH:
        return _analyze(sql, keep_comments, collapse_in_lists)
    return _analyze_cached(sql, keep_comments, collapse_in_lists)
