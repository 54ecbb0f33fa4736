"""Statement analysis on the lexer's tokens: splitting, kind, the access a statement needs and
the tables it names.

Analysis is syntactic. It cannot know what a function does: ``SELECT delete_everything()``
is a read here. Where the server must guarantee read-only behaviour, run the statement in a
read-only transaction as well.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from omnibase_infra.sql.lexer import LITERAL_KINDS, EnumSqlTokenKind, Token, tokenize

__all__ = [
    "MODIFYING_ACCESS",
    "EnumSqlAccess",
    "ModelSqlAccessNeed",
    "ModelStatementInfo",
    "describe_statements",
    "is_data_modifying",
    "split_statements",
    "statement_kind",
]

_K = EnumSqlTokenKind


class EnumSqlAccess(StrEnum):
    """What running a statement does, as far as its text shows."""

    READ = "read"  # SELECT, VALUES, TABLE, SHOW, EXPLAIN of a read, COPY ... TO STDOUT
    WRITE = "write"  # INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY FROM STDIN, LOCK,
    # REFRESH; data-modifying CTEs and sub-statements; row locks (SELECT ... FOR UPDATE)
    DDL = "ddl"  # CREATE, ALTER, DROP, COMMENT, GRANT, REVOKE, ...; SELECT ... INTO
    ROUTINE = "routine"  # CALL, DO, EXECUTE: server code whose effects are unknown here
    TRANSACTION = "transaction"  # BEGIN, COMMIT, ROLLBACK, SAVEPOINT, SET TRANSACTION, ...
    SESSION = "session"  # SET, RESET, DISCARD, LISTEN, NOTIFY, PREPARE, cursors, ...
    ADMIN = "admin"  # VACUUM, ANALYZE, CLUSTER, REINDEX, CHECKPOINT, ALTER SYSTEM, LOAD,
    # COPY to or from a server file or program
    UNKNOWN = "unknown"  # a statement this analysis does not recognize


# Access that may change stored data, schema or server state (UNKNOWN: it might).
MODIFYING_ACCESS = frozenset(
    {
        EnumSqlAccess.WRITE,
        EnumSqlAccess.DDL,
        EnumSqlAccess.ROUTINE,
        EnumSqlAccess.ADMIN,
        EnumSqlAccess.UNKNOWN,
    }
)


class ModelSqlAccessNeed(BaseModel):
    """One kind of access a statement needs, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    access: EnumSqlAccess
    reason: str


class ModelStatementInfo(BaseModel):
    """What one statement is: never its text, which may hold literals."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str  # SELECT, INSERT, CREATE TABLE, ...; a WITH statement has its main kind
    needs: tuple[ModelSqlAccessNeed, ...]
    tables: tuple[str, ...]  # as written (schema-qualified, quoted), CTE names excluded
    problems: tuple[str, ...] = ()  # malformed text: unterminated literal, unbalanced (, ...

    @property
    def access(self) -> frozenset[EnumSqlAccess]:
        """Every kind of access the statement needs."""
        return frozenset(need.access for need in self.needs)

    @property
    def is_data_modifying(self) -> bool:
        """True when the statement may change data, schema or server state."""
        return not MODIFYING_ACCESS.isdisjoint(self.access)


@dataclass(slots=True)
class _Statement:
    """One statement's significant tokens (no whitespace or comments) and their keys."""

    start: int
    end: int = 0
    tokens: list[Token] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    closed_unopened: bool = False


# A key per significant token: upper-cased words, punctuation and operators as written, and a
# marker for everything else, so that a quoted "select" or a string never reads as a word.
_MARKERS = {
    _K.QUOTED_IDENTIFIER: "<qident>",
    _K.PARAMETER: "<param>",
    _K.UNTERMINATED: "<unterminated>",
    **dict.fromkeys(LITERAL_KINDS, "<literal>"),
}
_WORD_KINDS = frozenset({_K.KEYWORD, _K.IDENTIFIER})
_NAME_KINDS = frozenset({_K.IDENTIFIER, _K.QUOTED_IDENTIFIER})


