"""Versioned migrations: order, idempotence, checksums, concurrent migrators, sources."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from omnibase_infra.errors import InfraConfigurationError, InfraValidationError
from omnibase_infra.models.postgres import (
    ModelPostgresMigrateRequest,
    ModelPostgresMigrationSource,
    ModelPostgresPoolConfig,
)
from omnibase_infra.nodes.node_postgres_adapter_effect import NodePostgresAdapterEffect
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0 import load_migrations
from omnibase_infra_testing.services.postgres import PostgresService

pytestmark = pytest.mark.real_service

FIRST = "CREATE TABLE items (id int PRIMARY KEY);\nINSERT INTO items VALUES (1), (2);\n"
SECOND = "ALTER TABLE items ADD COLUMN label text;\n"
THIRD = "CREATE INDEX items_label ON items (label);\n"


@pytest.fixture
def fresh_db(postgres_service: PostgresService) -> Iterator[str]:
    """A database of its own per test: migrations change the schema."""
    with postgres_service.scratch_database("mig") as dsn:
        yield dsn


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def _request(folder: Path, **fields: Any) -> ModelPostgresMigrateRequest:
    return ModelPostgresMigrateRequest(
        source=ModelPostgresMigrationSource(directory=str(folder)), **fields
    )


def _node(dsn: str) -> NodePostgresAdapterEffect:
    return NodePostgresAdapterEffect(config=ModelPostgresPoolConfig(dsn=SecretStr(dsn)))


async def test_migrations_apply_in_order_and_rerunning_is_a_no_op(
    fresh_db: str, tmp_path: Path
) -> None:
    folder = _write(
        tmp_path / "m",
        {"010_index.sql": THIRD, "002_label.sql": SECOND, "001_items.sql": FIRST, "notes.md": "x"},
    )
    async with _node(fresh_db) as node:
        done = await node.process(_request(folder))
        assert [m.version for m in done.applied] == [1, 2, 10]
        assert [m.name for m in done.applied] == ["items", "label", "index"]
        assert all(m.applied_at is not None for m in done.applied)
        assert (done.current_version, done.already_applied) == (10, 0)
        again = await node.process(_request(folder))
        assert (again.applied, again.already_applied, again.current_version) == ((), 3, 10)
    conn = await asyncpg.connect(fresh_db)
    try:
        rows = await conn.fetch(
            "SELECT version, name, checksum FROM omnibase_schema_migrations ORDER BY version"
        )
        assert await conn.fetchval("SELECT count(*) FROM items") == 2
        assert await conn.fetchval("SELECT to_regclass('items_label') IS NOT NULL")
    finally:
        await conn.close()
    expected = load_migrations(ModelPostgresMigrationSource(directory=str(folder)))
    assert [(r["version"], r["name"], r["checksum"]) for r in rows] == [
        (m.version, m.name, m.checksum) for m in expected
    ]


async def test_a_changed_applied_migration_is_an_error(fresh_db: str, tmp_path: Path) -> None:
    folder = _write(tmp_path / "m", {"001_items.sql": FIRST})
    async with _node(fresh_db) as node:
        await node.process(_request(folder))
        (folder / "001_items.sql").write_text(FIRST + "-- edited\n")
        _write(folder, {"002_label.sql": SECOND})
        with pytest.raises(InfraValidationError, match="changed after it was applied") as info:
            await node.process(_request(folder))
        assert info.value.details["reason"] == "checksum_mismatch"
        assert info.value.details["version"] == 1
        # Nothing of the pending migration ran.
        missing = await node.process(_request(folder, dry_run=True, table="other_history"))
        assert [m.version for m in missing.pending] == [1, 2]


async def test_missing_and_out_of_order_migrations_are_errors(
    fresh_db: str, tmp_path: Path
) -> None:
    folder = _write(
        tmp_path / "m", {"001_items.sql": FIRST, "003_index.sql": THIRD.replace("label", "id")}
    )
    async with _node(fresh_db) as node:
        await node.process(_request(folder))
        _write(folder, {"002_label.sql": SECOND})
        with pytest.raises(InfraValidationError, match="older than the applied 3"):
            await node.process(_request(folder))
        (folder / "002_label.sql").unlink()
        (folder / "003_index.sql").unlink()
        with pytest.raises(InfraValidationError, match="missing"):
            await node.process(_request(folder))


async def test_target_version_dry_run_and_a_failing_migration(
    fresh_db: str, tmp_path: Path
) -> None:
    folder = _write(
        tmp_path / "m",
        {
            "001_items.sql": FIRST,
            "002_label.sql": SECOND,
            "003_broken.sql": "ALTER TABLE nope ADD x int;",
        },
    )
    async with _node(fresh_db) as node:
        plan = await node.process(_request(folder, dry_run=True))
        assert plan.dry_run
        assert [m.version for m in plan.pending] == [1, 2, 3]
        assert plan.applied == ()
        first = await node.process(_request(folder, target_version=1))
        assert [m.version for m in first.applied] == [1]
        with pytest.raises(InfraValidationError, match="42P01") as info:
            await node.process(_request(folder))
        assert info.value.details["migration_version"] == 3
        assert info.value.details["migration_name"] == "broken"
        # 2 was applied before 3 failed; 3 left no trace.
        status = await node.process(_request(folder, dry_run=True))
        assert (status.current_version, [m.version for m in status.pending]) == (2, [3])


async def test_two_concurrent_migrators_apply_each_migration_once(
    fresh_db: str, tmp_path: Path
) -> None:
    slow = "SELECT pg_sleep(0.3);\nCREATE TABLE once (id int);\n"
    folder = _write(tmp_path / "m", {"001_once.sql": slow, "002_items.sql": FIRST})
    async with _node(fresh_db) as one, _node(fresh_db) as two:
        results = await asyncio.gather(one.process(_request(folder)), two.process(_request(folder)))
    applied = sorted(len(r.applied) for r in results)
    assert applied == [0, 2]  # the second waited on the lock, then found nothing to do
    assert {r.current_version for r in results} == {2}


async def test_migrations_from_package_data(
    fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site" / f"app_{uuid.uuid4().hex[:8]}"
    _write(package, {"__init__.py": ""})
    _write(package / "db", {"V001__items.sql": FIRST, "V002__label.sql": SECOND})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    request = ModelPostgresMigrateRequest(
        source=ModelPostgresMigrationSource(package=package.name, resource="db"),
        schema_name="app_meta",
        table="history",
    )
    async with _node(fresh_db) as node:
        done = await node.process(request)
    assert [m.version for m in done.applied] == [1, 2]
    assert done.table == "app_meta.history"


async def test_unqualified_names_land_in_schema_name(fresh_db: str, tmp_path: Path) -> None:
    folder = _write(tmp_path / "m", {"001_items.sql": FIRST})
    request = ModelPostgresMigrateRequest(
        source=ModelPostgresMigrationSource(directory=str(folder)), schema_name="svc_a"
    )
    async with _node(fresh_db) as node:
        await node.process(request)
    conn = await asyncpg.connect(fresh_db)
    try:
        assert await conn.fetchval("SELECT to_regclass('svc_a.items')::text") == "svc_a.items"
        assert await conn.fetchval("SELECT to_regclass('public.items')") is None
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"1_a.sql": "SELECT 1", "01_b.sql": "SELECT 1"}, "two files have version 1"),
        ({"init.sql": "SELECT 1"}, "not named"),
    ],
)
def test_bad_migration_sources_are_configuration_errors(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    folder = _write(tmp_path / "m", files)
    with pytest.raises(InfraConfigurationError, match=message):
        load_migrations(ModelPostgresMigrationSource(directory=str(folder)))


def test_unreadable_sources_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(InfraConfigurationError, match="not a directory"):
        load_migrations(ModelPostgresMigrationSource(directory=str(tmp_path / "absent")))
    with pytest.raises(InfraConfigurationError, match="cannot import"):
        load_migrations(ModelPostgresMigrationSource(package="no_such_package_xyz"))
    folder = tmp_path / "latin1"
    folder.mkdir()
    (folder / "001_x.sql").write_bytes(b"SELECT '\xe9'")
    with pytest.raises(InfraConfigurationError, match="not UTF-8"):
        load_migrations(ModelPostgresMigrationSource(directory=str(folder)))


async def test_hostile_history_table_names_are_refused(fresh_db: str, tmp_path: Path) -> None:
    folder = _write(tmp_path / "m", {"001_items.sql": FIRST})
    async with _node(fresh_db) as node:
        with pytest.raises(InfraValidationError, match="bad identifier"):
            await node.process(_request(folder, table="t\x00x"))
