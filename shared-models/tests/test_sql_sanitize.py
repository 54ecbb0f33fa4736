"""Tests for omnibase_infra.sql's sanitizer: no literal of the input survives, every identifier
does.

The corpus (``data/sql_corpus.sql``, every statement also cut off at every position) and
random statements from a grammar are checked with :func:`scan`, a literal extractor written
here independently of the lexer under test (a character loop following PostgreSQL's rules).
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from omnibase_infra.sql import (
    PLACEHOLDER,
    RESERVED_KEYWORDS,
    ModelSanitizedStatement,
    analyze_sql,
    sanitize_sql,
    tokenize,
)
from omnibase_infra.sql.lexer import MARK_STRING
from omnibase_infra.sql.sanitize import _analyze_cached, _sanitize, _sanitize_marked
from omnibase_infra_testing.fuzz import fuzz_target

CORPUS_PATH = Path(__file__).parent / "data" / "sql_corpus.sql"
DIFFERENTIAL_PATH = Path(__file__).parent / "data" / "sql_differential.sql"


def _load_reference() -> Callable[..., str]:
    """The token-by-token renderer (``sql_reference.py``, beside this file; loaded by path:
    the tests are imported in importlib mode)."""
    path = Path(__file__).with_name("sql_reference.py")
    spec = importlib.util.spec_from_file_location("sql_reference", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    render: Callable[..., str] = module.render_tokens
    return render


_render_reference = _load_reference()


def reference(sql: str, *, keep_comments: bool = False, collapse_in_lists: bool = True) -> str:
    """What sanitize_sql must return: the rules applied to tokenize's tokens one by one."""
    return _render_reference(
        tokenize(sql), keep_comments=keep_comments, collapse_in_lists=collapse_in_lists
    )


def load_corpus(path: Path = CORPUS_PATH) -> list[tuple[str, str]]:
    """(id, statement) pairs of a corpus file (format in its header)."""
    parts = re.split(r"^--@ (\S+)\n", path.read_text(encoding="utf-8"), flags=re.M)
    return [(parts[i], parts[i + 1].removesuffix("\n")) for i in range(1, len(parts), 2)]


CORPUS = load_corpus()
SCRIPTS = load_corpus(DIFFERENTIAL_PATH)

# --- the independent extractor ---------------------------------------------------------------

SPACE = " \t\n\r\f\v"
ASCII_LETTERS = set(string.ascii_letters + "_")
DIGITS = "0123456789"


def _word_start(c: str) -> bool:
    return c in ASCII_LETTERS or ord(c) >= 0x80


def _word_char(c: str) -> bool:
    return _word_start(c) or c in DIGITS or c == "$"


def _tag_char(c: str) -> bool:
    return _word_start(c) or c in DIGITS


@dataclass
class Scan:
    literals: list[str] = field(default_factory=list)  # raw text, booleans used as values too
    bodies: list[str] = field(default_factory=list)  # raw text between the quotes
    words: list[str] = field(default_factory=list)  # bare words (not boolean values)
    quoted: list[str] = field(default_factory=list)  # quoted identifiers, raw
    params: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)  # terminated ones
    code: list[str] = field(default_factory=list)  # every character outside literals/comments

    @property
    def code_text(self) -> str:
        return "".join(self.code)


