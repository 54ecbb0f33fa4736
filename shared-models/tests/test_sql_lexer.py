"""Tests for omnibase_infra.sql.tokenize: PostgreSQL's lexical rules, one form at a time."""

from __future__ import annotations

import pytest

from omnibase_infra.sql import LITERAL_KINDS, RESERVED_KEYWORDS, EnumSqlTokenKind, Token, tokenize

K = EnumSqlTokenKind


def significant(sql: str) -> list[tuple[EnumSqlTokenKind, str]]:
    return [(t.kind, t.text) for t in tokenize(sql) if t.kind is not K.WHITESPACE]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        pytest.param("'it''s'", [(K.STRING, "'it''s'")], id="doubled-quote"),
        pytest.param("'a\\'", [(K.STRING, "'a\\'")], id="backslash-is-literal-in-plain"),
        pytest.param("E'a\\'b'", [(K.STRING, "E'a\\'b'")], id="escape-string"),
        pytest.param("e'\\\\' x", [(K.STRING, "e'\\\\'"), (K.IDENTIFIER, "x")], id="escaped-bs"),
        pytest.param("E'a\\\nb'", [(K.STRING, "E'a\\\nb'")], id="escaped-newline"),
        pytest.param("N'x'", [(K.STRING, "N'x'")], id="national"),
        pytest.param("U&'\\0041'", [(K.STRING, "U&'\\0041'")], id="unicode-string"),
        pytest.param(
            "U&'!0041' uescape\n'!'", [(K.STRING, "U&'!0041' uescape\n'!'")], id="uescape"
        ),
        pytest.param(
            "U&'a' UESCAPE ''''",
            [(K.STRING, "U&'a'"), (K.IDENTIFIER, "UESCAPE"), (K.STRING, "''''")],
            id="uescape-needs-one-char",
        ),
        pytest.param(
            "U&\"a\" UESCAPE '#'", [(K.QUOTED_IDENTIFIER, "U&\"a\" UESCAPE '#'")], id="uident"
        ),
        pytest.param('"a""b"', [(K.QUOTED_IDENTIFIER, '"a""b"')], id="quoted-ident"),
        pytest.param("B'01' X'fF'", [(K.BIT_STRING, "B'01'"), (K.BIT_STRING, "X'fF'")], id="bits"),
        pytest.param(
            "B'1''0'", [(K.BIT_STRING, "B'1'"), (K.STRING, "'0'")], id="bits-end-at-quote"
        ),
        pytest.param("'a'\n'b'", [(K.STRING, "'a'\n'b'")], id="continuation"),
        pytest.param("'a' -- c\n 'b'", [(K.STRING, "'a' -- c\n 'b'")], id="continuation-comment"),
        pytest.param("'a' 'b'", [(K.STRING, "'a'"), (K.STRING, "'b'")], id="no-newline-no-join"),
        pytest.param("E'a'\n'\\''", [(K.STRING, "E'a'\n'\\''")], id="continuation-keeps-escapes"),
        pytest.param("$$a'b$$", [(K.DOLLAR_STRING, "$$a'b$$")], id="dollar"),
        pytest.param("$t_1$ $$ $t_1$", [(K.DOLLAR_STRING, "$t_1$ $$ $t_1$")], id="dollar-tag"),
        pytest.param("$1 $12", [(K.PARAMETER, "$1"), (K.PARAMETER, "$12")], id="params"),
        pytest.param(
            "a$b$ c$$", [(K.IDENTIFIER, "a$b$"), (K.IDENTIFIER, "c$$")], id="dollar-ident"
        ),
        pytest.param("$", [(K.OTHER, "$")], id="lone-dollar"),
        pytest.param(
            "42 4.2 .5 5. 1e10 1.5E-3 2e+7",
            [(K.NUMBER, n) for n in ("42", "4.2", ".5", "5.", "1e10", "1.5E-3", "2e+7")],
            id="decimal-forms",
        ),
        pytest.param(
            "0x1F 0o17 0b101 1_000 0x_ff",
            [(K.NUMBER, n) for n in ("0x1F", "0o17", "0b101", "1_000", "0x_ff")],
            id="pg16-forms",
        ),
        pytest.param(
            "1..2", [(K.NUMBER, "1"), (K.PUNCTUATION, ".."), (K.NUMBER, "2")], id="dot-dot"
        ),
        pytest.param("1e", [(K.NUMBER, "1"), (K.IDENTIFIER, "e")], id="exponent-needs-digits"),
        pytest.param("0x", [(K.NUMBER, "0"), (K.IDENTIFIER, "x")], id="hex-needs-digits"),
        pytest.param(
            "a=-1",
            [(K.IDENTIFIER, "a"), (K.OPERATOR, "="), (K.OPERATOR, "-"), (K.NUMBER, "1")],
            id="operator-trailing-minus",
        ),
        pytest.param(
            "a @- 1 *-+",
            [
                *[(K.IDENTIFIER, "a"), (K.OPERATOR, "@-"), (K.NUMBER, "1"), (K.OPERATOR, "*")],
                *[(K.OPERATOR, "-"), (K.OPERATOR, "+")],
            ],
            id="operator-special-keeps-minus",
        ),
        pytest.param("5--3", [(K.NUMBER, "5"), (K.COMMENT, "--3")], id="comment-in-operator"),
        pytest.param(
            "a+/*c*/",
            [(K.IDENTIFIER, "a"), (K.OPERATOR, "+"), (K.COMMENT, "/*c*/")],
            id="block-in-op",
        ),
        pytest.param(
            "/* a /* b */ c */x",
            [(K.COMMENT, "/* a /* b */ c */"), (K.IDENTIFIER, "x")],
            id="nested",
        ),
        pytest.param("/*/ x */", [(K.COMMENT, "/*/ x */")], id="slash-star-slash"),
        pytest.param(
            "a::int := b",
            [
                *[(K.IDENTIFIER, "a"), (K.PUNCTUATION, "::"), (K.IDENTIFIER, "int")],
                *[(K.PUNCTUATION, ":="), (K.IDENTIFIER, "b")],
            ],
            id="casts",
        ),
        pytest.param(
            "SELECT select_x, insert FROM",
            [
                *[(K.KEYWORD, "SELECT"), (K.IDENTIFIER, "select_x")],
                *[(K.PUNCTUATION, ","), (K.IDENTIFIER, "insert"), (K.KEYWORD, "FROM")],
            ],
            id="keywords",
        ),
        pytest.param("true FALSE", [(K.KEYWORD, "true"), (K.KEYWORD, "FALSE")], id="booleans"),
        pytest.param("größe 名前", [(K.IDENTIFIER, "größe"), (K.IDENTIFIER, "名前")], id="unicode"),
        pytest.param("a\u00a0b", [(K.IDENTIFIER, "a\u00a0b")], id="nbsp-is-identifier-char"),
        pytest.param("\\ {", [(K.OTHER, "\\"), (K.OTHER, "{")], id="other"),
        pytest.param("e 'x'", [(K.IDENTIFIER, "e"), (K.STRING, "'x'")], id="spaced-prefix"),
        pytest.param("ee'x'", [(K.IDENTIFIER, "ee"), (K.STRING, "'x'")], id="long-word-no-prefix"),
        pytest.param("u&1", [(K.IDENTIFIER, "u"), (K.OPERATOR, "&"), (K.NUMBER, "1")], id="u-amp"),
        pytest.param("u", [(K.IDENTIFIER, "u")], id="u-at-end"),
        pytest.param("u&", [(K.IDENTIFIER, "u"), (K.OPERATOR, "&")], id="u-amp-at-end"),
        pytest.param("z'x'", [(K.IDENTIFIER, "z"), (K.STRING, "'x'")], id="other-letter"),
    ],
)
def test_token_forms(sql: str, expected: list[tuple[EnumSqlTokenKind, str]]) -> None:
    assert significant(sql) == expected


