"""The sanitizer's rules applied token by token: the reference that ``sanitize_sql`` (which
lexes in steps and keeps runs of code whole) is checked against in
``test_sql_sanitize.py``, and the renderer the tracing benchmark gives the baselines' tokens
(``packages/tracing/benchmarks/bench_sanitizer.py``), so that the baselines do the same work.

This is how ``omnibase_infra.sql.sanitize`` rendered :func:`~omnibase_infra.sql.tokenize`'s
tokens before it lexed in steps. Not a test module (no test in it); loaded by path.
"""

from __future__ import annotations

from collections.abc import Iterable

from omnibase_infra.sql import LITERAL_KINDS, PLACEHOLDER, EnumSqlTokenKind

__all__ = ["render_tokens"]

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


def _mark(kind: str, text: str, upper: str) -> str:
    if kind in _VALUE_KINDS or text in (")", "]") or upper in _VALUE_KEYWORDS:
        return _VALUE
    if kind is _K.OPERATOR and text in ("-", "+"):
        return _SIGN
    if upper == "IN" and kind is _K.KEYWORD:
        return "IN"
    return text if text in ("(", ",") else _OTHER


def render_tokens(
    tokens: Iterable[tuple[str, str, int]], *, keep_comments: bool, collapse_in_lists: bool
) -> str:
    """The sanitized text of lexed SQL: (kind, text, start) triples whose kinds are
    :class:`EnumSqlTokenKind` members (``tokenize``'s tokens, or another lexer's mapped to
    them)."""
    pieces: list[str] = []  # each with the separator before it
    marks: list[str] = []  # one per piece (see _mark)
    sep = ""
    last = before_last = ""  # the last two code tokens (key words upper-cased)
    for kind, text, _ in tokens:
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