class _Scanner:
    def __init__(self, sql: str) -> None:
        self.s = sql
        self.n = len(sql)
        self.out = Scan()

    def quoted_end(  # noqa: PLR0912 - the rules of scan.l, kept in one place
        self, i: int, *, escapes: bool, doubling: bool = True
    ) -> int:
        """Index past the literal whose opening quote is at i (-1: runs off the end),
        joining parts separated by whitespace with a newline, as PostgreSQL does."""
        s, n = self.s, self.n
        while True:
            j = i + 1
            while True:
                if j >= n:
                    return -1
                c = s[j]
                if (escapes and c == "\\") or (
                    c == "'" and doubling and j + 1 < n and s[j + 1] == "'"
                ):
                    j += 2
                elif c == "'":
                    break
                else:
                    j += 1
            end = j + 1
            k, newline = end, False
            while k < n:
                if s[k] in " \t\f" or (newline and s[k] in SPACE):
                    k += 1
                elif s[k] in "\n\r":
                    newline = True
                    k += 1
                elif s.startswith("--", k):
                    while k < n and s[k] not in "\n\r":
                        k += 1
                    if k == n:
                        break
                else:
                    break
            if newline and k < n and s[k] == "'":
                i = k
                continue
            return end

    def uescape_end(self, j: int) -> int:
        m = re.compile(r"\s*uescape\s*'[^']'", re.I).match(self.s, j)
        return j if m is None else m.end()

    def literal(self, start: int, quote: int, end: int) -> int:
        if end < 0:
            self.out.bodies.append(self.s[quote + 1 :])
            return self.n
        self.out.literals.append(self.s[start:end])
        self.out.bodies.append(self.s[quote + 1 : end - 1])
        return end

    def number_end(self, i: int) -> int:
        s, n = self.s, self.n

        def digits(j: int, ok: str) -> int:
            while j < n and (s[j] in ok or (s[j] == "_" and j + 1 < n and s[j + 1] in ok)):
                j += 1 if s[j] in ok else 2
            return j

        bases = {"x": "0123456789abcdefABCDEF", "o": "01234567", "b": "01"}
        if s[i] == "0" and i + 1 < n and s[i + 1].lower() in bases:
            ok = bases[s[i + 1].lower()]
            j = digits(i + 2, ok)
            if j > i + 2 and s[j - 1] in ok:
                return j
        dec = "0123456789"
        j = digits(i, dec)
        if j < n and s[j] == "." and not s.startswith("..", j):
            j = digits(j + 1, dec)
        if j < n and s[j] in "eE":
            k = j + 1 + (j + 1 < n and s[j + 1] in "+-")
            if k < n and s[k] in dec:
                j = digits(k, dec)
        return j

    def run(self) -> Scan:  # noqa: PLR0912 - one branch per lexical form, in one loop
        s, n, out = self.s, self.n, self.out
        i = 0
        while i < n:
            c = s[i]
            if s.startswith("--", i):
                j = i
                while j < n and s[j] not in "\n\r":
                    j += 1
                out.comments.append(s[i:j])
                i = j
            elif s.startswith("/*", i):
                depth, j = 1, i + 2
                while j < n and depth:
                    if s.startswith("/*", j):
                        depth, j = depth + 1, j + 2
                    elif s.startswith("*/", j):
                        depth, j = depth - 1, j + 2
                    else:
                        j += 1
                if depth:
                    out.bodies.append(s[i:])
                    i = n
                else:
                    out.comments.append(s[i:j])
                    i = j
            elif _word_start(c):
                j = i + 1
                while j < n and _word_char(s[j]):
                    j += 1
                word = s[i:j]
                nxt = s[j : j + 2]
                if len(word) == 1 and nxt[:1] == "'" and word in "eEbBxXnN":
                    escapes = word in "eE"
                    end = self.quoted_end(j, escapes=escapes, doubling=word not in "bBxX")
                    i = self.literal(i, j, end)
                elif len(word) == 1 and word in "uU" and nxt == "&'":
                    end = self.quoted_end(j + 1, escapes=False)
                    i = self.literal(i, j + 1, end if end < 0 else self.uescape_end(end))
                elif len(word) == 1 and word in "uU" and nxt == '&"':
                    i = self.quoted_ident(i, j + 1, unicode=True)
                else:
                    prev = [w.upper() for w in out.words[-2:]]
                    after_is = prev[-1:] == ["IS"] or prev == ["IS", "NOT"]
                    if word.upper() in ("TRUE", "FALSE") and not after_is:
                        out.literals.append(word)
                    else:
                        out.words.append(word)
                        out.code.append(word)
                    i = j
            elif c == "'":
                i = self.literal(i, i, self.quoted_end(i, escapes=False))
            elif c == '"':
                i = self.quoted_ident(i, i, unicode=False)
            elif c == "$" and i + 1 < n and s[i + 1] in DIGITS:
                j = i + 1
                while j < n and s[j] in DIGITS:
                    j += 1
                out.params.append(s[i:j])
                out.code.append(s[i:j])
                i = j
            elif c == "$" and (tag_end := self.tag_end(i)) > 0:
                tag = s[i:tag_end]
                close = s.find(tag, tag_end)
                if close < 0:
                    out.bodies.append(s[tag_end:])
                    i = n
                else:
                    out.literals.append(s[i : close + len(tag)])
                    out.bodies.append(s[tag_end:close])
                    i = close + len(tag)
            elif s.startswith("..", i):
                out.code.append("..")
                i += 2
            elif c in "0123456789" or (c == "." and i + 1 < n and s[i + 1] in "0123456789"):
                j = self.number_end(i)
                out.literals.append(s[i:j])
                i = j
            else:
                out.code.append(c)
                i += 1
        return out

    def tag_end(self, i: int) -> int:
        s, n = self.s, self.n
        j = i + 1
        if j < n and _word_start(s[j]):
            j += 1
            while j < n and _tag_char(s[j]):
                j += 1
        return j + 1 if j < n and s[j] == "$" else -1

    def quoted_ident(self, start: int, quote: int, *, unicode: bool) -> int:
        s, n = self.s, self.n
        j = quote + 1
        while j < n:
            if s[j] == '"' and j + 1 < n and s[j + 1] == '"':
                j += 2
            elif s[j] == '"':
                break
            else:
                j += 1
        if j >= n:
            self.out.bodies.append(s[quote + 1 :])
            return n
        end = self.uescape_end(j + 1) if unicode else j + 1
        self.out.quoted.append(s[start:end])
        self.out.code.append(s[start:end])
        return end


