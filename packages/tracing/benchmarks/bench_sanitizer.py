"""The SQL sanitizer (``omnibase_infra.sql.sanitize_sql``) against the fastest correct way to
strip literals with sqlparse and with sqlglot, over the same 395 texts: shared-models' SQL
corpus (``shared-models/tests/data/sql_corpus.sql``: application queries, DDL, every literal
form, truncated and malformed statements, injection payloads) and its differential scripts
(``sql_differential.sql``: PostgreSQL scripts of one or more statements). Imported by
``bench.py``. Statements per second, higher is better; the issue's targets: at least 5x
each baseline.

The same work on both sides (benchlib's rule 2): every contender turns a text into the same
one-line, literal-free text. Each baseline runs its library's lexer only (no parse, no
grouping: replacing literals needs neither) and hands the tokens, mapped to our token kinds,
to the token-by-token reference implementation of the sanitizer's rules
(``shared-models/tests/sql_reference.py``, which shared-models' tests check ``sanitize_sql``
against: literals and TRUE/FALSE values become ``?`` with a unary sign folded in, comments
and whitespace runs become one space, ``IN (?, ?)`` becomes ``IN (?)``). Only the lexers
differ, and every difference in the outputs comes from them. Each baseline at its best
documented configuration (benchlib's rule 1):

* sqlparse: ``sqlparse.lexer.tokenize(sql)`` (its lexer's entry point: the default
  ``Lexer`` instance's ``get_tokens``), not ``sqlparse.parse``, whose statement splitting and
  grouping the replacement does not need (``parse`` and ``flatten`` take 5x as long as the
  lexer on these texts);
* sqlglot: the postgres dialect's tokenizer, made once and reused (``Tokenizer.tokenize``;
  ``Dialect.tokenize`` makes a new one per call, which costs more than a short statement),
  no parse, no generation; with sqlglot's mypyc-compiled extensions (``pip install
  "sqlglot[c]"``, sqlglot's README, "Install"), about 5x faster than its pure-Python
  tokenizer: the run fails when the tokenizer is not the compiled one.

Like with like: each baseline is timed, interleaved with ours, over the texts on which its
output is identical to ours (a text it fails on, or renders differently, is one where it
did other work: often less, as when sqlglot reads a whole statement as one opaque command).
A second record per baseline, without a target, times its lexing alone (no output at all)
over the same texts: what it costs besides the rendering it shares.

Ours is ``sanitize_sql`` as callers use it. It has no cache (``analyze_sql`` has one; the
run checks that timing ours touches no cache), so every call lexes its text: the figures
are uncached. Each contender is warmed up before timing. Before timing, every baseline's
output is checked against ours, text by text; the run prints how many are identical, how
many leak (keep a literal, or the content of a literal cut off by the end of the text), how
many differ otherwise (a lost parameter number, a statement sqlglot reads as one opaque
command, ...) and how many the baseline fails on (sqlglot raises on a text cut off inside a
literal or comment).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import benchlib  # type: ignore[import-not-found]

from omnibase_infra.sql import LITERAL_KINDS, RESERVED_KEYWORDS, sanitize_sql, tokenize
from omnibase_infra.sql import analysis as sql_analysis
from omnibase_infra.sql import sanitize as sql_sanitize
from omnibase_infra.sql.lexer import EnumSqlTokenKind

sqlparse_lexer = benchlib.require_baseline("sqlparse.lexer", install="sqlparse")
sqlparse_tokens = benchlib.require_baseline("sqlparse.tokens", install="sqlparse")
sqlglot_tokens = benchlib.require_baseline("sqlglot.tokens", install="sqlglot[c]")
sqlglot_postgres = benchlib.require_baseline("sqlglot.dialects.postgres", install="sqlglot[c]")
sqlglot_tokenizer_core = benchlib.require_baseline("sqlglot.tokenizer_core", install="sqlglot[c]")

SHARED_TESTS = Path(__file__).resolve().parents[3] / "shared-models/tests"
DATA = SHARED_TESTS / "data"
CORPUS_PATHS = (DATA / "sql_corpus.sql", DATA / "sql_differential.sql")
TARGETS = {"sqlparse": 5.0, "sqlglot": 5.0}  # the lexing-alone records have none
# Each sample runs the corpus this many times, so that each takes long enough to time.
PASSES = {
    "ours": 10,
    "sqlparse": 1,
    "sqlglot": 3,
    "sqlparse lexer alone": 1,
    "sqlglot tokenizer alone": 8,
}

K = EnumSqlTokenKind


def _load_reference() -> Callable[..., str]:
    """shared-models' token-by-token reference renderer (tests/sql_reference.py)."""
    spec = importlib.util.spec_from_file_location(
        "sql_reference", SHARED_TESTS / "sql_reference.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.render_tokens  # type: ignore[no-any-return]


render_tokens = _load_reference()


def load_corpus(paths: tuple[Path, ...] = CORPUS_PATHS) -> list[tuple[str, str]]:
    """(id, text) of every entry of the corpus files (the format is in their headers),
    empty ones left out."""
    entries = []
    for path in paths:
        parts = re.split(r"^--@ (\S+)\n", path.read_text(encoding="utf-8"), flags=re.M)
        for i in range(1, len(parts), 2):
            if (text := parts[i + 1].removesuffix("\n")).strip():
                entries.append((f"{path.stem}:{parts[i]}", text))
    return entries


def _compiled(module: object) -> bool:
    return str(getattr(module, "__file__", "")).endswith(
        tuple(importlib.machinery.EXTENSION_SUFFIXES)
    )


if not _compiled(sqlglot_tokenizer_core):
    msg = (
        "sqlglot's tokenizer is the pure-Python one: install 'sqlglot[c]' (its mypyc-compiled"
        " extensions) so that the baseline runs at its best"
    )
    raise benchlib.MissingBaselineError(msg)


def _word_kind(text: str) -> EnumSqlTokenKind:
    return K.KEYWORD if text.upper() in RESERVED_KEYWORDS else K.IDENTIFIER


# --- sqlparse: its lexer's (token type, text) pairs, mapped to our kinds.


# sqlparse token types (each covers its subtypes), in the order they are tested, and our
# kind for each; None for a word (key word or name), whose kind depends on the word.
_SQLPARSE_TYPES = (
    (sqlparse_tokens.Whitespace, K.WHITESPACE),
    (sqlparse_tokens.Newline, K.WHITESPACE),
    (sqlparse_tokens.Comment, K.COMMENT),
    (sqlparse_tokens.String.Symbol, K.QUOTED_IDENTIFIER),  # "quoted identifier"
    (sqlparse_tokens.Number, K.NUMBER),
    (sqlparse_tokens.Literal, K.STRING),
    (sqlparse_tokens.Name.Placeholder, K.PARAMETER),
    (sqlparse_tokens.Keyword, None),
    (sqlparse_tokens.Name, None),
    (sqlparse_tokens.Operator, K.OPERATOR),
    (sqlparse_tokens.Punctuation, K.PUNCTUATION),
)


def _sqlparse_kind(ttype: object) -> EnumSqlTokenKind | None:
    """Our kind for a sqlparse token type; None for a word."""
    return next((kind for parent, kind in _SQLPARSE_TYPES if ttype in parent), K.OTHER)


_SQLPARSE_KINDS: dict[object, EnumSqlTokenKind | None] = {}


def sqlparse_sanitize(sql: str) -> str:
    """sqlparse's lexer, then our renderer."""
    kinds = _SQLPARSE_KINDS

    def tokens() -> Iterator[tuple[str, str, int]]:
        for ttype, text in sqlparse_lexer.tokenize(sql):
            try:
                kind = kinds[ttype]
            except KeyError:
                kind = kinds[ttype] = _sqlparse_kind(ttype)
            yield (_word_kind(text) if kind is None else kind), text, 0

    return render_tokens(tokens(), keep_comments=False, collapse_in_lists=True)


# --- sqlglot: the postgres dialect's tokens (which leave out whitespace and comments: a gap
# between two tokens becomes a space), mapped to our kinds.

_TT = sqlglot_tokens.TokenType
_SQLGLOT_KINDS = {
    **dict.fromkeys(
        (
            *(_TT.STRING, _TT.NATIONAL_STRING, _TT.BYTE_STRING, _TT.UNICODE_STRING),
            *(_TT.RAW_STRING, _TT.NATIONAL_RAW_STRING),
        ),
        K.STRING,
    ),
    _TT.HEREDOC_STRING: K.DOLLAR_STRING,
    _TT.BIT_STRING: K.BIT_STRING,
    _TT.HEX_STRING: K.BIT_STRING,
    _TT.NUMBER: K.NUMBER,
    _TT.IDENTIFIER: K.QUOTED_IDENTIFIER,
    _TT.PARAMETER: K.PARAMETER,
    _TT.PLACEHOLDER: K.PARAMETER,
    _TT.DASH: K.OPERATOR,
    _TT.PLUS: K.OPERATOR,
}
# One tokenizer for every text (Dialect.tokenize makes a new one per call, which costs more
# than tokenizing a short statement).
_TOKENIZER = sqlglot_postgres.Postgres().tokenizer()


def sqlglot_sanitize(sql: str) -> str:
    """sqlglot's postgres tokenizer, then our renderer."""
    out: list[tuple[str, str, int]] = []
    append, kinds = out.append, _SQLGLOT_KINDS
    previous_end = 0
    for token in _TOKENIZER.tokenize(sql):
        start, end = token.start, token.end + 1
        if start > previous_end:
            append((K.WHITESPACE, " ", previous_end))
        text = sql[start:end]
        kind = kinds.get(token.token_type)
        if kind is None:
            first = text[0]
            kind = _word_kind(text) if first.isalpha() or first == "_" else K.PUNCTUATION
        append((kind, text, start))
        previous_end = end
    return render_tokens(out, keep_comments=False, collapse_in_lists=True)


# --- checking and timing


# The opening of a quoted literal, quoted identifier or comment (what is left of one cut off by
# the end of the text is its content).
_OPENER = re.compile(r"(?:[EeNnBbXx]|[Uu]&)?(?:'|\"|\$[^$]*\$|/\*)")


def _secrets(sql: str) -> list[str]:
    """What must not reach an output: the input's literals, and the content of anything cut
    off by its end (three characters or more)."""
    found = []
    for token in tokenize(sql):
        text = token.text
        if token.kind is K.UNTERMINATED:
            opener = _OPENER.match(text)
            text = text[opener.end() if opener else 0 :]
        elif token.kind not in LITERAL_KINDS:
            continue
        if len(text) >= 3:
            found.append(text)
    return found


def _leaks(sql: str, out: str) -> bool:
    """True when ``out`` holds a literal (one our lexer finds in it, or one of the input's) or
    the content of something the input cut off."""
    return any(t.kind in LITERAL_KINDS for t in tokenize(out)) or any(
        text in out for text in _secrets(sql)
    )


def check_against_ours(
    sanitize: Callable[[str], str], corpus: list[tuple[str, str]]
) -> dict[str, list[str]]:
    """The corpus ids by outcome: identical to ours, leaks a literal, differs otherwise,
    fails (raises)."""
    outcome: dict[str, list[str]] = {"identical": [], "leaks": [], "differs": [], "fails": []}
    for name, sql in corpus:
        try:
            out = sanitize(sql)
        except Exception:
            outcome["fails"].append(name)
            continue
        if out == sanitize_sql(sql):
            outcome["identical"].append(name)
        elif _leaks(sql, out):
            outcome["leaks"].append(name)
        else:
            outcome["differs"].append(name)
    return outcome


def _throughput(sanitize: Callable[[str], object], texts: list[str], passes: int) -> float:
    """Statements per second over ``passes`` runs of the texts; failures count as done."""
    started = time.perf_counter()
    for _ in range(passes):
        for sql in texts:
            try:
                sanitize(sql)
            except Exception:  # noqa: S112 - a baseline that cannot lex drops it
                continue
    return passes * len(texts) / (time.perf_counter() - started)


def _cache_calls() -> tuple[int, ...]:
    infos = (sql_sanitize._analyze_cached.cache_info(), sql_analysis._describe_cached.cache_info())
    return tuple(n for info in infos for n in (info.hits, info.misses))


def _sqlparse_lexing(sql: str) -> None:
    for _ in sqlparse_lexer.tokenize(sql):
        pass


def _sqlglot_lexing(sql: str) -> None:
    _TOKENIZER.tokenize(sql)


def sanitizer_records(rounds: int) -> list[benchlib.BenchRecord]:
    """Per baseline, over the texts on which its output is identical to ours: sanitized
    statements per second, ours against it (the target) and, with no target, ours against
    its lexing alone (what it costs besides rendering)."""
    logging.getLogger("sqlglot").setLevel(logging.CRITICAL)  # it warns on unsupported syntax
    corpus = load_corpus()
    texts = [sql for _, sql in corpus]
    ours_output = [sanitize_sql(sql) for sql in texts]
    assert not any(map(_leaks, texts, ours_output)), "ours left a literal"  # noqa: S101
    before = _cache_calls()
    _throughput(sanitize_sql, texts, 1)
    assert _cache_calls() == before, "sanitize_sql used a cache"  # noqa: S101
    baselines = {
        "sqlparse": (sqlparse_sanitize, "sqlparse lexer alone", _sqlparse_lexing),
        "sqlglot": (sqlglot_sanitize, "sqlglot tokenizer alone", _sqlglot_lexing),
    }
    records: list[benchlib.BenchRecord] = []
    for name, (sanitize, lexing_name, lexing) in baselines.items():
        outcome = check_against_ours(sanitize, corpus)
        counts = ", ".join(f"{len(ids)} {what}" for what, ids in outcome.items())
        print(f"sql sanitizer: {name} over {len(corpus)} texts: {counts}")  # noqa: T201
        for what in ("leaks", "fails", "differs"):
            if outcome[what]:
                print(f"  {what}: {' '.join(outcome[what])}")  # noqa: T201
        # Like with like: the texts on which the baseline does the same work as ours.
        same = [sql for text_id, sql in corpus if text_id in set(outcome["identical"])]
        contenders: dict[str, Callable[[str], object]] = {name: sanitize, lexing_name: lexing}
        records += benchlib.compare(
            f"sql sanitizer ({len(same)} texts {name} sanitizes as ours)",
            "statements/s",
            lambda same=same: _throughput(sanitize_sql, same, PASSES["ours"]),
            {
                contender: (lambda f=f, p=PASSES[contender], same=same: _throughput(f, same, p))
                for contender, f in contenders.items()
            },
            higher_is_better=True,
            targets=TARGETS,
            rounds=rounds,
            warmup=1,
        )
    return records
