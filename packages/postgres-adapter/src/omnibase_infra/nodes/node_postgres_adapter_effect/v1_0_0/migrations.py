"""Versioned ``.sql`` migrations: loaded from a folder or package data, applied in order
under an advisory lock, each in its own transaction with its record.

Migration files are trusted code from the deployment, not caller input: each file runs as
one script through the simple query protocol, so it may hold several statements. A file
whose content changed after it was applied is an error (sha256 of its bytes); so is an
applied version missing from the source, or a new version below the highest applied one.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.models.postgres import (
    ModelPostgresMigrateRequest,
    ModelPostgresMigrationRecord,
    ModelPostgresMigrationSource,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.driver import PgConnection
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.errors import MigrationStepError
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.operations import (
    Fields,
    OperationContext,
    PgOperation,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.statements import (
    quote_identifier,
)

__all__ = ["Migrate", "Migration", "apply_migrations", "default_lock_key", "load_migrations"]

_FILE_NAME = re.compile(r"[Vv]?(\d+)_{1,2}([A-Za-z0-9][A-Za-z0-9_\-.]*)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: version, name, sha256 of its bytes, and its SQL."""

    version: int
    name: str
    checksum: str
    sql: str

    def record(self, **fields: Any) -> ModelPostgresMigrationRecord:
        """Its record (with ``applied_at``/``duration_ms`` when given)."""
        return ModelPostgresMigrationRecord(
            version=self.version, name=self.name, checksum=self.checksum, **fields
        )


def _source_error(source: ModelPostgresMigrationSource, message: str) -> InfraConfigurationError:
    return InfraConfigurationError(
        f"migrations in {source.label}: {message}",
        transport=EnumTransport.POSTGRES,
        operation="migrate",
        target=source.label,
    )


def _root(source: ModelPostgresMigrationSource) -> Traversable:
    if source.directory is not None:
        root: Traversable = Path(source.directory)
    else:
        try:
            root = resources.files(str(source.package)).joinpath(source.resource)
        except (ModuleNotFoundError, TypeError) as exc:
            raise _source_error(source, f"cannot import package ({type(exc).__name__})") from None
    if not root.is_dir():
        raise _source_error(source, "not a directory")
    return root


def load_migrations(source: ModelPostgresMigrationSource) -> list[Migration]:
    """Every ``<version>_<name>.sql`` of the source, sorted by version.

    Other files are ignored; a ``.sql`` file not named that way, two files with one version
    or a file that is not UTF-8 is a configuration error.
    """
    found: dict[int, Migration] = {}
    for entry in _root(source).iterdir():
        if not entry.is_file() or not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.fullmatch(entry.name)
        if match is None:
            raise _source_error(
                source, f"{entry.name!r} is not named <version>_<name>.sql (e.g. 001_init.sql)"
            )
        version, name = int(match.group(1)), match.group(2)
        if version in found:
            raise _source_error(source, f"two files have version {version}")
        data = entry.read_bytes()
        try:
            sql = data.decode("utf-8")
        except UnicodeDecodeError:
            raise _source_error(source, f"{entry.name!r} is not UTF-8") from None
        found[version] = Migration(version, name, hashlib.sha256(data).hexdigest(), sql)
    return [found[v] for v in sorted(found)]


def default_lock_key(schema_name: str, table: str) -> int:
    """A stable signed 64-bit advisory-lock key for one migrations table."""
    digest = hashlib.sha256(f"omnibase_infra.migrations:{schema_name}.{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def apply_migrations(
    conn: PgConnection,
    req: ModelPostgresMigrateRequest,
    ctx: OperationContext,
    migrations: list[Migration],
) -> dict[str, Any]:
    """Apply what is pending, holding the advisory lock; the response fields."""
    table = f"{quote_identifier(req.schema_name)}.{quote_identifier(req.table)}"
    lock_key = (
        req.lock_key if req.lock_key is not None else default_lock_key(req.schema_name, req.table)
    )
    # Session-level lock: concurrent migrators queue here (bounded by the timeout); the
    # server drops it with the session, and the pool's reset unlocks all on release.
    await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
    try:
        return await _apply_locked(conn, req, ctx, migrations, table)
    finally:
        with contextlib.suppress(Exception):  # a broken session has released it already
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)