def _key(token: Token) -> str:
    if token.kind in _WORD_KINDS:
        return token.text.upper()
    return _MARKERS.get(token.kind, token.text)


def _split(tokens: list[Token]) -> Iterator[_Statement]:
    """Statements separated by ``;`` outside parentheses (as psql splits them)."""
    stmt: _Statement | None = None
    depth = 0
    for token in tokens:
        kind = token.kind
        if kind is _K.WHITESPACE:
            continue
        if kind is _K.PUNCTUATION and token.text == ";" and depth <= 0:
            if stmt is not None and stmt.tokens:
                yield stmt
            stmt, depth = None, 0
            continue
        if stmt is None:
            stmt = _Statement(start=token.start)
        stmt.end = token.end
        if kind is _K.COMMENT:
            continue
        key = _key(token)
        if key == "(":
            depth += 1
        elif key == ")":
            depth -= 1
            stmt.closed_unopened |= depth < 0
        stmt.tokens.append(token)
        stmt.keys.append(key)
    if stmt is not None and stmt.tokens:
        yield stmt


def split_statements(sql: str) -> list[str]:
    """The statements of ``sql``, as written (comments inside kept), without the ``;``.

    A ``;`` inside a string, quoted identifier, comment, dollar-quoted body or parentheses
    does not split; text holding only comments is no statement.
    """
    return [sql[s.start : s.end] for s in _split(tokenize(sql))]


# --- problems -------------------------------------------------------------------------------

# An odd run of backslashes before a quote: with standard_conforming_strings off the server
# reads it as an escaped quote, and the string ends somewhere else.
_AMBIGUOUS_BACKSLASH = re.compile(r"(?<!\\)(?:\\\\)*\\'")


def _unterminated(text: str) -> str:
    if text.startswith("/*"):
        return "unterminated /* comment"
    if text.startswith("$"):
        return "unterminated dollar-quoted string"
    if text.startswith('"') or text[:3].upper() == 'U&"':
        return "unterminated quoted identifier"
    return "unterminated quoted string"


def _problems(stmt: _Statement) -> tuple[str, ...]:
    problems: list[str] = []
    for token in stmt.tokens:
        if token.kind is _K.UNTERMINATED:
            problems.append(_unterminated(token.text))
        elif (
            token.kind is _K.STRING
            and token.text[0] in "'Nn"
            and _AMBIGUOUS_BACKSLASH.search(token.text, 1)
        ):
            problems.append(
                "backslash before a quote in a '...' string is read differently when"
                " standard_conforming_strings is off; use E'...' or a parameter"
            )
    if stmt.closed_unopened or stmt.keys.count("(") != stmt.keys.count(")"):
        problems.append("unbalanced parentheses")
    return tuple(problems)


# --- kind and access ------------------------------------------------------------------------

