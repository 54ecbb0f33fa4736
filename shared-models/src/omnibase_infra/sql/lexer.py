"""A lexer for PostgreSQL's SQL, following the server's own scanner rules (``scan.l``).

Assumes ``standard_conforming_strings = on`` (the default since PostgreSQL 9.1): a backslash
is an ordinary character in ``'...'`` and only escapes in ``E'...'``. Numeric forms follow
PostgreSQL 16 (``0x1F``, ``0o17``, ``0b101``, ``1_000``). Concatenating the texts of the
tokens gives back the input exactly.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import NamedTuple

__all__ = [
    "LITERAL_KINDS",
    "RESERVED_KEYWORDS",
    "EnumSqlTokenKind",
    "Token",
    "quoted_identifier_name",
    "tokenize",
]


class EnumSqlTokenKind(StrEnum):
    """What a token is."""

    WHITESPACE = "whitespace"
    COMMENT = "comment"  # -- to the end of the line, or /* ... */ (nested)
    KEYWORD = "keyword"  # a reserved key word: never a bare identifier
    IDENTIFIER = "identifier"  # any other bare word, non-reserved key words included
    QUOTED_IDENTIFIER = "quoted_identifier"  # "a""b", U&"d\0061t" [UESCAPE 'c']
    STRING = "string"  # 'a''b', E'a\'b', N'a', U&'d\0061t' [UESCAPE 'c']
    DOLLAR_STRING = "dollar_string"  # $$...$$, $tag$...$tag$
    BIT_STRING = "bit_string"  # B'1010', X'1F'
    NUMBER = "number"  # 42, 4.2, .5, 1e10, 0x1F, 0o17, 0b101, 1_000
    PARAMETER = "parameter"  # $1
    OPERATOR = "operator"  # + - * / < > = ~ ! @ # % ^ & | ` ? and their combinations
    PUNCTUATION = "punctuation"  # ( ) [ ] , ; . : :: := ..
    UNTERMINATED = "unterminated"  # a string, identifier or comment cut off: the rest of the input
    OTHER = "other"  # a character PostgreSQL rejects outside quotes (e.g. a backslash)


LITERAL_KINDS = frozenset(
    {
        EnumSqlTokenKind.STRING,
        EnumSqlTokenKind.DOLLAR_STRING,
        EnumSqlTokenKind.BIT_STRING,
        EnumSqlTokenKind.NUMBER,
    }
)

# PostgreSQL's reserved key words and those reserved but allowed as function or type names
# (kwlist.h: RESERVED_KEYWORD, TYPE_FUNC_NAME_KEYWORD). No other word is reserved.
_RESERVED = """
    ALL ANALYSE ANALYZE AND ANY ARRAY AS ASC ASYMMETRIC BOTH CASE CAST CHECK COLLATE COLUMN
    CONSTRAINT CREATE CURRENT_CATALOG CURRENT_DATE CURRENT_ROLE CURRENT_TIME CURRENT_TIMESTAMP
    CURRENT_USER DEFAULT DEFERRABLE DESC DISTINCT DO ELSE END EXCEPT FALSE FETCH FOR FOREIGN
    FROM GRANT GROUP HAVING IN INITIALLY INTERSECT INTO LATERAL LEADING LIMIT LOCALTIME
    LOCALTIMESTAMP NOT NULL OFFSET ON ONLY OR ORDER PLACING PRIMARY REFERENCES RETURNING SELECT
    SESSION_USER SOME SYMMETRIC SYSTEM_USER TABLE THEN TO TRAILING TRUE UNION UNIQUE USER USING
    VARIADIC WHEN WHERE WINDOW WITH
    AUTHORIZATION BINARY COLLATION CONCURRENTLY CROSS CURRENT_SCHEMA FREEZE FULL ILIKE INNER IS
    ISNULL JOIN LEFT LIKE NATURAL NOTNULL OUTER OVERLAPS RIGHT SIMILAR TABLESAMPLE VERBOSE
    """
RESERVED_KEYWORDS = frozenset(_RESERVED.split())


class Token(NamedTuple):
    """One token: its kind, its exact text and where it starts in the input."""

    kind: EnumSqlTokenKind
    text: str
    start: int

    @property
    def end(self) -> int:
        """Index just past the token."""
        return self.start + len(self.text)


_K = EnumSqlTokenKind
# Any character from U+0080 up is an identifier character to PostgreSQL (as any high byte).
_IDENT_START = r"A-Za-z_\x80-\U0010ffff"
_TAG_CONT = r"A-Za-z0-9_\x80-\U0010ffff"
_DIGITS = r"\d(?:_?\d)*"  # ASCII only: the pattern is compiled with re.ASCII
_MASTER = re.compile(
    rf"""
    (?P<ws>[\ \t\n\r\f\v]+)
    |(?P<prefixed>[EeNnBbXx]'|[Uu]&['"])
    |(?P<word>[{_IDENT_START}][{_TAG_CONT}$]*)
    |(?P<parens>\(\(+|\)\)+)
    |(?P<punct>::|:=|\.\.|[(),;\[\]:])
    |(?P<number>0[xX](?:_?[0-9A-Fa-f])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+
        |(?:{_DIGITS}(?:\.(?!\.)(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?)
    |(?P<dot>\.)
    |(?P<quote>')
    |(?P<dquote>")
    |(?P<param>\$\d+)
    |(?P<dollar>\$(?:[{_IDENT_START}][{_TAG_CONT}]*)?\$)
    |(?P<line_comment>--[^\n\r]*)
    |(?P<block_comment>/\*)
    |(?P<op>[+*<>=~!@\#%^&|`?/-]+)
    |(?P<other>.)
    """,
    re.VERBOSE | re.DOTALL | re.ASCII,
)
# Bodies up to (not including) the closing quote; possessive, so no backtracking.
_PLAIN_BODY = re.compile(r"[^']*+(?:''[^']*+)*+")
_ESCAPE_BODY = re.compile(r"[^'\\]*+(?:(?:\\.|'')[^'\\]*+)*+", re.DOTALL)
_BIT_BODY = re.compile(r"[^']*+")
_IDENT_BODY = re.compile(r'[^"]*+(?:""[^"]*+)*+')
# Quoted strings separated only by whitespace with a newline are one literal (scan.l
# "quotecontinue"); -- comments may sit in that whitespace.
_CONTINUE = re.compile(r"(?:[ \t\f]++|--[^\n\r]*+)*+[\n\r](?:[ \t\n\r\f\v]++|--[^\n\r]*+[\n\r])*+'")
_UESCAPE = re.compile(r"[ \t\n\r\f\v]*+[Uu][Ee][Ss][Cc][Aa][Pp][Ee][ \t\n\r\f\v]*+'[^']'")
_COMMENT_DELIM = re.compile(r"/\*|\*/")
_UIDENT_PARTS = re.compile(
    r'[Uu]&"((?:[^"]|"")*)"'
    r"(?:[ \t\n\r\f\v]*[Uu][Ee][Ss][Cc][Aa][Pp][Ee][ \t\n\r\f\v]*'([^'])')?\Z"
)
_HEX = re.compile(r"[0-9A-Fa-f]+")
_OP_SPECIAL = re.compile(r"[~!@#%^&|`?]")
_new_token = tuple.__new__  # Token(...) without the Python-level __new__ frame
_Scanner = Callable[[str, re.Match[str]], tuple[EnumSqlTokenKind, int]]


def quoted_identifier_name(text: str, escape: str | None = None) -> str | None:
    """The name a quoted identifier token stands for: ``"a""b"`` is ``a"b``; ``U&"..."`` has
    its escapes decoded (``\\0041``, ``\\+000041``, a doubled escape character; the escape
    character is the token's own ``UESCAPE 'c'``, else ``escape``, else a backslash). None when
    the escapes are malformed: the server rejects such a name."""
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    m = _UIDENT_PARTS.match(text)
    if m is None:  # not a terminated quoted identifier
        return None
    return _decode_unicode_escapes(m.group(1).replace('""', '"'), m.group(2) or escape or "\\")


def _decode_unicode_escapes(body: str, escape: str) -> str | None:
    """PostgreSQL's U& escapes: ``<e>XXXX``, ``<e>+XXXXXX``, ``<e><e>``; surrogate pairs join."""
    out: list[str] = []
    pending_high = 0
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != escape:
            if pending_high:
                return None
            out.append(c)
            i += 1
            continue
        if body[i + 1 : i + 2] == escape:
            if pending_high:
                return None
            out.append(escape)
            i += 2
            continue
        digits = 6 if body[i + 1 : i + 2] == "+" else 4
        start = i + 2 if digits == 6 else i + 1
        code = body[start : start + digits]
        if len(code) != digits or not _HEX.fullmatch(code):
            return None
        point = int(code, 16)
        i = start + digits
        if 0xD800 <= point <= 0xDBFF and not pending_high:
            pending_high = point
            continue
        if pending_high:
            if not 0xDC00 <= point <= 0xDFFF:
                return None
            point = 0x10000 + ((pending_high - 0xD800) << 10) + (point - 0xDC00)
            pending_high = 0
        elif 0xDC00 <= point <= 0xDFFF or not 0 < point <= 0x10FFFF:
            return None
        out.append(chr(point))
    return None if pending_high else "".join(out)


def _quoted_end(sql: str, pos: int, body: re.Pattern[str]) -> int:
    """End of a quoted literal whose body starts at ``pos``, or -1 when it is unterminated."""
    n = len(sql)
    while True:
        end = body.match(sql, pos).end()  # type: ignore[union-attr]  # matches empty at worst
        if end >= n or sql[end] != "'":
            return -1
        cont = _CONTINUE.match(sql, end + 1)
        if cont is None:
            return end + 1
        pos = cont.end()


def _uescape_end(sql: str, end: int) -> int:
    """Extend a U& literal or identifier over a following ``UESCAPE 'c'`` clause."""
    m = _UESCAPE.match(sql, end)
    return end if m is None else m.end()


def _comment_end(sql: str, pos: int) -> int:
    """End of a block comment whose body starts at ``pos`` (comments nest), or -1."""
    depth = 1
    for m in _COMMENT_DELIM.finditer(sql, pos):
        depth += 1 if m.group() == "/*" else -1
        if not depth:
            return m.end()
    return -1


def _operator_tokens(text: str, start: int) -> list[Token]:
    """The operators of one run of operator characters, by scan.l's rule: a multi-character
    operator cannot end in + or - unless it contains one of ~ ! @ # % ^ & | ` ?, so that
    ``a=-1`` is ``=`` then ``-``. The server strips the trailing signs and scans the rest
    again; every character stripped is then an operator of its own, and producing them
    directly keeps a long run of ``+-`` linear (rescanning is quadratic)."""
    operator, new = _K.OPERATOR, _new_token
    if len(text) == 1 or text[-1] not in "+-" or _OP_SPECIAL.search(text):
        return [new(Token, (operator, text, start))]
    head = len(text.rstrip("+-")) or 1
    tokens = [new(Token, (operator, text[:head], start))]
    tokens += [new(Token, (operator, c, k)) for k, c in enumerate(text[head:], start + head)]
    return tokens


_PREFIXES = {
    "E": (_K.STRING, _ESCAPE_BODY),
    "N": (_K.STRING, _PLAIN_BODY),
    "B": (_K.BIT_STRING, _BIT_BODY),
    "X": (_K.BIT_STRING, _BIT_BODY),
}


def _scan_prefixed(sql: str, m: re.Match[str]) -> tuple[EnumSqlTokenKind, int]:
    """A one-letter prefix glued to a quote: E'', B'', X'', N'', U&'' and U&""."""
    text, end = m.group(), m.end()
    if len(text) == 2:
        kind, body = _PREFIXES[text[0].upper()]
        return kind, _quoted_end(sql, end, body)
    if text[2] == "'":
        kind, close = _K.STRING, _quoted_end(sql, end, _PLAIN_BODY)
    else:
        kind, close = _K.QUOTED_IDENTIFIER, _identifier_end(sql, end)
    return kind, close if close < 0 else _uescape_end(sql, close)


def _identifier_end(sql: str, pos: int) -> int:
    """End of a quoted identifier whose body starts at ``pos``, or -1."""
    end = _IDENT_BODY.match(sql, pos).end()  # type: ignore[union-attr]  # matches empty at worst
    return end + 1 if end < len(sql) else -1


def _scan_string(sql: str, m: re.Match[str]) -> tuple[EnumSqlTokenKind, int]:
    return _K.STRING, _quoted_end(sql, m.end(), _PLAIN_BODY)


def _scan_quoted_identifier(sql: str, m: re.Match[str]) -> tuple[EnumSqlTokenKind, int]:
    return _K.QUOTED_IDENTIFIER, _identifier_end(sql, m.end())


def _scan_dollar(sql: str, m: re.Match[str]) -> tuple[EnumSqlTokenKind, int]:
    tag = m.group()
    close = sql.find(tag, m.end())
    return _K.DOLLAR_STRING, close if close < 0 else close + len(tag)


def _scan_block_comment(sql: str, m: re.Match[str]) -> tuple[EnumSqlTokenKind, int]:
    return _K.COMMENT, _comment_end(sql, m.end())


def _scan_operator(sql: str, m: re.Match[str]) -> tuple[EnumSqlTokenKind, int]:
    """A run of operator characters up to (not into) a ``--`` or ``/*`` inside it: the
    comment starts there (scan.l cuts the run the same way)."""
    text, start = m.group(), m.start()
    cut = len(text)
    for opener in ("--", "/*"):
        found = text.find(opener)
        if 0 <= found < cut:
            cut = found
    return _K.OPERATOR, start + cut


# Groups of the master pattern whose match is the whole token (with its kind), and those that
# scan further; by group number (``Match.lastindex``: the pattern has no nested group).
_WHOLE_MATCH = {
    "ws": _K.WHITESPACE,
    "punct": _K.PUNCTUATION,
    "dot": _K.PUNCTUATION,
    "number": _K.NUMBER,
    "param": _K.PARAMETER,
    "line_comment": _K.COMMENT,
    "other": _K.OTHER,
}
_SCANNERS = {
    "prefixed": _scan_prefixed,
    "quote": _scan_string,
    "dquote": _scan_quoted_identifier,
    "dollar": _scan_dollar,
    "block_comment": _scan_block_comment,
    "op": _scan_operator,
}
_WORD_GROUP = _MASTER.groupindex["word"]
_OP_GROUP = _MASTER.groupindex["op"]
_PARENS_GROUP = _MASTER.groupindex["parens"]
_WHOLE_BY_INDEX: list[EnumSqlTokenKind | None] = [None] * (_MASTER.groups + 1)
_SCANNER_BY_INDEX: list[_Scanner | None] = [None] * (_MASTER.groups + 1)
for _name, _index in _MASTER.groupindex.items():
    _WHOLE_BY_INDEX[_index] = _WHOLE_MATCH.get(_name)
    _SCANNER_BY_INDEX[_index] = _SCANNERS.get(_name)


# Texts from this length up are lexed (and analysed) with the cyclic garbage collector paused:
# their tokens are hundreds of thousands of small objects, none in a cycle, and the
# collections their allocation triggers would cost about twice the lexing itself.
GC_PAUSE_LENGTH = 65536


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (unless it is already off)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def tokenize(sql: str) -> list[Token]:
    """Split ``sql`` into tokens; a literal, quoted identifier or comment cut off by the end of
    the input becomes one ``UNTERMINATED`` token holding the rest of the input.

    Linear in the length of ``sql``.
    """
    if len(sql) < GC_PAUSE_LENGTH:
        return _tokenize(sql)
    with gc_paused():
        return _tokenize(sql)


def _tokenize(sql: str) -> list[Token]:
    tokens: list[Token] = []
    append = tokens.append
    whole_by_index, reserved = _WHOLE_BY_INDEX, RESERVED_KEYWORDS
    keyword, identifier, punctuation = _K.KEYWORD, _K.IDENTIFIER, _K.PUNCTUATION
    new = _new_token
    n = len(sql)
    pos = 0
    while pos < n:
        # Tokens that are a whole match of the pattern, in one pass; stop at any other.
        for m in _MASTER.finditer(sql, pos):
            index: int = m.lastindex  # type: ignore[assignment]
            kind = whole_by_index[index]
            if kind is not None:
                append(new(Token, (kind, m.group(), m.start())))
            elif index == _WORD_GROUP:
                text = m.group()
                kind = keyword if text.upper() in reserved else identifier
                append(new(Token, (kind, text, m.start())))
            else:
                pos = m.start()
                break
        else:  # every character matched (the last alternative takes any character)
            return tokens
        if index == _PARENS_GROUP:  # a run of ( or of ): one token each, made in one go
            end = m.end()
            paren = sql[pos]
            tokens += [new(Token, (punctuation, paren, k)) for k in range(pos, end)]
        else:
            kind, end = _SCANNER_BY_INDEX[index](sql, m)  # type: ignore[misc]
            if end < 0:
                kind, end = _K.UNTERMINATED, n
            if index == _OP_GROUP:
                tokens += _operator_tokens(sql[pos:end], pos)
            else:
                append(new(Token, (kind, sql[pos:end], pos)))
        pos = end
    return tokens