def scan(sql: str) -> Scan:
    """Literals, identifiers and comments of ``sql``, found without the lexer under test."""
    return _Scanner(sql).run()


# The extractor itself, against hand-written expectations.
@pytest.mark.parametrize(
    ("sql", "literals", "words"),
    [
        ("SELECT 'a''b', E'c\\'d', x FROM t", ["'a''b'", "E'c\\'d'"], ["SELECT", "x", "FROM", "t"]),
        ("SELECT $q$ $$ 'x' $q$, $1, 1.5e3", ["$q$ $$ 'x' $q$", "1.5e3"], ["SELECT"]),
        ("SELECT a$b, 0x1F, .5, 1..2", ["0x1F", ".5", "1", "2"], ["SELECT", "a$b"]),
        (
            "SELECT true, x IS NOT TRUE, B'01'",
            ["true", "B'01'"],
            ["SELECT", "x", "IS", "NOT", "TRUE"],
        ),
        ("SELECT 'a'\n  'b', U&'c' UESCAPE '!'", ["'a'\n  'b'", "U&'c' UESCAPE '!'"], ["SELECT"]),
        ('SELECT "x""y" /* a /* b */ c */ -- d', [], ["SELECT"]),
        ("SELECT 'cut", [], ["SELECT"]),
    ],
)
def test_extractor_finds_the_literals(sql: str, literals: list[str], words: list[str]) -> None:
    found = scan(sql)
    assert found.literals == literals
    assert found.words == words


# --- the checks ------------------------------------------------------------------------------