_A = EnumSqlAccess
_BASE_ACCESS: dict[str, EnumSqlAccess] = {
    **dict.fromkeys(("SELECT", "VALUES", "TABLE", "SHOW"), _A.READ),
    **dict.fromkeys(
        ("INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "LOCK", "REFRESH"), _A.WRITE
    ),
    **dict.fromkeys(
        ("CREATE", "ALTER", "DROP", "COMMENT", "GRANT", "REVOKE", "SECURITY", "IMPORT", "REASSIGN"),
        _A.DDL,
    ),
    **dict.fromkeys(("CALL", "DO", "EXECUTE"), _A.ROUTINE),
    **dict.fromkeys(
        ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"),
        _A.TRANSACTION,
    ),
    **dict.fromkeys(
        (
            *("SET", "RESET", "DISCARD", "LISTEN", "UNLISTEN", "NOTIFY", "PREPARE", "DEALLOCATE"),
            *("DECLARE", "FETCH", "MOVE", "CLOSE"),
        ),
        _A.SESSION,
    ),
    **dict.fromkeys(
        ("VACUUM", "ANALYZE", "ANALYSE", "CLUSTER", "REINDEX", "CHECKPOINT", "LOAD"), _A.ADMIN
    ),
}
_DML = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})
# Words between CREATE and the kind of object, and objects named by more than one word.
_CREATE_MODIFIERS = frozenset(
    {"OR", "REPLACE", "TEMP", "TEMPORARY", "GLOBAL", "LOCAL", "UNLOGGED", "UNIQUE"}
    | {"TRUSTED", "PROCEDURAL", "RECURSIVE", "CONSTRAINT"}
)
_MULTIWORD_OBJECTS = frozenset(
    {
        "MATERIALIZED VIEW",
        "FOREIGN TABLE",
        "FOREIGN DATA WRAPPER",
        "EVENT TRIGGER",
        "ACCESS METHOD",
        "USER MAPPING",
        "TEXT SEARCH CONFIGURATION",
        "TEXT SEARCH DICTIONARY",
        "TEXT SEARCH PARSER",
        "TEXT SEARCH TEMPLATE",
        "OPERATOR CLASS",
        "OPERATOR FAMILY",
        "DEFAULT PRIVILEGES",
        "DEFAULT CONVERSION",
        "LARGE OBJECT",
    }
)
_OBJECT_PREFIXES = frozenset(
    " ".join(name.split()[:n]) for name in _MULTIWORD_OBJECTS for n in range(1, 3)
)
_LOCK_STRENGTHS = {
    ("UPDATE",): "FOR UPDATE",
    ("SHARE",): "FOR SHARE",
    ("NO", "KEY", "UPDATE"): "FOR NO KEY UPDATE",
    ("KEY", "SHARE"): "FOR KEY SHARE",
}


def _at(keys: list[str], i: int) -> str:
    return keys[i] if 0 <= i < len(keys) else ""


def _after_parens(keys: list[str], i: int) -> int:
    """Index just past the parenthesised group opening at ``i``."""
    depth = 0
    for j in range(i, len(keys)):
        if keys[j] == "(":
            depth += 1
        elif keys[j] == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(keys)


def _skip_to(keys: list[str], i: int, word: str) -> int:
    """Index of ``word`` at the nesting level of ``i`` (or the end)."""
    while i < len(keys) and keys[i] != word:
        i = _after_parens(keys, i) if keys[i] == "(" else i + 1
    return i


def _parse_with(tokens: list[Token], keys: list[str], i: int) -> tuple[list[int], int] | None:
    """For the WITH at ``i``: the indexes of its CTE names and where its main statement
    starts; None when this is not a CTE list."""
    j = i + 2 if _at(keys, i + 1) == "RECURSIVE" else i + 1
    names: list[int] = []
    while j < len(keys) and tokens[j].kind in _NAME_KINDS:
        names.append(j)
        j += 1
        if _at(keys, j) == "(":
            j = _after_parens(keys, j)
        if _at(keys, j) != "AS":
            return None
        j += 1
        j += _at(keys, j) == "NOT"
        j += _at(keys, j) == "MATERIALIZED"
        if _at(keys, j) != "(":
            return None
        j = _after_parens(keys, j)
        while (clause := _at(keys, j)) in ("SEARCH", "CYCLE"):
            j = _skip_to(keys, j, "SET" if clause == "SEARCH" else "USING") + 2
        if _at(keys, j) != ",":
            return names, j
        j += 1
    return None


