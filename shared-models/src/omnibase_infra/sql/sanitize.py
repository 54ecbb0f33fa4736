"""Literal sanitizing for logs and spans: every literal becomes ``?``.

Replaced: strings (``'...'``, ``E'...'``, ``N'...'``, ``U&'...'``), dollar-quoted bodies, bit
strings (``B'...'``, ``X'...'``), numbers (with a unary sign), and ``TRUE``/``FALSE`` where
they are values (not in ``IS [NOT] TRUE``). Kept: identifiers (quoted or not), key words,
``$n`` parameters, casts, operators, ``NULL``, and words such as ``on`` in ``SET x = on``
(PostgreSQL lexes them as words, not literals). A literal, quoted identifier or comment cut
off by the end of the text is dropped. Whitespace runs become one space.

:func:`sanitize_sql` reads the text in steps (:data:`~omnibase_infra.sql.lexer.STEP`): a run
of code it keeps as written and the literal or list of literals after it are one match, and
the rules above apply in the same loop. The tests check it against the same rules applied
to :func:`~omnibase_infra.sql.lexer.tokenize`'s tokens one by one
(``tests/sql_reference.py``), on every text they have.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable

from pydantic import BaseModel, ConfigDict

from omnibase_infra.sql.analysis import (
    CACHE_MAX_TEXT_LENGTH,
    CACHE_SIZE,
    describe_statements,
    describe_tokens,
)
from omnibase_infra.sql.lexer import (
    GC_PAUSE_LENGTH,
    LITERAL_GROUP,
    LITERAL_KINDS,
    LITERALS,
    MARK_DOT_NUMBER,
    MARK_IDENTIFIER,
    MARK_NUMBER,
    MARK_OTHER,
    MARK_PREFIXED,
    MARK_QUESTION,
    MARK_SPACE,
    MARK_STRING,
    MARKERS,
    MARKS,
    MORE_GROUP,
    PREFIX_LETTERS,
    RESERVED_KEYWORDS,
    STEP,
    STEP_KINDS,
    EnumSqlTokenKind,
    gc_paused,
    glued_prefix,
    master_tokens,
    tokenize,
)

__all__ = ["PLACEHOLDER", "ModelSanitizedStatement", "analyze_sql", "sanitize_sql"]

PLACEHOLDER = "?"

_K = EnumSqlTokenKind
# Marks of emitted pieces, for the look-behind of sign folding and IN-list collapsing.
_LITERAL = "?"
_LIST = "?, ?"  # literals separated by commas, one piece (see lexer.STEP)
_CODE_LITERAL = "code ?"  # a run of code and the literal(s) after it, one piece
_RUN = "run"  # a run of code (see lexer.STEP): _run_mark tells what it ends with, if need be
_VALUE = "value"  # something a binary operator can follow: name, parameter, ), ]
_SIGN = "sign"
_OTHER = ""
_ITEMS = frozenset({_LITERAL, _LIST})  # what an IN list is made of
_NO_SIGN_AFTER = frozenset({_LITERAL, _LIST, _CODE_LITERAL, _VALUE})  # a sign here is binary
_VALUE_KEYWORDS = frozenset(
    {"NULL", "TRUE", "FALSE", "END", "USER", "CURRENT_USER", "SESSION_USER", "SYSTEM_USER"}
    | {"CURRENT_ROLE", "CURRENT_CATALOG", "CURRENT_SCHEMA", "CURRENT_DATE", "CURRENT_TIME"}
    | {"CURRENT_TIMESTAMP", "LOCALTIME", "LOCALTIMESTAMP"}
)
_NON_VALUE_KEYWORDS = RESERVED_KEYWORDS - _VALUE_KEYWORDS
_VALUE_KINDS = frozenset({_K.IDENTIFIER, _K.QUOTED_IDENTIFIER, _K.PARAMETER})
# Dropped, leaving a space: whitespace, comments (unless kept), anything cut off at the end.
_SPACING = frozenset({_K.WHITESPACE, _K.COMMENT, _K.UNTERMINATED})
# The word a run ends with, looked for among its last characters only: a longer word is no
# key word.
_LONGEST_KEYWORD = max(map(len, RESERVED_KEYWORDS))
_TRAILING_WORD = re.compile(r"[A-Za-z0-9_$\x80-\U0010ffff]+\Z")
_WHITESPACE_RUNS = re.compile(r"[ \t\n\r\f\v]{2,}|[\t\n\r\f\v]")


def _collapse_in_list(pieces: list[str], marks: list[str]) -> None:
    """``IN (?, ?, ?`` at the end of the output (before its ``)``) becomes ``IN (?``."""
    j = len(marks) - 1
    items = 0
    while j >= 0 and marks[j] in _ITEMS:
        items += 1 if marks[j] == _LITERAL else 2
        if j >= 1 and marks[j - 1] == ",":
            j -= 2
        else:
            break
    else:
        return
    if items > 1 and j >= 2 and marks[j - 1] == "(" and marks[j - 2] == "IN":
        del pieces[j + 1 :], marks[j + 1 :]
        if marks[j] == _LIST:  # the list's first item stays
            first = pieces[j]
            pieces[j], marks[j] = first[: first.index(PLACEHOLDER) + 1], _LITERAL


def _mark(kind: str, upper: str) -> str:
    """The mark of a token that is not a literal, a run or punctuation (runs hold those)."""
    if kind in _VALUE_KINDS or upper in _VALUE_KEYWORDS:
        return _VALUE
    if kind is _K.OPERATOR and upper in ("-", "+"):
        return _SIGN
    return "IN" if upper == "IN" else _OTHER  # only the key word is IN once upper-cased


def _run_mark(piece: str) -> str:
    """The mark of the last token of the run ``piece`` ends with."""
    if piece[-1] in ")]":
        return _VALUE
    start = max(0, len(piece) - _LONGEST_KEYWORD - 1)
    word = _TRAILING_WORD.search(piece, start)
    if word is None:  # punctuation or an operator
        return _OTHER
    keyword = word.start() > start or not start  # else longer than any key word
    return _OTHER if keyword and word.group().upper() in _NON_VALUE_KEYWORDS else _VALUE


def _literals(text: str) -> str:
    """Literals separated by commas (and whitespace), sanitized."""
    out = LITERALS.sub(PLACEHOLDER, text)
    return out if out.isprintable() and "  " not in out else _WHITESPACE_RUNS.sub(" ", out)


def sanitize_sql(sql: str, *, keep_comments: bool = False, collapse_in_lists: bool = True) -> str:
    """``sql`` with every literal replaced by ``?`` (see the module doc for the rules).

    ``keep_comments`` keeps comments as written (they may carry sqlcommenter tags; they are
    not sanitized). ``collapse_in_lists`` turns ``IN (?, ?, ?)`` into ``IN (?)``. Not cached:
    each call lexes the text, in one marking pass when it can (below), else in steps that take
    the code it keeps as written in one go (:data:`~omnibase_infra.sql.lexer.STEP`). Linear
    in the length of ``sql``.
    """
    if not keep_comments:
        out = _sanitize_marked(sql, collapse_in_lists)
        if out is not None:
            return out
    if len(sql) < GC_PAUSE_LENGTH:
        return _sanitize(sql, keep_comments, collapse_in_lists)
    with gc_paused():
        return _sanitize(sql, keep_comments, collapse_in_lists)


# --- the marking pass
#
# An ASCII text whose comments go is sanitized by one search of lexer.MARKS, in C: each
# literal, comment, quoted identifier and whitespace other than single spaces becomes a
# marker character (the name of the branch's group, which Match.lastgroup gives without a
# Python call), and the code between is kept as written. What the rules need to know about
# the tokens around a literal (is a sign before a number unary, is TRUE after IS, is a list
# after IN) is then read from that output, where code is whole, spacing is one space and a
# literal one marker: a few searches, which find nothing in most texts. A text with a token
# the pass does not handle (MARK_OTHER) is sanitized in steps instead.
#
# In that output a run of word characters never starts with a digit: a digit after anything
# but a word character starts a number, which is a marker by then (MARKS leaves a dollar
# quote that a digit follows, the one other case, to the steps). So a run is $n parameters
# and lone $ (punctuation), then perhaps a word, which takes the rest of the run.

_MARK = operator.attrgetter("lastgroup")
_PREFIXED = re.compile(rf"(?:[Uu]&|[EeNnBbXx]){MARK_PREFIXED}")
# A number after + or - (a sign before a string is never folded into it)
_SIGNED = re.compile(rf"[-+]\ ?{MARK_NUMBER}")
_TRUE_FALSE = re.compile(
    r"[TtFf](?<![A-Za-z_][TtFf])(?:(?<=[Tt])[Rr][Uu][Ee]|(?<=[Ff])[Aa][Ll][Ss][Ee])(?![A-Za-z0-9_$])"
)
# Two or more placeholders in parentheses after IN (found from the parenthesis, rarer than I)
_IN_LIST = re.compile(r"\((?:(?<=[Ii][Nn]\()|(?<=[Ii][Nn]\ \())(\ ?\?)(?:\ ?,\ ?\?)+(\ ?\))")
_RUN_TOKENS = re.compile(r"\$[0-9]*+|[A-Za-z_][A-Za-z0-9_$]*+")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")
_OPERATOR_CHARS = frozenset("+-*/<>=~!@#%^&|`" + MARK_QUESTION)  # ? is a placeholder here
_SPECIAL_OPERATOR_CHARS = frozenset("~!@#%^&|`" + MARK_QUESTION)  # lexer._operator_tokens
# A character other than a marker left by the marking pass outside the tokens it found
_NOT_ASCII_CODE = re.compile(f"[^\\x00-\\x7f{''.join(MARKERS)}]")
_NOT_BEFORE_UNARY = frozenset({PLACEHOLDER, MARK_NUMBER, MARK_IDENTIFIER, ")", "]"})


def _sanitize_marked(  # noqa: PLR0912 - one pass of checks, most of them finding nothing
    sql: str, collapse_in_lists: bool
) -> str | None:
    """The marking pass (see above); None when the text needs the steps."""
    ascii_text = sql.isascii()
    if not ascii_text and any(marker in sql for marker in MARKERS):
        return None
    idents: list[str] = []
    if '"' in sql:  # quoted identifiers are marked, kept aside and put back at the end

        def mark(m: re.Match[str]) -> str:
            if m.lastgroup == MARK_IDENTIFIER:
                idents.append(m.group())
            return m.lastgroup or MARK_OTHER  # never None: every branch ends in its group

        out = MARKS.sub(mark, sql)
    else:
        out = MARKS.sub(_MARK, sql)
    if MARK_OTHER in out or (not ascii_text and _NOT_ASCII_CODE.search(out)):
        return None
    if MARK_SPACE in out:
        out = out.replace(MARK_SPACE, " ")
    if "  " in out or out[:1] == " " or out[-1:] == " ":
        out = " ".join(out.split())  # no other character str.split takes is left
    if MARK_PREFIXED in out:
        out = _PREFIXED.sub(PLACEHOLDER, out)
    out = out.replace(MARK_STRING, PLACEHOLDER)
    if MARK_DOT_NUMBER in out:
        out = out.replace("." + MARK_DOT_NUMBER, MARK_NUMBER)
    if MARK_NUMBER in out:
        if "-" in out or "+" in out:
            out = _SIGNED.sub(_signed_number, out)
        out = out.replace(MARK_NUMBER, PLACEHOLDER)
    lower = out.lower()
    if "true" in lower or "false" in lower:
        out = _TRUE_FALSE.sub(_true_false, out)
    if collapse_in_lists and ("in (" in lower or "in(" in lower):
        out = _IN_LIST.sub(_in_list, out)
    if MARK_QUESTION in out:
        out = out.replace(MARK_QUESTION, "?")
    if idents:
        parts = out.split(MARK_IDENTIFIER)
        out = "".join([part + ident for part, ident in zip(parts, idents, strict=False)])
        out += parts[-1]
    return out


def _last_token(out: str, end: int) -> tuple[str, int]:
    """The last token of the run of word characters that ends at ``out[end]``, and where the
    run starts."""
    start = end
    while start and out[start - 1] in _WORD_CHARS:
        start -= 1
    return _RUN_TOKENS.findall(out, start, end + 1)[-1], start


def _word_before(out: str, end: int) -> tuple[str, int]:
    """The key word or name ending at ``out[end]`` or a space before, upper-cased ("" for
    another token), and where it starts."""
    if end >= 0 and out[end] == " ":
        end -= 1
    if end < 0 or out[end] not in _WORD_CHARS:
        return "", end
    last, _ = _last_token(out, end)
    return ("" if last[0] == "$" else last.upper()), end + 1 - len(last)


def _starts_token(out: str, start: int) -> bool:
    """True when the word at ``out[start]`` is a token of its own, not the end of a longer
    word (it may follow a $n parameter or a lone $)."""
    return (
        not start or out[start - 1] not in _WORD_CHARS or _last_token(out, start - 1)[0][0] == "$"
    )


def _signed_number(m: re.Match[str]) -> str:
    """A sign and the number after it: one placeholder when the sign is unary (the token
    before it is neither a literal nor a value), else as they are."""
    out, sign = m.string, m.start()
    start = sign
    while start and out[start - 1] in _OPERATOR_CHARS:
        start -= 1
    if start < sign:  # the sign ends a longer run of operator characters
        # Without ~ ! @ # % ^ & | ` the run's trailing signs are operators of their own, so
        # this one follows an operator; with one, the run is a single operator.
        special = not _SPECIAL_OPERATOR_CHARS.isdisjoint(out[start:sign])
        return m.group() if special else MARK_NUMBER
    before = sign - 1
    if before >= 0 and out[before] == " ":
        before -= 1
    if before < 0:
        return MARK_NUMBER
    char = out[before]
    if char in _WORD_CHARS:
        last, _ = _last_token(out, before)
        if last[0] == "$":  # a parameter is a value, a lone $ is not
            return MARK_NUMBER if last == "$" else m.group()
        return MARK_NUMBER if last.upper() in _NON_VALUE_KEYWORDS else m.group()
    return m.group() if char in _NOT_BEFORE_UNARY else MARK_NUMBER


def _true_false(m: re.Match[str]) -> str:
    """TRUE or FALSE: a placeholder unless after IS or IS NOT (or inside a longer word)."""
    out, start = m.string, m.start()
    if not _starts_token(out, start):
        return m.group()
    word, word_start = _word_before(out, start - 1)
    if word == "IS" or (word == "NOT" and _word_before(out, word_start - 1)[0] == "IS"):
        return m.group()
    return PLACEHOLDER


def _in_list(m: re.Match[str]) -> str:
    """``IN (?, ?)``: the list's first item only (``IN`` not inside a longer word)."""
    out, paren = m.string, m.start()
    keyword = paren - 3 if out[paren - 1] == " " else paren - 2
    return "(" + m.group(1) + m.group(2) if _starts_token(out, keyword) else m.group()


def _sanitize(  # noqa: PLR0912, PLR0915 - one loop, kept whole for speed
    sql: str,
    keep_comments: bool,
    collapse_in_lists: bool,
    *,
    # Constants bound once: locals are the fastest names to read.
    step: Callable[[str, int], re.Match[str]] = STEP.match,  # type: ignore[assignment]
    step_kinds: list[EnumSqlTokenKind] = STEP_KINDS,
    literal_group: int = LITERAL_GROUP,
    more_group: int = MORE_GROUP,
    keyword: EnumSqlTokenKind = _K.KEYWORD,
    comment: EnumSqlTokenKind = _K.COMMENT,
) -> str:
    pieces: list[str] = []  # each with the separator before it
    marks: list[str] = []  # one per piece
    append_piece, append_mark = pieces.append, marks.append
    sep = ""
    last = before_last = ""  # the last two code tokens (key words upper-cased), for IS TRUE
    n = len(sql)
    pos = 0
    while pos < n:
        m = step(sql, pos)
        ws, run, run_ws = m.group(1, 2, 3)
        index = m.lastindex or 0
        end = m.end()
        if ws and pieces and not sep:
            sep = " "
        if run:
            if run[-1] in PREFIX_LETTERS and not run_ws and glued_prefix(sql, run, m.end(2)):
                # The letter starts a string: lex from it on, after what comes before it.
                run, index, end = run[:-1], 0, m.end(2) - 1
                if run[-1:] == " ":
                    run, run_ws = run[:-1], " "
            if run:
                if collapse_in_lists and run[0] == ")" and marks and marks[-1] in _ITEMS:
                    _collapse_in_list(pieces, marks)
                if run in ("(", ","):  # may be part of an IN list
                    append_piece(sep + run)
                    append_mark(run)
                elif index == literal_group:
                    # The commonest step, code and then a literal: one piece (never a unary
                    # sign's number, never an item of an IN list).
                    text = _literals(m.group(index)) if m.start(more_group) >= 0 else PLACEHOLDER
                    append_piece(sep + run + (" " + text if run_ws else text))
                    append_mark(_CODE_LITERAL)
                    sep = last = ""
                    pos = end
                    continue
                else:
                    append_piece(sep + run)
                    append_mark(_RUN)
                sep = " " if run_ws else ""
                last = ""
        if index == literal_group:  # a literal (or a list of them) after anything else
            text = m.group(index)
            if text[0] != "'" and marks and marks[-1] == _SIGN:  # a number after a sign
                before = marks[-2] if len(marks) > 1 else _OTHER
                if before == _RUN:
                    before = _run_mark(pieces[-2])
                if before not in _NO_SIGN_AFTER:
                    sep = pieces.pop()[:-1]  # a unary sign goes into the placeholder
                    marks.pop()
            if m.start(more_group) >= 0:
                append_piece(sep + _literals(text))
                append_mark(_LIST)
            else:
                append_piece(sep + PLACEHOLDER)
                append_mark(_LITERAL)
            sep = last = ""
            pos = end
            continue
        if index > 3:  # one of the step's own tokens
            tokens: Iterable[tuple[str, str, int]] = ((step_kinds[index], m.group(index), 0),)
        elif index in (1, 3) or end >= n:  # it ends with whitespace: the next step goes on
            pos = end
            continue
        else:  # the master pattern's token(s) come next
            tokens, end = master_tokens(sql, end)
        pos = end
        for kind, text, _ in tokens:
            if kind in _SPACING:
                if kind is comment and keep_comments:
                    append_piece(sep + text)
                    append_mark(_OTHER)
                    # The output is one line: a kept -- comment must still end at a newline.
                    sep = "\n" if text.startswith("--") else ""
                elif pieces and not sep:
                    sep = " "
                continue
            upper = text.upper() if kind is keyword else text
            if kind in LITERAL_KINDS or (
                kind is keyword
                and upper in ("TRUE", "FALSE")
                and last != "IS"
                and (last, before_last) != ("NOT", "IS")
            ):
                append_piece(sep + PLACEHOLDER)
                append_mark(_LITERAL)
            else:
                append_piece(sep + text)
                append_mark(_mark(kind, upper))
            sep = ""
            before_last, last = last, upper
    return "".join(pieces)


class ModelSanitizedStatement(BaseModel):
    """A sanitized statement with what spans and metrics need from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str  # sanitized: no literal of the input
    operation: str  # kind of the first statement: SELECT, INSERT, CREATE TABLE, ... or ""
    tables: tuple[str, ...]  # every table named, as written, first appearance first


def _analyze(sql: str, keep_comments: bool, collapse_in_lists: bool) -> ModelSanitizedStatement:
    # The validator has usually described this text already: its cached description serves.
    infos = (
        describe_statements(sql)
        if len(sql) <= CACHE_MAX_TEXT_LENGTH
        else describe_tokens(tokenize(sql))
    )
    tables: dict[str, None] = {}
    for info in infos:
        tables.update(dict.fromkeys(info.tables))
    return ModelSanitizedStatement(
        text=sanitize_sql(sql, keep_comments=keep_comments, collapse_in_lists=collapse_in_lists),
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
