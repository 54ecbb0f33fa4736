-- PostgreSQL scripts for the differential tests of omnibase_infra.sql against PostgreSQL's own
-- parser (pglast / libpg_query), written for this project in the style of PostgreSQL's
-- regression tests: every construct whose statement count or read-only classification is
-- easy to get wrong.
--
-- Format: each entry starts with a line "--@ <id>"; its script is every following line up to
-- the next "--@ " line, without the final newline. A script may hold several statements.
-- Ids starting with "read-" are pure reads (accepted by a read-only validation); ids
-- starting with "bad-" are rejected by PostgreSQL's parser.
--@ read-select-basic
SELECT a, b AS c, t.* FROM t WHERE a = 1 AND b <> 'x' ORDER BY 1 DESC NULLS LAST LIMIT 10 OFFSET 5
--@ read-select-join
SELECT * FROM a JOIN b USING (id) LEFT JOIN c ON c.id = a.id FULL OUTER JOIN d ON true CROSS JOIN e NATURAL JOIN f
--@ read-select-subqueries
SELECT (SELECT max(x) FROM u), EXISTS (SELECT 1 FROM v WHERE v.a = t.a) FROM t WHERE a IN (SELECT a FROM w) AND b = ANY (SELECT b FROM z)
--@ read-select-lateral
SELECT * FROM t, LATERAL (SELECT * FROM u WHERE u.t_id = t.id LIMIT 1) s, LATERAL generate_series(1, t.n) g
--@ read-set-operations
(SELECT 1) UNION ALL (SELECT 2) INTERSECT SELECT 3 EXCEPT (VALUES (4))
--@ read-values-table
VALUES (1, 'a'), (2, 'b') ORDER BY 1; TABLE t; TABLE ONLY s.t
--@ read-show
SHOW search_path; SHOW ALL
--@ read-cte-simple
WITH a AS (SELECT 1 AS x), b (y) AS MATERIALIZED (SELECT x FROM a) SELECT * FROM a, b
--@ read-cte-recursive-search
WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SEARCH DEPTH FIRST BY n SET ordcol SELECT * FROM r ORDER BY ordcol
--@ read-cte-recursive-cycle
WITH RECURSIVE g (id, link) AS (SELECT id, link FROM graph UNION ALL SELECT g2.id, g2.link FROM graph g2 JOIN g ON g.link = g2.id) CYCLE id SET is_cycle TO true DEFAULT false USING path SELECT * FROM g
--@ read-cte-search-and-cycle
WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SEARCH BREADTH FIRST BY n SET seq CYCLE n SET cyc USING pth SELECT n FROM r LIMIT 5
--@ read-cte-columns-named-like-keywords
WITH RECURSIVE r ("set", "using") AS (SELECT 1, 2 UNION ALL SELECT "set" + 1, "using" FROM r) SEARCH DEPTH FIRST BY "set" SET o SELECT * FROM r LIMIT 3
--@ read-cte-nested
WITH outer_cte AS (WITH inner_cte AS (SELECT 1 AS v) SELECT v FROM inner_cte) SELECT * FROM outer_cte
--@ read-cte-in-subquery
SELECT * FROM (WITH w AS (SELECT 2) SELECT * FROM w) s WHERE EXISTS (WITH q AS (SELECT 1) SELECT * FROM q)
--@ read-cte-named-update
WITH update AS (SELECT 1 AS delete) SELECT delete FROM update
--@ read-copy-to-stdout
COPY t TO STDOUT; COPY (SELECT * FROM t WHERE a > 1) TO STDOUT WITH (FORMAT csv, HEADER)
--@ read-copy-query-with-cte
COPY (WITH x AS (SELECT 1) SELECT * FROM x) TO STDOUT
--@ read-explain
EXPLAIN SELECT 1; EXPLAIN (COSTS off, FORMAT json) SELECT * FROM t; EXPLAIN ANALYZE VERBOSE SELECT 2
--@ read-window
SELECT a, sum(b) OVER w, rank() OVER (PARTITION BY c ORDER BY d ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM t WINDOW w AS (PARTITION BY a)
--@ read-grouping
SELECT a, b, count(*) FROM t GROUP BY GROUPING SETS ((a), (b), ()) HAVING count(*) > 1
--@ read-case-expressions
SELECT CASE WHEN a > 0 THEN 'pos' WHEN a < 0 THEN 'neg' ELSE 'zero' END, CASE b WHEN 1 THEN 'one' END FROM t
--@ read-strings-with-separators
SELECT 'a;b', E'c\';d', $$e;f$$, $tag$g;$$;h$tag$, U&'\0069;', B'1010', X'1F', N'n;' FROM t
--@ read-string-continuation
SELECT 'first;'
'second;'
  -- a comment between
'third' AS joined
--@ read-comments-with-separators
SELECT 1 /* ; /* nested ; */ still ; */ -- line ; comment
+ 2
--@ read-quoted-identifiers
SELECT "a;b", "with ""quotes""", U&"d\0061t\+000061" FROM "weird;table"
--@ read-operators
SELECT 1 +-+- 2, a @> b, c <-> d, e ->> 'f', g #>> '{h}', 2 ^ 3 !=-1, x::int[], y IS DISTINCT FROM z
--@ read-arrays-json
SELECT (ARRAY[1, 2])[1], '{"a": 1}'::jsonb -> 'a', ARRAY(SELECT 1), a[1:2] FROM t
--@ read-numbers
SELECT 42, 4.2, .5, 5., 1e10, 1.5E-3, 0x1F, 0o17, 0b101, 1_000_000
--@ read-params
SELECT * FROM t WHERE id = $1 AND name = $2::text
--@ read-functions-allowed
SELECT now(), pg_sleep(0), currval('s'), current_setting('work_mem'), txid_current(), pg_advisory_xact_lock(1), pg_try_advisory_xact_lock(2), lower('X')
--@ read-table-functions
SELECT * FROM generate_series(1, 3) AS g (n), unnest(ARRAY[1, 2]) WITH ORDINALITY AS u (v, i), ROWS FROM (generate_series(1, 2))
--@ read-alias-column-list-named-like-restricted
SELECT * FROM generate_series(1, 2) AS nextval (n)
--@ read-cte-named-like-restricted
WITH lo_data (n) AS (SELECT 1) SELECT n FROM lo_data
--@ read-distinct-from
SELECT DISTINCT ON (e) a IS DISTINCT FROM b, c IS NOT DISTINCT FROM d FROM t
--@ read-xml-json-functions
SELECT xmlelement(name x, 'y'), json_build_object('a', 1), jsonb_path_query('{}', '$.a')
--@ read-substring-extract
SELECT substring(x FROM 1 FOR 2), extract(year FROM d), trim(BOTH 'x' FROM y), overlay(s PLACING 'a' FROM 1) FROM t
--@ read-column-named-begin
SELECT begin atomic FROM t; SELECT 1
--@ write-insert
INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y') ON CONFLICT (a) DO UPDATE SET b = excluded.b RETURNING *
--@ write-update-delete-merge
UPDATE t SET a = a + 1 FROM u WHERE t.id = u.id; DELETE FROM t USING u WHERE t.id = u.id; MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN UPDATE SET a = u.a WHEN NOT MATCHED THEN INSERT VALUES (u.id, u.a)
--@ write-cte-delete
WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d
--@ write-cte-materialized-update
WITH a AS (SELECT 1), b AS NOT MATERIALIZED (UPDATE t SET x = 1 RETURNING id) SELECT * FROM a, b
--@ write-cte-nested-with-delete
WITH x AS (WITH y AS (SELECT 1) DELETE FROM t RETURNING *) SELECT * FROM x
--@ write-cte-nested-with-insert
WITH x AS (WITH y AS (SELECT 1 AS v) INSERT INTO t SELECT v FROM y RETURNING *) SELECT count(*) FROM x
--@ write-cte-nested-recursive-search-delete
WITH x AS (WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SEARCH DEPTH FIRST BY n SET o DELETE FROM t WHERE id IN (SELECT n FROM r) RETURNING id) SELECT * FROM x
--@ write-cte-nested-cycle-update
WITH x AS (WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n FROM r) CYCLE n SET c TO 'y' DEFAULT 'n' USING p UPDATE t SET a = 1 RETURNING a) SELECT * FROM x
--@ write-cte-nested-search-column-named-set
WITH x AS (WITH RECURSIVE r ("set") AS (SELECT 1 UNION ALL SELECT "set" + 1 FROM r WHERE "set" < 2) SEARCH DEPTH FIRST BY set SET o DELETE FROM t RETURNING 1) SELECT * FROM x
--@ write-cte-three-levels
WITH a AS (WITH b AS (WITH c AS (SELECT 1) MERGE INTO t USING c ON false WHEN NOT MATCHED THEN DO NOTHING RETURNING *) SELECT * FROM b) SELECT * FROM a
--@ write-copy-dml
COPY (DELETE FROM t RETURNING *) TO STDOUT
--@ write-copy-with-dml
COPY (WITH s AS (SELECT 1) UPDATE t SET a = 2 RETURNING a) TO STDOUT
--@ write-copy-with-search-dml
COPY (WITH RECURSIVE r (n) AS (SELECT 1) SEARCH BREADTH FIRST BY n SET s INSERT INTO t SELECT n FROM r RETURNING *) TO STDOUT
--@ write-copy-from
COPY t FROM STDIN; COPY t (a, b) FROM STDIN WITH (FORMAT csv)
--@ admin-copy-files-programs
COPY t TO '/tmp/out.csv'; COPY t FROM PROGRAM 'cat /etc/hosts'; COPY (SELECT 1) TO PROGRAM 'true'
--@ write-explain-analyze-dml
EXPLAIN ANALYZE DELETE FROM t; EXPLAIN (ANALYZE, BUFFERS) WITH d AS (SELECT 1) UPDATE t SET a = 1
--@ write-select-into
SELECT * INTO new_t FROM t; SELECT a INTO TEMP TABLE tmp FROM t
--@ write-row-locks
SELECT * FROM t FOR UPDATE; SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED; SELECT * FROM (SELECT * FROM t FOR SHARE) s; SELECT * FROM t FOR KEY SHARE OF t NOWAIT
--@ write-truncate-lock-refresh
TRUNCATE a, b RESTART IDENTITY; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; REFRESH MATERIALIZED VIEW CONCURRENTLY mv
--@ function-set-config
SELECT set_config('default_transaction_read_only', 'off', false)
--@ function-set-config-qualified-quoted
SELECT pg_catalog.set_config('a.b', 'c', true); SELECT "set_config"('a.b', 'c', false); SELECT pg_catalog."set_config"('x.y', 'z', false)
--@ function-set-config-unicode-escapes
SELECT U&"set\005fconfig"('a.b', 'c', false); SELECT U&"set!005fconfig" UESCAPE '!' ('a.b', 'c', false)
--@ function-set-config-uescape-comment
SELECT U&"set!005fconfig" /* gap */ UESCAPE '!' ('a.b', 'c', false)
--@ function-signals
SELECT pg_cancel_backend(1); SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity; SELECT pg_reload_conf(); SELECT pg_rotate_logfile(); SELECT pg_promote()
--@ function-server-files
SELECT pg_read_file('/etc/passwd'); SELECT pg_read_binary_file('x', 0, 10); SELECT * FROM pg_ls_dir('.'); SELECT pg_stat_file('base'); SELECT * FROM pg_ls_waldir()
--@ function-large-objects
SELECT lo_create(0); SELECT lo_import('/etc/hosts'); SELECT lo_export(1, '/tmp/x'); SELECT lo_get(1); SELECT lowrite(0, 'x'); SELECT lo_unlink(1); SELECT lo_from_bytea(0, 'x')
--@ function-sequences
SELECT nextval('s'); SELECT setval('s', 42, true); SELECT id, nextval('s') FROM t
--@ function-advisory-session-locks
SELECT pg_advisory_lock(1); SELECT pg_try_advisory_lock(1, 2); SELECT pg_advisory_lock_shared(3); SELECT pg_advisory_unlock(1); SELECT pg_advisory_unlock_all()
--@ function-notify
SELECT pg_notify('channel', 'payload')
--@ function-remote
SELECT * FROM dblink('dbname=x', 'DELETE FROM t RETURNING 1') AS r (a int); SELECT dblink_exec('dbname=x', 'DROP TABLE t'); SELECT dblink_connect('c', 'dbname=x')
--@ function-sql-as-text
SELECT query_to_xml('SELECT pg_terminate_backend(1)', true, true, ''); SELECT * FROM ts_stat('SELECT to_tsvector(body) FROM docs')
--@ function-nested-in-expressions
SELECT CASE WHEN x THEN (SELECT nextval('s')) END FROM t; SELECT coalesce(NULL, pg_catalog.setval('s', 1)); SELECT * FROM t WHERE a = (SELECT pg_advisory_lock(1)::text)
--@ function-in-cte-and-copy
WITH s AS (SELECT set_config('a.b', 'c', false)) SELECT * FROM s; COPY (SELECT pg_notify('c', 'p')) TO STDOUT
--@ function-stats-and-replication
SELECT pg_stat_reset(); SELECT pg_stat_reset_shared('bgwriter'); SELECT pg_switch_wal(); SELECT pg_create_restore_point('x'); SELECT pg_drop_replication_slot('s'); SELECT pg_logical_emit_message(true, 'p', 'm')
--@ routine-call-do
CALL p(1); DO $$ BEGIN PERFORM 1; END $$; DO LANGUAGE plpgsql $body$ BEGIN RAISE NOTICE ';'; END $body$
--@ session-statements
SET search_path = app; SET LOCAL work_mem = '1MB'; RESET ALL; DISCARD ALL; LISTEN ch; UNLISTEN *; NOTIFY ch, 'x'
--@ session-prepare-cursor
PREPARE q (int) AS SELECT $1; EXECUTE q (1); DEALLOCATE q; DECLARE c CURSOR WITH HOLD FOR SELECT 1; FETCH NEXT FROM c; MOVE c; CLOSE c
--@ transaction-statements
BEGIN; START TRANSACTION READ ONLY; SAVEPOINT s; RELEASE SAVEPOINT s; ROLLBACK TO SAVEPOINT s; COMMIT; END; ABORT; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; PREPARE TRANSACTION 'x'; COMMIT PREPARED 'x'
--@ admin-statements
VACUUM (VERBOSE, ANALYZE) t; ANALYZE t; CLUSTER t USING i; REINDEX TABLE t; CHECKPOINT; LOAD 'auto_explain'; ALTER SYSTEM SET work_mem = '1GB'
--@ ddl-tables
CREATE TABLE t (id int PRIMARY KEY DEFAULT nextval('s'), a text CHECK (a <> ';'), b int REFERENCES u (id) ON DELETE CASCADE ON UPDATE SET NULL); ALTER TABLE t ADD COLUMN c int; DROP TABLE IF EXISTS t, u CASCADE
--@ ddl-create-table-as
CREATE TABLE t2 AS SELECT * FROM t; CREATE TEMP TABLE t3 AS WITH x AS (SELECT 1) SELECT * FROM x; CREATE MATERIALIZED VIEW mv AS SELECT 1 WITH NO DATA
--@ ddl-views-indexes
CREATE OR REPLACE VIEW v AS SELECT * FROM t WITH CHECK OPTION; CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t USING btree (a) WHERE a > 0; CREATE RECURSIVE VIEW rv (n) AS VALUES (1)
--@ ddl-function-string-body
CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql AS $$ SELECT a; DELETE FROM t $$; CREATE OR REPLACE FUNCTION g() RETURNS void AS 'DELETE FROM t; SELECT 1' LANGUAGE sql
--@ ddl-function-begin-atomic
CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (a); SELECT a + 1; END
--@ ddl-function-begin-atomic-then-more
CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END; SELECT 3; DROP FUNCTION f
--@ ddl-function-begin-atomic-case
CREATE OR REPLACE FUNCTION f(x int) RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN x > 0 THEN 'p' ELSE CASE WHEN x < 0 THEN 'n' END END; SELECT (CASE x WHEN 0 THEN 'z' END); END; SELECT f(1)
--@ ddl-procedure-begin-atomic
CREATE PROCEDURE p(a int) LANGUAGE sql BEGIN ATOMIC UPDATE t SET x = a; DELETE FROM u WHERE y = a; END; CALL p(1)
--@ ddl-or-replace-procedure-begin-atomic
CREATE OR REPLACE PROCEDURE p() BEGIN ATOMIC MERGE INTO t USING u ON true WHEN MATCHED THEN DELETE; END
--@ ddl-function-begin-atomic-empty
CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC END; CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC; END
--@ ddl-function-begin-atomic-nested-create
CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC CREATE FUNCTION g() RETURNS int BEGIN ATOMIC SELECT 1; END; END; SELECT 2
--@ ddl-function-begin-atomic-column-begin
CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT begin atomic FROM t; END; DROP TABLE x
--@ ddl-function-begin-atomic-end-statement
CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC END; END
--@ ddl-function-return
CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql IMMUTABLE RETURN a + 1; SELECT f(1)
--@ ddl-function-header-options
CREATE FUNCTION f(a int DEFAULT (SELECT 1), VARIADIC b int[] DEFAULT '{}') RETURNS SETOF t LANGUAGE sql STABLE PARALLEL SAFE SET search_path = begin COST 10 BEGIN ATOMIC SELECT * FROM t; END
--@ ddl-rules-triggers
CREATE RULE r AS ON INSERT TO t DO ALSO (DELETE FROM a; UPDATE b SET x = 1); CREATE TRIGGER tr BEFORE INSERT OR UPDATE OF a OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION f()
--@ ddl-grants-policies
GRANT SELECT, INSERT, UPDATE (a, b), DELETE ON t TO r WITH GRANT OPTION; REVOKE GRANT OPTION FOR UPDATE ON t FROM r; CREATE POLICY p ON t FOR UPDATE USING (true) WITH CHECK (a > 0)
--@ ddl-misc
COMMENT ON TABLE t IS 'x;y'; CREATE SCHEMA s AUTHORIZATION u CREATE TABLE a (x int) CREATE VIEW b AS SELECT 1; CREATE EXTENSION IF NOT EXISTS dblink; SECURITY LABEL ON TABLE t IS 'x'; REASSIGN OWNED BY a TO b; IMPORT FOREIGN SCHEMA s FROM SERVER srv INTO loc
--@ ddl-types-domains
CREATE TYPE mood AS ENUM ('sad', 'ok'); CREATE DOMAIN pos AS int CHECK (VALUE > 0); ALTER TYPE mood ADD VALUE 'happy'; CREATE TYPE pair AS (a int, b text)
--@ ddl-text-search
CREATE TEXT SEARCH CONFIGURATION c (COPY = english); ALTER TEXT SEARCH CONFIGURATION c ALTER MAPPING FOR word WITH simple
--@ read-many-statements
SELECT 1; SELECT 2;; ; SELECT 3 /* ; */; -- SELECT 4;
SELECT 5
--@ empty-and-comments
-- only a comment ;
/* and another ; */
--@ bad-unterminated-string
SELECT 'open; DROP TABLE t
--@ bad-unbalanced
SELECT 1); DROP TABLE t; SELECT (1
--@ bad-semicolon-in-parens
SELECT (1; DROP TABLE t)
--@ bad-begin-atomic-unclosed
CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; DROP TABLE t
--@ bad-garbage
FROBNICATE the database PLEASE; SELECT
--@ bad-explain-explain
EXPLAIN EXPLAIN DELETE FROM t
