"""Fuzz targets for omnibase_infra.sql: the lexer, statement analysis, the validator and the
sanitizer (``pytest -m fuzz``; ``OMNIBASE_INFRA_FUZZ_SECONDS=N`` runs each for N seconds).

Inputs mix SQL fragments that change how text is read (quotes, dollar tags, comment and
``U&`` openers, ``;``, parentheses, ``BEGIN ATOMIC``, CASE/END, WITH, DML words, restricted
function names) with arbitrary text, so that generated cases reach every lexer state.
Properties: nothing but the validator's typed error is ever raised; tokens cover the text
exactly; the validator never accepts a text ``split_statements`` reads as two or more
statements, nor one with a problem; sanitizing never leaves a literal the lexer found.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from omnibase_infra.errors import InfraValidationError
from omnibase_infra.sql import (
    LITERAL_KINDS,
    EnumSqlAccess,
    EnumSqlTokenKind,
    analyze_sql,
    describe_statements,
    sanitize_sql,
    split_statements,
    tokenize,
    validate_statement,
)
from omnibase_infra_testing.fuzz import fuzz_target

K = EnumSqlTokenKind

_FRAGMENTS = (
    *(" ", "\n", "\t", ";", "(", ")", "[", "]", ",", ".", "::", ":=", "..", "*", "=", "+-", "-"),
    *("'", "''", '"', '""', "$$", "$a$", "$1", "--", "/*", "*/", "\\", "E'", "e'\\'", "N'"),
    *("B'", "X'", "U&'", 'U&"', " UESCAPE '!'", "!0041", "\\0041", "\\+000041", "1", ".5"),
    *("1e5", "0x1F", "1_000", "SELECT ", "FROM ", "t", "WITH ", "RECURSIVE ", "AS "),
    *("MATERIALIZED ", "SEARCH DEPTH FIRST BY a SET o ", "CYCLE a SET c USING p "),
    *("INSERT INTO t ", "UPDATE t SET a = 1 ", "DELETE FROM t ", "MERGE INTO t ", "RETURNING *"),
    *("COPY ", "TO STDOUT", "FROM STDIN", "EXPLAIN ", "ANALYZE ", "INTO ", "FOR UPDATE"),
    *("CREATE FUNCTION f() ", "CREATE OR REPLACE PROCEDURE p() ", "BEGIN ATOMIC ", "END"),
    *("CASE WHEN 1 THEN 2 ", "BEGIN", "ATOMIC", "set_config(", "pg_catalog.", '"nextval"('),
    *("lo_import(", "dblink(", "pg_advisory_lock(", "TRUE", "IS ", "NOT ", "IN (1, 2)"),
)
sql_texts = st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=4)), max_size=40).map(
    "".join
)
access_sets = st.frozensets(st.sampled_from(list(EnumSqlAccess)))


@fuzz_target(examples=200)
@given(sql_texts)
def test_fuzz_lexer(sql: str) -> None:
    tokens = tokenize(sql)
    assert "".join(t.text for t in tokens) == sql
    position = 0
    for token in tokens:
        assert token.text
        assert token.start == position
        position = token.end
    assert all(t.kind is not K.UNTERMINATED for t in tokens[:-1])


@fuzz_target(examples=200)
@given(sql_texts)
def test_fuzz_statement_analysis(sql: str) -> None:
    infos = describe_statements(sql)
    statements = split_statements(sql)
    assert len(infos) == len(statements)
    for info, text in zip(infos, statements, strict=True):
        assert text.strip(" \t\n\r\f\v")  # PostgreSQL's whitespace (not U+00A0)
        assert info.needs
        assert text in sql
        (again,) = describe_statements(text)  # a statement alone is read the same way
        assert again.access == info.access or again.problems or info.problems


@fuzz_target(examples=200)
@given(sql_texts, access_sets)
def test_fuzz_validator(sql: str, allow: frozenset[EnumSqlAccess]) -> None:
    try:
        info = validate_statement(sql, allow=allow, operation="fuzz")
    except InfraValidationError as err:
        rule = err.details["rule"]
    else:
        rule = None
    if rule is not None:
        assert rule in ("empty", "malformed", "multiple_statements", "access")
        return
    assert len(split_statements(sql)) == 1
    assert not info.problems
    assert info.access <= allow
    assert "\x00" not in sql


@fuzz_target(examples=200)
@given(sql_texts, st.booleans())
@example(sql="$11e5 1e5", keep_comments=False)  # once found: the oracle, not a leak
def test_fuzz_sanitizer(sql: str, keep_comments: bool) -> None:
    out = sanitize_sql(sql, keep_comments=keep_comments)
    assert out == analyze_sql(sql, keep_comments=keep_comments).text
    found = tokenize(out)
    assert not [t.text for t in found if t.kind in LITERAL_KINDS], out
    # Runs of adjacent tokens kept as written: ``$11`` then ``e5`` read ``$11e5`` in the
    # output, which holds the text of a number ``1e5`` without leaking one.
    kept: list[str] = [""]
    for token in tokenize(sql):
        if token.kind in LITERAL_KINDS:
            kept.append("")
        else:
            kept[-1] += token.text
    for literal in (t.text for t in tokenize(sql) if t.kind in LITERAL_KINDS):
        # A literal may reappear only as part of something kept as written (a quoted
        # identifier, a parameter, a kept comment): never on its own.
        assert literal not in out or any(literal in text for text in kept), (literal, out)
