"""A lexer for PostgreSQL's SQL, following the server's own scanner rules (``scan.l``).

Assumes ``standard_conforming_strings = on`` (the default since PostgreSQL 9.1): a backslash
is an ordinary character in ``'...'`` and only escapes in ``E'...'``. Numeric forms follow
PostgreSQL 16 (``0x1F``, ``0o17``, ``0b101``, ``1_000``). Concatenating the texts of the
tokens gives back the input exactly.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple

__all__ = [
    "LITERAL_KINDS",
    "RESERVED_KEYWORDS",
    "EnumSqlTokenKind",
    "Token",
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
    |(?P<word>[{_IDENT_START}][{_TAG_CONT}$]*)
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
    |(?P<op>(?:[+*<>=~!@\#%^&|`?]|-(?!-)|/(?!\*))+)
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
_OP_SPECIAL = frozenset("~!@#%^&|`?")


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
    while depth:
        m = _COMMENT_DELIM.search(sql, pos)
        if m is None:
            return -1
        depth += 1 if m.group() == "/*" else -1
        pos = m.end()
    return pos


def _operator_end(text: str, start: int) -> int:
    """scan.l's rule: a multi-character operator cannot end in + or - unless it contains
    one of ~ ! @ # % ^ & | ` ?, so that ``a=-1`` is ``=`` then ``-``."""
    n = len(text)
    if n > 1 and text[-1] in "+-" and not _OP_SPECIAL.intersection(text):
        n -= 1
        while n > 1 and text[n - 1] in "+-":
            n -= 1
    return start + n


_PREFIXES = {
    "E": (_K.STRING, _ESCAPE_BODY),
    "N": (_K.STRING, _PLAIN_BODY),
    "B": (_K.BIT_STRING, _BIT_BODY),
    "X": (_K.BIT_STRING, _BIT_BODY),
}


def _prefixed(sql: str, word: str, end: int) -> tuple[EnumSqlTokenKind, int] | None:
    """A one-letter word glued to a quote starts a prefixed literal: E'', B'', X'', N'', U&''."""
    nxt = sql[end : end + 2]
    letter = word.upper()
    if nxt[:1] == "'" and letter in _PREFIXES:
        kind, body = _PREFIXES[letter]
        return kind, _quoted_end(sql, end + 1, body)
    if letter != "U" or nxt not in ("&'", '&"'):
        return None
    if nxt == "&'":
        kind, close = _K.STRING, _quoted_end(sql, end + 2, _PLAIN_BODY)
    else:
        kind, close = _K.QUOTED_IDENTIFIER, _identifier_end(sql, end + 2)
    return kind, close if close < 0 else _uescape_end(sql, close)


def _identifier_end(sql: str, pos: int) -> int:
    """End of a quoted identifier whose body starts at ``pos``, or -1."""
    end = _IDENT_BODY.match(sql, pos).end()  # type: ignore[union-attr]  # matches empty at worst
    return end + 1 if end < len(sql) else -1


def _scan_word(sql: str, m: re.Match[str]) -> tuple[EnumSqlTokenKind, int]:
    text, end = m.group(), m.end()
    if len(text) == 1 and (found := _prefixed(sql, text, end)) is not None:
        return found
    return (_K.KEYWORD if text.upper() in RESERVED_KEYWORDS else _K.IDENTIFIER), end


def _scan_operator(sql: str, m: re.Match[str]) -> tuple[EnumSqlTokenKind, int]:
    return _K.OPERATOR, _operator_end(m.group(), m.start())


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


# Groups of the master pattern whose match is the whole token, and those that scan further.
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
    "word": _scan_word,
    "op": _scan_operator,
    "quote": _scan_string,
    "dquote": _scan_quoted_identifier,
    "dollar": _scan_dollar,
    "block_comment": _scan_block_comment,
}


def tokenize(sql: str) -> list[Token]:
    """Split ``sql`` into tokens; a literal, quoted identifier or comment cut off by the end of
    the input becomes one ``UNTERMINATED`` token holding the rest of the input."""
    tokens: list[Token] = []
    append = tokens.append
    match = _MASTER.match
    whole = _WHOLE_MATCH.get
    n = len(sql)
    pos = 0
    while pos < n:
        # Never None: the last alternative matches any character.
        m: re.Match[str] = match(sql, pos)  # type: ignore[assignment]
        group: str = m.lastgroup  # type: ignore[assignment]
        kind = whole(group)
        if kind is None:
            kind, end = _SCANNERS[group](sql, m)
            if end < 0:
                kind, end = _K.UNTERMINATED, n
        else:
            end = m.end()
        append(Token(kind, sql[pos:end], pos))
        pos = end
    return tokens