def assert_sanitized(sql: str, *, keep_comments: bool = False) -> str:
    out = sanitize_sql(sql, keep_comments=keep_comments)
    before, after = scan(sql), scan(out)
    assert after.literals == [], f"literal left in {out!r}"
    allowed = before.code_text + ("".join(before.comments) if keep_comments else "")
    for body in before.bodies:
        if len(body) >= 3 and body not in allowed:
            assert body not in out, f"{body!r} leaked into {out!r}"
    assert after.words == before.words
    assert after.quoted == before.quoted
    assert after.params == before.params
    assert after.comments == (before.comments if keep_comments else [])
    return out


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 200
    assert len({name for name, _ in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize(("name", "sql"), CORPUS, ids=[name for name, _ in CORPUS])
def test_corpus_statement_leaks_no_literal(name: str, sql: str) -> None:
    assert_sanitized(sql)
    assert_sanitized(sql, keep_comments=True)
    assert "".join(t.text for t in tokenize(sql)) == sql


def test_corpus_statements_cut_anywhere_leak_no_literal() -> None:
    for _, sql in CORPUS:
        for cut in range(1, len(sql)):
            assert_sanitized(sql[:cut])


# --- the same text as the token-by-token rules ----------------------------------------------
#
# sanitize_sql lexes in steps (runs of code kept whole, literals and lists of literals matched
# with them) and renders in the same loop; the reference applies the rules to tokenize's
# tokens one by one. They must agree on every text.

OPTIONS = [
    {},
    {"keep_comments": True},
    {"collapse_in_lists": False},
    {"keep_comments": True, "collapse_in_lists": False},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "defaults")
def test_corpus_and_scripts_sanitize_as_the_reference(options: dict[str, bool]) -> None:
    for _, sql in CORPUS + SCRIPTS:
        assert sanitize_sql(sql, **options) == reference(sql, **options), sql


def test_corpus_and_scripts_cut_anywhere_sanitize_as_the_reference() -> None:
    for _, sql in CORPUS + SCRIPTS:
        for cut in range(1, len(sql)):
            assert sanitize_sql(sql[:cut]) == reference(sql[:cut]), sql[:cut]
            assert sanitize_sql(sql[cut:]) == reference(sql[cut:]), sql[cut:]


# Where a step could go wrong: a run's edges, words it must leave out, prefixes glued to a
# quote, lists of literals, signs, IN lists split across steps.
EDGE_CASES = [
    "SELECT E'a\\'b', x = E'c', y=N'd', f(B'01'), X'1f', U&'e' UESCAPE '!', z U&\"f\"",
    "SELECT e'x', ee'y', 1E'z', \"q\"e'w', $1e'v', x.e'u'",
    "SELECT 'a' 'b', 'c'\n'd', 'e' -- c\n'f', 'g'\n, 'h'",
    "WHERE a IN (1, 2, 3) AND b IN ('x',\n  'y') AND c IN (1,  2) AND d IN (-1, 2, -3)",
    "WHERE a IN (1, /* c */ 2) AND b NOT IN ( 1 , 2 ) AND c IN ((1, 2)) AND d IN (1)",
    "WHERE a IN (TRUE, FALSE) AND b IN (1, x) AND c IN (x, 1, 2) AND d IN ($1, 1, 2)",
    "WHERE \u0131n (1, 2) AND x \u0131s TRUE AND y = fal\u017fe AND z = FALSE AND w IS NOT TRUE",
    "WHERE x IS /* c */ NOT /* d */ TRUE AND y NOT TRUE AND z = true",
    "SELECT -1, +2, x -3, x - -4, f(-5), a[-6], (1) -7, 'a' -8, $1 -9, NULL -10",
    "SELECT x=-1, x<-2, x@-3, x*+-4, x<=-5, x!=-6, x||-7, x->>-8, x/-9, x/*c*/-10",
    "SELECT SELECT -1, CURRENT_DATE -2, end -3, into -4, typename -5, a_very_long_name -6",
    'SELECT x::int -1, y.z -2, "q" -3, count(*) -4, ARRAY[1] -5',
    "SELECT t1, a$1, $1abc, $1$ab$ c $ab$, 1..5, 1.5.6, .5, x.5, 1e5e5, 0x1Fg, 1_000_",
    "SELECT 1in (2, 3), 'a'in (1, 2), \"b\"in (1, 2), $1in (1, 2), x)in (1, 2)",
    "SELECT a  ,  b\tFROM\r\nt  WHERE x = 1\f AND\vy = 2  ",
    "  \n SELECT 1 ; SELECT 2 ;",
    ") x, (1, 2), (a, 1, 2), VALUES (1, 'a', 2.5), (E'x', 1, 2)",
    "SELECT 'cut",
    "SELECT x = E'cut",
    "SELECT x IN (1, 2",
    "UPDATE t SET a = 1, b = 'x', c = -2 WHERE id IN (10, 20)",
    "x = 1 AND y = 'two' AND z = 3.0 OR w = 4e5",
    "SELECT 1, 2 - 3, 4 + 5",
    "SELECT $$ a $$, $t$ b $t$, 1 $$",
    "SELECT 'a' IS TRUE, 1 IS NOT FALSE, TRUE IS TRUE",
    "SELECT x\u00a0y, é1, 日本 IN (1, 2), \u0131n (1, 2)",
    "SELECT {1}, \\, ` , ~1, !1, ?1, #1, %1, ^1, &1, |1",
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "defaults")
@pytest.mark.parametrize("sql", EDGE_CASES)
def test_edge_cases_sanitize_as_the_reference(sql: str, options: dict[str, bool]) -> None:
    assert sanitize_sql(sql, **options) == reference(sql, **options)
    assert_sanitized(sql)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("WHERE a IN (1, 2, 3)", "WHERE a IN (?)"),
        ("WHERE a IN ( 'x' ,\n 'y' )", "WHERE a IN ( ? )"),
        ("WHERE a IN (1, -2)", "WHERE a IN (?)"),
        ("WHERE a IN (-1, 2, 3)", "WHERE a IN (?)"),
        ("WHERE a IN (1, 2, x)", "WHERE a IN (?, ?, x)"),
        ("VALUES (1, 'a',\t2)", "VALUES (?, ?, ?)"),
        ("SELECT x = E'a', y = N'b', z = U&'c'", "SELECT x = ?, y = ?, z = ?"),
        ("WHERE x IN (TRUE, FALSE) AND y IS NOT TRUE", "WHERE x IN (?) AND y IS NOT TRUE"),
        ("SELECT -1, x -2, SELECT -3, x*-4, x@-5", "SELECT ?, x -?, SELECT ?, x*?, x@-?"),
    ],
)
def test_step_outputs(sql: str, expected: str) -> None:
    assert sanitize_sql(sql) == expected