class Migrate(PgOperation[ModelPostgresMigrateRequest]):
    """``migrate``: the files loaded before a connection is taken. Re-running is a no-op
    for what was applied: the contract marks it idempotent."""

    __slots__ = ("migrations",)

    def __init__(
        self,
        request: ModelPostgresMigrateRequest,
        ctx: OperationContext,
        migrations: list[Migration],
    ) -> None:
        super().__init__(request, ctx, None)
        self.migrations = migrations

    async def run(self, conn: PgConnection) -> Fields:
        return await apply_migrations(conn, self.request, self.ctx, self.migrations)


async def _apply_locked(
    conn: PgConnection,
    req: ModelPostgresMigrateRequest,
    ctx: OperationContext,
    migrations: list[Migration],
    table: str,
) -> dict[str, Any]:
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(req.schema_name)}")
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {table} ("
        "version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, "
        "applied_at timestamptz NOT NULL DEFAULT now(), duration_ms double precision NOT NULL)"
    )
    applied = {
        record["version"]: record
        for record in await conn._execute(
            f"SELECT version, checksum FROM {table} ORDER BY version",  # noqa: S608
            (),
            0,
            None,
        )
    }
    by_version = {m.version: m for m in migrations}
    for version, record in applied.items():
        migration = by_version.get(version)
        if migration is None:
            raise ctx.invalid(
                f"applied migration {version} is missing from {req.source.label}",
                reason="missing_migration",
                version=version,
            )
        if migration.checksum != record["checksum"]:
            raise ctx.invalid(
                f"migration {version} ({migration.name}) changed after it was applied "
                f"(checksum {record['checksum'][:12]}... is now {migration.checksum[:12]}...)",
                reason="checksum_mismatch",
                version=version,
            )
    highest = max(applied, default=None)
    pending = [
        m
        for m in migrations
        if m.version not in applied
        and (req.target_version is None or m.version <= req.target_version)
    ]
    if highest is not None and pending and pending[0].version < highest:
        raise ctx.invalid(
            f"migration {pending[0].version} is older than the applied {highest}",
            reason="out_of_order",
            version=pending[0].version,
        )
    done: list[ModelPostgresMigrationRecord] = []
    if not req.dry_run:
        for migration in pending:
            done.append(await _apply_one(conn, migration, table, req.schema_name))
    current = done[-1].version if done else highest
    return {
        "table": f"{req.schema_name}.{req.table}",
        "applied": tuple(done),
        "pending": tuple(m.record() for m in pending) if req.dry_run else (),
        "already_applied": len(applied),
        "current_version": current,
        "dry_run": req.dry_run,
    }


async def _apply_one(
    conn: PgConnection, migration: Migration, table: str, schema_name: str
) -> ModelPostgresMigrationRecord:
    tx = conn.transaction()
    await tx.start()
    try:
        # Unqualified names in the file land in schema_name (as with Flyway's default
        # schema); SET LOCAL ends with the transaction, so the pooled session is untouched.
        await conn.execute(f"SET LOCAL search_path TO {quote_identifier(schema_name)}, public")
        started = time.perf_counter()
        try:
            await conn.execute(migration.sql)
        except Exception as exc:
            raise MigrationStepError(migration.version, migration.name) from exc
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        record = await conn.fetchrow(
            f"INSERT INTO {table} (version, name, checksum, duration_ms) "  # noqa: S608
            "VALUES ($1, $2, $3, $4) RETURNING applied_at",
            migration.version,
            migration.name,
            migration.checksum,
            duration_ms,
        )
    except Exception:
        with contextlib.suppress(Exception):  # the migration's error is the one to report
            await tx.rollback()
        raise
    await tx.commit()
    applied_at = record["applied_at"] if record is not None else None
    return migration.record(applied_at=applied_at, duration_ms=duration_ms)