@pytest.mark.parametrize(
    "sql",
    [
        "'abc",
        "'abc''",
        "E'abc\\'",
        "E'abc\\",
        "N'x",
        "B'01",
        "U&'x",
        '"abc',
        'U&"abc',
        "$$abc",
        "$t$abc$t",
        "/* abc",
        "/* a /* b */",
        "'a'\n'b",
    ],
)
def test_text_cut_off_inside_a_quote_or_comment_is_one_unterminated_token(sql: str) -> None:
    tokens = tokenize(f"SELECT {sql}")
    assert tokens[-1] == Token(K.UNTERMINATED, sql, 7)


def test_tokens_know_their_span() -> None:
    tokens = tokenize("SELECT  'x'")
    assert [(t.start, t.end) for t in tokens] == [(0, 6), (6, 8), (8, 11)]


def test_literal_kinds_and_keywords() -> None:
    assert {K.STRING, K.DOLLAR_STRING, K.BIT_STRING, K.NUMBER} == LITERAL_KINDS
    assert {"SELECT", "FROM", "TRUE", "NULL", "JOIN"} <= RESERVED_KEYWORDS
    assert not {"INSERT", "UPDATE", "DELETE", "TYPE", "NAME"} & RESERVED_KEYWORDS


def test_pathological_input_is_linear() -> None:
    # Long runs that would make a backtracking pattern explode.
    for sql in ("'" + "''" * 20000, "E'" + "\\" * 40001, "'a'" + " --" * 20000, "-" * 40000):
        assert "".join(t.text for t in tokenize(sql)) == sql