# --- the two ways sanitize_sql lexes: one marking pass, or steps ----------------------------

# Texts the marking pass sanitizes itself, each with what it gives: every marker, and each
# way the rules read the tokens around a literal from its output.
MARKED = [
    (
        "SELECT 'a', 'b''c', 'd'\n  'e', 1, 2.5, .5, 1e-3, 0x1F, 0o17, 0b101, 1_000",
        "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?",
    ),
    (
        "SELECT $$a$$, $t$b$t$ FROM t WHERE x.y = $1.5 AND z = u.v",
        "SELECT ?, ? FROM t WHERE x.y = $1? AND z = u.v",
    ),
    (
        "SELECT E'a\\'b', N'c', B'01', X'1f', U&'d' UESCAPE '!', u&'e', xE'f'",
        "SELECT ?, ?, ?, ?, ?, ?, xE?",
    ),
    ("SELECT\n\ta -- c\n/* d /* e */ f */  b ,\tc  ", "SELECT a b , c"),
    (
        'SELECT "a  b", "c""d", U&"e" UESCAPE \'!\', "IN (1, 2)" FROM "t"',
        'SELECT "a  b", "c""d", U&"e" UESCAPE \'!\', "IN (1, 2)" FROM "t"',
    ),
    (
        "SELECT -1, x -2, x - -3, (4) -5, 'a' -6, $1 -7, $ -8, NULL -9, AND -10, \"q\" -11",
        'SELECT ?, x -?, x - ?, (?) -?, ? -?, $1 -?, $ ?, NULL -?, AND ?, "q" -?',
    ),
    (
        "SELECT x=-1, x*-+2, x@-3, x ?- 4, x ? -5, ] -6, y=+7",
        "SELECT x=?, x*-?, x@-?, x ?- ?, x ? ?, ] -?, y=?",
    ),
    (
        "SELECT TRUE, false, x IS TRUE, y IS NOT FALSE, z NOT TRUE, is_true, $1TRUE, x$TRUE",
        "SELECT ?, ?, x IS TRUE, y IS NOT FALSE, z NOT ?, is_true, $1?, x$TRUE",
    ),
    (
        "NOT TRUE, IS NOT TRUE, $1 NOT TRUE, a TRUE, (TRUE)",
        "NOT ?, IS NOT TRUE, $1 NOT ?, a ?, (?)",
    ),
    (
        "WHERE a IN (1, 2) AND b in( 'x' , 'y' ) AND c IN (1) AND d IN (1, x) AND xin (1, 2)",
        "WHERE a IN (?) AND b in( ? ) AND c IN (?) AND d IN (?, x) AND xin (?, ?)",
    ),
    (
        "WHERE $1IN (1, 2) AND $IN (3, 4) AND IN (TRUE, FALSE)",
        "WHERE $1IN (?) AND $IN (?) AND IN (?)",
    ),
    (
        "SELECT data ? 'k', d ?| array['a'], 'é' AS \"ü\"",
        'SELECT data ? ?, d ?| array[?], ? AS "ü"',
    ),
    ("SELECT price$usd, tax$rate$ FROM t", "SELECT price$usd, tax$rate$ FROM t"),
    ("", ""),
    (" \n ", ""),
]


@pytest.mark.parametrize(("sql", "expected"), MARKED)
def test_marking_pass_outputs(sql: str, expected: str) -> None:
    assert _sanitize_marked(sql, True) == expected
    assert sanitize_sql(sql) == expected == reference(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'cut",  # cut off: a string, a quoted identifier, a comment, a dollar quote
        'SELECT "cut',
        "SELECT 1 /* cut",
        "SELECT $a$ cut",
        "SELECT /* a /* b /* c */ */ */ 1",  # nested twice
        "SELECT 1E'a', $1e'b', fE'c', 1U&'d', fU&\"e\", 1$a$ $a$",  # glued to a number or word
        "SELECT $a$ x $a$1, 0b12, 0o78, 0x, 1..2",  # a digit the lexer reads otherwise
        "SELECT 1\x1c",  # no whitespace to PostgreSQL
        "SELECT größe FROM t",  # not ASCII outside a token
        "SELECT 'þ' FROM t",  # a marker character (MARKERS) in the text
    ],
)
def test_texts_the_marking_pass_leaves_to_the_steps(sql: str) -> None:
    assert MARK_STRING == "þ"
    assert _sanitize_marked(sql, True) is None
    assert sanitize_sql(sql) == reference(sql)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "defaults")
