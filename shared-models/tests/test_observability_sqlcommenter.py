"""sqlcommenter comments: sampled statements only, never on one that has a comment."""

from __future__ import annotations

from uuid import uuid4

import pytest

from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability import PropagatedContext, add_trace_comment, has_sql_comment

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{SPAN_ID}-01"


def _context(trace_flags: int = 1, tracestate: str | None = None) -> ModelCorrelationContext:
    return ModelCorrelationContext(
        correlation_id=uuid4(),
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        trace_flags=trace_flags,
        tracestate=tracestate,
    )


def test_appends_the_url_encoded_traceparent() -> None:
    assert add_trace_comment("SELECT 1", _context()) == (
        f"SELECT 1 /*traceparent='00-{TRACE_ID}-{SPAN_ID}-01'*/"
    )


def test_keys_are_sorted_and_values_url_encoded() -> None:
    sql = add_trace_comment(
        "SELECT 1",
        _context(tracestate="congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        extra={"application": "deploy svc", "db_driver": "asyncpg"},
    )
    assert sql == (
        "SELECT 1 /*application='deploy%20svc',db_driver='asyncpg',"
        f"traceparent='{TRACEPARENT}',"
        "tracestate='congo%3Dt61rcWkgMzE%2Crojo%3D00f067aa0ba902b7'*/"
    )


def test_quotes_and_comment_delimiters_cannot_escape_the_comment() -> None:
    sql = add_trace_comment("SELECT 1", _context(), extra={"route": "it's */ DROP TABLE x; /*"})
    comment = sql.removeprefix("SELECT 1 ")
    assert comment.startswith("/*")
    assert comment.endswith("*/")
    assert comment.count("*/") == 1
    assert "'s" not in comment
    assert "route='it%27s%20%2A%2F%20DROP%20TABLE%20x%3B%20%2F%2A'" in comment


def test_the_trace_cannot_be_overridden_by_extra() -> None:
    sql = add_trace_comment("SELECT 1", _context(), extra={"traceparent": "forged"})
    assert "forged" not in sql


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1;", f"SELECT 1 /*traceparent='{TRACEPARENT}'*/;"),
        ("SELECT 1 ;  \n", f"SELECT 1 /*traceparent='{TRACEPARENT}'*/;"),
        ("SELECT 1\n", f"SELECT 1 /*traceparent='{TRACEPARENT}'*/"),
    ],
)
def test_the_comment_goes_before_a_final_semicolon(sql: str, expected: str) -> None:
    assert add_trace_comment(sql, _context()) == expected


def test_unsampled_statements_are_not_changed() -> None:
    assert add_trace_comment("SELECT 1", _context(trace_flags=0)) == "SELECT 1"


def test_statements_without_a_trace_are_not_changed() -> None:
    context = ModelCorrelationContext.new(with_trace=False)
    assert add_trace_comment("SELECT 1", context) == "SELECT 1"


@pytest.mark.parametrize(
    "sql",
    ["SELECT 1 -- note", "/* hint */ SELECT 1", "SELECT 1 /*traceparent='x'*/"],
)
def test_statements_with_a_comment_are_not_changed(sql: str) -> None:
    assert has_sql_comment(sql)
    assert add_trace_comment(sql, _context()) == sql


def test_a_commented_statement_is_not_commented_twice() -> None:
    once = add_trace_comment("SELECT 1", _context())
    assert add_trace_comment(once, _context()) == once


def test_a_propagated_context_is_accepted() -> None:
    context = PropagatedContext(_context(), {"k": "v"})
    assert add_trace_comment("SELECT 1", context).endswith(f"/*traceparent='{TRACEPARENT}'*/")


@pytest.mark.parametrize(
    "sql", ["SELECT 'a-b', 2/3", "SELECT '--'", "SELECT $$ /* $$", 'SELECT "--"']
)
def test_comment_markers_inside_literals_are_no_comment(sql: str) -> None:
    assert not has_sql_comment(sql)
    assert add_trace_comment(sql, _context()) == f"{sql} /*traceparent='{TRACEPARENT}'*/"


def test_a_statement_ending_inside_an_unfinished_comment_is_not_changed() -> None:
    assert add_trace_comment("SELECT 1 /* open", _context()) == "SELECT 1 /* open"
