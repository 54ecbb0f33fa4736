"""Tests for the restricted built-in functions (omnibase_infra.sql.functions): a read-only
validation refuses each, however its name is written; the other operations get the access
each really needs; and U& identifiers decode the way the server decodes them."""

from __future__ import annotations

import pytest

from omnibase_infra.errors import InfraValidationError
from omnibase_infra.sql import (
    READ_ONLY,
    READ_WRITE,
    RESTRICTED_FUNCTION_PREFIXES,
    RESTRICTED_FUNCTIONS,
    EnumSqlAccess,
    describe_statements,
    function_access,
    quoted_identifier_name,
    validate_statement,
)

A = EnumSqlAccess


def refusal(sql: str, allow: frozenset[EnumSqlAccess] = READ_ONLY) -> str:
    with pytest.raises(InfraValidationError) as caught:
        validate_statement(sql, allow=allow, operation="fetch")
    assert caught.value.details["rule"] == "access"
    return caught.value.message


@pytest.mark.parametrize("name", sorted(RESTRICTED_FUNCTIONS))
def test_every_listed_function_is_refused_in_a_read_only_operation(name: str) -> None:
    access, why = RESTRICTED_FUNCTIONS[name]
    message = refusal(f"SELECT {name}(1)")
    assert message == f"{name}() ({why}) needs {access} access; 'fetch' allows read"


@pytest.mark.parametrize(("prefix", "need"), RESTRICTED_FUNCTION_PREFIXES)
def test_every_listed_family_is_refused_in_a_read_only_operation(
    prefix: str, need: tuple[EnumSqlAccess, str]
) -> None:
    name = f"{prefix}anything"
    assert function_access(name) == need
    assert f"{name}() ({need[1]})" in refusal(f"SELECT * FROM {name}(1)")  # noqa: S608


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("SELECT set_config('a.b', 'c', false)", "set_config"),
        ("SELECT SET_CONFIG('a.b', 'c', false)", "set_config"),
        ("SELECT pg_catalog.set_config('a.b', 'c', false)", "set_config"),
        ("SELECT pg_catalog . set_config /* c */ ('a.b', 'c', false)", "set_config"),
        ("SELECT \"set_config\"('a.b', 'c', false)", "set_config"),
        ("SELECT pg_catalog.\"SET_CONFIG\"('a.b', 'c', false)", "set_config"),
        ("SELECT U&\"set\\005fconfig\"('a.b', 'c', false)", "set_config"),
        ("SELECT U&\"set!005fconfig\" UESCAPE '!' ('a.b', 'c', false)", "set_config"),
        ("SELECT U&\"set!005fconfig\" /* gap */ UESCAPE '!' ('a.b', 'c', false)", "set_config"),
        ("SELECT U&\"\\+00006Eextval\"('s')", "nextval"),
        ("SELECT * FROM ROWS FROM (pg_ls_dir('.')) AS r", "pg_ls_dir"),
        ("SELECT CASE WHEN x THEN (SELECT nextval('s')) END FROM t", "nextval"),
        ("WITH s AS (SELECT pg_notify('c', 'p')) SELECT * FROM s", "pg_notify"),
        ("COPY (SELECT pg_advisory_lock(1)) TO STDOUT", "pg_advisory_lock"),
        ("EXPLAIN SELECT pg_terminate_backend(1)", "pg_terminate_backend"),
        ("SELECT * FROM t WHERE a = ANY (SELECT lo_get(1))", "lo_get"),
        ("SELECT * FROM dblink('dbname=x', 'DELETE FROM t') AS r (a int)", "dblink"),
        ("SELECT query_to_xml('SELECT 1', true, true, '')", "query_to_xml"),
    ],
)
def test_restricted_calls_are_found_however_written(sql: str, name: str) -> None:
    assert f"{name}() (" in refusal(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_advisory_xact_lock(1), pg_try_advisory_xact_lock(2)",
        "SELECT pg_advisory_xact_lock_shared(1), pg_try_advisory_xact_lock_shared(2)",
        "SELECT txid_current(), pg_current_xact_id(), pg_sleep(0), currval('s')",
        "SELECT current_setting('work_mem'), lastval(), now(), lo(1)",
        "SELECT * FROM generate_series(1, 2) AS nextval (n)",
        "WITH lo_data (n) AS (SELECT 1), dblink (m) AS (SELECT 2) SELECT * FROM lo_data, dblink",
        "SELECT nextval FROM t",
        "SELECT 'set_config(1)', $$nextval('s')$$ -- pg_notify('c')",
        "SELECT U&\"set\\00zzconfig\"('a.b', 'c', false)",  # not a valid escape: no such name
        "SELECT 'set_config' ('a.b')",  # not a call: the server rejects it
    ],
)
def test_other_calls_and_lookalikes_are_reads(sql: str) -> None:
    info = validate_statement(sql, allow=READ_ONLY, operation="fetch")
    assert info.access == {A.READ}