def test_steps_alone_sanitize_as_the_reference(options: dict[str, bool]) -> None:
    """The steps, which sanitize_sql uses for what the marking pass leaves and for kept
    comments, on every text (sanitize_sql would mostly take the marking pass)."""
    keep, collapse = options.get("keep_comments", False), options.get("collapse_in_lists", True)
    for sql in [sql for _, sql in CORPUS + SCRIPTS] + EDGE_CASES + [sql for sql, _ in MARKED]:
        assert _sanitize(sql, keep, collapse) == reference(sql, **options), sql


# --- exact outputs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM t WHERE a = 'x' AND b = 42", "SELECT * FROM t WHERE a = ? AND b = ?"),
        ("SELECT E'a\\'b', U&'c' UESCAPE '!', N'd', B'01', X'1f'", "SELECT ?, ?, ?, ?, ?"),
        ("SELECT $$a$$, $t$b$t$, $1, 0x1F, 1_000, .5, 1e-3", "SELECT ?, ?, $1, ?, ?, ?, ?"),
        ("SELECT a IN (1, 2, 3), b NOT IN ('x', 'y')", "SELECT a IN (?), b NOT IN (?)"),
        (
            "SELECT a IN ($1, $2), b IN (1, c), d IN (1)",
            "SELECT a IN ($1, $2), b IN (?, c), d IN (?)",
        ),
        ("x = -1 AND y - 1 AND (-2) AND z = +3", "x = ? AND y - ? AND (?) AND z = ?"),
        ("SELECT -1, 2 - -3, f(-4), a[-5]", "SELECT ?, ? - ?, f(?), a[?]"),
        (
            "WHERE a IS TRUE AND b IS NOT FALSE AND c = true",
            "WHERE a IS TRUE AND b IS NOT FALSE AND c = ?",
        ),
        ("SET x = on; SET y TO 'z'", "SET x = on; SET y TO ?"),
        ("SELECT '2024-01-01'::date, x::int", "SELECT ?::date, x::int"),
        ("  SELECT\n\t1 -- c\n /* d */ FROM t  ", "SELECT ? FROM t"),
        ("SELECT 'a'\n 'b' FROM t", "SELECT ? FROM t"),
        ("SELECT 1 FROM t WHERE x = 'cut off", "SELECT ? FROM t WHERE x ="),
        ('SELECT "1e5", "\'q\'", e, u, true_value', 'SELECT "1e5", "\'q\'", e, u, true_value'),
        ("CURRENT_DATE - 1, NULL - 2, x::int - 3", "CURRENT_DATE - ?, NULL - ?, x::int - ?"),
        ("", ""),
    ],
)
def test_sanitized_text(sql: str, expected: str) -> None:
    assert sanitize_sql(sql) == expected


def test_in_lists_collapse_only_when_asked() -> None:
    sql = "SELECT * FROM t WHERE a IN (1, 2, 3)"
    assert sanitize_sql(sql, collapse_in_lists=False) == "SELECT * FROM t WHERE a IN (?, ?, ?)"


def test_kept_comments_stay_as_written_and_line_comments_still_end() -> None:
    sql = "SELECT 1 -- note\nFROM t /*traceparent='00-ab-cd-01'*/"
    assert sanitize_sql(sql, keep_comments=True) == (
        "SELECT ? -- note\nFROM t /*traceparent='00-ab-cd-01'*/"
    )
    assert sanitize_sql("SELECT/*a*/1", keep_comments=True) == "SELECT/*a*/?"
    assert sanitize_sql("SELECT/*a*/1") == "SELECT ?"


def test_unterminated_comment_is_dropped_even_when_comments_are_kept() -> None:
    assert sanitize_sql("SELECT 1 /* 'secret", keep_comments=True) == "SELECT ?"


# --- analyze_sql -----------------------------------------------------------------------------


def test_analyze_sql_gives_text_operation_and_tables() -> None:
    result = analyze_sql(
        "WITH r AS (SELECT * FROM orders WHERE x = 'a') "
        "SELECT * FROM r JOIN public.users u ON u.id = r.uid; DELETE FROM audit"
    )
    assert result == ModelSanitizedStatement(
        text="WITH r AS (SELECT * FROM orders WHERE x = ?) "
        "SELECT * FROM r JOIN public.users u ON u.id = r.uid; DELETE FROM audit",
        operation="SELECT",
        tables=("orders", "public.users", "audit"),
    )
    assert analyze_sql("") == ModelSanitizedStatement(text="", operation="", tables=())