def _object_kind(keys: list[str], i: int) -> str:
    """``CREATE TABLE``, ``DROP MATERIALIZED VIEW``, ... for the DDL verb at ``i``."""
    verb = keys[i]
    j = i + 1
    if verb == "CREATE":
        while _at(keys, j) in _CREATE_MODIFIERS:
            j += 1
    phrase = _at(keys, j)
    while f"{phrase} {_at(keys, j + 1)}" in _OBJECT_PREFIXES | _MULTIWORD_OBJECTS:
        j += 1
        phrase = f"{phrase} {keys[j]}"
    return f"{verb} {phrase}".rstrip() if phrase.isidentifier() or " " in phrase else verb


def _copy(keys: list[str], i: int) -> tuple[str, list[ModelSqlAccessNeed]]:
    """COPY reads (TO STDOUT), writes (FROM STDIN) or, with a server file or program, is an
    administrator's statement."""
    into, out = _skip_to(keys, i + 1, "FROM"), _skip_to(keys, i + 1, "TO")
    if into == out:
        return "COPY", [ModelSqlAccessNeed(access=_A.UNKNOWN, reason="COPY without FROM or TO")]
    source = _at(keys, min(into, out) + 1)
    if into < out:
        if source == "STDIN":
            return "COPY", [ModelSqlAccessNeed(access=_A.WRITE, reason="COPY FROM STDIN")]
        reason = "COPY FROM a server file or program"
        return "COPY", [
            ModelSqlAccessNeed(access=_A.WRITE, reason=reason),
            ModelSqlAccessNeed(access=_A.ADMIN, reason=reason),
        ]
    if source == "STDOUT":
        return "COPY", [ModelSqlAccessNeed(access=_A.READ, reason="COPY TO STDOUT")]
    reason = "COPY TO a server file or program"
    return "COPY", [ModelSqlAccessNeed(access=_A.ADMIN, reason=reason)]


def _explain(tokens: list[Token], keys: list[str], i: int) -> tuple[str, list[ModelSqlAccessNeed]]:
    """EXPLAIN needs what its statement needs unless that only reads: EXPLAIN ANALYZE runs
    the statement, and it counts as running whether analyzed or not."""
    j = i + 1
    if _at(keys, j) == "(":
        j = _after_parens(keys, j)
    while _at(keys, j) in ("ANALYZE", "ANALYSE", "VERBOSE"):
        j += 1
    inner_kind, inner = _classify(tokens, keys, j)
    if all(need.access is _A.READ for need in inner):
        return "EXPLAIN", inner
    return "EXPLAIN", [
        ModelSqlAccessNeed(access=need.access, reason=f"EXPLAIN of {inner_kind}") for need in inner
    ]


def _by_first_word(keys: list[str], i: int) -> tuple[str, list[ModelSqlAccessNeed]]:
    word = _at(keys, i)
    access = _BASE_ACCESS.get(word)
    if access is None:
        kind = word if word.isidentifier() else ""
        reason = f"unrecognized statement {kind}".rstrip()
        return kind, [ModelSqlAccessNeed(access=_A.UNKNOWN, reason=reason)]
    kind = word
    nxt = _at(keys, i + 1)
    if word in ("CREATE", "ALTER", "DROP"):
        kind = _object_kind(keys, i)
        if kind == "ALTER SYSTEM":
            access = _A.ADMIN
    elif word == "PREPARE" and nxt == "TRANSACTION":
        kind, access = "PREPARE TRANSACTION", _A.TRANSACTION
    elif word == "SET" and nxt in ("TRANSACTION", "CONSTRAINTS"):
        access = _A.TRANSACTION
    reason = f"{kind} runs unknown server code" if access is _A.ROUTINE else kind
    return kind, [ModelSqlAccessNeed(access=access, reason=reason)]


def _classify(tokens: list[Token], keys: list[str], i: int) -> tuple[str, list[ModelSqlAccessNeed]]:
    """Kind and base access of the statement starting at ``i``."""
    while _at(keys, i) == "(":
        i += 1
    word = _at(keys, i)
    if word == "WITH" and (parsed := _parse_with(tokens, keys, i)) is not None:
        return _classify(tokens, keys, parsed[1])
    if word == "EXPLAIN":
        return _explain(tokens, keys, i)
    if word == "COPY":
        return _copy(keys, i)
    return _by_first_word(keys, i)