@pytest.mark.parametrize(
    ("sql", "access"),
    [
        ("SELECT nextval('s')", {A.READ, A.WRITE}),
        ("SELECT setval('s', 1)", {A.READ, A.WRITE}),
        ("SELECT lo_create(0)", {A.READ, A.WRITE}),
        ("SELECT set_config('a.b', 'c', true)", {A.READ, A.SESSION}),
        ("SELECT pg_advisory_lock(1)", {A.READ, A.SESSION}),
        ("SELECT pg_notify('c', 'p')", {A.READ, A.SESSION}),
        ("SELECT pg_terminate_backend(1)", {A.READ, A.ADMIN}),
        ("SELECT pg_read_file('x')", {A.READ, A.ADMIN}),
        ("SELECT lo_import('/etc/hosts')", {A.READ, A.ADMIN}),
        ("SELECT dblink_exec('c', 'DROP TABLE t')", {A.READ, A.ROUTINE}),
        ("INSERT INTO t VALUES (nextval('s'))", {A.WRITE}),
        ("CALL p(pg_reload_conf())", {A.ROUTINE, A.ADMIN}),
        # A definition does not run what it names.
        ("CREATE TABLE t (id bigint DEFAULT nextval('s'))", {A.DDL}),
        ("CREATE VIEW v AS SELECT set_config('a.b', 'c', false)", {A.DDL}),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC "
            "SELECT pg_advisory_lock(1); SELECT nextval('s'); END",
            {A.DDL},
        ),
    ],
)
def test_calls_need_the_access_of_what_they_do(sql: str, access: set[EnumSqlAccess]) -> None:
    (info,) = describe_statements(sql)
    assert info.access == access


def test_writes_through_functions_are_allowed_where_writes_are() -> None:
    assert validate_statement("SELECT nextval('s')", allow=READ_WRITE, operation="fetch")
    # Session state set from a fetch would outlive it on the pooled connection.
    assert "changes a setting" in refusal("SELECT set_config('a.b', 'c', false)", READ_WRITE)


def test_function_access() -> None:
    assert function_access("NEXTVAL") == (A.WRITE, "changes a sequence")
    assert function_access("lo_whatever") == (A.WRITE, "large object")
    assert function_access("dblink_exec") == (A.ROUTINE, "remote execution")
    assert function_access("pg_advisory_xact_lock") is None
    assert function_access("count") is None
    assert function_access("") is None


@pytest.mark.parametrize(
    ("token", "name"),
    [
        ('"a""b"', 'a"b'),
        ('"Mixed Case"', "Mixed Case"),
        ('U&"d\\0061t"', "dat"),
        ("u&\"d!0061t\" UESCAPE '!'", "dat"),
        ("U&\"d!0061t\"\n  uescape  '!'", "dat"),
        ('U&"\\+01F600"', "\U0001f600"),
        ('U&"\\D83D\\DE00"', "\U0001f600"),  # a surrogate pair is one character
        ('U&"a\\\\b"', "a\\b"),
        ('U&"a""b"', 'a"b'),
        ('U&"\\00zz"', None),
        ('U&"\\004"', None),
        ('U&"\\+00004"', None),
        ('U&"\\D83D"', None),  # a lone high surrogate
        ('U&"\\D83Dx"', None),
        ('U&"\\D83D\\\\"', None),
        ('U&"\\D83D\\0041"', None),
        ('U&"\\DE00"', None),  # a lone low surrogate
        ('U&"\\0000"', None),
        ('U&"\\+110000"', None),
        ('U&"open', None),
    ],
)
def test_quoted_identifier_name(token: str, name: str | None) -> None:
    assert quoted_identifier_name(token) == name


def test_quoted_identifier_name_takes_an_escape_character_given_apart() -> None:
    assert quoted_identifier_name('U&"d!0061t"', "!") == "dat"
    assert quoted_identifier_name("U&\"d!0061t\" UESCAPE '#'", "!") == "d!0061t"