def test_analyze_sql_caches_short_texts_only(monkeypatch: pytest.MonkeyPatch) -> None:
    _analyze_cached.cache_clear()
    sql = "SELECT * FROM t WHERE a = 'cache-me'"
    first = analyze_sql(sql)
    assert analyze_sql(sql) is first
    assert analyze_sql(sql, keep_comments=True) is not first
    assert _analyze_cached.cache_info().hits == 1
    long_sql = "SELECT " + ", ".join(f"'{i}'" for i in range(3000))
    long_result = analyze_sql(long_sql)
    assert long_result.text == "SELECT " + ", ".join(["?"] * 3000)
    assert analyze_sql(long_sql) is not long_result
    assert _analyze_cached.cache_info().currsize == 2


# --- property tests: statements from a grammar of literals and identifiers ------------------

TEXT = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 '\"\\$;-/*\n\t()_.,:?&!éü日🔐")), max_size=16
)


@st.composite
def literals(draw: st.DrawFn) -> tuple[str, int, int]:
    """A literal, and the start and end of its raw body inside it."""
    kind = draw(st.sampled_from(["plain", "escape", "national", "unicode", "dollar", "bits"]))
    content = draw(TEXT)
    if kind == "plain":
        body = content.replace("'", "''")
        return f"'{body}'", 1, 1 + len(body)
    if kind == "national":
        body = content.replace("'", "''")
        return f"N'{body}'", 2, 2 + len(body)
    if kind == "escape":
        quote = draw(st.sampled_from(["\\'", "''"]))
        body = content.replace("\\", "\\\\").replace("'", quote).replace("\n", "\\n")
        prefix = draw(st.sampled_from(["E'", "e'"]))
        return f"{prefix}{body}'", 2, 2 + len(body)
    if kind == "unicode":
        body = content.replace("'", "''")
        suffix = draw(st.sampled_from(["", " UESCAPE '!'"]))
        return f"U&'{body}'{suffix}", 3, 3 + len(body)
    if kind == "dollar":
        tag = "$" + draw(st.sampled_from(["", "x", "tag_1", "ü"])) + "$"
        assume((content + tag).find(tag) == len(content))
        return f"{tag}{content}{tag}", len(tag), len(tag) + len(content)
    bits = draw(st.text(alphabet="01", max_size=12))
    return f"{draw(st.sampled_from('BbXx'))}'{bits}'", 2, 2 + len(bits)


NUMBERS = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(min_value=0, max_value=2**32).map(hex),
    st.integers(min_value=0, max_value=2**16).map(oct),
    st.integers(min_value=0, max_value=2**16).map(bin),
    st.sampled_from([".5", "5.", "1e10", "1.5E-3", "1_000_000", "0x_dead_beef"]),
)
WORDS = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_$]{0,8}", fullmatch=True).filter(
    lambda w: w.upper() not in RESERVED_KEYWORDS and w.upper() != "UESCAPE"
)
QUOTED = (
    st.text(min_size=1, max_size=10)
    .filter(lambda t: "\x00" not in t)
    .map(lambda t: '"' + t.replace('"', '""') + '"')
)
SEPARATORS = st.sampled_from(
    [" ", "\n", " , ", ", ", " = ", "=", "(", ") ", " IN (", "::", " /* note */ ", " -- x\n"]
)


@st.composite
def statements(draw: st.DrawFn) -> tuple[str, list[tuple[int, int]], list[str], list[str]]:
    """A statement, the spans of its literals' bodies, and its words and quoted names."""
    sql = draw(st.sampled_from(["SELECT ", "INSERT INTO t VALUES (", "UPDATE t SET a = "]))
    words = [w for w in sql.split() if w[0].isalpha()]
    quoted: list[str] = []
    bodies: list[tuple[int, int]] = []
    after_literal = False
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        choice = draw(st.sampled_from(["literal", "number", "bool", "word", "quoted"]))
        if sql[-1] not in " \n(=,":
            # Two literals apart only by whitespace holding a newline are one literal to
            # PostgreSQL (E'a'<newline>'b' continues the escape string): keep them apart.
            joins = after_literal and choice == "literal"
            separator = draw(SEPARATORS.filter(lambda s: "\n" not in s) if joins else SEPARATORS)
            words += [w for w in separator.split() if w == "IN"]
            sql += separator
        after_literal = choice == "literal"
        if choice == "literal":
            text, start, end = draw(literals())
            bodies.append((len(sql) + start, len(sql) + end))
            sql += text
        elif choice == "number":
            sql += draw(NUMBERS)
        elif choice == "bool":
            sql += draw(st.sampled_from(["TRUE", "false"]))
        elif choice == "word":
            word = draw(WORDS)
            words.append(word)
            sql += word
        else:
            name = draw(QUOTED)
            quoted.append(name)
            sql += name
    return sql, bodies, words, quoted


