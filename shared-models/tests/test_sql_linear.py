"""omnibase_infra.sql on long and deeply nested input: linear in the length, no recursion.

Lexing a run of ``+-`` used to be quadratic (a 20 KB statement blocked for ~30 s), deeply
nested EXPLAIN or WITH raised RecursionError and skipping a parenthesised group rescanned it
at every level. Each shape is checked twice:

* at 1 MB (operators, parentheses, nested comments, WITH levels), for behaviour: the
  validator and the sanitizer give the right answer or the typed error;
* for linearity (every shape): the CPU time for 2n characters over the time for n stays
  near 2 (a quadratic algorithm gives 4); the best of two runs, and the bound generous.

Both run in a child interpreter (this file run as a script): the coverage tracer of the
test session would make megabytes take many times longer and distort the timings. Shapes
at an eighth of a megabyte run here as well, for behaviour.
"""

from __future__ import annotations

import functools
import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

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
EIGHTH = MB // 8  # long enough for the long-text paths (64 KB and more)
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


def marked_mix(size: int) -> str:
    """What the sanitizer's marking pass reads: literals, signs, TRUE after IS NOT, IN lists,
    quoted identifiers, comments and line breaks."""
    clause = "x = -1 AND \"q\" IS NOT TRUE AND z IN ('a', 2.5) /* c */ OR y = .5 -- d\n"
    return "SELECT 1 WHERE " + clause * (size // len(clause))


SHAPES: dict[str, Callable[[int], str]] = {
    "operators": operators,
    "parentheses": parentheses,
    "nested_comments": nested_comments,
    "with_levels": with_levels,
    "explain_levels": explain_levels,
    "many_statements": many_statements,
    "quoted_runs": quoted_runs,
    "marked_mix": marked_mix,
}


def validation_outcome(sql: str, allow: frozenset[EnumSqlAccess] = READ_ONLY) -> str:
    try:
        validate_statement(sql, allow=allow, operation="fetch")
    except InfraValidationError as err:
        return f"{err.details['rule']}: {err.message}"
    return "accepted"


# --- what the child interpreter measures -----------------------------------------------------


def _timed(run: Callable[[], Any]) -> tuple[Any, float]:
    gc.collect()  # no collection owed by earlier runs falls into this one
    started = time.process_time()
    result = run()
    return result, time.process_time() - started


def _megabytes() -> dict[str, dict[str, Any]]:
    cases: dict[str, tuple[str, Callable[[str], bool]]] = {
        "operators": (operators(MB), lambda out: out == "SELECT ? " + "+-" * (MB // 2 - 1) + "+?"),
        "parentheses": (
            parentheses(MB)[:-1],
            lambda out: out == "SELECT " + "(" * (MB // 2) + "?" + ")" * (MB // 2 - 1),
        ),
        "nested_comments": (nested_comments(MB), lambda out: out == "SELECT ?"),
        "with_levels": (
            with_levels(MB, inner="DELETE FROM t RETURNING 1"),
            lambda out: out.startswith("WITH a AS (WITH a AS (") and "DELETE FROM t" in out,
        ),
    }
    results = {}
    for name, (sql, sanitized_ok) in cases.items():
        outcome, validate_seconds = _timed(functools.partial(validation_outcome, sql))
        sanitized, sanitize_seconds = _timed(functools.partial(sanitize_sql, sql))
        results[name] = {
            "outcome": outcome,
            "sanitized_ok": sanitized_ok(sanitized),
            "validate_seconds": validate_seconds,
            "sanitize_seconds": sanitize_seconds,
        }
    return results


def _cpu_seconds(sql: str) -> float:
    """The least CPU time of two runs of the validator and the sanitizer on ``sql``."""
    best = float("inf")
    for _ in range(2):
        _, seconds = _timed(lambda: (validation_outcome(sql, frozenset(A)), sanitize_sql(sql)))
        best = min(best, seconds)
    return best


def _growth() -> dict[str, list[float]]:
    ratios: dict[str, list[float]] = {}
    for name, make in SHAPES.items():
        small, large = make(1 << 15), make(1 << 16)
        ratios[name] = []
        for _ in range(3):  # a noisy machine may spoil one measurement, not three
            ratios[name].append(_cpu_seconds(large) / max(_cpu_seconds(small), 1e-6))
            if ratios[name][-1] < 3.0:
                break
    return ratios


@pytest.fixture(scope="module")
def measured() -> dict[str, Any]:
    child = subprocess.run(  # noqa: S603 - this file, run by this interpreter
        [sys.executable, __file__],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(child.stdout)
    return result


# --- behaviour at 1 MB -----------------------------------------------------------------------

MEGABYTE_OUTCOMES = {
    "operators": "accepted",
    "parentheses": "malformed: malformed statement: unbalanced parentheses",
    "nested_comments": "accepted",
    "with_levels": "access: data-modifying CTE (DELETE) needs write access; 'fetch' allows read",
}


@pytest.mark.parametrize("shape", sorted(MEGABYTE_OUTCOMES))
def test_a_megabyte(measured: dict[str, Any], shape: str) -> None:
    result = measured["megabytes"][shape]
    assert result["outcome"] == MEGABYTE_OUTCOMES[shape]
    assert result["sanitized_ok"]


# --- linearity -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_time_grows_linearly(measured: dict[str, Any], shape: str) -> None:
    ratios = measured["growth"][shape]
    assert min(ratios) < 3.0, f"{shape}: doubling the input multiplied the time by {ratios}"


# --- other shapes, here ----------------------------------------------------------------------


def test_long_explain_chains() -> None:
    deep_delete = explain_levels(EIGHTH).replace("SELECT 1", "DELETE FROM t")
    assert validation_outcome(deep_delete) == (
        "access: EXPLAIN of DELETE needs write access; 'fetch' allows read"
    )
    (info,) = describe_statements(explain_levels(EIGHTH))
    assert (info.kind, info.access) == ("EXPLAIN", frozenset({A.READ}))


def test_many_statements() -> None:
    sql = many_statements(EIGHTH)
    count = EIGHTH // 9
    assert validation_outcome(sql, READ_WRITE) == (
        f"multiple_statements: {count} statements (SELECT; SELECT; SELECT; SELECT; SELECT; ...);"
        " only one allowed"
    )
    assert len(split_statements(sql)) == count


def test_long_literals() -> None:
    sql = quoted_runs(EIGHTH)
    assert validation_outcome(sql) == "accepted"
    assert sanitize_sql(sql) == "SELECT ? , ?" + ", ?" * (EIGHTH // 16)


def test_long_texts_sanitize_in_either_way() -> None:
    clause = "x = -1 AND \"q\" IS NOT TRUE AND z IN ('a', 2.5) /* c */ OR y = .5 -- d\n"
    expected = "SELECT ? WHERE " + 'x = ? AND "q" IS NOT TRUE AND z IN (?) OR y = ? ' * (
        EIGHTH // len(clause)
    )
    assert sanitize_sql(marked_mix(EIGHTH)) == expected.rstrip()  # the marking pass
    # Not ASCII outside a literal: the steps, with the garbage collector paused.
    assert sanitize_sql("SELECT é" + ", 1" * EIGHTH) == "SELECT é" + ", ?" * EIGHTH


def test_long_with_chains() -> None:
    (info,) = describe_statements(with_levels(EIGHTH))
    assert (info.kind, info.access) == ("SELECT", frozenset({A.READ}))


if __name__ == "__main__":  # the child interpreter of the `measured` fixture
    print(json.dumps({"megabytes": _megabytes(), "growth": _growth()}))  # noqa: T201
