"""PostgreSQL smoke tests: the harness's server is a real PostgreSQL, reached over TCP.

Pass both with the embedded PostgreSQL 18 (default) and with an external server
(``OMNIBASE_INFRA_TEST_POSTGRES_DSN``). The stop tests always use the embedded server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import asyncpg  # type: ignore[import-untyped,unused-ignore]  # asyncpg 0.29 ships no type information
import pytest

import omnibase_infra_testing
from omnibase_infra_testing.process import LOOPBACK, port_accepts
from omnibase_infra_testing.services.postgres import (
    DSN_ENV,
    INSTALL_HINT,
    PostgresService,
    embedded_bin_dir,
    start_embedded_postgres,
)
from omnibase_infra_testing.unavailable import service_unavailable

pytestmark = pytest.mark.real_service


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _port_free(port: int) -> bool:
    """Nothing listens and a new server could bind it (TIME_WAIT of old connections is fine)."""
    if port_accepts(port):
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _require_embedded() -> None:
    if embedded_bin_dir() is None:
        service_unavailable(
            "PostgreSQL", "the embedded-postgres package is not installed", INSTALL_HINT
        )


async def test_select_version_is_real_postgresql(postgres_service: PostgresService) -> None:
    conn = await asyncpg.connect(postgres_service.dsn)
    try:
        version = await conn.fetchval("select version()")
        server_version_num = int(await conn.fetchval("show server_version_num"))
    finally:
        await conn.close()
    assert isinstance(version, str)
    assert version.startswith("PostgreSQL ")
    assert server_version_num >= 120000
    if not postgres_service.external:
        assert version.startswith("PostgreSQL 18.")
        assert postgres_service.host == LOOPBACK
        assert postgres_service.pid is not None
        assert _pid_alive(postgres_service.pid)


async def test_create_database_gives_an_isolated_database(
    postgres_service: PostgresService,
) -> None:
    name = f"smoke_{uuid.uuid4().hex[:12]}"
    dsn = postgres_service.create_database(name)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("select current_database()") == name
            await conn.execute("create table t (id int primary key, note text)")
            await conn.execute("insert into t values (1, 'x')")
            assert await conn.fetchval("select note from t where id = 1") == "x"
        finally:
            await conn.close()
    finally:
        postgres_service.drop_database(name)
    with pytest.raises(ValueError, match="identifier"):
        postgres_service.create_database('bad"; drop database postgres; --')


def test_stop_by_pid_frees_port_and_removes_data() -> None:
    _require_embedded()
    service = start_embedded_postgres()
    assert service.pid is not None
    assert service.data_dir is not None
    pid, port, data_dir = service.pid, service.port, service.data_dir
    assert _pid_alive(pid)
    assert data_dir.is_dir()
    assert not _port_free(port)
    service.stop()
    assert not _pid_alive(pid)
    assert not _group_alive(pid)  # no backend or auxiliary process left either
    assert _port_free(port)
    assert not data_dir.exists()
    service.stop()  # idempotent


def _harness_env() -> dict[str, str]:
    """Environment for a child pytest/python: only our module as plugin, embedded server."""
    env = {key: value for key, value in os.environ.items() if key != DSN_ENV}
    src = str(Path(omnibase_infra_testing.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def _assert_gone(report: Path) -> None:
    info = json.loads(report.read_text())
    assert not _pid_alive(info["pid"])
    assert not _group_alive(info["pid"])
    assert _port_free(info["port"])
    assert not Path(info["data_dir"]).exists()


def test_server_is_stopped_when_a_test_fails(tmp_path: Path) -> None:
    _require_embedded()
    report = tmp_path / "server.json"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_failing.py").write_text(
        textwrap.dedent(
            f"""
            import json

            def test_fails(postgres_service):
                info = {{
                    "pid": postgres_service.pid,
                    "port": postgres_service.port,
                    "data_dir": str(postgres_service.data_dir),
                }}
                with open({str(report)!r}, "w") as handle:
                    json.dump(info, handle)
                raise AssertionError("deliberate failure")
            """
        )
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "omnibase_infra_testing.services.postgres",
            "-p",
            "no:cacheprovider",
            "-q",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=_harness_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "deliberate failure" in result.stdout
    _assert_gone(report)


def test_atexit_stops_a_server_nobody_stopped(tmp_path: Path) -> None:
    _require_embedded()
    report = tmp_path / "server.json"
    script = textwrap.dedent(
        f"""
        import json
        from omnibase_infra_testing.services.postgres import start_embedded_postgres

        service = start_embedded_postgres()
        with open({str(report)!r}, "w") as handle:
            json.dump(
                {{"pid": service.pid, "port": service.port, "data_dir": str(service.data_dir)}},
                handle,
            )
        raise SystemExit(3)  # no stop(): the atexit hook must do it
        """
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script],
        env=_harness_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    _assert_gone(report)
