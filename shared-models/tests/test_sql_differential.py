"""omnibase_infra.sql against PostgreSQL's own parser (libpg_query, through pglast).

For every script of two corpora (``data/sql_differential.sql``, written for this, and
``data/sql_corpus.sql``) and for generated ones (statements wrapped in CTEs, COPY, EXPLAIN,
subqueries and function bodies, nested at random, joined by separators and noise):

* the number of statements ``split_statements`` finds is the number PostgreSQL parses;
* every statement PostgreSQL's tree shows as more than a read (a top-level statement other
  than SELECT, SHOW, EXPLAIN or COPY ... TO STDOUT; an INSERT, UPDATE, DELETE or MERGE at any
  depth; SELECT ... INTO; a row lock; a call to a restricted built-in function) is refused by
  a read-only validation;
* a script PostgreSQL cannot parse (so runs none of) is refused by the validator, or split
  into as many statements as PostgreSQL's scanner finds;
* the lexer's tokens span what PostgreSQL's scanner's do, and it calls the same words
  reserved.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pglast import parser as pg_parser

from omnibase_infra.errors import InfraValidationError
from omnibase_infra.sql import (
    READ_ONLY,
    EnumSqlAccess,
    EnumSqlTokenKind,
    function_access,
    split_statements,
    tokenize,
    validate_statement,
)

DATA = Path(__file__).parent / "data"
ALL_ACCESS = frozenset(EnumSqlAccess)
K = EnumSqlTokenKind


def load_entries(name: str) -> list[tuple[str, str]]:
    """(id, script) pairs of a corpus file (``--@ id`` entries, format in its header)."""
    text = (DATA / name).read_text(encoding="utf-8")
    parts = re.split(r"^--@ (\S+)\n", text, flags=re.M)
    return [(parts[i], parts[i + 1].removesuffix("\n")) for i in range(1, len(parts), 2)]


DIFFERENTIAL = load_entries("sql_differential.sql")
CORPUS = load_entries("sql_corpus.sql")

# --- PostgreSQL's view -----------------------------------------------------------------------

_READ_TOP = frozenset({"SelectStmt", "VariableShowStmt", "ExplainStmt", "CopyStmt"})
_DML_NODES = frozenset({"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"})


def pg_statements(sql: str) -> list[dict[str, Any]] | None:
    """The raw statements PostgreSQL parses from ``sql``; None when it rejects the text."""
    try:
        tree = json.loads(pg_parser.parse_sql_json(sql))
    except pg_parser.ParseError:
        return None
    return [entry["stmt"] for entry in tree.get("stmts", [])]


def _nodes(tree: Any) -> list[tuple[str, Any]]:
    """Every (node type, node) in a parse tree, depth first (iteratively)."""
    found: list[tuple[str, Any]] = []
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key[:1].isupper():
                    found.append((key, value))
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _function_name(call: dict[str, Any]) -> str:
    return str(call["funcname"][-1]["String"]["sval"])


def pg_more_than_read(stmt: dict[str, Any]) -> str | None:
    """Why PostgreSQL's tree shows ``stmt`` doing more than reading; None for a pure read."""
    ((top, body),) = stmt.items()
    while top == "ExplainStmt":  # EXPLAIN of a read is a read
        ((top, body),) = body["query"].items()
    if top not in _READ_TOP:
        return top
    if top == "CopyStmt" and any(body.get(k) for k in ("is_from", "filename", "is_program")):
        return "COPY from or to the server"
    for node, value in _nodes({top: body}):
        if node in _DML_NODES:
            return f"nested {node}"
        if node == "SelectStmt" and (value.get("intoClause") or value.get("lockingClause")):
            return "SELECT INTO or a row lock"
        if node == "FuncCall" and function_access(_function_name(value)) is not None:
            return f"calls {_function_name(value)}"
    return None


def scanner_count(sql: str) -> int | None:
    """Statements in ``sql`` as PostgreSQL's scanner separates them (at ``;`` outside
    parentheses, as psql does); None when it cannot scan the text or the text holds a
    ``BEGIN ATOMIC`` body (the scanner alone cannot tell where one ends)."""
    try:
        tokens = [t for t in pg_parser.scan(sql) if t.name not in ("SQL_COMMENT", "C_COMMENT")]
    except pg_parser.ParseError:
        return None
    if any(t.name == "ATOMIC" for t in tokens):
        return None
    count, depth, open_statement = 0, 0, False
    for token in tokens:
        if token.name == "ASCII_59" and depth <= 0:
            count += open_statement
            depth, open_statement = 0, False
            continue
        open_statement = True
        depth += {"ASCII_40": 1, "ASCII_41": -1}.get(token.name, 0)
    return count + open_statement


def refused(sql: str, allow: frozenset[EnumSqlAccess]) -> InfraValidationError | None:
    try:
        validate_statement(sql, allow=allow, operation="fetch")
    except InfraValidationError as err:
        return err
    return None


