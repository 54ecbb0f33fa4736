"""A trace comment reaches a real PostgreSQL intact, and the statement still runs."""

from __future__ import annotations

import asyncpg

from omnibase_infra.nodes.node_tracing_compute import add_trace_comment
from omnibase_infra.observability import extract, inject, start_trace
from omnibase_infra_testing.services.postgres import PostgresService


async def test_commented_statement_runs_and_the_server_sees_the_comment(
    postgres_service: PostgresService,
) -> None:
    context = start_trace().model_copy(update={"tracestate": "vendor=it's"})
    statement_context = extract(inject(context)).correlation
    sql = add_trace_comment(
        "SELECT current_query() AS q, $1::int + 1 AS n;",
        statement_context,
        extra={"application": "deploy'er */ x"},
    )
    assert sql != "SELECT current_query() AS q, $1::int + 1 AS n;"
    connection = await asyncpg.connect(postgres_service.dsn, timeout=10)
    try:
        row = await connection.fetchrow(sql, 41)
    finally:
        await connection.close()
    assert row is not None
    assert row["n"] == 42
    assert row["q"] == sql  # the server received the comment unchanged
    assert f"traceparent='{statement_context.traceparent}'" in row["q"]