def _escalations(keys: list[str]) -> Iterator[ModelSqlAccessNeed]:
    """Needs hidden inside a statement: data-modifying sub-statements, SELECT ... INTO, row
    locks. Checked at every depth, whatever the statement's kind."""
    in_with = "WITH" in keys
    for j, key in enumerate(keys):
        prev = keys[j - 1] if j else ""
        if key in _DML and prev == "(":
            what = "CTE" if in_with else "sub-statement"
            yield ModelSqlAccessNeed(access=_A.WRITE, reason=f"data-modifying {what} ({key})")
        elif key == "INTO" and prev not in ("INSERT", "MERGE"):
            yield ModelSqlAccessNeed(access=_A.DDL, reason="SELECT ... INTO (creates a table)")
        elif key == "FOR":
            for words, clause in _LOCK_STRENGTHS.items():
                if tuple(keys[j + 1 : j + 1 + len(words)]) == words:
                    yield ModelSqlAccessNeed(access=_A.WRITE, reason=f"row-locking clause {clause}")


def _needs(tokens: list[Token], keys: list[str]) -> tuple[str, tuple[ModelSqlAccessNeed, ...]]:
    kind, base = _classify(tokens, keys, 0)
    needs: dict[EnumSqlAccess, ModelSqlAccessNeed] = {}
    for need in (*base, *_escalations(keys)):
        needs.setdefault(need.access, need)
    return kind, tuple(needs.values())


# --- tables ---------------------------------------------------------------------------------

_QUERY_LEADS = frozenset({"SELECT", "WITH", "VALUES", "TABLE", *_DML})
_FROM_LIST_ENDS = frozenset(
    {"WHERE", "GROUP", "HAVING", "WINDOW", "ORDER", "LIMIT", "OFFSET", "FETCH", "FOR"}
    | {"UNION", "INTERSECT", "EXCEPT", "RETURNING", "SET", "WHEN", "VALUES", "SELECT", "DO"}
)
_STATEMENT_START_PREV = frozenset(
    {"", "(", ")", "EXPLAIN", "ANALYZE", "ANALYSE", "VERBOSE", "ALSO", "INSTEAD"}
)
_NAME_PREFIXES = frozenset({"ONLY", "LATERAL", "IF", "NOT", "EXISTS", "CONCURRENTLY"})
_INTO_PREFIXES = frozenset({"TEMP", "TEMPORARY", "UNLOGGED", "TABLE"})
_VIEW_PREV = frozenset(
    {"CREATE", "ALTER", "DROP", "REPLACE", "TEMP", "TEMPORARY", "RECURSIVE", "MATERIALIZED"}
)
_ON_TABLE_KINDS = frozenset({"CREATE INDEX", "CREATE TRIGGER", "CREATE POLICY", "ALTER POLICY"})
# Statements whose FROM/TO name roles, cursors or sources rather than tables.
_NO_TABLE_KINDS = frozenset(
    {
        "GRANT",
        "REVOKE",
        "SET",
        "RESET",
        "SHOW",
        "FETCH",
        "MOVE",
        "CLOSE",
        "ALTER DEFAULT PRIVILEGES",
    }
)


def _name_key(token: Token) -> str:
    """How PostgreSQL compares a name: unquoted folded to lower case, quoted exact."""
    if token.kind is _K.IDENTIFIER:
        return token.text.lower()
    text = token.text
    return text[1:-1].replace('""', '"') if text.startswith('"') else text


@dataclass(slots=True)
class _Frame:
    lead: str
    from_list: bool = False