def check_script(sql: str) -> list[str | None]:
    """The checks of the module doc on one script; PostgreSQL's verdict per statement."""
    ours = split_statements(sql)
    stmts = pg_statements(sql)
    if stmts is None:  # PostgreSQL runs none of it
        scanned = scanner_count(sql)
        assert refused(sql, ALL_ACCESS) is not None or scanned in (None, len(ours)), (
            f"PostgreSQL rejects {sql!r}; we accept it as {len(ours)} statement(s)"
        )
        return []
    assert len(ours) == len(stmts), f"{sql!r}: {len(ours)} statements, PostgreSQL {len(stmts)}"
    verdicts = [pg_more_than_read(stmt) for stmt in stmts]
    for text, why in zip(ours, verdicts, strict=True):
        if why is not None:
            assert refused(text, READ_ONLY) is not None, f"accepted {text!r} ({why})"
    if len(stmts) > 1:
        assert refused(sql, ALL_ACCESS) is not None
    return verdicts


def check_tokens(sql: str) -> None:
    """Our significant tokens are PostgreSQL's scanner's (same start, same length in
    characters), with the same words reserved."""
    try:
        scanned = pg_parser.scan(sql)
    except pg_parser.ParseError:
        return
    theirs = [t for t in scanned if t.name not in ("SQL_COMMENT", "C_COMMENT")]
    spans = _join_split_literals(
        sql, theirs, [(t.start, t.end + 1, _is_reserved(t.kind)) for t in theirs]
    )
    ours = [t for t in tokenize(sql) if t.kind not in (K.WHITESPACE, K.COMMENT)]
    assert [(t.start, t.end) for t in ours] == [(s, e) for s, e, _ in spans]
    for token, (_, _, reserved) in zip(ours, spans, strict=True):
        if token.kind in (K.KEYWORD, K.IDENTIFIER):
            assert (token.kind is K.KEYWORD) == reserved, token.text


def _is_reserved(kind: str) -> bool:
    return kind in ("RESERVED_KEYWORD", "TYPE_FUNC_NAME_KEYWORD")


def _join_split_literals(
    sql: str, theirs: list[Any], spans: list[tuple[int, int, bool]]
) -> list[tuple[int, int, bool]]:
    """Our lexer keeps ``U&"x" UESCAPE '!'`` (when only whitespace separates them) and
    ``N'x'`` as one token each; the scanner gives three (UIDENT or USCONST, UESCAPE, SCONST)
    and two (NCHAR, SCONST)."""
    joined: list[tuple[int, int, bool]] = []
    i = 0
    while i < len(spans):
        name = theirs[i].name
        if (
            name in ("UIDENT", "USCONST")
            and i + 2 < len(spans)
            and theirs[i + 1].name == "UESCAPE"
            and not sql[spans[i][1] : spans[i + 1][0]].strip()
            and not sql[spans[i + 1][1] : spans[i + 2][0]].strip()
        ):
            joined.append((spans[i][0], spans[i + 2][1], False))
            i += 3
        elif name == "NCHAR" and i + 1 < len(spans) and spans[i + 1][0] == spans[i][1]:
            joined.append((spans[i][0], spans[i + 1][1], False))
            i += 2
        else:
            joined.append(spans[i])
            i += 1
    return joined


# --- the corpora -----------------------------------------------------------------------------


def test_differential_corpus_is_broad() -> None:
    assert len(DIFFERENTIAL) >= 100
    assert len({name for name, _ in DIFFERENTIAL}) == len(DIFFERENTIAL)


@pytest.mark.parametrize(("name", "sql"), DIFFERENTIAL, ids=[n for n, _ in DIFFERENTIAL])
def test_differential_corpus(name: str, sql: str) -> None:
    verdicts = check_script(sql)
    assert (pg_statements(sql) is None) == name.startswith("bad-")
    if name.startswith("read-"):  # what PostgreSQL sees as reads we accept too
        assert verdicts
        assert verdicts == [None] * len(verdicts)
        for text in split_statements(sql):
            assert refused(text, READ_ONLY) is None, text
    elif not name.startswith(("bad-", "empty-")):
        assert any(verdicts), f"{name}: PostgreSQL sees only reads"
    check_tokens(sql)


def test_sql_corpus_agrees_with_postgresql() -> None:
    for _, sql in CORPUS:
        check_script(sql)
        check_tokens(sql)


def test_the_nested_with_and_copy_hole_is_closed() -> None:
    # Each of these emptied a table through a "read-only" fetch (issue 16).
    for sql in (
        "WITH x AS (WITH y AS (SELECT 1) DELETE FROM t RETURNING *) SELECT * FROM x",
        "COPY (WITH y AS (SELECT 1) DELETE FROM t RETURNING *) TO STDOUT",
        "WITH x AS (WITH RECURSIVE r (n) AS (SELECT 1) SEARCH DEPTH FIRST BY n SET o "
        "DELETE FROM t RETURNING 1) SELECT 1",
    ):
        assert check_script(sql) == ["nested DeleteStmt"]
        err = refused(sql, READ_ONLY)
        assert err is not None
        assert "data-modifying CTE (DELETE)" in err.message


