"""The embedded PostgreSQL starts wherever the checkout lives.

As root, initdb and postgres run as ``nobody``, who cannot enter a private checkout: a clone
under ``/root`` (0700) or in a ``mktemp -d`` folder, where a nox session's TMPDIR and venv
live. The harness must put the data, the socket and (when needed) the binaries where that
user can reach them, remove them on stop, and say clearly what to do when it cannot.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped,unused-ignore]  # asyncpg 0.29 ships no type information
import pytest

from omnibase_infra_testing.process import ServiceStartError
from omnibase_infra_testing.services import postgres as pg
from omnibase_infra_testing.services.postgres import (
    DSN_ENV,
    INSTALL_HINT,
    SUPERUSER,
    embedded_bin_dir,
    probe,
    start_embedded_postgres,
)
from omnibase_infra_testing.unavailable import service_unavailable

pytestmark = pytest.mark.real_service

AS_ROOT = os.geteuid() == 0


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private checkout (mode 0700) whose nox session folder is TMPDIR, as in a clone
    under /root: TMPDIR=<checkout>/.nox/session/tmp."""
    folder = tmp_path / "checkout"
    tmpdir = folder / ".nox" / "session" / "tmp"
    tmpdir.mkdir(parents=True)
    folder.chmod(0o700)
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    return folder


@pytest.fixture
def private_venv(checkout: Path) -> Iterator[Path]:
    """The embedded PostgreSQL installed in a venv inside ``checkout`` (same layout as in
    site-packages: the libraries are found through the binaries' RPATH); yields its bin."""
    installed = embedded_bin_dir()
    if installed is None:
        service_unavailable("PostgreSQL", "embedded-postgres is not installed", INSTALL_HINT)
    site = checkout / ".nox" / "session" / "lib" / "site-packages"
    pginstall = installed.parent
    shutil.copytree(pginstall, site / "embedded_postgres" / "pginstall")
    libs = pginstall.parents[1] / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / "embedded_postgres.libs")
    yield site / "embedded_postgres" / "pginstall" / "bin"
    shutil.rmtree(site)  # 40 MB: not kept with pytest's last temporary folders


async def test_starts_and_cleans_up_from_a_private_checkout(
    checkout: Path, private_venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private_bin = private_venv
    monkeypatch.setattr(pg, "embedded_bin_dir", lambda: private_bin)
    tmpdir = Path(tempfile.gettempdir())
    assert tmpdir.is_relative_to(checkout)

    service = start_embedded_postgres()
    work, pid = service.work_dir, service.pid
    try:
        assert work is not None
        assert pid is not None
        assert service.data_dir is not None
        assert service.bin_dir is not None
        assert probe(service.host, service.port, SUPERUSER, "postgres") is None
        dsn = service.create_database("private_checkout")  # psql from service.bin_dir
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("select current_database()") == "private_checkout"
        finally:
            await conn.close()
        assert service.data_dir.is_relative_to(work)
        if AS_ROOT:
            nobody = pwd.getpwnam("nobody")
            assert os.stat(f"/proc/{pid}").st_uid == nobody.pw_uid  # not root
            assert service.data_dir.stat().st_uid == nobody.pw_uid
            # nobody cannot enter the checkout: neither TMPDIR nor the venv there is used
            assert not work.is_relative_to(checkout)
            assert work.parent in pg._temp_candidates()
            assert service.bin_dir.is_relative_to(work)  # a copy nobody can run
        else:  # the server runs as ourselves: the checkout is ours, TMPDIR is used
            assert work.parent == tmpdir
            assert service.bin_dir == private_bin
    finally:
        service.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the server is gone
    assert not work.exists()
    assert private_bin.is_dir()  # the copy came from it; the original stays


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder under the system temporary folder that every user can enter (pytest's
    tmp_path is not: its pytest-of-<user> folder is 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="omnibase-infra-test-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_no_reachable_temporary_folder_is_a_clear_error(
    open_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = open_folder / "missing"
    a_file = open_folder / "a-file"
    a_file.write_text("")
    read_only = open_folder / "read-only"
    read_only.mkdir()
    too_long = open_folder / ("d" * 100)
    too_long.mkdir()
    candidates = [missing, a_file, read_only, too_long]
    private = open_folder / "private"
    if AS_ROOT:  # only another user is kept out of a 0700 folder of ours
        (private / "tmp").mkdir(parents=True)
        private.chmod(0o700)
        candidates.append(private / "tmp")
    monkeypatch.setattr(pg, "_temp_candidates", lambda: candidates)
    real_flags = pg._mount_flags
    monkeypatch.setattr(
        pg,
        "_mount_flags",
        lambda folder: os.ST_RDONLY if folder == read_only else real_flags(folder),
    )

    with pytest.raises(ServiceStartError) as info:
        start_embedded_postgres()

    message = str(info.value)
    assert "no temporary folder where initdb and postgres" in message
    assert f"{missing}: not an existing folder" in message
    assert f"{a_file}: not an existing folder" in message
    assert f"{read_only}: on a read-only file system" in message
    assert f"{too_long}: too long a path for PostgreSQL's Unix socket" in message
    if AS_ROOT:
        assert "the unprivileged user 'nobody'" in message
        uid = pwd.getpwnam("nobody").pw_uid
        assert f"{private / 'tmp'}: uid {uid} cannot enter {private} " in message
        assert "drwx------" in message
    assert "chmod 1777 /tmp" in message
    assert "non-root user" in message
    assert DSN_ENV in message
    assert list(read_only.iterdir()) == []  # nothing was created anywhere
    assert list(too_long.iterdir()) == []


def test_without_the_unprivileged_user_root_gets_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pg, "UNPRIVILEGED_USER", "omnibase-infra-no-such-user")
    # Not root: no other user is needed to start, but the lookup itself still says why.
    start: Callable[[], object] = start_embedded_postgres if AS_ROOT else pg._unprivileged_user
    with pytest.raises(ServiceStartError) as info:
        start()
    message = str(info.value)
    assert "PostgreSQL refuses to run as root" in message
    assert "'omnibase-infra-no-such-user'" in message
    assert "there is no such user" in message
    assert "useradd --system" in message
    assert DSN_ENV in message