class _TableCollector:
    def __init__(self, tokens: list[Token], keys: list[str], kind: str) -> None:
        self.tokens = tokens
        self.keys = keys
        self.kind = kind
        self.ctes: set[str] = set()
        self.names: list[tuple[str, str]] = []  # (as written, key of a bare name or "")

    def name_at(self, j: int, prefixes: frozenset[str] = _NAME_PREFIXES) -> tuple[int, int]:
        """The qualified name starting at ``j`` (after skipping prefixes): (first, end)."""
        keys, tokens = self.keys, self.tokens
        while _at(keys, j) in prefixes:
            j += 1
        first = j
        if j >= len(tokens) or tokens[j].kind not in _NAME_KINDS:
            return first, first
        j += 1
        while _at(keys, j) == "." and j + 1 < len(tokens) and tokens[j + 1].kind in _NAME_KINDS:
            j += 2
        return first, j

    def add(self, first: int, end: int) -> None:
        if end > first:
            text = "".join(t.text for t in self.tokens[first:end])
            bare = _name_key(self.tokens[first]) if end == first + 1 else ""
            self.names.append((text, bare))

    def add_list(self, j: int, prefixes: frozenset[str] = _NAME_PREFIXES) -> None:
        """A comma-separated list of names (DROP TABLE a, b; TRUNCATE a, b)."""
        while True:
            first, end = self.name_at(j, prefixes)
            self.add(first, end)
            end += _at(self.keys, end) == "*"
            if end == first or _at(self.keys, end) != ",":
                return
            j = end + 1

    def add_from_item(self, j: int) -> None:
        """A FROM/JOIN item: a relation, unless it is a function call or ROWS FROM."""
        first, end = self.name_at(j)
        if _at(self.keys, end) != "(" and self.keys[first : first + 2] != ["ROWS", "FROM"]:
            self.add(first, end)

    def collect(self) -> tuple[str, ...]:
        keys = self.keys
        frames = [_Frame(lead=_at(keys, 0))]
        for i, key in enumerate(keys):
            if key == "(":
                frames.append(_Frame(lead=_at(keys, i + 1)))
            elif key == ")":
                if len(frames) > 1:
                    frames.pop()
            else:
                self.visit(i, key, frames[-1], top=len(frames) == 1)
        seen: dict[str, None] = {}
        for text, bare in self.names:
            if bare not in self.ctes:
                seen.setdefault(text, None)
        return tuple(seen)

    def visit(self, i: int, key: str, frame: _Frame, *, top: bool) -> None:
        prev = self.keys[i - 1] if i else ""
        if prev in ("(", ")", "") and key in _QUERY_LEADS:
            frame.lead = key
        if key in _FROM_LIST_ENDS:
            frame.from_list = False
        rule = _TABLE_RULES.get(key)
        if rule is not None:
            rule(self, i, prev, frame, top)
        elif key == "," and frame.from_list:
            self.add_from_item(i + 1)

    # One rule per word that can introduce a table name.

    def on_with(self, i: int, prev: str, frame: _Frame, top: bool) -> None:
        if prev in ("", "(", "AS") and (parsed := _parse_with(self.tokens, self.keys, i)):
            self.ctes.update(_name_key(self.tokens[n]) for n in parsed[0])

    def on_from(self, i: int, prev: str, frame: _Frame, top: bool) -> None:
        if not (top or frame.lead in _QUERY_LEADS):
            return  # extract(year FROM x), substring(s FROM 2), ...
        if prev == "DISTINCT" and _at(self.keys, i - 2) in ("IS", "NOT"):
            return
        if top and self.kind == "COPY":
            return
        frame.from_list = True
        self.add_from_item(i + 1)

    def on_join(self, i: int, prev: str, frame: _Frame, top: bool) -> None:
        self.add_from_item(i + 1)

    def on_using(self, i: int, prev: str, frame: _Frame, top: bool) -> None:
        if frame.lead in ("DELETE", "MERGE"):
            frame.from_list = frame.lead == "DELETE"
            self.add_from_item(i + 1)

    def on_into(self, i: int, prev: str, frame: _Frame, top: bool) -> None:
        self.add(*self.name_at(i + 1, _INTO_PREFIXES))

    def on_update(self, i: int, prev: str, frame: _Frame, top: bool) -> None:
        if prev in _STATEMENT_START_PREV:
            self.add(*self.name_at(i + 1))

    def on_table(self, i: int, prev: str, frame: _Frame, top: bool) -> None:
        self.add_list(i + 1)

    def on_view(self, i: int, prev: str, frame: _Frame, top: bool) -> None:
        if prev in _VIEW_PREV:
            self.add_list(i + 1)

    def on_on(self, i: int, prev: str, frame: _Frame, top: bool) -> None:
        if top and self.kind in _ON_TABLE_KINDS:
            self.add(*self.name_at(i + 1))

    def on_leading(self, i: int, prev: str, frame: _Frame, top: bool) -> None:
        if i == 0:  # COPY t, TRUNCATE [TABLE] t, LOCK [TABLE] t
            self.add_list(i + 1, _NAME_PREFIXES | {"TABLE"})