# --- generated scripts -----------------------------------------------------------------------

_READS = (
    "SELECT 1",
    "SELECT a, 'x;y' FROM t WHERE b = $1",
    "VALUES (1), (2)",
    "TABLE t",
    "SELECT $q$;$q$ /* ; */",
    'SELECT "a;" FROM u -- ;\n',
    "SELECT count(*) FROM t GROUP BY a",
)
_WRITES = (
    "INSERT INTO t VALUES (1) RETURNING *",
    "UPDATE t SET a = 1 RETURNING a",
    "DELETE FROM t RETURNING *",
    "MERGE INTO t USING u ON true WHEN MATCHED THEN DELETE RETURNING *",
)
_CALLS = (
    "SELECT pg_catalog.set_config('a.b', 'c', false)",
    "SELECT \"nextval\"('s')",
    "SELECT * FROM pg_ls_dir('.')",
    "SELECT U&\"pg\\005fnotify\"('c', 'p')",
    "SELECT pg_advisory_lock(1)",
    "SELECT now()",
    "SELECT pg_advisory_xact_lock(1)",
)
_RECURSIVE = "WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "


def _wrap(stmt: str, is_select: bool, how: int) -> tuple[str, bool]:
    """One wrapper around a preparable statement (a query when ``is_select``), keeping it
    valid SQL; the new statement and whether it is a query."""
    has_with = stmt.lstrip("(").startswith("WITH")
    wrappers: list[tuple[str, bool] | None] = [
        (f"WITH c AS ({stmt}) SELECT * FROM c", True),  # noqa: S608 - generated test SQL
        (f"COPY ({stmt}) TO STDOUT", False),
        (f"WITH c AS MATERIALIZED (SELECT 1), d AS ({stmt}) SELECT 1", True),
        None if has_with else (f"WITH c AS (SELECT 2) {stmt}", is_select),
        None if has_with else (f"{_RECURSIVE}SEARCH DEPTH FIRST BY n SET o {stmt}", is_select),
        None if has_with else (f"{_RECURSIVE}CYCLE n SET c USING p {stmt}", is_select),
        (f"SELECT * FROM ({stmt}) s", True) if is_select else None,  # noqa: S608
        (f"({stmt})", True) if is_select else None,
        (f"SELECT EXISTS ({stmt})", True) if is_select else None,
        (f"EXPLAIN {stmt}", False),
    ]
    chosen = wrappers[how % len(wrappers)]
    return chosen if chosen is not None else (f"WITH c AS ({stmt}) SELECT 1", True)


@st.composite
def nested_statements(draw: st.DrawFn) -> str:
    stmt: str = draw(st.sampled_from(_READS + _WRITES + _CALLS))
    is_select = stmt not in _WRITES
    for how in draw(st.lists(st.integers(0, 9), max_size=6)):
        if stmt.startswith(("EXPLAIN", "COPY")):  # nothing can wrap these
            break
        stmt, is_select = _wrap(stmt, is_select, how)
    return stmt


_SEPARATORS = (";", " ; ", ";\n-- a ; comment\n", "; /* ; */ ", ";;", ";\n")


@st.composite
def scripts(draw: st.DrawFn) -> str:
    statements = draw(st.lists(nested_statements(), min_size=1, max_size=4))
    if draw(st.booleans()):
        body = "; ".join(statements[:2])
        statements.append(f"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC {body}; END")
    out = statements[0]
    for stmt in statements[1:]:
        out += draw(st.sampled_from(_SEPARATORS)) + stmt
    return out + draw(st.sampled_from(("", ";", " -- end", "; /* end */")))


@settings(max_examples=150, deadline=None, database=None)
@given(scripts())
def test_generated_scripts_agree_with_postgresql(sql: str) -> None:
    check_script(sql)
    check_tokens(sql)


@settings(max_examples=200, deadline=None, database=None)
@given(nested_statements())
def test_generated_statements_are_judged_like_postgresql(sql: str) -> None:
    assert pg_statements(sql) is not None, f"the generator made invalid SQL: {sql!r}"
    (verdict,) = check_script(sql)
    if verdict is None:  # a read to PostgreSQL is a read to us
        assert refused(sql, READ_ONLY) is None, sql


_NOISE = st.sampled_from(
    (
        "SELECT",
        " ",
        "\n",
        ";",
        "(",
        ")",
        "'",
        "''",
        '"',
        "$$",
        "$a$",
        "--",
        "/*",
        "*/",
        "E'\\'",
        "U&",
        "WITH",
        "AS",
        "DELETE FROM t",
        "BEGIN ATOMIC",
        "END",
        "CASE",
        "CREATE FUNCTION f() ",
        "1",
        "+-",
        "x",
        ",",
    )
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(_NOISE, max_size=30).map("".join))
def test_noise_is_split_like_postgresql(sql: str) -> None:
    check_script(sql)
    check_tokens(sql)
