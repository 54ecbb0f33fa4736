"""Statement analysis on the lexer's tokens: splitting, kind, the access a statement needs and
the tables it names.

Analysis is syntactic, linear in the length of the text and never recursive: nesting of any
depth (parentheses, ``WITH`` in ``WITH``, ``EXPLAIN`` of ``EXPLAIN``) is walked with loops.
It cannot know what a user-defined function does: ``SELECT delete_everything()`` is a read
here. The built-in functions that act beyond the rows a read returns (signalling sessions,
settings, server files, sequences, large objects, advisory locks, notifications, remote
execution; see :mod:`omnibase_infra.sql.functions`) are given the access they need. Where
the server must guarantee read-only behaviour, run the statement in a read-only transaction
as well.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from omnibase_infra.sql.access import MODIFYING_ACCESS, EnumSqlAccess, ModelSqlAccessNeed
from omnibase_infra.sql.functions import function_access
from omnibase_infra.sql.lexer import (
    GC_PAUSE_LENGTH,
    LITERAL_KINDS,
    EnumSqlTokenKind,
    Token,
    gc_paused,
    quoted_identifier_name,
    tokenize,
)

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
    open_body: bool = False  # a BEGIN ATOMIC body still open at the end of the text


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


# --- BEGIN ATOMIC bodies
#
# CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ATOMIC stmt; stmt; ... END is one
# statement: its ; do not end it. The body ends at the END that is not a CASE's. A BEGIN ATOMIC
# counts only right after such a CREATE (of the statement, or of a statement inside a body),
# once per CREATE, outside parentheses: elsewhere "begin atomic" may be a column and its alias
# (SELECT begin atomic FROM t), and taking it for a body would hide the statements after it.
# Counting too few bodies only splits more finely, which the validator refuses.


@dataclass(slots=True)
class _Body:
    """The top level of a statement, or one open BEGIN ATOMIC body inside it."""

    start: int  # index (in keys) of the first key of the statement being read at this level
    opened: bool = False  # that statement has had its BEGIN ATOMIC body
    cases: int = 0  # open CASE expressions: their END is not the body's


_BODY_KEYS = frozenset({"ATOMIC", "CASE", "END", ";"})
_ROUTINES = frozenset({"FUNCTION", "PROCEDURE"})


def _creates_routine(keys: list[str], i: int) -> bool:
    if _at(keys, i) != "CREATE":
        return False
    if _at(keys, i + 1) == "OR" and _at(keys, i + 2) == "REPLACE":
        i += 2
    return _at(keys, i + 1) in _ROUTINES


def _track_body(keys: list[str], key: str, bodies: list[_Body]) -> None:
    """Follow BEGIN ATOMIC bodies at parenthesis depth 0; ``keys`` are those before ``key``."""
    body = bodies[-1]
    if key == "ATOMIC":
        if keys[-1:] == ["BEGIN"] and not body.opened and _creates_routine(keys, body.start):
            body.opened = True
            bodies.append(_Body(start=len(keys) + 1))
    elif len(bodies) > 1:
        if key == "CASE":
            body.cases += 1
        elif key == ";":
            body.start, body.opened = len(keys) + 1, False
        elif body.cases:  # END
            body.cases -= 1
        else:
            bodies.pop()


def _split(tokens: list[Token]) -> Iterator[_Statement]:
    """Statements separated by ``;`` outside parentheses and BEGIN ATOMIC bodies (as psql and
    the server split them)."""
    stmt: _Statement | None = None
    bodies: list[_Body] = []
    depth = 0
    last = tokens[0] if tokens else None  # the last token of the statement (comments count)
    markers, word_kinds, body_keys = _MARKERS, _WORD_KINDS, _BODY_KEYS
    whitespace, comment = _K.WHITESPACE, _K.COMMENT
    for token in tokens:
        kind = token.kind
        if kind is whitespace:
            continue
        if kind is comment:
            if stmt is None:
                stmt, bodies = _Statement(start=token.start), [_Body(start=0)]
            last = token
            continue
        text = token.text
        key = text.upper() if kind in word_kinds else markers.get(kind, text)
        if key == ";" and depth <= 0 and len(bodies) <= 1:
            if stmt is not None and stmt.tokens:
                stmt.end = last.end  # type: ignore[union-attr]
                yield stmt
            stmt, depth = None, 0
            continue
        if stmt is None:
            stmt, bodies = _Statement(start=token.start), [_Body(start=0)]
        last = token
        if key == "(":
            depth += 1
        elif key == ")":
            depth -= 1
            stmt.closed_unopened |= depth < 0
        elif depth <= 0 and key in body_keys:
            _track_body(stmt.keys, key, bodies)
        stmt.tokens.append(token)
        stmt.keys.append(key)
    if stmt is not None and stmt.tokens:
        stmt.end = last.end  # type: ignore[union-attr]
        stmt.open_body = len(bodies) > 1
        yield stmt


def split_statements(sql: str) -> list[str]:
    """The statements of ``sql``, as written (comments inside kept), without the ``;``.

    A ``;`` inside a string, quoted identifier, comment, dollar-quoted body, parentheses or a
    ``BEGIN ATOMIC ... END`` function body does not split; text holding only comments is no
    statement.
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
    string, unterminated = _K.STRING, _K.UNTERMINATED
    for token in [t for t in stmt.tokens if t.kind is string or t.kind is unterminated]:
        if token.kind is unterminated:
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
    if stmt.open_body:
        problems.append("BEGIN ATOMIC body without its END")
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
_OBJECT_PHRASES = _MULTIWORD_OBJECTS | frozenset(
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


class _Text:
    """One statement's significant tokens and keys, with its parentheses matched once (on
    first need), so that skipping a group costs one look-up whatever its length."""

    __slots__ = ("_close", "keys", "tokens")

    def __init__(self, tokens: list[Token], keys: list[str]) -> None:
        self.tokens = tokens
        self.keys = keys
        self._close: dict[int, int] | None = None

    def at(self, i: int) -> str:
        return _at(self.keys, i)

    def is_name(self, i: int) -> bool:
        return 0 <= i < len(self.tokens) and self.tokens[i].kind in _NAME_KINDS

    def after(self, i: int) -> int:
        """Index just past the parenthesised group opening at ``i`` (the end if unclosed)."""
        close = self._close
        if close is None:
            close = self._close = {}
            opened: list[int] = []
            for j, key in enumerate(self.keys):
                if key == "(":
                    opened.append(j)
                elif key == ")" and opened:
                    close[opened.pop()] = j
        return close.get(i, len(self.keys) - 1) + 1

    def skip_to(self, i: int, words: frozenset[str]) -> int:
        """Index of the first of ``words`` at the nesting level of ``i``, or of what ends the
        search: the ``)`` closing that level, a ``WITH`` (see :func:`_parse_with`) or the end."""
        keys, n = self.keys, len(self.keys)
        while i < n and (key := keys[i]) not in words and key not in _SKIP_STOPS:
            i = self.after(i) if key == "(" else i + 1
        return i


_SKIP_STOPS = frozenset({")", "WITH"})


def _name_list(text: _Text, j: int) -> int:
    """Index just past ``name [, name ...]`` starting at ``j`` (``j`` when there is none)."""
    if not text.is_name(j):
        return j
    j += 1
    while text.at(j) == "," and text.is_name(j + 1):
        j += 2
    return j


_DEFAULT = frozenset({"DEFAULT"})
_USING = frozenset({"USING"})


def _search_cycle(text: _Text, j: int) -> int | None:
    """Index past the SEARCH and CYCLE clauses of a CTE at ``j`` (``j`` when there are none);
    None when they are malformed.

    ``SEARCH {DEPTH|BREADTH} FIRST BY col [, ...] SET col`` then ``CYCLE col [, ...] SET col
    [TO value DEFAULT value] USING col``, read word by word: a column may itself be named
    ``set`` or ``using``.
    """
    if text.at(j) == "SEARCH":
        if text.at(j + 1) not in ("DEPTH", "BREADTH") or text.keys[j + 2 : j + 4] != [
            "FIRST",
            "BY",
        ]:
            return None
        j = _name_list(text, j + 4)
        if text.at(j) != "SET" or not text.is_name(j + 1):
            return None
        j += 2
    if text.at(j) == "CYCLE":
        j = _name_list(text, j + 1)
        if text.at(j) != "SET" or not text.is_name(j + 1):
            return None
        j += 2
        if text.at(j) == "TO":  # constants: a literal, TRUE, a typed 'literal', ...
            j = text.skip_to(text.skip_to(j, _DEFAULT), _USING)
        if text.at(j) != "USING" or not text.is_name(j + 1):
            return None
        j += 2
    return j


def _parse_with(text: _Text, i: int) -> tuple[list[int], int] | None:
    """For the WITH at ``i``: the indexes of its CTE names and where its main statement
    starts; None when this is not a CTE list.

    Reads only the WITH's own level (a CTE's body is skipped in one step), and stops at the
    next WITH of that level, so reading every WITH of a text is linear in its length.
    """
    j = i + 2 if text.at(i + 1) == "RECURSIVE" else i + 1
    names: list[int] = []
    while text.is_name(j):
        names.append(j)
        j += 1
        if text.at(j) == "(":
            j = text.after(j)
        if text.at(j) != "AS":
            return None
        j += 1
        j += text.at(j) == "NOT"
        j += text.at(j) == "MATERIALIZED"
        if text.at(j) != "(":
            return None
        found = _search_cycle(text, text.after(j))
        if found is None:
            return None
        if text.at(found) != ",":
            return names, found
        j = found + 1
    return None


def _object_kind(keys: list[str], i: int) -> str:
    """``CREATE TABLE``, ``DROP MATERIALIZED VIEW``, ... for the DDL verb at ``i``."""
    verb = keys[i]
    j = i + 1
    if verb == "CREATE":
        while _at(keys, j) in _CREATE_MODIFIERS:
            j += 1
    phrase = _at(keys, j)
    while f"{phrase} {_at(keys, j + 1)}" in _OBJECT_PHRASES:
        j += 1
        phrase = f"{phrase} {keys[j]}"
    return f"{verb} {phrase}".rstrip() if phrase.isidentifier() or " " in phrase else verb


_FROM = frozenset({"FROM"})
_TO = frozenset({"TO"})


def _copy(text: _Text, i: int) -> tuple[str, list[ModelSqlAccessNeed]]:
    """COPY reads (TO STDOUT), writes (FROM STDIN) or, with a server file or program, is an
    administrator's statement."""
    into, out = text.skip_to(i + 1, _FROM), text.skip_to(i + 1, _TO)
    if text.at(into) != "FROM" and text.at(out) != "TO":
        return "COPY", [ModelSqlAccessNeed(access=_A.UNKNOWN, reason="COPY without FROM or TO")]
    source = text.at(min(into, out) + 1)
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


def _starts_query(text: _Text, i: int) -> bool:
    """A query starts at ``i``: EXPLAIN (SELECT 1) explains a query, EXPLAIN (ANALYZE) takes
    options (``values`` is an option name too, unless a VALUES list follows)."""
    word = text.at(i)
    return word in ("SELECT", "TABLE", "WITH", "(") or (word == "VALUES" and text.at(i + 1) == "(")


def _classify(text: _Text) -> tuple[str, list[ModelSqlAccessNeed]]:
    """Kind and base access of the statement: past opening parentheses, a WITH clause's CTEs
    and EXPLAIN with its options (in a loop, however deep), the first word decides.

    EXPLAIN needs what its statement needs unless that only reads: EXPLAIN ANALYZE runs the
    statement, and it counts as running whether analyzed or not.
    """
    i = 0
    explained = False
    while True:
        while text.at(i) == "(":
            i += 1
        word = text.at(i)
        if word == "WITH" and (parsed := _parse_with(text, i)) is not None:
            i = parsed[1]
        elif word == "EXPLAIN":
            explained = True
            i += 1
            if text.at(i) == "(" and not _starts_query(text, i + 1):  # (option, ...)
                i = text.after(i)
            while text.at(i) in ("ANALYZE", "ANALYSE", "VERBOSE"):
                i += 1
        else:
            break
    kind, needs = _copy(text, i) if word == "COPY" else _by_first_word(text.keys, i)
    if not explained:
        return kind, needs
    if all(need.access is _A.READ for need in needs):
        return "EXPLAIN", needs
    return "EXPLAIN", [
        ModelSqlAccessNeed(access=need.access, reason=f"EXPLAIN of {kind}") for need in needs
    ]


def _called_name(text: _Text, i: int) -> str | None:
    """The name of the function called by the ``(`` at ``i``, if a name stands before it
    (a schema before the name does not matter); None otherwise."""
    tokens = text.tokens
    j = i - 1
    token = tokens[j]
    if token.kind is _K.IDENTIFIER:
        return token.text
    if token.kind is _K.QUOTED_IDENTIFIER:
        return quoted_identifier_name(token.text)
    # U&"name" UESCAPE 'c' with a comment inside: the lexer keeps the three tokens apart.
    if (
        token.kind is _K.STRING
        and len(token.text) == 3
        and text.at(j - 1) == "UESCAPE"
        and j >= 2
        and tokens[j - 2].kind is _K.QUOTED_IDENTIFIER
    ):
        return quoted_identifier_name(tokens[j - 2].text, token.text[1])
    return None


def _call_need(text: _Text, i: int) -> ModelSqlAccessNeed | None:
    """The need of the call opened by the ``(`` at ``i``, when it calls a restricted function."""
    name = _called_name(text, i)
    found = function_access(name) if name else None
    if found is None:
        return None
    access, why = found
    return ModelSqlAccessNeed(access=access, reason=f"{name.lower()}() ({why})")  # type: ignore[union-attr]


_ESCALATION_KEYS = frozenset({"(", "WITH", "INTO", "FOR"})
_CALLED_KINDS = frozenset({_K.IDENTIFIER, _K.QUOTED_IDENTIFIER, _K.STRING})  # see _called_name


def _escalations(text: _Text, *, calls: bool) -> Iterator[ModelSqlAccessNeed]:
    """Needs hidden inside a statement, checked at every depth whatever the statement's kind:
    data-modifying sub-statements (right after ``(``, or the main statement of any WITH, with
    or without SEARCH/CYCLE clauses), SELECT ... INTO, row locks and, when ``calls``, the
    restricted built-in functions (see :mod:`omnibase_infra.sql.functions`)."""
    keys, tokens = text.keys, text.tokens
    n = len(keys)
    what = "CTE" if "WITH" in keys else "sub-statement"
    not_calls: set[int] = set()  # "(" after a CTE name: its column list
    escalation_keys = _ESCALATION_KEYS
    for j, key in enumerate(keys):
        if key not in escalation_keys:
            continue
        if key == "(":
            if (nxt := keys[j + 1] if j + 1 < n else "") in _DML:
                yield ModelSqlAccessNeed(access=_A.WRITE, reason=f"data-modifying {what} ({nxt})")
            # AS name (...) is an alias's column list.
            if (
                calls
                and j
                and tokens[j - 1].kind in _CALLED_KINDS
                and j not in not_calls
                and _at(keys, j - 2) != "AS"
                and (need := _call_need(text, j)) is not None
            ):
                yield need
        elif key == "WITH":
            if (parsed := _parse_with(text, j)) is not None:
                not_calls.update(n + 1 for n in parsed[0])
                if (main := _at(keys, parsed[1])) in _DML:
                    yield ModelSqlAccessNeed(access=_A.WRITE, reason=f"data-modifying CTE ({main})")
        elif key == "INTO":
            if _at(keys, j - 1) not in ("INSERT", "MERGE"):
                yield ModelSqlAccessNeed(access=_A.DDL, reason="SELECT ... INTO (creates a table)")
        else:  # FOR
            yield from _lock_clause(keys, j)


def _lock_clause(keys: list[str], j: int) -> Iterator[ModelSqlAccessNeed]:
    """FOR UPDATE, FOR SHARE, ... at ``j``: a row lock, which writes."""
    for words, clause in _LOCK_STRENGTHS.items():
        if tuple(keys[j + 1 : j + 1 + len(words)]) == words:
            yield ModelSqlAccessNeed(access=_A.WRITE, reason=f"row-locking clause {clause}")


def _needs(text: _Text) -> tuple[str, tuple[ModelSqlAccessNeed, ...]]:
    kind, base = _classify(text)
    # A definition (CREATE FUNCTION ... BEGIN ATOMIC, CREATE VIEW, a column DEFAULT) does not
    # run the functions it names; DDL is refused wherever a restricted call would be.
    calls = not any(need.access is _A.DDL for need in base)
    needs: dict[EnumSqlAccess, ModelSqlAccessNeed] = {}
    for need in (*base, *_escalations(text, calls=calls)):
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
    name = quoted_identifier_name(token.text)
    return token.text if name is None else name


@dataclass(slots=True)
class _Frame:
    lead: str
    from_list: bool = False


class _TableCollector:
    def __init__(self, text: _Text, kind: str) -> None:
        self.text = text
        self.tokens = text.tokens
        self.keys = text.keys
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
        # One frame per open parenthesis, made when first needed: the index of its "(" until
        # then (most groups hold nothing a table rule acts on).
        frames: list[_Frame | int] = [_Frame(lead=_at(keys, 0))]
        relevant = _TABLE_KEYS
        for i, key in enumerate(keys):
            if key not in relevant:
                continue
            if key == "(":
                frames.append(i)
            elif key == ")":
                if len(frames) > 1:
                    frames.pop()
            else:
                frame = frames[-1]
                if isinstance(frame, int):
                    frame = frames[-1] = _Frame(lead=_at(keys, frame + 1))
                self.visit(i, key, frame, top=len(frames) == 1)
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
        if prev in ("", "(", "AS") and (parsed := _parse_with(self.text, i)):
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


# The keys _TableCollector.visit acts on; every other key leaves the collection as it is.
_TABLE_KEYS = frozenset({"(", ")", ","}) | _QUERY_LEADS | _FROM_LIST_ENDS | frozenset(_TABLE_RULES)


def _tables(text: _Text, kind: str) -> tuple[str, ...]:
    if kind in _NO_TABLE_KINDS:
        return ()
    return _TableCollector(text, kind).collect()


# --- entry points ---------------------------------------------------------------------------


def _describe(stmt: _Statement) -> ModelStatementInfo:
    text = _Text(stmt.tokens, stmt.keys)
    kind, needs = _needs(text)
    return ModelStatementInfo(
        kind=kind,
        needs=needs,
        tables=_tables(text, kind),
        problems=_problems(stmt),
    )


def describe_tokens(tokens: list[Token]) -> tuple[ModelStatementInfo, ...]:
    """One description per statement of an already tokenized text."""
    if not tokens or tokens[-1].end < GC_PAUSE_LENGTH:
        return tuple(_describe(stmt) for stmt in _split(tokens))
    with gc_paused():
        return tuple(_describe(stmt) for stmt in _split(tokens))


@dataclass(frozen=True, slots=True)
class StatementsSummary:
    """What the validator needs of a text, without describing every one of many statements."""

    count: int
    problem: str | None  # the first problem of the first malformed statement
    kinds: tuple[str, ...]  # the kinds of the first statements (up to SUMMARY_KINDS)
    info: ModelStatementInfo | None  # the description, when there is exactly one statement


SUMMARY_KINDS = 5


def summarize_infos(infos: tuple[ModelStatementInfo, ...]) -> StatementsSummary:
    """The summary of already described statements."""
    return StatementsSummary(
        count=len(infos),
        problem=next((info.problems[0] for info in infos if info.problems), None),
        kinds=tuple(info.kind for info in infos[:SUMMARY_KINDS]),
        info=infos[0] if len(infos) == 1 else None,
    )


def summarize_tokens(tokens: list[Token]) -> StatementsSummary:
    """The summary of an already tokenized text: every statement is checked for problems,
    only the first few are classified, and only a single one is described."""
    with gc_paused():
        statements = list(_split(tokens))
        if len(statements) == 1:
            return summarize_infos((_describe(statements[0]),))
        return StatementsSummary(
            count=len(statements),
            problem=next((p for stmt in statements for p in _problems(stmt)), None),
            kinds=tuple(
                _classify(_Text(stmt.tokens, stmt.keys))[0] for stmt in statements[:SUMMARY_KINDS]
            ),
            info=None,
        )


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