_TABLE_RULES: dict[str, Callable[[_TableCollector, int, str, _Frame, bool], None]] = {
    "WITH": _TableCollector.on_with,
    "FROM": _TableCollector.on_from,
    "JOIN": _TableCollector.on_join,
    "USING": _TableCollector.on_using,
    "INTO": _TableCollector.on_into,
    "UPDATE": _TableCollector.on_update,
    "TABLE": _TableCollector.on_table,
    "VIEW": _TableCollector.on_view,
    "ON": _TableCollector.on_on,
    "COPY": _TableCollector.on_leading,
    "TRUNCATE": _TableCollector.on_leading,
    "LOCK": _TableCollector.on_leading,
}


def _tables(tokens: list[Token], keys: list[str], kind: str) -> tuple[str, ...]:
    if kind in _NO_TABLE_KINDS:
        return ()
    return _TableCollector(tokens, keys, kind).collect()


# --- entry points ---------------------------------------------------------------------------


def _describe(stmt: _Statement) -> ModelStatementInfo:
    kind, needs = _needs(stmt.tokens, stmt.keys)
    return ModelStatementInfo(
        kind=kind,
        needs=needs,
        tables=_tables(stmt.tokens, stmt.keys, kind),
        problems=_problems(stmt),
    )


def describe_tokens(tokens: list[Token]) -> tuple[ModelStatementInfo, ...]:
    """One description per statement of an already tokenized text."""
    return tuple(_describe(stmt) for stmt in _split(tokens))


# Statements repeat (parameterised queries): cache descriptions per text, but never hold on
# to very long texts (bulk statements) in the cache.
CACHE_SIZE = 1024
CACHE_MAX_TEXT_LENGTH = 8192


@functools.lru_cache(maxsize=CACHE_SIZE)
def _describe_cached(sql: str) -> tuple[ModelStatementInfo, ...]:
    return describe_tokens(tokenize(sql))


def describe_statements(sql: str) -> tuple[ModelStatementInfo, ...]:
    """One description per statement of ``sql`` (cached per text)."""
    if len(sql) > CACHE_MAX_TEXT_LENGTH:
        return describe_tokens(tokenize(sql))
    return _describe_cached(sql)


def statement_kind(sql: str) -> str:
    """The kind of the first statement (``SELECT``, ``INSERT``, ``CREATE TABLE``, ...), the
    main statement's kind for ``WITH``; empty when there is none or it is unrecognized."""
    infos = describe_statements(sql)
    return infos[0].kind if infos else ""


def is_data_modifying(sql: str) -> bool:
    """True when any statement may change data, schema or server state (see
    :data:`MODIFYING_ACCESS`). Functions called by a read are not known: see module doc."""
    return any(info.is_data_modifying for info in describe_statements(sql))
