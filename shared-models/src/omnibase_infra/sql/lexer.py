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
_NUMBER = rf"""0[xX](?:_?[0-9A-Fa-f])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+
        |(?:{_DIGITS}(?:\.(?!\.)(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"""
_FLAGS = re.VERBOSE | re.DOTALL | re.ASCII
_MASTER = re.compile(
    rf"""
    (?P<ws>[\ \t\n\r\f\v]+)
    |(?P<prefixed>[EeNnBbXx]'|[Uu]&['"])
    |(?P<word>[{_IDENT_START}][{_TAG_CONT}$]*)
    |(?P<parens>\(\(+|\)\)+)
    |(?P<punct>::|:=|\.\.|[(),;\[\]:])
    |(?P<number>{_NUMBER})
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
    _FLAGS,
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
    keyword, identifier = _K.KEYWORD, _K.IDENTIFIER
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
                break
        else:  # every character matched (the last alternative takes any character)
            return tokens
        pos = _scan_token(sql, m, index, tokens)
    return tokens


def _scan_token(sql: str, m: re.Match[str], index: int, tokens: list[Token]) -> int:
    """Add the token(s) of a master-pattern match that is not a whole token (group
    ``index``): a run of parentheses, or what a scanner reads on from the match. Returns the
    end of what was added."""
    new, pos = _new_token, m.start()
    if index == _PARENS_GROUP:  # a run of ( or of ): one token each, made in one go
        end = m.end()
        paren = sql[pos]
        tokens += [new(Token, (_K.PUNCTUATION, paren, k)) for k in range(pos, end)]
        return end
    kind, end = _SCANNER_BY_INDEX[index](sql, m)  # type: ignore[misc]
    if end < 0:
        kind, end = _K.UNTERMINATED, len(sql)
    if index == _OP_GROUP:
        tokens += _operator_tokens(sql[pos:end], pos)
    else:
        tokens.append(new(Token, (kind, sql[pos:end], pos)))
    return end


# --- steps: the sanitizer's lexing
#
# Most of a statement is code that sanitizing keeps as written, and lexing it token by token
# costs one token per word, space and comma. The sanitizer lexes in steps instead: each step
# is one match of STEP: whitespace, a run of such code, whitespace, and then one token of
# the kinds sanitizing acts on that STEP knows: a literal (a plain quoted string that cannot
# continue on the next line, or a number) or a comma-separated list of them, TRUE, FALSE, IS,
# NOT or IN, a quoted identifier, a -- comment, a lone sign, an operator without + or -, a
# $n parameter. Any other token is the master pattern's (master_tokens). A run is code that
# the master pattern reads the same way and that sanitizing keeps as written whatever
# surrounds it:
#
# * words, except TRUE, FALSE, IS, NOT and IN in any case (also with U+0131 dotless i and
#   U+017F long s, which str.upper() makes I and S, as the key word test does): the
#   sanitizer looks at those;
# * punctuation ( ) [ ] , ; : (and :: :=), and . unless a digit follows (a number);
# * the operator characters = < > * (an operator they start may go on after the run: its
#   next token is then an operator, and the output is the same text either way);
# * single spaces between them (other whitespace ends the run: the step takes it).
#
# A digit or $ joins a run only inside a word (after a word character of the run), so that a
# number or a $ quote never does. A run ends at a token boundary, except when its last word
# is the one-letter prefix of a string glued to its quote (E'..', U&'..'): see glued_prefix.
_WORD_CHAR = r"A-Za-z0-9_$\x80-\U0010ffff"
# Letters that may start TRUE, FALSE, IS, NOT or IN (U+0131 too, which str.upper() makes I).
_KEY_INITIALS = r"FfIiNnTt\u0131"
_KEY_WORDS = r"(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss\u017f][Ee]|[Ii\u0131][NnSs\u017f]|[Nn][Oo][Tt])"
_RUN_CHARS = r"A-EG-HJ-MO-SU-Za-eg-hj-mo-su-z_\x80-\u0130\u0132-\U0010ffff,()\[\]:;=<>*"
_RUN_WORD = rf"(?!{_KEY_WORDS}(?![{_WORD_CHAR}]))[{_KEY_INITIALS}][{_WORD_CHAR}]*+"
_RUN_DOTS = r"\.\.|\.(?![0-9.])"
_RUN_IN_WORD = rf"(?<=[{_WORD_CHAR}])[{_WORD_CHAR}]++"
_WS = r"[\ \t\n\r\f\v]++"
_OPERATOR_CHARS = r"-+*/<>=~!@\#%^&|`?"
_RUN_START = rf"[{_RUN_CHARS}]++|{_RUN_WORD}|{_RUN_DOTS}"
# What _RUN_START matches the start of (a lookahead: one character, or a key word's initial).
_RUN_NEXT = rf"[{_RUN_CHARS}]|(?!{_KEY_WORDS}(?![{_WORD_CHAR}]))[{_KEY_INITIALS}]|\.(?![0-9])"
# A plain quoted string that cannot continue on the next line, or a number; in a step, a list
# of them separated by commas is one match (an IN list, a VALUES row, arguments).
_LITERAL = rf"(?:'[^']*+(?:''[^']*+)*+'(?![\ \t\f]*+[\n\r-])|{_NUMBER})"
STEP = re.compile(
    rf"""
    (?P<ws>{_WS})?
    (?P<run>(?:{_RUN_START})
        (?:[{_RUN_CHARS}]++(?:\ [{_RUN_CHARS}]++)*+|\ (?={_RUN_NEXT})|{_RUN_IN_WORD}|{_RUN_WORD}
            |{_RUN_DOTS})*+)?
    (?P<run_ws>{_WS})?
    (?:(?P<literal>{_LITERAL}(?P<more>(?:[\ \t\n\r\f\v]*+,[\ \t\n\r\f\v]*+{_LITERAL})++)?)
        |(?P<keyword>{_KEY_WORDS}(?![{_WORD_CHAR}]))
        |(?P<quoted_identifier>"[^"]*+(?:""[^"]*+)*+")
        |(?P<comment>--[^\n\r]*+)
        |(?P<sign>[-+](?![{_OPERATOR_CHARS}]))
        |(?P<operator>(?:[*<>=~!@\#%^&|`?]|/(?!\*))++(?![{_OPERATOR_CHARS}]))
        |(?P<parameter>\$\d++))?
    """,
    _FLAGS,
)
LITERAL_GROUP = STEP.groupindex["literal"]
MORE_GROUP = STEP.groupindex["more"]
LITERALS = re.compile(rf"'[^']*+(?:''[^']*+)*+'|{_NUMBER}", _FLAGS)  # in a list: STEP's
# The kind of each of a step's own tokens, by group number (above 3; OTHER for the rest).
STEP_KINDS: list[EnumSqlTokenKind] = [_K.OTHER] * (STEP.groups + 1)
for _name, _kind in {
    "keyword": _K.KEYWORD,
    "quoted_identifier": _K.QUOTED_IDENTIFIER,
    "comment": _K.COMMENT,
    "sign": _K.OPERATOR,
    "operator": _K.OPERATOR,
    "parameter": _K.PARAMETER,
}.items():
    STEP_KINDS[STEP.groupindex[_name]] = _kind
PREFIX_LETTERS = "EeNnBbXxUu"
_PREFIX_GLUED = re.compile(r"[EeNnBbXx]'|[Uu]&['\"]")
_IS_WORD_CHAR = re.compile(rf"[{_WORD_CHAR}]")


def glued_prefix(sql: str, run: str, end: int) -> bool:
    """True when the last letter of ``run`` (which ends at ``end`` in ``sql``) is a word of
    its own that prefixes the quote after it: the string starts at that letter."""
    return (len(run) == 1 or not _IS_WORD_CHAR.match(run, len(run) - 2)) and bool(
        _PREFIX_GLUED.match(sql, end - 1)
    )


def master_tokens(sql: str, pos: int) -> tuple[list[Token], int]:
    """The token the master pattern reads at ``pos`` (an operator run may give several), and
    where it ends. Never a word: a word starts a run, or is a step's key word."""
    m: re.Match[str] = _MASTER.match(sql, pos)  # type: ignore[assignment]  # . takes anything
    index: int = m.lastindex  # type: ignore[assignment]
    kind = _WHOLE_BY_INDEX[index]
    if kind is not None:
        return [_new_token(Token, (kind, m.group(), pos))], m.end()
    tokens: list[Token] = []
    return tokens, _scan_token(sql, m, index, tokens)


# --- marks: the sanitizer's one-pass lexing
#
# MARKS finds, in one left-to-right search, only the tokens sanitizing replaces or drops and
# the quoted tokens whose content must not be read as code; everything between them is code
# kept as written, which the search skips in C. Its first character decides the branch (a
# character class first lets the search skip every other character without trying a
# match), and each branch ends with an empty group named after what the match becomes, so
# that ``Match.lastgroup`` is the replacement: a marker character (the sanitizer turns the
# markers into its output). The markers are rare Latin-1 letters: the output stays a
# one-byte string, which str's searches and replacements scan fastest; a text holding one
# is left to the steps. The code between tokens must be ASCII (the sanitizer checks):
# MARKS knows only ASCII word characters. A match marked MARK_OTHER is a token the pass
# does not handle: a literal, comment or identifier cut off by the end of the text, a
# comment nested more than once, a `$` quote or a prefix letter glued to what may be a word
# or a number, a digit after `..`, a 0b/0o number or a dollar quote that a digit follows,
# the characters \x1c-\x1f (no whitespace to PostgreSQL, whitespace to str.split).
# It consumes the rest of the text, and the sanitizer lexes the text in steps instead. Every
# branch is possessive, atomic or bounded, so the pass is linear.
MARK_STRING = "þ"  # '...' (continued on the next lines); $$...$$, $tag$...$tag$
MARK_PREFIXED = "Þ"  # E'...', N'...', B'...', X'...', U&'...' [UESCAPE 'c']: the prefix
# letter(s), passed as code, precede the marker
MARK_NUMBER = "ð"
MARK_DOT_NUMBER = "Ð"  # a number starting with . (.5): the . precedes the marker
MARK_SPACE = "ý"  # whitespace holding a tab, newline, ... ; a comment
MARK_IDENTIFIER = "Ý"  # "...", U&"..." [UESCAPE 'c'] (the U& precedes the marker)
MARK_QUESTION = "Æ"  # the operator character ? (the output's ? are placeholders)
MARK_OTHER = "ÿ"  # see above: the rest of the text
MARKERS = (
    *(MARK_STRING, MARK_PREFIXED, MARK_NUMBER, MARK_DOT_NUMBER, MARK_SPACE),
    *(MARK_IDENTIFIER, MARK_QUESTION, MARK_OTHER),
)
_W = r"A-Za-z0-9_$"  # word characters, in ASCII code
_DIGITS_ASCII = r"[0-9](?:_?[0-9])*+"
_EXPONENT = rf"(?:[eE][+-]?{_DIGITS_ASCII})?"
_AFTER_DIGIT = rf"(?:_?[0-9])*+(?:\.(?!\.)(?:{_DIGITS_ASCII})?)?{_EXPONENT}"
_QUOTE_CONTINUE = (
    r"(?:[\ \t\f]++|--[^\n\r]*+)*+[\n\r](?:[\ \t\n\r\f\v]++|--[^\n\r]*+[\n\r])*+'"  # = _CONTINUE
)


def _continued(body: str) -> str:
    """A quoted literal's body and closing quote, and those of its continuations."""
    return rf"{body}'(?:{_QUOTE_CONTINUE}{body}')*+"


_PLAIN = _continued(r"[^']*+(?:''[^']*+)*+")
_TAG = r"(?:[A-Za-z_][A-Za-z0-9_]*+)?\$"
_UESCAPE_CLAUSE = r"(?:[\ \t\n\r\f\v]*+[Uu][Ee][Ss][Cc][Aa][Pp][Ee][\ \t\n\r\f\v]*+'[^']')?"
_IDENTIFIER_BODY = r'[^"]*+(?:""[^"]*+)*+"'
_COMMENT_BODY = r"(?:[^*/]++|\*(?!/)|/(?!\*))*+"
# A quote after a prefix letter (E N B X, or U&) that starts a token is a prefixed string or
# identifier; after one that ends a word (a letter G-Z or _ before it) a plain one. A digit,
# $ or A-F before the prefix may end a number or parameter (0x1FX'..'): left to the steps.
_PLAIN_AFTER_U = r"(?:(?<![Uu]&{q})|(?<=[G-Zg-z_][Uu]&{q}))"
_PLAIN_STRING_QUOTE = (
    rf"(?:(?<![EeNnBbXx]')|(?<=[G-Zg-z_][EeNnBbXx]')){_PLAIN_AFTER_U.format(q="'")}"
)
MARKS = re.compile(
    rf"""['"0-9$\-/\t\n\r\f\v?\x1c-\x1f]
    # Most characters found start none of these tokens: a digit inside a word, - / $ that
    # start no comment or dollar quote. Leave at once. (. is not looked for: names have too
    # many; a number that starts with one is found at its first digit.)
    (?<![{_W}][0-9])(?!(?<=-)[^-]|(?<=/)[^*]|(?<=\$)[^A-Za-z_$])
    (?:(?:(?<='){_PLAIN_STRING_QUOTE}{_PLAIN}
        |(?<=\$)(?<![{_W}]\$)(?P<tag>{_TAG})(?>[\s\S]*?\$(?P=tag))(?![0-9])
      )(?P<{MARK_STRING}>)
    | (?<!\.[0-9])
      (?:(?<=[1-9]){_AFTER_DIGIT}
        |(?<=0)(?:(?![bBoOxX]){_AFTER_DIGIT}|[xX](?:_?[0-9A-Fa-f])++
            |[oO](?:_?[0-7])++(?![0-9])|[bB](?:_?[01])++(?![0-9])))(?P<{MARK_NUMBER}>)
    | (?<=\.[0-9])(?<!\.\.[0-9])(?:_?[0-9])*+{_EXPONENT}(?P<{MARK_DOT_NUMBER}>)
    | (?:(?<=[Ee]')(?<![{_W}][Ee]'){_continued(r"[^'\\]*+(?:(?:\\[\s\S]|'')[^'\\]*+)*+")}
        |(?<=[Nn]')(?<![{_W}][Nn]'){_PLAIN}
        |(?<=[BbXx]')(?<![{_W}][BbXx]'){_continued(r"[^']*+")}
        |(?<=[Uu]&')(?<![{_W}][Uu]&'){_PLAIN}{_UESCAPE_CLAUSE}
      )(?P<{MARK_PREFIXED}>)
    | (?:(?<=-)-[^\n\r]*+
        |(?<=/)\*{_COMMENT_BODY}(?:/\*{_COMMENT_BODY}\*/{_COMMENT_BODY})*+\*/
        |(?<=[\t\n\r\f\v])[\ \t\n\r\f\v]*+)(?P<{MARK_SPACE}>)
    | (?:(?<="){_PLAIN_AFTER_U.format(q='"')}{_IDENTIFIER_BODY}
        |(?<=[Uu]&")(?<![{_W}][Uu]&"){_IDENTIFIER_BODY}{_UESCAPE_CLAUSE}
      )(?P<{MARK_IDENTIFIER}>)
    | (?<=\?)(?P<{MARK_QUESTION}>)
    | (?:(?<=['"\x1c-\x1f])|(?<=\$)(?<![G-Zg-z_]\$){_TAG}|(?<=0)[bBoOxX]|(?<=\.\.[0-9])|(?<=/)\*)
        [\s\S]*(?P<{MARK_OTHER}>)
    )""",
    re.VERBOSE,
)
