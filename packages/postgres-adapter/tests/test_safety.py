"""Safety by construction: an injection corpus refused before anything reaches the server,
and the same texts stored verbatim when passed as parameters."""

from __future__ import annotations

import asyncpg
import pytest

from omnibase_infra.errors import InfraValidationError
from omnibase_infra.models.postgres import (
    ModelPostgresCopyRecordsRequest,
    ModelPostgresExecuteRequest,
    ModelPostgresFetchRequest,
    ModelPostgresFetchValueRequest,
    ModelPostgresStatement,
    ModelPostgresTransactionRequest,
)
from omnibase_infra.nodes.node_postgres_adapter_effect import NodePostgresAdapterEffect
from omnibase_infra.sql import quote_identifier

pytestmark = pytest.mark.real_service

# (what it tries, the SQL a caller was tricked into sending)
READ_CORPUS = [
    ("stacked statement", "SELECT name FROM victims; DROP TABLE victims"),
    ("stacked after a line comment", "SELECT name FROM victims -- x\n; DELETE FROM victims"),
    ("stacked after a block comment", "SELECT 1 /* ; */ ; DELETE FROM victims"),
    ("string closed early", "SELECT 'a'; DROP TABLE victims; --'"),
    ("dollar-quoted then stacked", "SELECT $$x$$; DELETE FROM victims"),
    ("quoted identifier then stacked", 'SELECT * FROM "victims"; DROP TABLE "victims"'),
    ("unterminated quoted identifier", 'SELECT * FROM "victims; DROP TABLE victims'),
    ("unterminated comment", "SELECT 1 /* DELETE FROM victims"),
    ("backslash-escaped quote", "SELECT 'a\\'; DROP TABLE victims; --'"),
    ("data-modifying CTE", "WITH d AS (DELETE FROM victims RETURNING *) SELECT * FROM d"),
    ("inserting CTE", "WITH x AS (INSERT INTO victims VALUES (9, 'x') RETURNING 1) SELECT 1"),
    (
        "updating CTE",
        "WITH u AS (UPDATE victims SET name = 'x' RETURNING id) SELECT count(*) FROM u",
    ),
    ("SELECT INTO", "SELECT * INTO stolen FROM victims"),
    ("row lock", "SELECT * FROM victims FOR UPDATE"),
    ("plain write", "DELETE FROM victims"),
    ("DDL", "DROP TABLE victims"),
    ("server program", "COPY victims TO PROGRAM 'true'"),
    ("anonymous code block", "DO $$ BEGIN DELETE FROM victims; END $$"),
    ("role change", "SET ROLE postgres"),
    ("transaction control", "COMMIT"),
    ("empty", "  -- nothing\n"),
]
# For execute, which may write: what stays forbidden.
WRITE_CORPUS = [
    ("stacked statement", "UPDATE victims SET name = 'x'; DROP TABLE victims"),
    ("stacked in a comment trick", "DELETE FROM victims WHERE id = 0 /* */; DROP TABLE victims"),
    ("transaction control", "ROLLBACK"),
    ("session state leaking into the pool", "SET search_path TO evil"),
]
PAYLOADS = [
    "Robert'); DROP TABLE victims;--",
    "1; DELETE FROM victims",
    "$$; DROP TABLE victims; $$",
    '" OR 1=1 --',
    "\\'; DROP TABLE victims; --",
    "/* */ UNION SELECT password FROM pg_shadow",
    "line1\nline2\r\n\ttab",
    "ünïcödé 🐘 ' \" ` \\",
]


@pytest.fixture
async def victims(admin: asyncpg.Connection[asyncpg.Record]) -> None:
    await admin.execute(
        "DROP TABLE IF EXISTS victims; CREATE TABLE victims (id int PRIMARY KEY, name text);"
        "INSERT INTO victims VALUES (1, 'alice'), (2, 'bob')"
    )


async def _intact(admin: asyncpg.Connection[asyncpg.Record]) -> None:
    rows = await admin.fetch("SELECT id, name FROM victims ORDER BY id")
    assert [tuple(r) for r in rows] == [(1, "alice"), (2, "bob")]
    assert await admin.fetchval("SELECT to_regclass('stolen')") is None


@pytest.mark.usefixtures("victims")
@pytest.mark.parametrize(("trick", "sql"), READ_CORPUS, ids=[t for t, _ in READ_CORPUS])
async def test_read_corpus_is_refused_before_reaching_the_server(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record], trick: str, sql: str
) -> None:
    before = node.reader_pool.stats().acquisitions  # where reads run
    with pytest.raises(InfraValidationError) as info:
        await node.process(ModelPostgresFetchRequest(sql=sql))
    assert info.value.details["rule"] in {"empty", "malformed", "multiple_statements", "access"}
    with pytest.raises(InfraValidationError):
        await node.process(
            ModelPostgresTransactionRequest(
                statements=(ModelPostgresStatement(sql=sql),), read_only=True
            )
        )
    # No connection was taken from the pool: nothing was sent.
    assert node.reader_pool.stats().acquisitions == before
    await _intact(admin)


@pytest.mark.usefixtures("victims")
@pytest.mark.parametrize(("trick", "sql"), WRITE_CORPUS, ids=[t for t, _ in WRITE_CORPUS])
async def test_write_corpus_is_refused_before_reaching_the_server(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record], trick: str, sql: str
) -> None:
    before = node.pool.stats().acquisitions
    with pytest.raises(InfraValidationError):
        await node.process(ModelPostgresExecuteRequest(sql=sql))
    assert node.pool.stats().acquisitions == before
    await _intact(admin)


@pytest.mark.usefixtures("victims")
async def test_the_same_texts_as_parameters_are_stored_verbatim(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    texts = [sql for _, sql in READ_CORPUS + WRITE_CORPUS] + PAYLOADS
    await admin.execute("DROP TABLE IF EXISTS notes; CREATE TABLE notes (id int, body text)")
    for index, text in enumerate(texts):
        await node.process(
            ModelPostgresExecuteRequest(
                sql="INSERT INTO notes (id, body) VALUES ($1, $2)", params=(index, text)
            )
        )
        echoed = await node.process(
            ModelPostgresFetchValueRequest(
                sql="SELECT body FROM notes WHERE id = $1", params=(index,)
            )
        )
        assert echoed.value == text
    stored = await admin.fetch("SELECT body FROM notes ORDER BY id")
    assert [r["body"] for r in stored] == texts
    await _intact(admin)


@pytest.mark.usefixtures("victims")
async def test_hostile_identifiers_are_quoted_into_plain_names(
    node: NodePostgresAdapterEffect, admin: asyncpg.Connection[asyncpg.Record]
) -> None:
    evil = 'x"; DROP TABLE victims; --'
    quoted = quote_identifier(evil)
    assert quoted == '"x""; DROP TABLE victims; --"'
    created = await node.process(ModelPostgresExecuteRequest(sql=f"CREATE TABLE {quoted} (v text)"))
    assert created.status == "CREATE TABLE"
    copied = await node.process(
        ModelPostgresCopyRecordsRequest(table=evil, columns=("v",), records=[("kept",)])
    )
    assert copied.row_count == 1
    assert await admin.fetchval("SELECT count(*) FROM pg_class WHERE relname = $1", evil) == 1
    with pytest.raises(InfraValidationError, match="bad identifier"):
        await node.process(ModelPostgresCopyRecordsRequest(table="nul\x00name", records=[("x",)]))
    await _intact(admin)
