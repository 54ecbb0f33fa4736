"""omnibase_infra.sql on long and deeply nested input: linear in the length, no recursion.

Lexing a run of ``+-`` used to be quadratic (a 20 KB statement blocked for ~30 s), deeply
nested EXPLAIN or WITH raised RecursionError and skipping a parenthesised group rescanned it
at every level. Each shape is checked twice:

* at 1 MB, for behaviour: the validator, the sanitizer and the splitter give the right
  answer (or the typed error) without RecursionError (marked slow: it takes seconds);
* for linearity: the time for 2n characters over the time for n stays near 2 (a quadratic
  algorithm gives 4). Times are CPU times, the best of a few runs, and the bound generous.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from omnibase_infra.errors import InfraValidationError
from omnibase_infra.sql import (
    READ_ONLY,
    READ_WRITE,
    EnumSqlAccess,
    describe_statements,
    sanitize_sql,
    split_statements,
    validate_statement,
)

MB = 1_000_000
A = EnumSqlAccess


def operators(size: int) -> str:
    return "SELECT 1 " + "+-" * (size // 2) + " 1"


def parentheses(size: int) -> str:
    return "SELECT " + "(" * (size // 2) + "1" + ")" * (size // 2)


def nested_comments(size: int) -> str:
    return "SELECT 1 /*" + " /*" * (size // 6) + " */" * (size // 6) + " */"


def with_levels(size: int, inner: str = "SELECT 1") -> str:
    levels = size // 21
    return "WITH a AS (" * levels + inner + ") SELECT 1" * levels


def explain_levels(size: int) -> str:
    return "EXPLAIN " * (size // 8) + "SELECT 1"


def many_statements(size: int) -> str:
    return "SELECT 1;" * (size // 9)


def quoted_runs(size: int) -> str:
    return "SELECT " + "'a'\n" * (size // 8) + ", E'\\\\'" + ", $$x$$" * (size // 16)


SHAPES: dict[str, Callable[[int], str]] = {
    "operators": operators,
    "parentheses": parentheses,
    "nested_comments": nested_comments,
    "with_levels": with_levels,
    "explain_levels": explain_levels,
    "many_statements": many_statements,
    "quoted_runs": quoted_runs,
}


def validation_outcome(sql: str, allow: frozenset[EnumSqlAccess] = READ_ONLY) -> str:
    try:
        validate_statement(sql, allow=allow, operation="fetch")
    except InfraValidationError as err:
        return f"{err.details['rule']}: {err.message}"
    return "accepted"


# --- behaviour at 1 MB -----------------------------------------------------------------------


@pytest.mark.slow
def test_a_megabyte_of_operators() -> None:
    sql = operators(MB)
    assert validation_outcome(sql) == "accepted"
    assert sanitize_sql(sql) == "SELECT ? " + "+-" * (MB // 2 - 1) + "+?"


@pytest.mark.slow
def test_a_megabyte_of_parentheses() -> None:
    sql = parentheses(MB)
    assert validation_outcome(sql[:-1]) == (
        "malformed: malformed statement: unbalanced parentheses"
    )
    assert sanitize_sql(sql) == "SELECT " + "(" * (MB // 2) + "?" + ")" * (MB // 2)


@pytest.mark.slow
def test_a_megabyte_of_nested_comments() -> None:
    sql = nested_comments(MB)
    assert validation_outcome(sql) == "accepted"
    assert validation_outcome(sql[:-3]) == "malformed: malformed statement: unterminated /* comment"


@pytest.mark.slow
def test_a_megabyte_of_with_levels() -> None:
    modifying = with_levels(MB, inner="DELETE FROM t RETURNING 1")
    assert validation_outcome(modifying) == (
        "access: data-modifying CTE (DELETE) needs write access; 'fetch' allows read"
    )


# Other shapes at a quarter of the size: they share the code the megabyte tests time.
QUARTER = MB // 4


def test_long_explain_chains() -> None:
    deep_delete = explain_levels(QUARTER).replace("SELECT 1", "DELETE FROM t")
    assert validation_outcome(deep_delete) == (
        "access: EXPLAIN of DELETE needs write access; 'fetch' allows read"
    )
    (info,) = describe_statements(explain_levels(QUARTER))
    assert (info.kind, info.access) == ("EXPLAIN", {A.READ})


def test_many_statements() -> None:
    sql = many_statements(QUARTER)
    count = QUARTER // 9
    assert validation_outcome(sql, READ_WRITE) == (
        f"multiple_statements: {count} statements (SELECT; SELECT; SELECT; SELECT; SELECT; ...);"
        " only one allowed"
    )
    assert len(split_statements(sql)) == count


def test_long_literals() -> None:
    sql = quoted_runs(QUARTER)
    assert validation_outcome(sql) == "accepted"
    assert sanitize_sql(sql) == "SELECT ? , ?" + ", ?" * (QUARTER // 16)


def test_long_with_chains_read() -> None:
    (info,) = describe_statements(with_levels(QUARTER))
    assert (info.kind, info.access) == ("SELECT", {A.READ})


# --- linearity -------------------------------------------------------------------------------


def _cpu_seconds(run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def _everything(sql: str) -> None:
    validation_outcome(sql, frozenset(A))
    sanitize_sql(sql)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_time_grows_linearly(shape: str) -> None:
    make = SHAPES[shape]
    size = 1 << 15
    ratios = []
    for _ in range(3):  # a noisy machine may spoil one measurement, not three
        small, large = make(size), make(2 * size)
        ratio = _cpu_seconds(lambda s=large: _everything(s)) / max(
            _cpu_seconds(lambda s=small: _everything(s)), 1e-6
        )
        ratios.append(ratio)
        if ratio < 3.0:
            break
    assert min(ratios) < 3.0, f"{shape}: doubling the input multiplied the time by {ratios}"
