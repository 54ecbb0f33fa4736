"""The SQL sanitizer (``omnibase_infra.sql.sanitize_sql``) against the two usual
library-based ways to strip literals, over the same statements: shared-models' SQL corpus
(``shared-models/tests/data/sql_corpus.sql``: application queries, DDL, every literal form,
truncated and malformed statements, injection payloads).

* sqlparse: parse, walk the flattened tokens, replace every ``Literal.*`` token with ``?``;
* sqlglot: parse with the postgres dialect, replace ``exp.Literal`` and ``exp.Boolean`` nodes
  with placeholders, render.

A statement a baseline cannot parse costs what the failed attempt cost and yields no text, as
in an instrumentation that drops what it cannot sanitize. Statements per second, higher is
better; the issue's target is 5x sqlparse. Imported by ``bench.py``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import benchlib  # type: ignore[import-not-found]
import sqlglot
import sqlparse
from sqlglot import exp
from sqlparse import tokens as sqlparse_tokens

from omnibase_infra.sql import LITERAL_KINDS, sanitize_sql, tokenize

CORPUS_PATH = Path(__file__).resolve().parents[3] / "shared-models/tests/data/sql_corpus.sql"
TARGETS = {"sqlparse": 5.0, "sqlglot": None}
# Each sample runs the corpus this many times, so that ours takes long enough to time.
PASSES = {"ours": 5, "sqlparse": 1, "sqlglot": 1}


def load_corpus(path: Path = CORPUS_PATH) -> list[str]:
    """The corpus statements (the file's format is in its header), empty ones left out."""
    parts = re.split(r"^--@ \S+\n", path.read_text(encoding="utf-8"), flags=re.M)[1:]
    return [s for part in parts if (s := part.removesuffix("\n")).strip()]


def sqlparse_sanitize(sql: str) -> str:
    """Literal replacement the usual sqlparse way."""
    return "".join(
        "?" if token.ttype in sqlparse_tokens.Literal else token.value
        for statement in sqlparse.parse(sql)
        for token in statement.flatten()
    )


def _placeholder(node: exp.Expression) -> exp.Expression:
    return exp.Placeholder() if isinstance(node, exp.Literal | exp.Boolean) else node


def sqlglot_sanitize(sql: str) -> str:
    """Literal replacement on sqlglot's syntax tree."""
    return "; ".join(
        tree.transform(_placeholder).sql(dialect="postgres")
        for tree in sqlglot.parse(sql, read="postgres")
        if tree is not None
    )


def _throughput(sanitize: Callable[[str], str], corpus: list[str], passes: int) -> float:
    """Statements per second over ``passes`` runs of the corpus; failures count as done."""
    started = time.perf_counter()
    for _ in range(passes):
        for sql in corpus:
            try:
                sanitize(sql)
            except Exception:  # noqa: S112 - a baseline that cannot parse drops it
                continue
    return passes * len(corpus) / (time.perf_counter() - started)


def _shortfalls(sanitize: Callable[[str], str], corpus: list[str]) -> tuple[int, int]:
    """How many statements a sanitizer fails on, and how many outputs still hold a literal
    (as our lexer reads the output: a rough check, for the printed summary only)."""
    failed = leaked = 0
    for sql in corpus:
        try:
            text = sanitize(sql)
        except Exception:  # counting what a baseline cannot handle
            failed += 1
            continue
        leaked += any(token.kind in LITERAL_KINDS for token in tokenize(text))
    return failed, leaked


def sanitizer_records(rounds: int) -> list[benchlib.BenchRecord]:
    """One record per baseline: sanitized statements per second, ours against it."""
    logging.getLogger("sqlglot").setLevel(logging.CRITICAL)  # it warns on unsupported syntax
    corpus = load_corpus()
    contenders = {
        "ours": sanitize_sql,
        "sqlparse": sqlparse_sanitize,
        "sqlglot": sqlglot_sanitize,
    }
    for name, sanitize in contenders.items():
        failed, leaked = _shortfalls(sanitize, corpus)  # also warms imports and caches
        print(  # noqa: T201
            f"sql sanitizer: {name}: {len(corpus)} statements, {failed} not parsed,"
            f" {leaked} outputs with a literal left (as our lexer reads them)"
        )
    return benchlib.compare(
        "sql sanitizer",
        "statements/s",
        lambda: _throughput(sanitize_sql, corpus, PASSES["ours"]),
        {
            name: (lambda f=contenders[name], p=PASSES[name]: _throughput(f, corpus, p))
            for name in ("sqlparse", "sqlglot")
        },
        higher_is_better=True,
        targets=TARGETS,
        rounds=rounds,
    )