def _code_of(sql: str, bodies: list[tuple[int, int]]) -> str:
    code, pos = [], 0
    for start, end in bodies:
        code.append(sql[pos:start])
        pos = end
    code.append(sql[pos:])
    return " ".join(code)


@settings(max_examples=300, deadline=None)
@given(statements())
def test_random_statements_never_leak_a_literal(
    generated: tuple[str, list[tuple[int, int]], list[str], list[str]],
) -> None:
    sql, bodies, words, quoted = generated
    out = sanitize_sql(sql)
    found = scan(out)
    assert found.literals == []
    code = _code_of(sql, bodies)
    for start, end in bodies:
        body = sql[start:end]
        if len(body) >= 3 and body not in code:
            assert body not in out
    assert found.words == words
    assert found.quoted == quoted


@settings(max_examples=300, deadline=None)
@given(statements(), st.data())
def test_random_statements_cut_off_never_leak_a_literal(
    generated: tuple[str, list[tuple[int, int]], list[str], list[str]], data: st.DataObject
) -> None:
    sql, bodies, _, _ = generated
    cut = data.draw(st.integers(min_value=0, max_value=len(sql)))
    prefix = sql[:cut]
    out = sanitize_sql(prefix)
    assert scan(out).literals == []
    code = _code_of(sql, bodies)
    for start, end in bodies:
        body = sql[start : min(end, cut)]
        if len(body) >= 3 and body not in code:
            assert body not in out


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abeuxnEUBX019 '\"\\$-/*\n&.;()_é?!")), max_size=40))
def test_any_text_round_trips_and_sanitizes_like_the_extractor(sql: str) -> None:
    assert "".join(t.text for t in tokenize(sql)) == sql
    assert_sanitized(sql)
    assert_sanitized(sql, keep_comments=True)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_unicode_text_is_handled(sql: str) -> None:
    tokens = tokenize(sql)
    assert "".join(t.text for t in tokens) == sql
    assert all(t.end == nxt.start for t, nxt in itertools.pairwise(tokens))
    assert scan(sanitize_sql(sql)).literals == []


def test_placeholder_is_a_question_mark() -> None:
    assert PLACEHOLDER == "?"


# Random texts from pieces that start, end and break runs and steps.
_PIECES = [
    *(" ", "  ", "\n", "\t", ",", ", ", "(", ")", "[", "]", ".", "..", ":", "::", ";", "=", "<"),
    *(">", "*", "-", "+", "/", "!", "@", "|", "?", "$", "$1", "$$", "'", "''", '"', "--", "/*"),
    *("*/", "\\", "0", "1", "12", ".5", "1e5", "0x1F", "1_0", "x", "t", "f", "i", "n", "e"),
    *(
        "E",
        "N",
        "B",
        "X",
        "U",
        "U&",
        "\u0131",
        "\u017f",
        "é",
        "IN",
        "in",
        "IS",
        "NOT",
        "TRUE",
        "false",
    ),
    *(
        "fal\u017fe",
        "\u0131n",
        "\u0131s",
        "into",
        "is_",
        "SELECT",
        "NULL",
        "END",
        "CURRENT_DATE",
        "a$b",
    ),
    *("'a'", "'b c'", "E'x'", "N'y'", "B'0'", "1, 2", "'a', 'b'", "IN (1, 2)", "UESCAPE"),
]


@fuzz_target(examples=1000)
@given(st.lists(st.sampled_from(_PIECES), max_size=24).map("".join), st.sampled_from(OPTIONS))
def test_fuzz_random_pieces_sanitize_as_the_reference(sql: str, options: dict[str, bool]) -> None:
    assert sanitize_sql(sql, **options) == reference(sql, **options)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.sampled_from(OPTIONS))
def test_random_text_sanitizes_as_the_reference(sql: str, options: dict[str, bool]) -> None:
    assert sanitize_sql(sql, **options) == reference(sql, **options)
