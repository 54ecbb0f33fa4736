"""bench(postgres-adapter): the node through ``process()`` against raw asyncpg on a pool,
SQLAlchemy's async engine (asyncpg driver) and psycopg 3's async pool, on one server, in
one run, interleaved (``tools/benchlib.py``).

Workloads: single-row parameterized ``fetch_one`` at concurrency 1 and 16,
``execute_many`` of 1,000 rows, ``copy_records`` of 100,000 rows. The node builds a request
model per call, as a caller does (with its correlation context, as a workflow passes it).
SQLAlchemy has no COPY API: its contender for the bulk
load is its executemany of the same rows. Afterwards a cProfile of the node's ``fetch_one``
shows where its overhead goes (printed, and saved next to the report).

Server: ``OMNIBASE_INFRA_TEST_POSTGRES_DSN`` or a private embedded PostgreSQL started by the
test harness. Run by ``nox -s "bench(postgres-adapter)"``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import io
import os
import pstats
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import benchlib  # type: ignore[import-not-found]  # tools/ on PYTHONPATH
import psycopg
import psycopg_pool
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.postgres import (
    ModelPostgresCopyRecordsRequest,
    ModelPostgresExecuteManyRequest,
    ModelPostgresFetchOneRequest,
    ModelPostgresPoolConfig,
)
from omnibase_infra.nodes.node_postgres_adapter_effect import NodePostgresAdapterEffect
from omnibase_infra_testing.services.postgres import PostgresService, start_postgres

POOL_SIZE = 16
USERS = 10_000
FETCH_SQL = "SELECT id, name, email FROM bench_users WHERE id = $1"
MANY_SQL = "INSERT INTO bench_many (id, a, b) VALUES ($1, $2, $3)"
COPY_COLUMNS = ("id", "a", "b", "c")
TARGET_VS_ASYNCPG = {"fetch_one": 0.90, "execute_many": 0.95, "copy_records": 1.0}
TARGET_VS_OTHERS = 1.0  # faster than SQLAlchemy async and psycopg 3

type Run = Callable[[], Awaitable[float]]


def _psycopg_sql(sql: str) -> str:
    for n in range(9, 0, -1):
        sql = sql.replace(f"${n}", "%s")
    return sql


type PsycopgPool = psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[Any]]


class Contenders:
    """The four ways to talk to the server, each with a pool of POOL_SIZE connections.

    Single reads of SQLAlchemy and psycopg run at their best configuration for the
    workload: autocommit engines/pools (``isolation_level="AUTOCOMMIT"`` without a reset on
    return; ``autocommit=True``), so a read is one round trip as for asyncpg and the node,
    not BEGIN + query + COMMIT/ROLLBACK. Their batch and bulk loads keep a transaction.
    """

    def __init__(
        self,
        node: NodePostgresAdapterEffect,
        pool: Any,
        engines: tuple[AsyncEngine, AsyncEngine],
        psycopg_pools: tuple[PsycopgPool, PsycopgPool],
    ) -> None:
        self.node = node
        self.pool = pool
        self.engine, self.engine_reads = engines
        self.psycopg, self.psycopg_reads = psycopg_pools
        # A caller passes its correlation context (the workflow's) with every request.
        self.correlation = ModelCorrelationContext.new()

    @classmethod
    async def open(cls, dsn: str) -> Contenders:
        node = NodePostgresAdapterEffect(
            config=ModelPostgresPoolConfig(
                dsn=SecretStr(dsn), min_size=POOL_SIZE, max_size=POOL_SIZE
            )
        )
        await node.open()
        pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        engine = create_async_engine(url, pool_size=POOL_SIZE, max_overflow=0)
        engine_reads = create_async_engine(
            url,
            pool_size=POOL_SIZE,
            max_overflow=0,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
        )
        psycopg_async = psycopg_pool.AsyncConnectionPool(
            dsn, min_size=POOL_SIZE, max_size=POOL_SIZE, open=False
        )
        psycopg_reads = psycopg_pool.AsyncConnectionPool(
            dsn,
            min_size=POOL_SIZE,
            max_size=POOL_SIZE,
            open=False,
            kwargs={"autocommit": True},
        )
        await psycopg_async.open(wait=True)
        await psycopg_reads.open(wait=True)
        return cls(node, pool, (engine, engine_reads), (psycopg_async, psycopg_reads))

    async def close(self) -> None:
        await self.node.close()
        await self.pool.close()
        await self.engine.dispose()
        await self.engine_reads.dispose()
        await self.psycopg.close()
        await self.psycopg_reads.close()

    # -- fetch_one ------------------------------------------------------------------
    async def ours_fetch(self, key: int) -> Any:
        request = ModelPostgresFetchOneRequest(
            sql=FETCH_SQL, params=(key,), correlation=self.correlation
        )
        return (await self.node.process(request)).row

    async def asyncpg_fetch(self, key: int) -> Any:
        return await self.pool.fetchrow(FETCH_SQL, key)

    async def sqlalchemy_fetch(self, key: int) -> Any:
        async with self.engine_reads.connect() as conn:
            result = await conn.execute(
                text("SELECT id, name, email FROM bench_users WHERE id = :id"), {"id": key}
            )
            return result.first()

    async def psycopg_fetch(self, key: int) -> Any:
        async with self.psycopg_reads.connection() as conn:
            cursor = await conn.execute(_psycopg_sql(FETCH_SQL), (key,))
            return await cursor.fetchone()

    # -- execute_many -----------------------------------------------------------------
    async def ours_many(self, rows: list[tuple[int, str, int]]) -> None:
        await self.node.process(
            ModelPostgresExecuteManyRequest(sql=MANY_SQL, args=rows, correlation=self.correlation)
        )

    async def asyncpg_many(self, rows: list[tuple[int, str, int]]) -> None:
        await self.pool.executemany(MANY_SQL, rows)

    async def sqlalchemy_many(self, rows: list[tuple[int, str, int]]) -> None:
        params = [{"id": i, "a": a, "b": b} for i, a, b in rows]
        async with self.engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO bench_many (id, a, b) VALUES (:id, :a, :b)"), params
            )

    async def psycopg_many(self, rows: list[tuple[int, str, int]]) -> None:
        async with self.psycopg.connection() as conn, conn.cursor() as cursor:
            await cursor.executemany(_psycopg_sql(MANY_SQL), rows)

    # -- bulk load --------------------------------------------------------------------
    async def ours_copy(self, rows: list[tuple[Any, ...]]) -> None:
        await self.node.process(
            ModelPostgresCopyRecordsRequest(
                table="bench_copy",
                columns=COPY_COLUMNS,
                records=rows,
                timeout_seconds=300,
                correlation=self.correlation,
            )
        )

    async def asyncpg_copy(self, rows: list[tuple[Any, ...]]) -> None:
        async with self.pool.acquire() as conn:
            await conn.copy_records_to_table("bench_copy", records=rows, columns=COPY_COLUMNS)

    async def sqlalchemy_copy(self, rows: list[tuple[Any, ...]]) -> None:
        params = [{"id": r[0], "a": r[1], "b": r[2], "c": r[3]} for r in rows]
        async with self.engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO bench_copy (id, a, b, c) VALUES (:id, :a, :b, :c)"), params
            )

    async def psycopg_copy(self, rows: list[tuple[Any, ...]]) -> None:
        async with self.psycopg.connection() as conn, conn.cursor() as cursor:
            columns = ", ".join(COPY_COLUMNS)
            async with cursor.copy(
                f"COPY bench_copy ({columns}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["int4", "text", "float8", "timestamptz"])
                for row in rows:
                    await copy.write_row(row)


async def _setup(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "DROP TABLE IF EXISTS bench_users, bench_many, bench_copy;"
            "CREATE TABLE bench_users (id int PRIMARY KEY, name text NOT NULL, email text);"
            "CREATE TABLE bench_many (id int NOT NULL, a text NOT NULL, b int NOT NULL);"
            "CREATE TABLE bench_copy (id int NOT NULL, a text, b double precision, c timestamptz)"
        )
        await conn.copy_records_to_table(
            "bench_users",
            records=[(i, f"user {i}", f"user{i}@example.com") for i in range(1, USERS + 1)],
        )
        await conn.execute("ANALYZE bench_users")
    finally:
        await conn.close()


async def _truncate(dsn: str, table: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"TRUNCATE {table}")
    finally:
        await conn.close()


def _throughput(
    loop: asyncio.AbstractEventLoop, fn: Callable[[int], Awaitable[Any]], ops: int, concurrency: int
) -> Callable[[], float]:
    """Operations per second of ``ops`` calls spread over ``concurrency`` tasks."""

    async def worker(start: int, count: int) -> None:
        for i in range(count):
            await fn((start + i * 7919) % USERS + 1)

    async def run() -> float:
        per_task = ops // concurrency
        started = time.perf_counter()
        await asyncio.gather(*(worker(t * 131, per_task) for t in range(concurrency)))
        return per_task * concurrency / (time.perf_counter() - started)

    return lambda: loop.run_until_complete(run())


def _rows_per_second(
    loop: asyncio.AbstractEventLoop,
    dsn: str,
    table: str,
    fn: Callable[[list[Any]], Awaitable[None]],
    batches: list[list[Any]],
) -> Callable[[], float]:
    async def run() -> float:
        await _truncate(dsn, table)  # outside the timed part
        started = time.perf_counter()
        for batch in batches:
            await fn(batch)
        return sum(len(b) for b in batches) / (time.perf_counter() - started)

    return lambda: loop.run_until_complete(run())


def _targets(workload: str) -> dict[str, float | None]:
    return {
        "asyncpg": TARGET_VS_ASYNCPG[workload],
        "sqlalchemy_async": TARGET_VS_OTHERS,
        "psycopg3_pool": TARGET_VS_OTHERS,
    }


def _profile(loop: asyncio.AbstractEventLoop, contenders: Contenders, ops: int) -> str:
    """Where the node's time goes on ``fetch_one``: CPU per call against asyncpg's, then a
    cProfile of the node restricted to code that is not asyncpg's or the event loop's."""

    async def node_loop() -> None:
        for i in range(ops):
            await contenders.ours_fetch(i % USERS + 1)

    async def raw_loop() -> None:
        for i in range(ops):
            await contenders.asyncpg_fetch(i % USERS + 1)

    out = io.StringIO()
    cpu: dict[str, float] = {}
    for name, run in (("node", node_loop), ("asyncpg", raw_loop)):
        started = time.process_time()
        loop.run_until_complete(run())
        cpu[name] = (time.process_time() - started) / ops * 1e6
    out.write(
        f"CPU per fetch_one (client process, {ops} calls): node {cpu['node']:.1f} us, "
        f"asyncpg {cpu['asyncpg']:.1f} us, node overhead {cpu['node'] - cpu['asyncpg']:.1f} us\n"
    )
    profiler = cProfile.Profile()
    profiler.enable()
    loop.run_until_complete(node_loop())
    profiler.disable()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    # The node's modules, the shared code it calls, pydantic, OpenTelemetry and the deadline.
    ours = r"effect|pool|operations|telemetry|statements|breaker|engine|main|envelope|timeouts"
    stats.sort_stats("tottime").print_stats(ours, 25)
    return out.getvalue()


def _wanted(only: str, workload: str) -> bool:
    return not only or any(part and part in workload for part in only.split(","))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="smaller workloads (smoke run)")
    parser.add_argument(
        "-k",
        dest="only",
        default="",
        help="run only the workloads whose name contains one of these comma-separated "
        "parts (fetch_one, execute_many, copy_records); the report then holds only theirs",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the fetch_one profile")
    args = parser.parse_args()
    scale = 10 if args.quick else 1

    service: PostgresService = start_postgres()
    loop = asyncio.new_event_loop()
    try:
        dsn = service.dsn
        if not service.external:
            sys.stdout.write(f"embedded PostgreSQL on port {service.port}\n")
        else:
            name = f"bench_{uuid.uuid4().hex[:8]}"
            dsn = service.create_database(name)
        loop.run_until_complete(_setup(dsn))
        contenders = loop.run_until_complete(Contenders.open(dsn))
        records: list[benchlib.BenchRecord] = []
        for concurrency, ops in ((1, 1000 // scale), (16, 2000 // scale)):
            if not _wanted(args.only, "fetch_one"):
                break
            records += benchlib.compare(
                f"fetch_one c={concurrency}",
                "ops/s",
                _throughput(loop, contenders.ours_fetch, ops, concurrency),
                {
                    "asyncpg": _throughput(loop, contenders.asyncpg_fetch, ops, concurrency),
                    "sqlalchemy_async": _throughput(
                        loop, contenders.sqlalchemy_fetch, ops, concurrency
                    ),
                    "psycopg3_pool": _throughput(loop, contenders.psycopg_fetch, ops, concurrency),
                },
                higher_is_better=True,
                targets=_targets("fetch_one"),
                rounds=args.rounds,
            )
        many = [[(b * 1000 + i, f"row {i}", i) for i in range(1000)] for b in range(3)]
        records += (
            []
            if not _wanted(args.only, "execute_many")
            else benchlib.compare(
                "execute_many 1000 rows",
                "rows/s",
                _rows_per_second(loop, dsn, "bench_many", contenders.ours_many, many),
                {
                    "asyncpg": _rows_per_second(
                        loop, dsn, "bench_many", contenders.asyncpg_many, many
                    ),
                    "sqlalchemy_async": _rows_per_second(
                        loop, dsn, "bench_many", contenders.sqlalchemy_many, many
                    ),
                    "psycopg3_pool": _rows_per_second(
                        loop, dsn, "bench_many", contenders.psycopg_many, many
                    ),
                },
                higher_is_better=True,
                targets=_targets("execute_many"),
                rounds=args.rounds,
            )
        )
        stamp = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        bulk = [[(i, f"text {i}", i * 0.5, stamp) for i in range(100_000 // scale)]]
        records += (
            []
            if not _wanted(args.only, "copy_records")
            else benchlib.compare(
                "copy_records 100000 rows",
                "rows/s",
                _rows_per_second(loop, dsn, "bench_copy", contenders.ours_copy, bulk),
                {
                    "asyncpg": _rows_per_second(
                        loop, dsn, "bench_copy", contenders.asyncpg_copy, bulk
                    ),
                    "sqlalchemy_async": _rows_per_second(
                        loop, dsn, "bench_copy", contenders.sqlalchemy_copy, bulk
                    ),
                    "psycopg3_pool": _rows_per_second(
                        loop, dsn, "bench_copy", contenders.psycopg_copy, bulk
                    ),
                },
                higher_is_better=True,
                targets=_targets("copy_records"),
                rounds=max(3, args.rounds - 2),
            )
        )
        benchlib.write_report(args.output, records)
        if not args.no_profile and _wanted(args.only, "fetch_one"):
            profile = _profile(loop, contenders, 2000 // scale)
            profile_path = args.output.with_suffix(".profile.txt")
            profile_path.write_text(profile)
            sys.stdout.write(f"{profile}\nprofile: {profile_path}\n")
        loop.run_until_complete(contenders.close())
    finally:
        loop.close()
        service.stop()
    missed = [r for r in records if r.met is False]
    return 0 if not missed or os.environ.get("BENCH_ALLOW_MISS", "1") == "1" else 1


if __name__ == "__main__":
    raise SystemExit(main())
